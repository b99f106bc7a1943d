import Datasets
import Engine
import Evaluation
import Foundation
import Models

/// What to train with: optimizer, schedule, loss, model selection, stopping. Every field has a default
/// and can be set from the command line.
public struct TrainingSettings: Codable, Equatable, Sendable {
  public enum OptimizerKind: String, Codable, Sendable, CaseIterable { case sgd, adam, adamw }
  public enum ScheduleKind: String, Codable, Sendable, CaseIterable { case constant, step, cosine }
  /// The validation metric that picks the best checkpoint (higher is better, but for NLL).
  public enum SelectionMetric: String, Codable, Sendable, CaseIterable {
    case accuracy, macroF1 = "macro-f1", balancedAccuracy = "balanced-accuracy", nll
  }

  public var epochs = 10
  public var optimizer: OptimizerKind = .adamw
  public var learningRate = 1e-3
  public var momentum = 0.9
  public var weightDecay = 1e-4
  public var schedule: ScheduleKind = .cosine
  /// Linear warm-up over this many epochs before the schedule.
  public var warmupEpochs = 1
  /// For the step schedule: multiply by `gamma` every `stepEpochs` epochs.
  public var stepEpochs = 10
  public var gamma = 0.1
  /// λ of the OS term; 0 is the baseline.
  public var lambda = 0.0
  public var osVariant = "batch"
  public var labelSmoothing = 0.0
  public var selectionMetric: SelectionMetric = .macroF1
  /// Stop after this many epochs without improvement of the selection metric (nil: never).
  public var earlyStoppingPatience: Int?
  /// bf16 autocast for the forward pass.
  public var mixedPrecision = true
  /// Write a step line to the log every this many steps.
  public var logEvery = 10
  public var seed: UInt64 = 0

  public init() {}
}

/// Why training stopped.
public enum TrainingError: Error, CustomStringConvertible {
  case nonFiniteLoss(epoch: Int, step: Int, lastCheckpoint: String?)
  case resumeWithoutCheckpoint(String)
  case checkpointMismatch(String)

  public var description: String {
    switch self {
    case .nonFiniteLoss(let epoch, let step, let checkpoint):
      return "the loss became NaN or infinite in epoch \(epoch + 1), step \(step); "
        + (checkpoint.map { "the last good checkpoint is \($0)" } ?? "no epoch had finished, so there is no checkpoint")
        + ". Try a lower learning rate or λ."
    case .resumeWithoutCheckpoint(let path): return "nothing to resume: \(path) does not exist"
    case .checkpointMismatch(let reason): return "the checkpoint does not fit this run: \(reason)"
    }
  }
}

/// One epoch's record in the log and the summary.
public struct EpochRecord: Codable, Sendable {
  public var epoch: Int
  public var trainingLoss: Double
  public var crossEntropy: Double
  public var orthogonalSpheres: Double?
  public var learningRate: Double
  public var validation: ValidationMetrics?
  public var seconds: Double
}

/// Validation metrics of one epoch.
public struct ValidationMetrics: Codable, Sendable, Equatable {
  public var accuracy: Double
  public var balancedAccuracy: Double?
  public var macroF1: Double?
  public var macroAUC: Double?
  public var nll: Double
  public var ece: Double

  func score(_ metric: TrainingSettings.SelectionMetric) -> Double {
    switch metric {
    case .accuracy: accuracy
    case .macroF1: macroF1 ?? 0
    case .balancedAccuracy: balancedAccuracy ?? 0
    case .nll: -nll
    }
  }
}

public struct TrainingSummary: Codable, Sendable {
  public var epochs: [EpochRecord]
  public var bestEpoch: Int?
  public var bestScore: Double?
  /// Stopped by the stop hook (Ctrl-C) with a checkpoint to resume from.
  public var interrupted: Bool
  public var stoppedEarly: Bool
  public var skippedImages: [String]
}

/// Where training is, for a progress display.
public struct TrainingProgress: Sendable {
  public var epoch: Int
  public var epochs: Int
  public var batch: Int
  public var batches: Int
  public var loss: Double
  public var imagesPerSecond: Double
  public var secondsLeft: Double
}

