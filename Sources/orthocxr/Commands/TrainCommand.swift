import ArgumentParser
import Datasets
import Engine
import Evaluation
import Foundation
import Models
import Training

/// Trains a baseline (λ = 0) or OS model.
struct TrainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train",
    abstract: "Train a classifier with cross-entropy + λ·OS (λ = 0: the baseline).",
    discussion: """
      Validates every epoch, keeps the best (by --select) and the last checkpoint in the run folder,
      with config.yaml (every setting as resolved: run it again with --config), config.json,
      log.jsonl (every step and epoch) and metrics.json. Ctrl-C saves where training is and exits;
      --resume continues exactly from there.

      --config FILE reads the settings from YAML: each key is an option below without its dashes
      (image-size: 224), optionally grouped in sections (model:, data:, loss:, ...); an option given on
      the command line overrides the file. --seeds 0,1,2 trains one run per seed in OUTPUT/seed-N.
      --test SPLIT then calibrates each run on --val and evaluates it on SPLIT (test-metrics.json,
      test-predictions.csv), ready for `orthocxr compare`.

      Example: orthocxr train --train data/train.txt --val data/val.txt --lambda 0.01 --output runs/os
               orthocxr train --config experiments/os.yaml --seeds 0,1,2 --epochs 5
      """
  )

  @Option(help: "A YAML experiment file whose keys are these options; the command line overrides it.")
  var config: String?

  @Option(help: "Training split (COVIDx split file, class folder or CSV).")
  var train: String

  @Option(help: "Validation split, for model selection and early stopping.")
  var val: String?

  @Option(help: "Label map: three-class, covid-vs-normal, covid-vs-noncovid, or label=class,…")
  var labelMap = "three-class"

  @Option(help: "Architecture: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")).")
  var model: Architecture = .resnet18

  @Option(help: "Weights to start from (.safetensors or .pth; loaded non-strictly, the classifier is kept new).")
  var weights: String?

  @Option(help: "Network input side in pixels.")
  var imageSize = 224

  @Option(help: "Input channels: 1 (greyscale) or 3 (for ImageNet weights).")
  var channels = 1

  @Flag(help: "No augmentation.")
  var noAugmentation = false

  @Option(help: "Run folder (created).")
  var output: String

  @Flag(help: "Continue the run in --output from its last checkpoint.")
  var resume = false

  @OptionGroup var loader: LoaderOptions

  @Option(help: "Epochs.") var epochs = 10
  @Option(help: "Optimizer: sgd, adam, adamw.") var optimizer: TrainingSettings.OptimizerKind = .adamw
  @Option(help: "Learning rate.") var learningRate = 1e-3
  @Option(help: "SGD momentum.") var momentum = 0.9
  @Option(help: "Weight decay.") var weightDecay = 1e-4
  @Option(help: "Schedule: constant, step, cosine.") var schedule: TrainingSettings.ScheduleKind = .cosine
  @Option(help: "Linear warm-up epochs.") var warmupEpochs = 1
  @Option(help: "λ of the OS term (0: baseline).") var lambda = 0.0
  @Option(help: "OS variant: batch, feature, blocks(k).") var osVariant = "batch"
  @Option(help: "Label smoothing of the cross-entropy.") var labelSmoothing = 0.0
  @Option(help: "Validation metric that picks the best checkpoint: accuracy, macro-f1, balanced-accuracy, nll.")
  var select: TrainingSettings.SelectionMetric = .macroF1
  @Option(help: "Stop after this many epochs without improvement.") var patience: Int?
  @Flag(help: "Train in float32 rather than bf16 autocast.") var fp32 = false
  @Option(help: "Random seed (weights, order, augmentation).") var seed: UInt64 = 0
  @Option(help: "Several seeds, comma-separated: one run per seed in OUTPUT/seed-N (overrides --seed).")
  var seeds: String?
  @Option(help: "Test split: after training, calibrate on --val and evaluate on this split.") var test: String?

  func validate() throws {
    guard epochs > 0, imageSize >= 32, channels == 1 || channels == 3, learningRate >= 0 else {
      throw ValidationError("--epochs must be positive, --image-size at least 32, --channels 1 or 3")
    }
    guard OrthogonalSpheres(osVariant) != nil else {
      throw ValidationError("--os-variant must be batch, feature or blocks(k), not \"\(osVariant)\"")
    }
    guard test == nil || val != nil else {
      throw ValidationError("--test needs --val: the temperature is fitted on the validation split")
    }
    _ = try seedList()
  }

  /// The seeds of --seeds, or nil for a single run.
  func seedList() throws -> [UInt64]? {
    guard let seeds else { return nil }
    let list = seeds.split(separator: ",").map { UInt64($0.trimmingCharacters(in: .whitespaces)) }
    guard !list.isEmpty, list.allSatisfy({ $0 != nil }), Set(list).count == list.count else {
      throw ValidationError(
        "--seeds takes different whole numbers separated by commas, such as 0,1,2; got \"\(seeds)\"")
    }
    return list.compactMap { $0 }
  }

  func run() throws {
    guard let seeds = try seedList() else {
      try runOnce()
      return
    }
    var runs: [String] = []
    for seed in seeds {
      var single = self
      single.seeds = nil
      single.seed = seed
      single.output = output + "/seed-\(seed)"
      print("== seed \(seed) → \(single.output)")
      try single.runOnce()
      runs.append(single.output)
    }
    try summarize(runs: runs)
  }

  /// Mean ± standard deviation over the seeds' runs, of the test metrics (with --test) or of the
  /// best validation epoch.
  func summarize(runs: [String]) throws {
    var rows: [(String, [Double])] = []
    if test != nil {
      let reports = try runs.map {
        try JSONDecoder().decode(
          EvaluationReport.self, from: Data(contentsOf: URL(fileURLWithPath: $0 + "/test-metrics.json")))
      }
      rows = [
        ("accuracy", reports.map(\.accuracy.value)), ("macro-F1", reports.compactMap { $0.macroF1?.value }),
        ("macro AUC", reports.compactMap { $0.macroAUC?.value }), ("ECE", reports.map(\.ece.value)),
        ("NLL", reports.map(\.nll)), ("Brier", reports.map(\.brier)),
      ]
    }
    guard !rows.isEmpty else {
      print("\(runs.count) runs in \(output)/seed-*")
      return
    }
    print("\nover \(runs.count) seeds, test split (calibrated), mean ± std:")
    for (name, values) in rows where !values.isEmpty {
      let mean = values.reduce(0, +) / Double(values.count)
      let std =
        values.count > 1
        ? (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1)).squareRoot() : 0
      print("  " + name.padding(toLength: 10, withPad: " ", startingAt: 0) + String(format: "%.4f ± %.4f", mean, std))
    }
    print("compare with another configuration: orthocxr compare --baseline OTHER/seed-* --candidate \(output)/seed-*")
  }

  var settings: TrainingSettings {
    var settings = TrainingSettings()
    settings.epochs = epochs
    settings.optimizer = optimizer
    settings.learningRate = learningRate
    settings.momentum = momentum
    settings.weightDecay = weightDecay
    settings.schedule = schedule
    settings.warmupEpochs = warmupEpochs
    settings.lambda = lambda
    settings.osVariant = osVariant
    settings.labelSmoothing = labelSmoothing
    settings.selectionMetric = select
    settings.earlyStoppingPatience = patience
    settings.mixedPrecision = !fp32
    settings.seed = seed
    return settings
  }

  func runOnce() throws {
    Torch.threadCount = loader.threads
    Torch.seed(seed)
    let map: LabelMap
    do { map = try LabelMap.parse(labelMap) } catch { throw ValidationError("--label-map: \(error)") }
    let preprocessing = Preprocessing(size: imageSize, channels: channels)
    let trainEntries = try loader.entries(train, labelMap: map)
    let trainLoader = DataLoader(
      entries: trainEntries, classCount: map.classes.count, preprocessing: preprocessing,
      augmentation: noAugmentation ? nil : Augmentation(), options: loader.loaderOptions(seed: seed, shuffle: true),
      cache: ImageCache())
    let validationLoader = try val.map {
      DataLoader(
        entries: try loader.entries($0, labelMap: map), classCount: map.classes.count, preprocessing: preprocessing,
        options: loader.loaderOptions(seed: seed, shuffle: false), cache: ImageCache())
    }
    let network = try model.make(classCount: map.classes.count, inputChannels: channels)
    if let weights, !resume {
      var state = Checkpoint.unwrapped(try Checkpoint.read(from: weights))
      // A new task gets a new classifier: leave out the checkpoint's (`fc.` or `classifier.`).
      let head = network.namedModules().first { $0.module === network.classifierHead }.map { $0.path + "." } ?? "fc."
      state = state.filter { !$0.key.hasPrefix(head) }
      let report = try network.loadStateDict(state, strict: false)
      print(
        "loaded \(weights): \(report.missingKeys.count) tensors kept new (\(report.missingKeys.prefix(4).joined(separator: ", "))…), \(report.unexpectedKeys.count) ignored"
      )
    }
    try network.setMemoryFormat(.channelsLast)
    try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
    let configuration = RunConfiguration(
      model: model.rawValue, train: train, val: val, labelMap: labelMap, classes: map.classes, imageSize: imageSize,
      channels: channels, augmentation: !noAugmentation, batchSize: loader.batchSize, weights: weights,
      settings: settings)
    try writeJSON(configuration, to: output + "/config.json")
    try resolvedYAML().write(toFile: output + "/config.yaml", atomically: true, encoding: .utf8)
    let trainer = try Trainer(
      model: network, settings: settings, trainLoader: trainLoader, validationLoader: validationLoader,
      runDirectory: output,
      metadata: TrainedModel.metadata(
        architecture: model, labelMap: map, labelMapText: labelMap, preprocessing: preprocessing))
    installInterruptHandler()
    trainer.stopRequested = { interruptRequested.load(ordering: .relaxed) }
    trainer.onProgress = { step in
      let done = Int(20 * Double(step.batch) / Double(max(step.batches, 1)))
      progress(
        "epoch \(step.epoch + 1)/\(step.epochs) [\(String(repeating: "#", count: done))\(String(repeating: ".", count: 20 - done))] "
          + "\(step.batch)/\(step.batches) loss \(String(format: "%.4f", step.loss)) · "
          + "\(String(format: "%.1f", step.imagesPerSecond)) img/s · \(durationText(step.secondsLeft)) left")
    }
    trainer.onEpoch = { record in
      progress(nil)
      var line = String(format: "epoch %d: loss %.4f (CE %.4f", record.epoch, record.trainingLoss, record.crossEntropy)
      if let os = record.orthogonalSpheres { line += String(format: ", OS %.4f", os) }
      line += ")"
      if let validation = record.validation {
        line += String(
          format: "  val accuracy %.1f%%  macro-F1 %.3f  ECE %.4f", validation.accuracy * 100, validation.macroF1 ?? 0,
          validation.ece)
      }
      print(line + String(format: "  (%.0f s)", record.seconds))
    }
    print(
      "training \(model.rawValue) on \(trainEntries.count) images (\(map.classes.joined(separator: ", "))), λ = \(lambda) (\(osVariant)), \(epochs) epochs → \(output)/"
    )
    let summary: TrainingSummary
    do {
      summary = try trainer.run(resume: resume)
    } catch let error as TrainingError {
      progress(nil)
      throw ValidationError(error.description)
    }
    try writeJSON(summary, to: output + "/metrics.json")
    if !summary.skippedImages.isEmpty {
      print("skipped \(summary.skippedImages.count) unreadable image(s); see metrics.json")
    }
    if summary.interrupted {
      print("interrupted: saved \(trainer.lastCheckpointPath); continue with the same command and --resume")
      throw ExitCode(130)
    }
    print("best epoch \(summary.bestEpoch.map(String.init) ?? "–") → \(trainer.bestCheckpointPath)")
    if let test, let val {
      let common =
        ["--threads", String(loader.threads), "--batch-size", String(loader.batchSize)]
        + (loader.images.map { ["--images", $0] } ?? []) + ["--bad-images", loader.badImages.rawValue]
      let calibrated = output + "/best-calibrated.safetensors"
      let calibrate = try CalibrateCommand.parse(
        ["--checkpoint", trainer.bestCheckpointPath, "--data", val, "--output", calibrated] + common)
      try calibrate.run()
      let evaluate = try EvaluateCommand.parse(
        [
          "--checkpoint", calibrated, "--data", test, "--output", output + "/test-metrics.json",
          "--uncalibrated-output", output + "/test-metrics-uncalibrated.json", "--predictions",
          output + "/test-predictions.csv", "--seed", String(seed),
        ] + common)
      try evaluate.run()
    }
  }

  /// Every setting of this run as YAML, in the form --config reads: the run can be repeated with
  /// `orthocxr train --config RUN/config.yaml`.
  func resolvedYAML() -> String {
    func quoted(_ text: String) -> String {
      let plain = text.allSatisfy { $0.isLetter || $0.isNumber || "-_./".contains($0) } && !text.isEmpty
      return plain
        ? text
        : "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
    func optional(_ text: String?) -> String { text.map(quoted) ?? "null" }
    return """
      # Resolved settings of this run (orthocxr train --config this-file repeats it).
      model:
        model: \(model.rawValue)
        weights: \(optional(weights))
        image-size: \(imageSize)
        channels: \(channels)
      data:
        train: \(quoted(train))
        val: \(optional(val))
        test: \(optional(test))
        label-map: \(quoted(labelMap))
        images: \(optional(loader.images))
        bad-images: \(loader.badImages.rawValue)
      augmentation:
        no-augmentation: \(noAugmentation)
      loss:
        lambda: \(lambda)
        os-variant: \(quoted(osVariant))
        label-smoothing: \(labelSmoothing)
      optimizer:
        optimizer: \(optimizer.rawValue)
        learning-rate: \(learningRate)
        momentum: \(momentum)
        weight-decay: \(weightDecay)
      schedule:
        schedule: \(schedule.rawValue)
        warmup-epochs: \(warmupEpochs)
        epochs: \(epochs)
      training:
        batch-size: \(loader.batchSize)
        select: \(select.rawValue)
        patience: \(patience.map(String.init) ?? "null")
        fp32: \(fp32)
        seed: \(seed)
        output: \(quoted(output))
      machine:
        workers: \(loader.workers)
        threads: \(loader.threads)

      """
  }
}

/// The resolved settings of a run, written to config.json.
struct RunConfiguration: Codable {
  var model: String
  var train: String
  var val: String?
  var labelMap: String
  var classes: [String]
  var imageSize: Int
  var channels: Int
  var augmentation: Bool
  var batchSize: Int
  var weights: String?
  var settings: TrainingSettings
}

extension TrainingSettings.OptimizerKind: ExpressibleByArgument {}
extension TrainingSettings.ScheduleKind: ExpressibleByArgument {}
extension TrainingSettings.SelectionMetric: ExpressibleByArgument {}
