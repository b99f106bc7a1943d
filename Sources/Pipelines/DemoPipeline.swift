import Datasets
import Engine
import Evaluation
import Explanations
import Foundation
import Imaging
import Randomness
import RunFiles
import Training

/// The README's main job: the whole pipeline on synthetic chest X-rays (or the user's split), made of
/// the same calls as the commands: dataset check, a baseline and an OS model trained, calibrated and
/// tested (`TrainingPipeline`), Grad-CAM of both (`ExplanationStudy`), HTML reports (`ReportPipeline`).
public enum DemoPipeline {
  public struct Settings {
    /// A training split of the user's; its test.txt (and val.txt, if present) beside it.
    public var data: String?
    public var labelMap = "three-class"
    public var epochs = 6
    public var imageSize = 128
    public var batchSize = 16
    /// Synthetic images per class in the training split.
    public var perClass = 48
    public var threads = 2
    public var output = "runs/demo"
    public var seed: UInt64 = 0
    /// λ of the OS model.
    public var lambda = 0.01
    /// Test images to explain (0: none).
    public var explain = 24

    public init() {}
  }

  public static func run(_ demo: Settings, output say: PipelineOutput) throws {
    Torch.threadCount = demo.threads
    CPUMemoryCache.enableForLoops()
    try FileManager.default.createDirectory(atPath: demo.output, withIntermediateDirectories: true)
    say.message("OrthoCXR demo — libtorch \(Torch.version), \(demo.threads) threads, outputs in \(demo.output)/")

    // 1. Data.
    let splits = try dataSplits(demo, output: say)
    let map = try LabelMap.parse(demo.labelMap)
    let report = DatasetChecker.check(
      splits: [("train", try DatasetSource.load(splits.train)), ("test", try DatasetSource.load(splits.test))],
      labelMap: map)
    say.message(
      "2. dataset check:\n"
        + report.render(limitPerKind: 5).split(separator: "\n").map { "   " + $0 }.joined(separator: "\n"))

    // 2. Baseline and OS, trained the same way but for λ, each calibrated on the validation split and
    // tested.
    var settings = ExperimentSettings()
    settings.model = "resnet18"
    settings.imageSize = demo.imageSize
    settings.channels = 1
    settings.train = splits.train
    settings.val = splits.validation
    settings.test = splits.test
    settings.labelMap = demo.labelMap
    settings.badImages = "skip"
    settings.batchSize = demo.batchSize
    settings.threads = demo.threads
    settings.training.epochs = demo.epochs
    settings.training.seed = demo.seed
    var outcomes: [(name: String, outcome: TrainingPipeline.Outcome)] = []
    for (name, lambda) in [("baseline", 0.0), ("OS", demo.lambda)] {
      settings.training.lambda = lambda
      settings.output = demo.output + "/" + name.lowercased()
      say.message(
        "3. training the \(name) (λ = \(lambda)\(lambda > 0 ? ", OS variant batch" : "")), ResNet-18, "
          + "\(demo.imageSize) px, \(demo.epochs) epochs")
      var hooks = TrainingPipeline.Hooks(output: PipelineOutput(message: { _ in }, progress: say.progress))
      hooks.onEpoch = { record in say.message("   \(name) " + TrainingPipeline.epochLine(record)) }
      hooks.resamples = 500
      outcomes.append((name, try TrainingPipeline.train(settings, hooks: hooks)))
    }

    // 3. The comparison.
    say.message("4. test split: baseline vs OS, 95% bootstrap intervals")
    say.message(comparisonTable(outcomes))

    // 4. Heatmaps of both models on the same test images, then the reports.
    let explanations = demo.output + "/explanations"
    if demo.explain > 0 {
      say.message("5. Grad-CAM on up to \(demo.explain) test images, both models (overlays, metrics, panels)")
      var request = ExplanationStudy.Request(
        checkpoints: outcomes.map(\.outcome.folder.calibratedCheckpoint), data: splits.test, output: explanations)
      request.names = ["baseline", "os"]
      request.limit = demo.explain
      request.threads = demo.threads
      _ = try ExplanationStudy.run(request, output: say)
    }
    say.message("6. reports")
    for (_, outcome) in outcomes {
      let folder = outcome.folder
      let size = try ReportPipeline.runReport(
        folder, explanations: demo.explain > 0 ? explanations + "/" + folder.name : nil, to: folder.report)
      say.message("wrote \(folder.report) (\(size / 1024) KiB)")
    }
    let comparison = demo.output + "/comparison.html"
    let size = try ReportPipeline.comparisonReport(
      baseline: [outcomes[0].outcome.folder], candidate: [outcomes[1].outcome.folder], names: ("baseline", "OS"),
      explanations: demo.explain > 0 ? explanations : nil, to: comparison)
    say.message("wrote \(comparison) (\(size / 1024) KiB)")
    say.message(
      "done: open \(comparison); runs in \(demo.output)/baseline and \(demo.output)/os (config, log.jsonl, checkpoints, "
        + "test metrics, report.html), heatmaps in \(explanations)")
  }