/// Trains an image classifier with CE + λ·OS, validating every epoch, keeping the best and the last
/// checkpoint, and resuming exactly.
///
/// Checkpoints (`last.safetensors`, `best.safetensors` in the run folder) hold the model
/// (`model.*`), the optimizer (`optimizer.*`), libtorch's random state, and in their metadata the
/// position (epoch, batch, step), the best score so far and the caller's metadata (architecture,
/// classes, preprocessing). They are written to a temporary file and renamed. Because the loader's
/// order and augmentation depend only on (seed, epoch, sample), an interrupted run that resumes ends
/// with the same weights as one that was never interrupted.
public final class Trainer {
  public let model: any ImageClassifier
  public let settings: TrainingSettings
  public let trainLoader: DataLoader
  public let validationLoader: DataLoader?
  public let runDirectory: String
  public let metadata: [String: String]
  /// Polled after every step; when it returns true, training saves where it is and returns.
  public var stopRequested: () -> Bool = { false }
  /// Called after every step.
  public var onProgress: (TrainingProgress) -> Void = { _ in }
  /// Called after every epoch.
  public var onEpoch: (EpochRecord) -> Void = { _ in }

  let objective: OrthogonalSpheresObjective
  let optimizer: any Optimizer
  let schedule: any LearningRateSchedule
  let stepsPerEpoch: Int

  public var lastCheckpointPath: String { runDirectory + "/last.safetensors" }
  public var bestCheckpointPath: String { runDirectory + "/best.safetensors" }
  var logPath: String { runDirectory + "/log.jsonl" }

  public init(
    model: any ImageClassifier, settings: TrainingSettings, trainLoader: DataLoader, validationLoader: DataLoader?,
    runDirectory: String, metadata: [String: String] = [:]
  ) throws {
    guard let variant = OrthogonalSpheres(settings.osVariant) else {
      throw TorchError("unknown OS variant \"\(settings.osVariant)\"; use batch, feature or blocks(k)")
    }
    self.model = model
    self.settings = settings
    self.trainLoader = trainLoader
    self.validationLoader = validationLoader
    self.runDirectory = runDirectory
    self.metadata = metadata
    objective = OrthogonalSpheresObjective(
      lambda: settings.lambda, variant: variant, labelSmoothing: settings.labelSmoothing)
    let parameters = model.parameters()
    switch settings.optimizer {
    case .sgd:
      optimizer = try SGD(
        parameters: parameters, learningRate: settings.learningRate, momentum: settings.momentum,
        weightDecay: settings.weightDecay)
    case .adam:
      optimizer = Adam(parameters: parameters, learningRate: settings.learningRate, weightDecay: settings.weightDecay)
    case .adamw:
      optimizer = Adam.adamW(
        parameters: parameters, learningRate: settings.learningRate, weightDecay: settings.weightDecay)
    }
    let batchSize = trainLoader.options.batchSize
    let batches = (trainLoader.entries.count + batchSize - 1) / batchSize
    stepsPerEpoch = max(1, trainLoader.options.dropLast ? trainLoader.entries.count / batchSize : batches)
    let warmup = settings.warmupEpochs * stepsPerEpoch
    let remaining = max(1, settings.epochs * stepsPerEpoch - warmup)
    let base: any LearningRateSchedule
    switch settings.schedule {
    case .constant: base = ConstantRate(settings.learningRate)
    case .step:
      base = StepDecay(
        baseRate: settings.learningRate, stepSize: settings.stepEpochs * stepsPerEpoch, gamma: settings.gamma)
    case .cosine: base = CosineDecay(baseRate: settings.learningRate, totalSteps: remaining)
    }
    schedule = warmup > 0 ? AnySchedule(LinearWarmup(warmupSteps: warmup, then: AnySchedule(base))) : base
  }

  /// Where a resumed run picks up.
  struct Position {
    var epoch = 0
    var batch = 0
    var step = 0
    var bestScore: Double?
    var bestEpoch: Int?
    var staleEpochs = 0
  }

