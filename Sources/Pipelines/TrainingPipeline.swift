import Datasets
import Engine
import Evaluation
import Foundation
import Imaging
import Models
import RunFiles
import Training

/// One call trains a model from an experiment's settings, writes the run folder, and (with a test
/// split) calibrates the best checkpoint on the validation split and evaluates it on the test split.
public enum TrainingPipeline {
  /// What a run produced.
  public struct Outcome {
    public var folder: RunFolder
    public var summary: TrainingSummary
    public var calibration: CalibrationPipeline.Result?
    /// The out-of-distribution detector fitted to the calibrated model.
    public var outOfDistribution: OutOfDistributionPipeline.FitResult?
    public var test: EvaluationPipeline.Result?
  }

  /// Training hooks: Ctrl-C, progress, epochs.
  public struct Hooks {
    public var stopRequested: () -> Bool = { false }
    public var output: PipelineOutput = .silent
    /// Called after every epoch; by default the epoch's line goes to `output`.
    public var onEpoch: ((EpochRecord) -> Void)?
    /// Bootstrap resamples of the test metrics' intervals.
    public var resamples = 1_000
    /// Training in several processes (`orthocxr launch`): this process's group. Rank 0 writes the run
    /// folder, calibrates and tests; the other ranks train and say nothing.
    public var group: ProcessGroup?

    public init(stopRequested: @escaping () -> Bool = { false }, output: PipelineOutput = .silent) {
      self.stopRequested = stopRequested
      self.output = output
    }
  }

