import ArgumentParser
import Datasets
import Engine
import Evaluation
import Foundation
import Imaging
import Models
import Training

/// The README's main command: the whole pipeline on synthetic chest X-rays (or the user's data).
/// It grows with the project: the OS loss, calibration, Grad-CAM and the report join it as they land.
struct DemoCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "demo",
    abstract: "Run the demo on built-in synthetic chest X-rays (no data of your own needed).",
    discussion: """
      Writes synthetic chest X-rays (COVID-19, normal, pneumonia, with lesion boxes) and COVIDx
      split files, checks the dataset, trains a ResNet-18 on the training split through the threaded
      loader with augmentation and bf16 autocast, reports accuracy per class on the test split,
      saves the model as safetensors and checks that the reloaded model agrees exactly.

      With --data PATH/train.txt it does the same on real X-rays: the test split is PATH/test.txt.
      """
  )

  @Option(help: "A training split file of your own (its test.txt beside it is used for evaluation).")
  var data: String?

  @Option(help: "Label map: three-class, covid-vs-normal, covid-vs-noncovid, or label=class,…")
  var labelMap = "three-class"

  @Option(help: "Training epochs.")
  var epochs = 6

  @Option(help: "Network input side in pixels.")
  var imageSize = 128

  @Option(help: "Images per batch.")
  var batchSize = 16

  @Option(help: "Synthetic images per class in the training split.")
  var perClass = 48

  @Option(help: "libtorch threads.")
  var threads = 2

  @Option(help: "Folder for the demo's outputs.")
  var output = "runs/demo"

  @Option(help: "Random seed.")
  var seed: UInt64 = 0

  @Option(help: "λ of the OS model (the baseline has λ = 0).")
  var lambda = 0.01

  func validate() throws {
    guard epochs > 0, imageSize >= 32, batchSize > 0, perClass > 0, threads > 0 else {
      throw ValidationError(
        "--epochs, --batch-size, --per-class and --threads must be positive, --image-size at least 32")
    }
  }

  func run() throws {
    Torch.threadCount = threads
    Torch.seed(seed)
    try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
    print("OrthoCXR demo — libtorch \(Torch.version), \(threads) threads, outputs in \(output)/")

    // 1. Data.
    let trainPath: String
    let testPath: String
    var validationPath = ""
    if let data {
      trainPath = data
      testPath = ((data as NSString).deletingLastPathComponent as NSString).appendingPathComponent("test.txt")
      guard FileManager.default.fileExists(atPath: testPath) else {
        throw ValidationError("no test split at \(testPath); put test.txt beside \(data)")
      }
    } else {
      let folder = output + "/synthetic"
      print(
        "1. writing synthetic chest X-rays: \(perClass) per class for training, \(max(perClass / 3, 4)) for testing")
      try SyntheticChestXRay.writeDataset(
        to: folder, counts: [("train", perClass), ("val", max(perClass / 4, 4)), ("test", max(perClass / 3, 4))],
        size: 256, seed: seed)
      (trainPath, testPath) = (folder + "/train.txt", folder + "/test.txt")
      validationPath = folder + "/val.txt"
    }
    let map = try LabelMap.parse(labelMap)
    let trainEntries = try DatasetSource.load(trainPath)
    let testEntries = try DatasetSource.load(testPath)
    let report = DatasetChecker.check(splits: [("train", trainEntries), ("test", testEntries)], labelMap: map)
    print(
      "2. dataset check:\n"
        + report.render(limitPerKind: 5).split(separator: "\n").map { "   " + $0 }.joined(separator: "\n"))
    let train = try map.apply(to: trainEntries)
    let test = try map.apply(to: testEntries)

    // 2. Baseline and OS, trained the same way but for λ.
    let validationEntries = data == nil ? try DatasetSource.load(validationPath) : testEntries
    let validation = try map.apply(to: validationEntries)
    var options = DataLoader.Options()
    options.batchSize = batchSize
    options.seed = seed
    options.memoryFormat = .channelsLast
    options.badImages = .skip
    let preprocessing = Preprocessing(size: imageSize)
    let trainLoader = DataLoader(
      entries: train, classCount: map.classes.count, preprocessing: preprocessing, augmentation: Augmentation(),
      options: options, cache: ImageCache())
    options.shuffle = false
    let validationLoader = DataLoader(
      entries: validation, classCount: map.classes.count, preprocessing: preprocessing, options: options,
      cache: ImageCache())
    let testLoader = DataLoader(
      entries: test, classCount: map.classes.count, preprocessing: preprocessing, options: options, cache: ImageCache())
    var results: [(name: String, report: EvaluationReport, uncalibrated: EvaluationReport, temperature: Double)] = []
    for (name, lambda) in [("baseline", 0.0), ("OS", self.lambda)] {
      Torch.seed(seed)
      let model = try ResNet(.resnet18, classCount: map.classes.count, inputChannels: 1)
      try model.setMemoryFormat(.channelsLast)
      var settings = TrainingSettings()
      settings.epochs = epochs
      settings.lambda = lambda
      settings.seed = seed
      let trainer = try Trainer(
        model: model, settings: settings, trainLoader: trainLoader, validationLoader: validationLoader,
        runDirectory: output + "/" + name.lowercased(),
        metadata: TrainedModel.metadata(
          architecture: .resnet18, labelMap: map, labelMapText: labelMap, preprocessing: preprocessing))
      trainer.onProgress = { step in
        progress("   \(name): epoch \(step.epoch + 1)/\(step.epochs), batch \(step.batch)/\(step.batches)")
      }
      trainer.onEpoch = { record in
        progress(nil)
        var line = String(format: "   %@ epoch %d: loss %.4f", name, record.epoch, record.trainingLoss)
        if let os = record.orthogonalSpheres { line += String(format: " (CE %.4f, OS %.4f)", record.crossEntropy, os) }
        if let validation = record.validation {
          line += String(format: ", validation accuracy %.1f%%", validation.accuracy * 100)
        }
        print(line)
      }
      print(
        "3. training the \(name) (λ = \(lambda)\(lambda > 0 ? ", OS variant batch" : "")), ResNet-18, \(imageSize) px, \(epochs) epochs"
      )
      _ = try trainer.run()
      // Evaluate the best checkpoint, calibrated on the validation split.
      let best = try TrainedModel.load(trainer.bestCheckpointPath)
      try best.model.setMemoryFormat(.channelsLast)
      let (validationLogits, validationLabels) = try Predictor.logits(
        of: best.model, on: validationLoader, mixedPrecision: true)
      let temperature = TemperatureScaling.fit(logits: validationLogits, labels: validationLabels)
      let (logits, labels) = try Predictor.logits(of: best.model, on: testLoader, mixedPrecision: true)
      results.append(
        (
          name,
          EvaluationReport.compute(
            logits: logits, labels: labels, classes: map.classes, temperature: temperature, resamples: 500, seed: seed),
          EvaluationReport.compute(
            logits: logits, labels: labels, classes: map.classes, temperature: 1, resamples: 500, seed: seed),
          temperature
        ))
    }

    // 3. The comparison.
    print("4. test split (\(test.count) images): baseline vs OS, 95% bootstrap intervals")
    func cell(_ interval: EvaluationReport.Interval?, percent: Bool) -> String {
      guard let interval else { return "–" }
      return percent
        ? String(format: "%.1f%% [%.1f, %.1f]", interval.value * 100, interval.low * 100, interval.high * 100)
        : String(format: "%.3f [%.3f, %.3f]", interval.value, interval.low, interval.high)
    }
    let header =
      "   metric".padding(toLength: 33, withPad: " ", startingAt: 0)
      + results.map { $0.name.padding(toLength: 26, withPad: " ", startingAt: 0) }.joined()
    print(header)
    let rows: [(String, (EvaluationReport, EvaluationReport, Double) -> String)] = [
      ("accuracy", { r, _, _ in cell(r.accuracy, percent: true) }),
      ("macro-F1", { r, _, _ in cell(r.macroF1, percent: true) }),
      ("macro AUC", { r, _, _ in cell(r.macroAUC, percent: false) }),
      ("ECE before calibration", { _, u, _ in cell(u.ece, percent: false) }),
      ("ECE after (T fitted on val)", { r, _, _ in cell(r.ece, percent: false) }),
      ("temperature", { _, _, t in String(format: "%.3f", t) }),
    ]
    for (name, value) in rows {
      print(
        "   " + name.padding(toLength: 30, withPad: " ", startingAt: 0)
          + results.map {
            value($0.report, $0.uncalibrated, $0.temperature).padding(toLength: 26, withPad: " ", startingAt: 0)
          }.joined())
    }
    for result in results {
      try writeJSON(result.report, to: output + "/" + result.name.lowercased() + "/test-metrics.json")
    }
    print(
      "5. runs in \(output)/baseline and \(output)/os: config, log.jsonl, best and last checkpoints, test-metrics.json")
    if !trainLoader.skipped.isEmpty { print("   skipped \(trainLoader.skipped.count) unreadable training image(s)") }
    print("next in the demo (as their issues land): Grad-CAM heatmaps and the HTML report")
  }
}
