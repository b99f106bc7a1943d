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
      split files, checks the dataset, trains a baseline ResNet-18 and one with the Orthogonal
      Spheres loss, calibrates both on the validation split, evaluates them on the test split with
      bootstrap intervals, explains test images with Grad-CAM (overlays, faithfulness and
      localisation metrics, side-by-side panels), and writes HTML reports: one per run and one
      comparing the two (OUTPUT/comparison.html).

      With --data PATH/train.txt it does the same on real X-rays: PATH/test.txt is the test split and
      PATH/val.txt (or the test split, when there is none) the validation split.
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

  @Option(help: "Test images to explain with Grad-CAM.")
  var explain = 24

  func validate() throws {
    guard epochs > 0, imageSize >= 32, batchSize > 0, perClass > 0, threads > 0, explain >= 0 else {
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
    if data != nil {
      let besideTrain = ((trainPath as NSString).deletingLastPathComponent as NSString).appendingPathComponent(
        "val.txt")
      validationPath = FileManager.default.fileExists(atPath: besideTrain) ? besideTrain : testPath
    }
    let validationEntries = try DatasetSource.load(validationPath)
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
      // The run's settings in the form `orthocxr train --config` reads, so the run can be repeated.
      try FileManager.default.createDirectory(
        atPath: output + "/" + name.lowercased(), withIntermediateDirectories: true)
      try """
      # Written by orthocxr demo; `orthocxr train --config THIS --test \(testPath)` trains the same way.
      model: {model: resnet18, image-size: \(imageSize), channels: 1}
      data: {train: \(trainPath), val: \(validationPath), label-map: \(labelMap)}
      loss: {lambda: \(lambda), os-variant: batch}
      optimizer: {optimizer: \(settings.optimizer.rawValue), learning-rate: \(settings.learningRate), weight-decay: \(settings.weightDecay)}
      schedule: {schedule: \(settings.schedule.rawValue), warmup-epochs: \(settings.warmupEpochs), epochs: \(epochs)}
      training: {batch-size: \(batchSize), seed: \(seed), output: \(output)/\(name.lowercased())}

      """.write(toFile: output + "/" + name.lowercased() + "/config.yaml", atomically: true, encoding: .utf8)
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
      // What `train --test` leaves in a run folder: the calibrated model, test metrics with and
      // without the temperature, per-image predictions.
      let run = output + "/" + name.lowercased()
      try saveCalibrated(trainer.bestCheckpointPath, temperature: temperature, to: run + "/best-calibrated.safetensors")
      try writePredictions(
        paths: testLoader.order(epoch: 0).prefix(labels.count).map { test[$0].entry.path }, labels: labels,
        probabilities: softmax(logits, temperature: temperature), classes: map.classes,
        to: run + "/test-predictions.csv")
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
      let run = output + "/" + result.name.lowercased()
      try writeJSON(result.report, to: run + "/test-metrics.json")
      try writeJSON(result.uncalibrated, to: run + "/test-metrics-uncalibrated.json")
    }
    if !trainLoader.skipped.isEmpty { print("   skipped \(trainLoader.skipped.count) unreadable training image(s)") }

    // 4. Heatmaps of both models on the same test images, then the reports.
    let explanations = output + "/explanations"
    if explain > 0 {
      print("5. Grad-CAM on \(min(explain, test.count)) test images, both models (overlays, metrics, panels)")
      let boxes = ((testPath as NSString).deletingLastPathComponent as NSString).appendingPathComponent("boxes.csv")
      var arguments = [
        "--checkpoint", output + "/baseline/best-calibrated.safetensors", "--compare",
        output + "/os/best-calibrated.safetensors", "--data", testPath, "--output", explanations, "--limit",
        String(explain), "--names", "baseline,os", "--threads", String(threads),
      ]
      if FileManager.default.fileExists(atPath: boxes) { arguments += ["--boxes", boxes] }
      let command = try ExplainCommand.parse(arguments)
      try command.run()
    }
    print("6. reports")
    for name in ["baseline", "os"] {
      var arguments = [output + "/" + name, "--output", output + "/" + name + "/report.html"]
      if explain > 0 { arguments += ["--explanations", explanations + "/" + name] }
      let command = try ReportCommand.parse(arguments)
      try command.run()
    }
    var arguments = [
      "--baseline", output + "/baseline", "--candidate", output + "/os", "--names", "baseline,OS", "--output",
      output + "/comparison.html",
    ]
    if explain > 0 { arguments += ["--explanations", explanations] }
    let command = try ReportCommand.parse(arguments)
    try command.run()
    print(
      "done: open \(output)/comparison.html; runs in \(output)/baseline and \(output)/os (config, log.jsonl, checkpoints, "
        + "test metrics, report.html), heatmaps in \(explanations)")
  }
}