  /// The train, validation and test splits: synthetic ones written now, or the user's. When the user's
  /// folder has no val.txt, a fifth of the training patients (per class, seeded) is held out for
  /// validation, so that the test split is never used to fit anything.
  static func dataSplits(_ demo: Settings, output say: PipelineOutput) throws -> (
    train: String, validation: String, test: String
  ) {
    guard let data = demo.data else {
      let folder = demo.output + "/synthetic"
      say.message(
        "1. writing synthetic chest X-rays: \(demo.perClass) per class for training, \(max(demo.perClass / 3, 4)) for testing"
      )
      _ = try SyntheticChestXRay.writeDataset(
        to: folder,
        counts: [("train", demo.perClass), ("val", max(demo.perClass / 4, 4)), ("test", max(demo.perClass / 3, 4))],
        size: 256, seed: demo.seed)
      return (folder + "/train.txt", folder + "/val.txt", folder + "/test.txt")
    }
    let directory = (data as NSString).deletingLastPathComponent
    let test = (directory as NSString).appendingPathComponent("test.txt")
    guard FileManager.default.fileExists(atPath: test) else {
      throw DatasetError(path: test, reason: "does not exist: put test.txt beside \(data)")
    }
    let validation = (directory as NSString).appendingPathComponent("val.txt")
    if FileManager.default.fileExists(atPath: validation) {
      say.message("1. data: \(data), validation \(validation), test \(test)")
      return (data, validation, test)
    }
    let folder = demo.output + "/splits"
    let (train, heldOut) = try holdOut(from: data, into: folder, fraction: 0.2, seed: demo.seed)
    say.message(
      "1. data: \(data) has no val.txt beside it: a fifth of its patients (per class) are held out for "
        + "validation → \(heldOut); training on the rest → \(train); test \(test)")
    return (train, heldOut, test)
  }

  /// Splits a training split by patient, class by class: `fraction` of each class's patients (seeded)
  /// go to val.csv, the rest to train.csv, both in `folder` with absolute image paths.
  public static func holdOut(from split: String, into folder: String, fraction: Double, seed: UInt64) throws -> (
    train: String, validation: String
  ) {
    let entries = try DatasetSource.load(split)
    var patientsByLabel: [String: [String]] = [:]
    for entry in entries where !(patientsByLabel[entry.label]?.contains(entry.patientID) ?? false) {
      patientsByLabel[entry.label, default: []].append(entry.patientID)
    }
    var random = SplitMix64(seed: seed ^ 0x7A1D_A710_0000_0001)
    var heldOut: Set<String> = []
    for label in patientsByLabel.keys.sorted() {
      var patients = patientsByLabel[label]!
      patients.shuffle(using: &random)
      let count = patients.count > 1 ? max(1, Int((Double(patients.count) * fraction).rounded())) : 0
      heldOut.formUnion(patients.prefix(count))
    }
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let base = FileManager.default.currentDirectoryPath
    func absolute(_ path: String) -> String { path.hasPrefix("/") ? path : base + "/" + path }
    func write(_ chosen: [DatasetEntry], to name: String) throws -> String {
      let path = folder + "/" + name
      try CSVTable.write(
        header: ["path", "label", "patient"], rows: chosen.map { [absolute($0.path), $0.label, $0.patientID] }, to: path
      )
      return path
    }
    return (
      try write(entries.filter { !heldOut.contains($0.patientID) }, to: "train.csv"),
      try write(entries.filter { heldOut.contains($0.patientID) }, to: "val.csv")
    )
  }

  static func comparisonTable(_ outcomes: [(name: String, outcome: TrainingPipeline.Outcome)]) -> String {
    func cell(_ interval: EvaluationReport.Interval?, percent: Bool) -> String {
      guard let interval else { return "–" }
      return percent
        ? String(format: "%.1f%% [%.1f, %.1f]", interval.value * 100, interval.low * 100, interval.high * 100)
        : String(format: "%.3f [%.3f, %.3f]", interval.value, interval.low, interval.high)
    }
    let rows: [(String, (EvaluationReport, EvaluationReport, Double) -> String)] = [
      ("accuracy", { r, _, _ in cell(r.accuracy, percent: true) }),
      ("macro-F1", { r, _, _ in cell(r.macroF1, percent: true) }),
      ("macro AUC", { r, _, _ in cell(r.macroAUC, percent: false) }),
      ("ECE before calibration", { _, u, _ in cell(u.ece, percent: false) }),
      ("ECE after (T fitted on val)", { r, _, _ in cell(r.ece, percent: false) }),
      ("temperature", { _, _, t in String(format: "%.3f", t) }),
      ("AURC (risk–coverage)", { r, _, _ in cell(r.selectivePrediction?.first?.aurc, percent: false) }),
      (
        "flagged out of distribution",
        { r, _, _ in r.outOfDistribution.map { "\($0.flagged) of \(r.samples) (\($0.method.rawValue))" } ?? "–" }
      ),
    ]
    var lines = [
      "   metric".padding(toLength: 33, withPad: " ", startingAt: 0)
        + outcomes.map { $0.name.padding(toLength: 26, withPad: " ", startingAt: 0) }.joined()
    ]
    for (name, value) in rows {
      lines.append(
        "   " + name.padding(toLength: 30, withPad: " ", startingAt: 0)
          + outcomes.map { _, outcome in
            guard let test = outcome.test, let calibration = outcome.calibration else {
              return "–".padding(toLength: 26, withPad: " ", startingAt: 0)
            }
            return value(test.report, test.uncalibrated(), calibration.temperature).padding(
              toLength: 26, withPad: " ", startingAt: 0)
          }.joined())
    }
    return lines.joined(separator: "\n")
  }
}
