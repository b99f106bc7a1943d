import Foundation
import TestSupport
import Testing

@testable import Datasets
@testable import Engine
@testable import Imaging
@testable import Models
import RunFiles
@testable import Training

/// A small classifier for fast trainer tests: conv, batch norm, ReLU, global pooling, a scale, linear.
final class TinyClassifier: ImageClassifier {
  let conv = try! Conv2d(1, 8, kernelSize: 3, padding: 1)
  let bn = try! BatchNorm2d(8)
  let pool = AdaptiveAvgPool2d()
  @Parameter var scale = try! Tensor.ones([8])
  let fc: Linear

  init(classes: Int) { fc = try! Linear(8, classes) }

  var classifierHead: Linear { fc }
  var lastConvolutionalLayer: String { "conv" }
  func penultimateFeatures(_ input: Tensor) throws -> Tensor {
    try pool(bn(conv(input)).relu()).flattened(from: 1) * scale
  }
  func forward(_ input: Tensor) throws -> Tensor { try fc(penultimateFeatures(input)) }
}

/// Loaders over a synthetic dataset written once for the suite.
struct SyntheticRun {
  let folder: String
  let train: DataLoader
  let validation: DataLoader

  init(perClass: Int = 6, imageSize: Int = 32, batchSize: Int = 8) throws {
    folder = try temporaryFolder()
    try SyntheticChestXRay.writeDataset(to: folder, counts: [("train", perClass), ("val", 2)], size: 64, seed: 4)
    var options = DataLoader.Options()
    options.batchSize = batchSize
    options.seed = 11
    let preprocessing = Preprocessing(size: imageSize)
    train = DataLoader(
      entries: try LabelMap.threeClass.apply(to: DatasetSource.splitFile(folder + "/train.txt")), classCount: 3,
      preprocessing: preprocessing, augmentation: Augmentation(), options: options, cache: ImageCache())
    options.shuffle = false
    validation = DataLoader(
      entries: try LabelMap.threeClass.apply(to: DatasetSource.splitFile(folder + "/val.txt")), classCount: 3,
      preprocessing: preprocessing, options: options, cache: ImageCache())
  }
}

func weights(_ model: any Module) throws -> [String: [UInt8]] {
  try model.stateDict().mapValues { try $0.bytes() }
}

@Suite(.serialized) struct TrainerTests {
  func settings(epochs: Int) -> TrainingSettings {
    var settings = TrainingSettings()
    settings.epochs = epochs
    settings.lambda = 0.1
    settings.learningRate = 3e-3
    settings.logEvery = 1
    settings.mixedPrecision = false
    return settings
  }

  /// The model of a run from seed 1 that nothing interrupted: what resumed runs must end with.
  func trainedWithoutInterruption(_ data: SyntheticRun, epochs: Int) throws -> TinyClassifier {
    Torch.seed(1)
    let model = TinyClassifier(classes: 3)
    _ = try Trainer(
      model: model, settings: settings(epochs: epochs), trainLoader: data.train, validationLoader: data.validation,
      folder: RunFolder(data.folder + "/straight")
    ).run()
    return model
  }