  /// Trains from scratch, or from `last.safetensors` with `resume`.
  public func run(resume: Bool = false) throws -> TrainingSummary {
    try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
    var position = Position()
    var records: [EpochRecord] = []
    if resume {
      guard FileManager.default.fileExists(atPath: lastCheckpointPath) else {
        throw TrainingError.resumeWithoutCheckpoint(lastCheckpointPath)
      }
      position = try restore(from: lastCheckpointPath)
      records = readEpochRecords()
    } else {
      try? FileManager.default.removeItem(atPath: logPath)
      try appendLog(["event": "start", "settings": jsonObject(settings)])
    }
    var stoppedEarly = false
    while position.epoch < settings.epochs {
      let started = ContinuousClock.now
      model.train()
      var lossSum = 0.0
      var crossEntropySum = 0.0
      var osSum = 0.0
      var seen = 0
      let epoch = trainLoader.epoch(position.epoch, startingAt: position.batch)
      let batchCount = epoch.batchCount + position.batch
      while let batch = try epoch.next() {
        optimizer.learningRate = schedule.learningRate(at: position.step)
        try optimizer.clearGradients()
        let terms = try Autocast.run(if: settings.mixedPrecision) {
          let (logits, features) = try model.logitsAndFeatures(batch.images)
          return try objective.terms(logits: logits, features: features, targets: batch.labels)
        }
        let loss = try terms.total.item()
        guard loss.isFinite else {
          let checkpoint = FileManager.default.fileExists(atPath: lastCheckpointPath) ? lastCheckpointPath : nil
          try appendLog([
            "event": "stopped", "reason": "non-finite loss", "epoch": position.epoch, "step": position.step,
          ])
          throw TrainingError.nonFiniteLoss(epoch: position.epoch, step: position.step, lastCheckpoint: checkpoint)
        }
        try terms.total.backward()
        try optimizer.step()
        let count = batch.indices.count
        lossSum += loss * Double(count)
        let crossEntropy = try terms.crossEntropy.item()
        let os = try terms.orthogonalSpheres?.item() ?? 0
        crossEntropySum += crossEntropy * Double(count)
        osSum += os * Double(count)
        seen += count
        position.step += 1
        position.batch += 1
        if position.step % max(1, settings.logEvery) == 0 {
          try appendLog([
            "event": "step", "epoch": position.epoch, "step": position.step, "loss": loss,
            "cross_entropy": crossEntropy, "os": os,
            "learning_rate": optimizer.learningRate,
          ])
        }
        let elapsed = (ContinuousClock.now - started) / .seconds(1)
        let rate = Double(seen) / max(elapsed, 1e-9)
        let batchesLeft = Double(batchCount - position.batch + (settings.epochs - position.epoch - 1) * batchCount)
        onProgress(
          TrainingProgress(
            epoch: position.epoch, epochs: settings.epochs, batch: position.batch, batches: batchCount, loss: loss,
            imagesPerSecond: rate, secondsLeft: batchesLeft * Double(trainLoader.options.batchSize) / max(rate, 1e-9)))
        if stopRequested() {
          epoch.stop()
          try saveCheckpoint(to: lastCheckpointPath, position: position)
          try appendLog([
            "event": "interrupted", "epoch": position.epoch, "batch": position.batch, "step": position.step,
          ])
          return summary(records, position, interrupted: true, stoppedEarly: false)
        }
      }

      let validation = try validationLoader.map { try validate(with: $0) }
      let record = EpochRecord(
        epoch: position.epoch + 1, trainingLoss: lossSum / Double(max(seen, 1)),
        crossEntropy: crossEntropySum / Double(max(seen, 1)),
        orthogonalSpheres: objective.lambda == 0 ? nil : osSum / Double(max(seen, 1)),
        learningRate: optimizer.learningRate, validation: validation,
        seconds: (ContinuousClock.now - started) / .seconds(1))
      records.append(record)
      try appendLog(["event": "epoch", "record": jsonObject(record)])
      onEpoch(record)

      position.epoch += 1
      position.batch = 0
      let score = validation?.score(settings.selectionMetric) ?? -record.trainingLoss
      let improved = position.bestScore.map { score > $0 } ?? true
      if improved {
        position.bestScore = score
        position.bestEpoch = position.epoch
        position.staleEpochs = 0
      } else {
        position.staleEpochs += 1
      }
      try saveCheckpoint(to: lastCheckpointPath, position: position)
      if improved { try saveCheckpoint(to: bestCheckpointPath, position: position) }
      if let patience = settings.earlyStoppingPatience, position.staleEpochs >= patience {
        try appendLog(["event": "early stop", "epoch": position.epoch, "best_epoch": position.bestEpoch ?? 0])
        stoppedEarly = true
        break
      }
    }
    let result = summary(records, position, interrupted: false, stoppedEarly: stoppedEarly)
    try appendLog(["event": "finished", "best_epoch": result.bestEpoch ?? 0])
    return result
  }

  func summary(_ records: [EpochRecord], _ position: Position, interrupted: Bool, stoppedEarly: Bool) -> TrainingSummary
  {
    TrainingSummary(
      epochs: records, bestEpoch: position.bestEpoch, bestScore: position.bestScore, interrupted: interrupted,
      stoppedEarly: stoppedEarly, skippedImages: trainLoader.skipped.map(\.description))
  }

  func validate(with loader: DataLoader) throws -> ValidationMetrics {
    let (logits, labels) = try Predictor.logits(of: model, on: loader, mixedPrecision: settings.mixedPrecision)
    let probabilities = softmax(logits)
    let report = ClassificationMetrics.evaluate(probabilities: probabilities, labels: labels)
    let (confidences, correct) = Calibration.confidences(probabilities: probabilities, labels: labels)
    return ValidationMetrics(
      accuracy: report.accuracy, balancedAccuracy: report.balancedAccuracy, macroF1: report.macroF1,
      macroAUC: report.macroAUC, nll: Calibration.negativeLogLikelihood(probabilities: probabilities, labels: labels),
      ece: Calibration.expectedCalibrationError(confidences: confidences, correct: correct))
  }

