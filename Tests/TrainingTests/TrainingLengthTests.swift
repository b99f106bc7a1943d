import Foundation
import TestSupport
import Testing

@testable import Datasets
@testable import Engine
import RunFiles
@testable import Training

/// `steps` (train exactly so many optimizer steps) and `validate-every` (validate and save every N
/// epochs), on the synthetic run of the trainer tests: 18 images in batches of 8, 3 steps an epoch.
@Suite(.serialized) struct TrainingLengthTests {
  func settings(steps: Int?, validateEvery: Int?) -> TrainingSettings {
    var settings = TrainingSettings()
    settings.epochs = 10  // ignored when steps is set
    settings.steps = steps
    settings.validateEvery = validateEvery
    settings.lambda = 0.1
    settings.learningRate = 3e-3
    settings.warmupEpochs = 0
    settings.logEvery = 1
    settings.mixedPrecision = false
    return settings
  }

  func events(_ folder: String) throws -> [[String: Any]] {
    try String(contentsOfFile: folder + "/log.jsonl", encoding: .utf8).split(separator: "\n")
      .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
  }

  /// Seven steps at three an epoch: three epochs, the last cut after one step; validation after
  /// epoch 2 (every second) and after the last, not after epoch 1; the schedule ends at zero on the
  /// seventh step.
  @Test func stepsEndTrainingMidEpochAndValidationFollowsItsInterval() throws {
    let data = try SyntheticRun()
    defer { try? FileManager.default.removeItem(atPath: data.folder) }
    Torch.seed(1)
    let trainer = try Trainer(
      model: TinyClassifier(classes: 3), settings: settings(steps: 7, validateEvery: 2), trainLoader: data.train,
      validationLoader: data.validation, folder: RunFolder(data.folder + "/run"))
    #expect(trainer.stepsPerEpoch == 3)
    #expect(trainer.plannedEpochs == 3)
    let summary = try trainer.run()
    #expect(summary.epochs.map(\.epoch) == [1, 2, 3])
    #expect(summary.epochs.map { $0.validation != nil } == [false, true, true])
    let steps = try events(data.folder + "/run").filter { $0["event"] as? String == "step" }.compactMap {
      $0["step"] as? Int
    }
    #expect(steps == Array(1...7))
    let position = try CheckpointFile.readTraining(trainer.lastCheckpointPath).position
    #expect(position.step == 7 && position.epoch == 3)
    #expect(summary.bestEpoch == 2 || summary.bestEpoch == 3, "only validated epochs are candidates")
    let schedule = Trainer.schedule(settings(steps: 7, validateEvery: nil), stepsPerEpoch: 3)
    #expect(schedule.learningRate(at: 0) == 3e-3)
    #expect(abs(schedule.learningRate(at: 7)) < 1e-12, "the cosine reaches zero at the last step, not the 30th")
    #expect(Trainer.schedule(settings(steps: nil, validateEvery: nil), stepsPerEpoch: 3).learningRate(at: 7) > 2e-3)
  }

  /// A run with a step limit stopped in its second epoch and resumed ends with the same weights, bit
  /// for bit, as one that ran straight through.
  @Test func aStepLimitedRunResumesExactly() throws {
    let data = try SyntheticRun()
    defer { try? FileManager.default.removeItem(atPath: data.folder) }
    Torch.seed(1)
    let straight = TinyClassifier(classes: 3)
    _ = try Trainer(
      model: straight, settings: settings(steps: 5, validateEvery: nil), trainLoader: data.train,
      validationLoader: data.validation, folder: RunFolder(data.folder + "/straight")
    ).run()

    Torch.seed(1)
    let first = try Trainer(
      model: TinyClassifier(classes: 3), settings: settings(steps: 5, validateEvery: nil), trainLoader: data.train,
      validationLoader: data.validation, folder: RunFolder(data.folder + "/resumed"))
    var calls = 0
    first.stopRequested = {
      calls += 1
      return calls == 4
    }
    #expect(try first.run().interrupted)
    Torch.seed(99)
    let restarted = TinyClassifier(classes: 3)
    let second = try Trainer(
      model: restarted, settings: settings(steps: 5, validateEvery: nil), trainLoader: data.train,
      validationLoader: data.validation, folder: RunFolder(data.folder + "/resumed"))
    let finished = try second.run(resume: true)
    #expect(!finished.interrupted)
    #expect(try CheckpointFile.readTraining(second.lastCheckpointPath).position.step == 5)
    #expect(try weights(restarted) == weights(straight))
  }

  /// A last batch of a single image is left out of training (BatchNorm cannot normalise it), not of
  /// evaluation.
  @Test func aLastTrainingBatchOfOneImageIsLeftOut() {
    let entries = (0..<9).map {
      LabeledEntry(entry: DatasetEntry(patientID: "p\($0)", path: "/none/\($0).png", label: "normal"), classIndex: 0)
    }
    var options = DataLoader.Options()
    options.batchSize = 4
    options.shuffle = false
    let evaluation = DataLoader(
      entries: entries, classCount: 1, preprocessing: Preprocessing(size: 32), options: options)
    #expect(evaluation.plannedBatches(epoch: 0).map(\.count) == [4, 4, 1])
    options.minimumBatch = 2
    let training = DataLoader(entries: entries, classCount: 1, preprocessing: Preprocessing(size: 32), options: options)
    #expect(training.plannedBatches(epoch: 0).map(\.count) == [4, 4])
  }
}