  /// Resume is exact: stopping after one epoch (and, separately, in the middle of the second),
  /// then resuming, ends with the same weights, bit for bit, as a run that was never interrupted.
  @Test(arguments: [0, 1])
  func interruptedAndResumedRunEndsWithTheSameWeights(extraSteps: Int) throws {
    let data = try SyntheticRun()
    defer { try? FileManager.default.removeItem(atPath: data.folder) }
    let uninterrupted = try trainedWithoutInterruption(data, epochs: 2)

    Torch.seed(1)
    let resumed = TinyClassifier(classes: 3)
    let first = try Trainer(
      model: resumed, settings: settings(epochs: 2), trainLoader: data.train, validationLoader: data.validation,
      folder: RunFolder(data.folder + "/resumed"))
    var steps = 0
    let stepsPerEpoch = first.stepsPerEpoch
    first.stopRequested = {
      steps += 1
      return steps == stepsPerEpoch + extraSteps
    }
    let partial = try first.run()
    #expect(partial.interrupted)
    #expect(stepsPerEpoch == 3 && steps < 2 * stepsPerEpoch, "the stop falls before the end of training")

    // A fresh process would rebuild the model from scratch before resuming.
    Torch.seed(99)
    let restarted = TinyClassifier(classes: 3)
    let second = try Trainer(
      model: restarted, settings: settings(epochs: 2), trainLoader: data.train, validationLoader: data.validation,
      folder: RunFolder(data.folder + "/resumed"))
    let finished = try second.run(resume: true)
    #expect(!finished.interrupted)
    #expect(finished.epochs.count == 2, "the resumed summary includes the epoch logged before the interruption")
    #expect(try weights(restarted) == weights(uninterrupted))
  }

