import Datasets
import Engine
import Evaluation
import Foundation
import Models
import RunFiles

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
/// The run folder gets `last.safetensors` and `best.safetensors` (`CheckpointFile`) and `log.jsonl`
/// (`TrainingLog`). Because the loader's order and augmentation depend only on (seed, epoch, sample),
/// and checkpoints hold libtorch's random state, an interrupted run that resumes ends with the same
/// weights as one that was never interrupted.
public final class Trainer {
  public let model: any ImageClassifier
  public let settings: TrainingSettings
  public let trainLoader: DataLoader
  public let validationLoader: DataLoader?
  public let folder: RunFolder
  /// Stored in every checkpoint, so that the model can be loaded for inference.
  public let description: CheckpointFile.ModelDescription?
  /// Polled after every step; when it returns true, training saves where it is and returns.
  public var stopRequested: () -> Bool = { false }
  /// Called after every step.
  public var onProgress: (TrainingProgress) -> Void = { _ in }
  /// Called after every epoch.
  public var onEpoch: (EpochRecord) -> Void = { _ in }
  /// Things the person running the training should know (a damaged checkpoint passed over).
  public var onNotice: (String) -> Void = { _ in }
  /// Training in several processes: the group, and the reducer that averages gradients. The loaders
  /// must carry this rank's shard. Only rank 0 writes the log and the checkpoints.
  public let dataParallel: DataParallel?

  let objective: OrthogonalSpheresObjective
  let optimizer: any Optimizer
  let schedule: any LearningRateSchedule
  let stepsPerEpoch: Int
  /// The passes over the training split (`settings.epochs`, or what `settings.steps` needs).
  public let plannedEpochs: Int
  /// Training stops after this many optimizer steps (`settings.steps`; otherwise no limit).
  let stepLimit: Int
  let log: TrainingLog

  public var lastCheckpointPath: String { folder.lastCheckpoint }
  public var bestCheckpointPath: String { folder.bestCheckpoint }

  public init(
    model: any ImageClassifier, settings: TrainingSettings, trainLoader: DataLoader, validationLoader: DataLoader?,
    folder: RunFolder, description: CheckpointFile.ModelDescription? = nil, dataParallel: DataParallel? = nil
  ) throws {
    if let weights = settings.classWeights, weights.count != trainLoader.classCount {
      throw TrainingError.invalidSetting(
        "class-weights has \(weights.count) values but the task has \(trainLoader.classCount) classes")
    }
    self.model = model
    self.settings = settings
    self.trainLoader = trainLoader
    self.validationLoader = validationLoader
    self.folder = folder
    self.description = description
    self.dataParallel = dataParallel
    log = TrainingLog(path: folder.log)
    objective = OrthogonalSpheresObjective(
      lambda: settings.lambda, variant: settings.osVariant, classWeights: settings.classWeights?.map(Float.init),
      labelSmoothing: settings.labelSmoothing)
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
    stepsPerEpoch = max(1, trainLoader.plannedBatches(epoch: 0).count)
    plannedEpochs = settings.plannedEpochs(stepsPerEpoch: stepsPerEpoch)
    stepLimit = settings.steps ?? .max
    schedule = Self.schedule(settings, stepsPerEpoch: stepsPerEpoch)
  }

  /// The learning rate at every step: a linear warm-up, then the chosen schedule, spread over
  /// `settings.steps` when it is set and over the epochs otherwise.
  static func schedule(_ settings: TrainingSettings, stepsPerEpoch: Int) -> any LearningRateSchedule {
    let plannedEpochs = settings.plannedEpochs(stepsPerEpoch: stepsPerEpoch)
    let totalSteps = settings.steps ?? settings.epochs * stepsPerEpoch
    let warmup = min(settings.warmupEpochs * stepsPerEpoch, totalSteps)
    let remaining = max(1, totalSteps - warmup)
    let base: any LearningRateSchedule
    switch settings.schedule {
    case .constant: base = ConstantRate(settings.learningRate)
    case .step:
      base = StepDecay(
        baseRate: settings.learningRate,
        stepSize: settings.resolvedStepEpochs(plannedEpochs: plannedEpochs) * stepsPerEpoch, gamma: settings.gamma)
    case .cosine: base = CosineDecay(baseRate: settings.learningRate, totalSteps: remaining)
    }
    return warmup > 0 ? AnySchedule(LinearWarmup(warmupSteps: warmup, then: AnySchedule(base))) : base
  }