  /// Trains one run in `settings.output` (`settings.seeds` is not looked at: see `trainSeeds`).
  /// `resume` continues from the folder's last checkpoint.
  public static func train(_ settings: ExperimentSettings, resume: Bool = false, hooks: Hooks = Hooks()) throws
    -> Outcome
  {
    try settings.validate()
    if let megapixels = settings.maxMegapixels { ImageLimits.maxPixels = Int(megapixels * 1_000_000) }
    guard let trainSplit = settings.train else { throw SettingsProblem("no training split: set train") }
    guard let output = settings.output else { throw SettingsProblem("no run folder: set output") }
    guard let architecture = Architecture(rawValue: settings.model) else {
      throw SettingsProblem(
        "unknown model \"\(settings.model)\"; use \(Architecture.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    let loader = try LoaderSettings(settings)
    let group = hooks.group
    let isLeader = (group?.rank ?? 0) == 0
    let say = isLeader ? hooks.output : .silent
    Torch.threadCount = loader.threads
    CPUMemoryCache.enableForLoops()
    try Torch.makeAvailable(loader.device)
    let seed = settings.training.seed
    Torch.seed(seed)
    let description = try CheckpointFile.ModelDescription(
      architecture: architecture, labelMapText: settings.labelMap,
      preprocessing: Preprocessing(size: settings.imageSize, channels: settings.channels))
    let map = description.labelMap
    var trainEntries = try loader.entries(trainSplit, labelMap: map)
    let splitCount = trainEntries.count
    if let fraction = settings.trainFraction {
      trainEntries = TrainingSubset.draw(trainEntries, fraction: fraction, seed: seed)
    }
    var trainOptions = loader.options(seed: seed, shuffle: true)
    trainOptions.minimumBatch = 2
    trainOptions.shard = group.map { Shard(rank: $0.rank, count: $0.size, evenSteps: true) }
    let trainLoader = DataLoader(
      entries: trainEntries, classCount: map.classes.count, preprocessing: description.preprocessing,
      augmentation: settings.augmentation ? Augmentation() : nil, options: trainOptions, cache: ImageCache())
    let validationLoader = try settings.val.map {
      try loader.evaluationLoader(
        $0, labelMap: map, preprocessing: description.preprocessing, seed: seed, cache: ImageCache(),
        shard: group.map { Shard(rank: $0.rank, count: $0.size, evenSteps: false) })
    }
    let network = try architecture.make(classCount: map.classes.count, inputChannels: settings.channels)
    if let weights = settings.weights, !resume {
      say.message(try loadWeights(weights, into: network))
    }
    try network.place(on: loader.device)
    try network.setMemoryFormat(.channelsLast)
    let folder = RunFolder(output)
    // One writer per run folder, for the whole run (training, calibration, the test split).
    let claim = isLeader ? try folder.claim() : nil
    defer { withExtendedLifetime(claim) {} }
    if isLeader {
      try folder.writeSettings(settings, classes: map.classes)
      if let fraction = settings.trainFraction {
        try folder.writeTrainingSubset(
          trainEntries.map { ($0.entry.path, $0.entry.label) },
          heading:
            "\(trainEntries.count) of the \(splitCount) images of \(trainSplit): train-fraction \(fraction), seed \(seed)"
        )
      }
    }
    if let group, settings.syncBatchNorm {
      network.synchronizeBatchNorm(over: group)
    }
    let dataParallel = try group.map { try DataParallel(model: network, group: $0) }
    let trainer = try Trainer(
      model: network, settings: settings.training, trainLoader: trainLoader, validationLoader: validationLoader,
      folder: folder, description: description, dataParallel: dataParallel)
    trainer.stopRequested = hooks.stopRequested
    trainer.onProgress = { step in
      let done = Int(20 * Double(step.batch) / Double(max(step.batches, 1)))
      say.progress(
        "epoch \(step.epoch + 1)/\(step.epochs) [\(String(repeating: "#", count: done))\(String(repeating: ".", count: 20 - done))] "
          + "\(step.batch)/\(step.batches) loss \(String(format: "%.4f", step.loss)) · "
          + "\(String(format: "%.1f", step.imagesPerSecond)) img/s · \(durationText(step.secondsLeft)) left")
    }
    trainer.onNotice = { say.message($0) }
    trainer.onEpoch = { [onEpoch = hooks.onEpoch] record in
      say.progress(nil)
      if let onEpoch { onEpoch(record) } else { say.message(epochLine(record)) }
    }
    let lambda = settings.training.lambda
    let length =
      settings.training.steps.map { "\($0) steps (\(trainer.plannedEpochs) epochs)" }
      ?? "\(settings.training.epochs) epochs"
    say.message(
      "training \(architecture.rawValue) on \(trainEntries.count) images (\(map.classes.joined(separator: ", "))"
        + (settings.trainFraction.map { "; \(Int(($0 * 100).rounded()))% of \(splitCount)" } ?? "") + "), "
        + "λ = \(lambda) (\(settings.training.osVariant)), \(length) on \(loader.device)"
        + (group.map { ", \($0.size) processes (batch \(settings.batchSize) split between them)" } ?? "")
        + " → \(output)/"
    )
    let summary: TrainingSummary
    do {
      summary = try trainer.run(resume: resume)
    } catch {
      say.progress(nil)
      throw error
    }
    var outcome = Outcome(folder: folder, summary: summary)
    guard isLeader else { return outcome }
    try folder.writeTrainingSummary(summary)
    if !summary.skippedImages.isEmpty {
      say.message("skipped \(summary.skippedImages.count) unreadable image(s); see metrics.json")
    }
    guard !summary.interrupted else { return outcome }
    say.message("best epoch \(summary.bestEpoch.map(String.init) ?? "–") → \(folder.bestCheckpoint)")
    if let test = settings.test, let val = settings.val {
      (outcome.calibration, outcome.outOfDistribution, outcome.test) = try calibrateAndTest(
        folder, train: trainSplit, trainFraction: settings.trainFraction, validation: val, test: test, loader: loader,
        seed: seed,
        resamples: hooks.resamples, output: say)
    }
    return outcome
  }

  /// Calibrates the folder's best checkpoint on `validation`, fits its out-of-distribution detector
  /// (features of `train`, or of the subset `trainFraction` and `seed` drew from it; thresholds on
  /// `validation`) and evaluates it on `test`, writing
  /// best-calibrated.safetensors, test-metrics.json, test-metrics-uncalibrated.json and
  /// test-predictions.csv.
  public static func calibrateAndTest(
    _ folder: RunFolder, train: String, trainFraction: Double? = nil, validation: String, test: String,
    loader: LoaderSettings, seed: UInt64, resamples: Int = 1_000, output say: PipelineOutput = .silent
  ) throws -> (CalibrationPipeline.Result, OutOfDistributionPipeline.FitResult, EvaluationPipeline.Result) {
    let calibration = try CalibrationPipeline.calibrate(
      checkpoint: folder.bestCheckpoint, on: validation, loader: loader, destination: folder.calibratedCheckpoint)
    say.message(calibration.render())
    say.message("wrote \(calibration.destination)")
    var fitSettings = OutOfDistributionPipeline.FitSettings()
    fitSettings.trainingSubset = trainFraction.map { ($0, seed) }
    let detector = try OutOfDistributionPipeline.fit(
      checkpoint: folder.calibratedCheckpoint, train: train, validation: validation, loader: loader,
      settings: fitSettings, output: say)
    say.message(detector.render())
    let evaluation = try EvaluationPipeline.evaluate(
      checkpoint: folder.calibratedCheckpoint, on: test, loader: loader, resamples: resamples, seed: seed)
    try evaluation.write(
      metrics: folder.testMetrics, uncalibratedMetrics: folder.uncalibratedTestMetrics,
      predictions: folder.testPredictions)
    say.message("\(folder.calibratedCheckpoint) on \(test)")
    say.message(evaluation.report.render())
    return (calibration, detector, evaluation)
  }

  /// One run per seed of `settings.seeds`, in OUTPUT/seed-N, then the mean ± std of the test metrics.
  public static func trainSeeds(_ settings: ExperimentSettings, resume: Bool = false, hooks: Hooks = Hooks()) throws
    -> (outcomes: [Outcome], summary: SeedSummary?)
  {
    guard let seeds = settings.seeds, let output = settings.output else {
      return ([try train(settings, resume: resume, hooks: hooks)], nil)
    }
    var outcomes: [Outcome] = []
    for seed in seeds {
      var single = settings
      single.seeds = nil
      single.training.seed = seed
      single.output = RunFolder(output).seed(seed).path
      if (hooks.group?.rank ?? 0) == 0 { hooks.output.message("== seed \(seed) → \(single.output!)") }
      let outcome = try train(single, resume: resume, hooks: hooks)
      outcomes.append(outcome)
      if outcome.summary.interrupted { return (outcomes, nil) }
    }
    // Rank 0 alone wrote the test metrics.
    let summary =
      settings.test == nil || (hooks.group?.rank ?? 0) != 0 ? nil : try SeedSummary(runs: outcomes.map(\.folder))
    return (outcomes, summary)
  }

  /// Loads `weights` into a new model, leaving out the checkpoint's classifier (a new task gets a new
  /// one). Accepts an OrthoCXR training or model checkpoint (its `model.` part) or a plain state dict.
  public static func loadWeights(_ path: String, into network: any ImageClassifier) throws -> String {
    var state = try CheckpointFile.modelState(path)
    let head = network.namedModules().first { $0.module === network.classifierHead }.map { $0.path + "." } ?? "fc."
    state = state.filter { !$0.key.hasPrefix(head) }
    let report = try network.loadStateDict(state, strict: false)
    let newOnes = report.missingKeys.filter { !$0.hasPrefix(head) }
    let loaded = state.count - report.unexpectedKeys.count
    guard loaded > 0 else {
      throw CheckpointError(
        path: path,
        reason: "has no tensor this model knows (its names: \(state.keys.sorted().prefix(4).joined(separator: ", "))…)")
    }
    return "loaded \(path): \(loaded) tensors; \(report.missingKeys.count) kept new "
      + "(the classifier\(newOnes.isEmpty ? "" : " and \(newOnes.count) more")), \(report.unexpectedKeys.count) ignored"
  }

  static func epochLine(_ record: EpochRecord) -> String {
    var line = String(format: "epoch %d: loss %.4f (CE %.4f", record.epoch, record.trainingLoss, record.crossEntropy)
    if let os = record.orthogonalSpheres { line += String(format: ", OS %.4f", os) }
    line += ")"
    if let validation = record.validation {
      line += String(
        format: "  val accuracy %.1f%%  macro-F1 %.3f  ECE %.4f", validation.accuracy * 100, validation.macroF1 ?? 0,
        validation.ece)
    }
    return line + String(format: "  (%.0f s)", record.seconds)
  }
}

/// Mean ± standard deviation over seeds of the calibrated test metrics.
public struct SeedSummary: Equatable {
  public struct Row: Equatable {
    public var metric: String
    public var mean: Double
    public var standardDeviation: Double
  }

  public var runs: [RunFolder]
  public var rows: [Row]

  public init(runs: [RunFolder]) throws {
    let reports = try runs.map { try JSONFile.read(EvaluationReport.self, from: $0.testMetrics) }
    let columns: [(String, [Double])] = [
      ("accuracy", reports.map(\.accuracy.value)), ("macro-F1", reports.compactMap { $0.macroF1?.value }),
      ("macro AUC", reports.compactMap { $0.macroAUC?.value }), ("ECE", reports.map(\.ece.value)),
      ("NLL", reports.map(\.nll)), ("Brier", reports.map(\.brier)),
    ]
    self.runs = runs
    rows = columns.compactMap { name, values in
      guard !values.isEmpty else { return nil }
      let (mean, standardDeviation) = Statistics.meanAndStandardDeviation(values)
      return Row(metric: name, mean: mean, standardDeviation: standardDeviation)
    }
  }

  public func render() -> String {
    (["over \(runs.count) seeds, test split (calibrated), mean ± std:"]
      + rows.map {
        "  " + $0.metric.padding(toLength: 10, withPad: " ", startingAt: 0)
          + String(format: "%.4f ± %.4f", $0.mean, $0.standardDeviation)
      }).joined(separator: "\n")
  }
}