  // MARK: Checkpoints

  func saveCheckpoint(to path: String, position: Position) throws {
    var tensors: [String: Tensor] = [:]
    for (name, tensor) in model.stateDict() { tensors["model." + name] = tensor }
    for (name, tensor) in try optimizer.stateDict() { tensors["optimizer." + name] = tensor }
    tensors["rng_state"] = try Torch.randomState()
    var info = metadata
    info["orthocxr.epoch"] = String(position.epoch)
    info["orthocxr.batch"] = String(position.batch)
    info["orthocxr.step"] = String(position.step)
    info["orthocxr.stale_epochs"] = String(position.staleEpochs)
    if let best = position.bestScore { info["orthocxr.best_score"] = String(best) }
    if let epoch = position.bestEpoch { info["orthocxr.best_epoch"] = String(epoch) }
    try Safetensors.write(tensors, metadata: info, to: path)
  }

  func restore(from path: String) throws -> Position {
    let (tensors, info) = try Safetensors.read(from: path)
    let modelState = Dictionary(
      uniqueKeysWithValues: tensors.filter { $0.key.hasPrefix("model.") }.map {
        (String($0.key.dropFirst(6)), $0.value)
      })
    do {
      try model.loadStateDict(modelState, strict: true)
    } catch {
      throw TrainingError.checkpointMismatch("\(error)")
    }
    let optimizerState = Dictionary(
      uniqueKeysWithValues: tensors.filter { $0.key.hasPrefix("optimizer.") }.map {
        (String($0.key.dropFirst(10)), $0.value)
      })
    try optimizer.loadStateDict(optimizerState)
    if let state = tensors["rng_state"] { try Torch.setRandomState(state) }
    func integer(_ key: String) -> Int { Int(info["orthocxr." + key] ?? "") ?? 0 }
    return Position(
      epoch: integer("epoch"), batch: integer("batch"), step: integer("step"),
      bestScore: info["orthocxr.best_score"].flatMap(Double.init),
      bestEpoch: info["orthocxr.best_epoch"].flatMap(Int.init),
      staleEpochs: integer("stale_epochs"))
  }

  // MARK: Log

  func appendLog(_ object: [String: Any]) throws {
    var line = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    line.append(0x0A)
    if let handle = FileHandle(forWritingAtPath: logPath) {
      defer { try? handle.close() }
      try handle.seekToEnd()
      try handle.write(contentsOf: line)
    } else {
      try line.write(to: URL(fileURLWithPath: logPath))
    }
  }

  func readEpochRecords() -> [EpochRecord] {
    guard let text = try? String(contentsOfFile: logPath, encoding: .utf8) else { return [] }
    return text.split(separator: "\n").compactMap { line -> EpochRecord? in
      guard let data = line.data(using: .utf8),
        let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
        object["event"] as? String == "epoch",
        let record = object["record"], let recordData = try? JSONSerialization.data(withJSONObject: record)
      else { return nil }
      return try? JSONDecoder().decode(EpochRecord.self, from: recordData)
    }
  }
}

/// A Codable value as a JSON object for the log.
func jsonObject<Value: Encodable>(_ value: Value) throws -> Any {
  try JSONSerialization.jsonObject(with: JSONEncoder().encode(value))
}

/// A type-erased schedule, so that schedules can be chosen at run time.
public struct AnySchedule: LearningRateSchedule {
  let rate: @Sendable (Int) -> Double
  public init(_ schedule: any LearningRateSchedule) { rate = { schedule.learningRate(at: $0) } }
  public func learningRate(at step: Int) -> Double { rate(step) }
}

/// Runs a model over a loader in evaluation mode.
public enum Predictor {
  /// Logits (as Double rows) and labels of every image the loader yields, in its order.
  public static func logits(of model: any ImageClassifier, on loader: DataLoader, mixedPrecision: Bool) throws -> (
    logits: [[Double]], labels: [Int]
  ) {
    model.eval()
    defer { model.train() }
    var logits: [[Double]] = []
    var labels: [Int] = []
    let epoch = loader.epoch(0)
    while let batch = try epoch.next() {
      let output = try noGrad { try Autocast.run(if: mixedPrecision) { try model(batch.images) }.to(.float64) }
      let values = try output.toArray(Double.self)
      let classes = output.shape[1]
      for row in 0..<output.shape[0] { logits.append(Array(values[(row * classes)..<((row + 1) * classes)])) }
      labels += try batch.labels.toArray(Int64.self).map(Int.init)
    }
    return (logits, labels)
  }
}