  /// Trains from scratch, or from `last.safetensors` with `resume`.
  public func run(resume: Bool = false) throws -> TrainingSummary {
    try folder.create()
    removeCutOffWrites()
    var position = CheckpointFile.TrainingPosition()
    var records: [EpochRecord] = []
    if resume {
      position = try restoreLastGoodCheckpoint()
      // Epochs the log recorded after the checkpoint was written are trained again.
      records = try log.history().epochs.filter { $0.epoch <= position.epoch }
    } else if isLeader {
      try log.reset()
      try logEvent(.start(settings: settings))
    }
    var stoppedEarly = false
    while position.epoch < plannedEpochs && position.step < stepLimit {
      let started = ContinuousClock.now
      model.train()
      var lossSum = 0.0
      var crossEntropySum = 0.0
      var osSum = 0.0
      var seen = 0
      let epoch = trainLoader.epoch(position.epoch, startingAt: position.batch)
      let batchCount = epoch.batchCount + position.batch
      while position.step < stepLimit, let batch = try nextBatch(of: epoch, position: position) {
        optimizer.learningRate = schedule.learningRate(at: position.step)
        try optimizer.clearGradients()
        try dataParallel?.reducer.prepareForForward()
        let terms = try Autocast.run(if: settings.mixedPrecision, on: model.device) {
          let (logits, features) = try model.logitsAndFeatures(batch.images)
          return try objective.terms(logits: logits, features: features, targets: batch.labels)
        }
        var objectiveValue = terms.total
        if let dataParallel {
          // The reducer averages the ranks' gradients; weighting each rank's mean loss by its share
          // of the step's images makes that average the gradient of the mean over the whole batch,
          // also when the batch does not split evenly.
          let share = Double(dataParallel.size * batch.indices.count) / Double(max(batch.globalCount, 1))
          if share != 1 { objectiveValue = try objectiveValue * share }
          try dataParallel.reducer.prepareForBackward()
        }
        try objectiveValue.backward()
        try optimizer.step()
        // Read after the step, so that on a GPU the whole step is queued before the host waits for it.
        // A non-finite loss has then reached the weights in memory, but nothing is saved from them:
        // the run stops, and the last checkpoint on disk is the one to resume from.
        let loss = try terms.total.item()
        // Ranks stop together: for Ctrl-C and for a non-finite loss on any of them.
        var stopNow = stopRequested()
        var nonFinite = !loss.isFinite
        if let dataParallel {
          let agreed = try dataParallel.sum([stopNow ? 1 : 0, nonFinite ? 1 : 0])
          stopNow = agreed[0] > 0
          nonFinite = agreed[1] > 0
        }
        guard !nonFinite else {
          let checkpoint = FileManager.default.fileExists(atPath: lastCheckpointPath) ? lastCheckpointPath : nil
          try logEvent(.stopped(reason: "non-finite loss", epoch: position.epoch, step: position.step))
          throw TrainingError.nonFiniteLoss(epoch: position.epoch, step: position.step, lastCheckpoint: checkpoint)
        }
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
          try logEvent(
            .step(
              StepRecord(
                epoch: position.epoch, step: position.step, loss: loss, crossEntropy: crossEntropy, os: os,
                learningRate: optimizer.learningRate)))
        }
        let elapsed = (ContinuousClock.now - started) / .seconds(1)
        let rate = Double(seen) / max(elapsed, 1e-9)
        let batchesLeft = Double(
          min(
            batchCount - position.batch + (plannedEpochs - position.epoch - 1) * batchCount, stepLimit - position.step))
        onProgress(
          TrainingProgress(
            epoch: position.epoch, epochs: plannedEpochs, batch: position.batch, batches: batchCount, loss: loss,
            imagesPerSecond: rate, secondsLeft: batchesLeft * Double(trainLoader.options.batchSize) / max(rate, 1e-9)))
        if stopNow {
          epoch.stop()
          try saveCheckpoint(to: lastCheckpointPath, position: position)
          try logEvent(.interrupted(epoch: position.epoch, batch: position.batch, step: position.step))
          return summary(records, position, interrupted: true, stoppedEarly: false)
        }
      }

      // The step limit ended the epoch early: its loader's workers stop.
      if position.step >= stepLimit { epoch.stop() }
      if let dataParallel {
        let totals = try dataParallel.sum([lossSum, crossEntropySum, osSum, Double(seen)])
        (lossSum, crossEntropySum, osSum, seen) = (totals[0], totals[1], totals[2], Int(totals[3]))
        try dataParallel.synchronizeBuffers(of: model)
      }
      let isLastEpoch = position.epoch + 1 >= plannedEpochs || position.step >= stepLimit
      let validating = (position.epoch + 1) % (settings.validateEvery ?? 1) == 0 || isLastEpoch
      let validation = validating ? try validationLoader.map { try validate(with: $0, epoch: position.epoch) } : nil
      let record = EpochRecord(
        epoch: position.epoch + 1, trainingLoss: lossSum / Double(max(seen, 1)),
        crossEntropy: crossEntropySum / Double(max(seen, 1)),
        orthogonalSpheres: objective.lambda == 0 ? nil : osSum / Double(max(seen, 1)),
        learningRate: optimizer.learningRate, validation: validation,
        seconds: (ContinuousClock.now - started) / .seconds(1))
      records.append(record)
      try logEvent(.epoch(record))
      onEpoch(record)

      position.epoch += 1
      position.batch = 0
      // Between validations nothing is selected or saved (Ctrl-C still saves where training is).
      guard validating else { continue }
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
        try logEvent(.earlyStop(epoch: position.epoch, bestEpoch: position.bestEpoch ?? 0))
        stoppedEarly = true
        break
      }
    }
    let result = summary(records, position, interrupted: false, stoppedEarly: stoppedEarly)
    try logEvent(.finished(bestEpoch: result.bestEpoch ?? 0))
    return result
  }

  func summary(
    _ records: [EpochRecord], _ position: CheckpointFile.TrainingPosition, interrupted: Bool, stoppedEarly: Bool
  ) -> TrainingSummary {
    TrainingSummary(
      epochs: records, bestEpoch: position.bestEpoch, bestScore: position.bestScore, interrupted: interrupted,
      stoppedEarly: stoppedEarly, skippedImages: trainLoader.skipped.map(\.description))
  }

  /// The epoch's next batch. With several processes, the ranks first agree that each has one: a rank
  /// whose whole slice was skipped as unreadable would otherwise leave the others waiting in a
  /// collective that never completes.
  func nextBatch(of epoch: DataLoader.Epoch, position: CheckpointFile.TrainingPosition) throws -> Batch? {
    let batch = try epoch.next()
    guard let dataParallel else { return batch }
    let withData = Int(try dataParallel.sum([batch == nil ? 0 : 1])[0])
    guard withData == 0 || withData == dataParallel.size else {
      throw TrainingError.ranksOutOfStep(
        epoch: position.epoch, step: position.step, ranksWithData: withData, ranks: dataParallel.size)
    }
    return withData == 0 ? nil : batch
  }

  /// Whether this process writes the log and the checkpoints (rank 0, or the only process).
  var isLeader: Bool { dataParallel?.isLeader ?? true }

  /// Appends to log.jsonl, on the leader only.
  func logEvent(_ event: TrainingLogEvent) throws {
    if isLeader { try log.append(event) }
  }

  /// The validation metrics after `epoch` (0-based; named in errors).
  func validate(with loader: DataLoader, epoch: Int) throws -> ValidationMetrics {
    var (logits, labels, indices) = try Predictor.logits(
      of: model, on: loader, mixedPrecision: settings.mixedPrecision)
    if let dataParallel {
      // Every rank scored its shard; gathered, the metrics are those of the whole split on every
      // rank, so that model selection and early stopping decide the same everywhere.
      (logits, indices) = try dataParallel.gather(
        logits: logits, indices: indices, entryCount: loader.entries.count, classCount: loader.classCount)
      labels = indices.map { loader.entries[$0].classIndex }
    }
    guard logits.allSatisfy({ $0.allSatisfy(\.isFinite) }) else {
      throw TrainingError.nonFiniteValidation(epoch: epoch)
    }
    let probabilities = softmax(logits)
    let report = ClassificationMetrics.evaluate(probabilities: probabilities, labels: labels)
    let (confidences, correct) = Calibration.confidences(probabilities: probabilities, labels: labels)
    return ValidationMetrics(
      accuracy: report.accuracy, balancedAccuracy: report.balancedAccuracy, macroF1: report.macroF1,
      macroAUC: report.macroAUC, nll: Calibration.negativeLogLikelihood(probabilities: probabilities, labels: labels),
      ece: Calibration.expectedCalibrationError(confidences: confidences, correct: correct))
  }

  // MARK: Checkpoints

  func saveCheckpoint(to path: String, position: CheckpointFile.TrainingPosition) throws {
    try dataParallel?.synchronizeBuffers(of: model)
    guard isLeader else { return }
    do {
      try CheckpointFile.writeTraining(
        model: model.stateDict(), optimizer: try optimizer.stateDict(), description: description, position: position,
        to: path, keepingPrevious: path == lastCheckpointPath ? folder.previousCheckpoint : nil)
    } catch let error as CheckpointError {
      // A failed write leaves the file it would have replaced in place (see Safetensors.write).
      let good = [lastCheckpointPath, folder.previousCheckpoint].first { FileManager.default.fileExists(atPath: $0) }
      throw TrainingError.checkpointNotWritten(reason: "\(error)", lastGood: good)
    }
  }

  /// Removes the temporary files of checkpoint writes that were cut off (a killed run): they are
  /// never read, and a run starting or resuming in the folder would otherwise leave them for ever.
  func removeCutOffWrites() {
    guard isLeader, let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return }
    for name in names.sorted() where name.contains(".safetensors" + partialCheckpointSuffix) {
      try? FileManager.default.removeItem(atPath: folder.path + "/" + name)
      onNotice("removed \(name), a checkpoint whose writing was cut off")
    }
  }

  /// Restores `last.safetensors`, or, when it is missing (a kill between the two renames of a
  /// checkpoint write) or damaged (its content hash does not match), the one before it, saying so.
  func restoreLastGoodCheckpoint() throws -> CheckpointFile.TrainingPosition {
    var refusal: String?
    for path in [lastCheckpointPath, folder.previousCheckpoint] where FileManager.default.fileExists(atPath: path) {
      do {
        let position = try restore(from: path)
        if let refusal { onNotice("\(refusal); resuming from \(path) (epoch \(position.epoch)) instead") }
        return position
      } catch let error as CheckpointError {
        refusal = "\(error)"
      }
    }
    if let refusal { throw TrainingError.noGoodCheckpoint(refusal) }
    throw TrainingError.resumeWithoutCheckpoint(lastCheckpointPath)
  }

  func restore(from path: String) throws -> CheckpointFile.TrainingPosition {
    let state = try CheckpointFile.readTraining(path)
    do {
      try model.loadStateDict(state.model, strict: true)
    } catch {
      throw TrainingError.checkpointMismatch("\(error)")
    }
    try optimizer.loadStateDict(state.optimizer)
    if let random = state.randomState { try Torch.setRandomState(random) }
    return state.position
  }
}