  /// A damaged last checkpoint is refused by name and the one before it resumed from, ending with
  /// the uninterrupted run's weights; a cut-off write's temporary file is removed, never read.
  @Test func aDamagedLastCheckpointFallsBackToThePreviousOne() throws {
    let data = try SyntheticRun()
    defer { try? FileManager.default.removeItem(atPath: data.folder) }
    let uninterrupted = try trainedWithoutInterruption(data, epochs: 3)

    Torch.seed(1)
    let folder = RunFolder(data.folder + "/damaged")
    let first = try Trainer(
      model: TinyClassifier(classes: 3), settings: settings(epochs: 3), trainLoader: data.train,
      validationLoader: data.validation, folder: folder)
    var steps = 0
    let stop = first.stepsPerEpoch * 2 + 1  // in epoch 3: last is mid-epoch 3, previous the end of epoch 2
    first.stopRequested = {
      steps += 1
      return steps == stop
    }
    _ = try first.run()
    #expect(FileManager.default.fileExists(atPath: folder.previousCheckpoint))
    var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: folder.lastCheckpoint)))
    bytes[bytes.count - 3] ^= 0x10
    try Data(bytes).write(to: URL(fileURLWithPath: folder.lastCheckpoint))
    try Data("half".utf8).write(to: URL(fileURLWithPath: folder.lastCheckpoint + partialCheckpointSuffix + "1234"))

    Torch.seed(99)
    let restarted = TinyClassifier(classes: 3)
    let second = try Trainer(
      model: restarted, settings: settings(epochs: 3), trainLoader: data.train, validationLoader: data.validation,
      folder: folder)
    var notices: [String] = []
    second.onNotice = { notices.append($0) }
    let finished = try second.run(resume: true)
    #expect(!finished.interrupted && finished.epochs.count == 3)
    #expect(
      notices.contains { $0.contains("last.safetensors is damaged") && $0.contains("resuming from") }, "\(notices)")
    #expect(notices.contains { $0.contains("partial-1234") && $0.contains("cut off") }, "\(notices)")
    #expect(try weights(restarted) == weights(uninterrupted), "the replayed epoch lands on the same weights")

    // With both damaged there is nothing sound to resume from, and the error says so. (The damaged
    // file of before is now the previous one: another byte, so that it stays damaged.)
    for path in [folder.lastCheckpoint, folder.previousCheckpoint] {
      var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
      bytes[bytes.count - 7] ^= 0x10
      try Data(bytes).write(to: URL(fileURLWithPath: path))
    }
    let third = try Trainer(
      model: TinyClassifier(classes: 3), settings: settings(epochs: 4), trainLoader: data.train,
      validationLoader: data.validation, folder: folder)
    #expect {
      try third.run(resume: true)
    } throws: { error in
      (error as? TrainingError)?.description.contains("nothing sound to resume from") == true
    }
  }

  @Test func nonFiniteLossStopsAndKeepsTheLastGoodCheckpoint() throws {
    let data = try SyntheticRun()
    defer { try? FileManager.default.removeItem(atPath: data.folder) }
    let model = TinyClassifier(classes: 3)
    let trainer = try Trainer(
      model: model, settings: settings(epochs: 3), trainLoader: data.train, validationLoader: data.validation,
      folder: RunFolder(data.folder + "/run"))
    trainer.onEpoch = { _ in try? noGrad { try model.scale.fill_(Double.nan) } }  // poison after epoch 1
    do {
      _ = try trainer.run()
      Issue.record("a NaN loss must stop training")
    } catch let error as TrainingError {
      #expect(error.description.contains("NaN or infinite in epoch 2"))
      #expect(error.description.contains(trainer.lastCheckpointPath))
    }
    let (_, info) = try Safetensors.read(from: trainer.lastCheckpointPath)
    #expect(info["orthocxr.epoch"] == "1", "the last checkpoint is the good one from epoch 1")
    let log = try String(contentsOfFile: data.folder + "/run/log.jsonl", encoding: .utf8)
    #expect(log.contains("\"reason\":\"non-finite loss\""))
  }

  @Test func earlyStoppingAndTheLog() throws {
    let data = try SyntheticRun()
    defer { try? FileManager.default.removeItem(atPath: data.folder) }
    var frozen = settings(epochs: 6)
    frozen.learningRate = 0  // nothing changes, so nothing improves after the first epoch
    frozen.warmupEpochs = 0
    frozen.earlyStoppingPatience = 2
    let trainer = try Trainer(
      model: TinyClassifier(classes: 3), settings: frozen, trainLoader: data.train, validationLoader: data.validation,
      folder: RunFolder(data.folder + "/run"))
    let summary = try trainer.run()
    #expect(summary.stoppedEarly)
    #expect(summary.epochs.count == 3)
    #expect(summary.bestEpoch == 1)
    #expect(FileManager.default.fileExists(atPath: trainer.bestCheckpointPath))
    let events = try String(contentsOfFile: data.folder + "/run/log.jsonl", encoding: .utf8).split(separator: "\n")
      .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    #expect(events.first?["event"] as? String == "start")
    #expect(events.filter { $0["event"] as? String == "epoch" }.count == 3)
    #expect(events.contains { $0["event"] as? String == "early stop" })
    let step = try #require(events.first { $0["event"] as? String == "step" })
    #expect(step["cross_entropy"] is Double && step["os"] is Double, "each loss term is logged")
  }

  /// A short run on the real mini split scores clearly above chance (1/3) on mini_test.
  @Test(SharedData.required) func miniSplitTrainsAboveChance() throws {
    var options = DataLoader.Options()
    options.batchSize = 16
    options.memoryFormat = .channelsLast
    let preprocessing = Preprocessing(size: 96)
    let train = DataLoader(
      entries: try LabelMap.threeClass.apply(
        to: DatasetSource.splitFile(SharedData.path("covid-radiography/mini_train.txt"))),
      classCount: 3, preprocessing: preprocessing, augmentation: Augmentation(), options: options, cache: ImageCache())
    options.shuffle = false
    let test = DataLoader(
      entries: try LabelMap.threeClass.apply(
        to: DatasetSource.splitFile(SharedData.path("covid-radiography/mini_test.txt"))),
      classCount: 3, preprocessing: preprocessing, options: options)
    Torch.seed(0)
    let model = try ResNet(.resnet18, classCount: 3, inputChannels: 1)
    try model.setMemoryFormat(.channelsLast)
    var training = TrainingSettings()
    training.epochs = 6
    training.lambda = 0.01
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let summary = try Trainer(
      model: model, settings: training, trainLoader: train, validationLoader: test, folder: RunFolder(folder)
    )
    .run()
    let accuracy = try #require(summary.epochs.last?.validation?.accuracy)
    #expect(accuracy > 0.5, "mini_test accuracy \(accuracy) (chance 0.33)")
  }
}
