import Foundation
import TestSupport
import Testing

@testable import Datasets
@testable import Engine
@testable import Imaging
@testable import Models
@testable import Pipelines
@testable import RunFiles
@testable import Training

/// A tiny synthetic dataset (4/2/3 images per class, 64 px) and a one-epoch ResNet-18 at 32 px.
struct TinyExperiment {
  let folder: String
  var settings = ExperimentSettings()

  init() throws {
    folder = try temporaryFolder()
    try SyntheticChestXRay.writeDataset(to: folder, counts: [("train", 4), ("val", 2), ("test", 3)], size: 64, seed: 1)
    settings.imageSize = 32
    settings.batchSize = 4
    settings.workers = 1
    settings.train = folder + "/train.txt"
    settings.val = folder + "/val.txt"
    settings.test = folder + "/test.txt"
    settings.output = folder + "/run"
    settings.training.epochs = 1
    settings.training.warmupEpochs = 0
    settings.training.seed = 7
  }

  func remove() { try? FileManager.default.removeItem(atPath: folder) }
}

func modelTensors(_ path: String) throws -> [String: [Float]] {
  try CheckpointFile.modelState(path).mapValues { try $0.to(.float32).toArray(Float.self) }
}

@Suite(.serialized) struct TrainingPipelineTests {
  /// The run's seed, not whatever libtorch was seeded with before, decides the weights; and the run
  /// folder holds every file `train --test` promises, its settings reading back as given.
  @Test func theSettingsSeedDecidesTheRunAndTheFolderIsComplete() throws {
    var experiment = try TinyExperiment()
    defer { experiment.remove() }
    Torch.seed(1)
    let first = try TrainingPipeline.train(experiment.settings)
    experiment.settings.output = experiment.folder + "/again"
    Torch.seed(2)
    let second = try TrainingPipeline.train(experiment.settings)
    #expect(try modelTensors(first.folder.bestCheckpoint) == modelTensors(second.folder.bestCheckpoint))
    for file in [
      first.folder.settingsYAML, first.folder.settingsJSON, first.folder.log, first.folder.trainingSummary,
      first.folder.calibratedCheckpoint, first.folder.testMetrics, first.folder.uncalibratedTestMetrics,
      first.folder.testPredictions,
    ] {
      #expect(FileManager.default.fileExists(atPath: file), "\(file) missing")
    }
    var written = try first.folder.readSettings()
    written.output = experiment.settings.output
    #expect(written == experiment.settings)
    #expect(try first.folder.readConfiguration().classes == LabelMap.threeClass.classes)
  }

  /// `train --weights RUN/best.safetensors` starts from the run's model (its `model.` part), not from
  /// scratch.
  @Test func weightsOfATrainingCheckpointAreLoaded() throws {
    let experiment = try TinyExperiment()
    defer { experiment.remove() }
    let run = try TrainingPipeline.train(experiment.settings)
    let network = try ResNet(.resnet18, classCount: 2, inputChannels: 1)
    let message = try TrainingPipeline.loadWeights(run.folder.bestCheckpoint, into: network)
    #expect(message.contains("kept new (the classifier)"), "\(message)")
    let trained = try modelTensors(run.folder.bestCheckpoint)
    #expect(try network.stateDict()["conv1.weight"]!.toArray(Float.self) == trained["conv1.weight"])
    #expect(
      try network.stateDict()["layer4.1.bn2.running_var"]!.toArray(Float.self) == trained["layer4.1.bn2.running_var"])
  }

  /// Rows of the predictions file come from the batches' own indices: an unreadable image that the
  /// loader skips leaves out its own row and shifts no other.
  @Test func predictionsStayWithTheirImagesWhenOneIsSkipped() throws {
    var experiment = try TinyExperiment()
    defer { experiment.remove() }
    let run = try TrainingPipeline.train(experiment.settings)
    let entries = try LabelMap.threeClass.apply(to: DatasetSource.load(experiment.folder + "/test.txt"))
    let broken = entries[1].entry.path
    try Data("not an image".utf8).write(to: URL(fileURLWithPath: broken))
    experiment.settings.badImages = "skip"
    var loader = try LoaderSettings(experiment.settings)
    loader.batchSize = 2
    let result = try EvaluationPipeline.evaluate(
      checkpoint: run.folder.bestCheckpoint, on: experiment.folder + "/test.txt", loader: loader)
    #expect(result.predictions.count == entries.count - 1)
    #expect(!result.predictions.contains { $0.path == broken })
    let labelOf = Dictionary(uniqueKeysWithValues: entries.map { ($0.entry.path, $0.classIndex) })
    #expect(result.predictions.allSatisfy { labelOf[$0.path] == $0.label })
  }
}

@Suite(.serialized) struct CheckpointFileTests {
  /// Loading a checkpoint for inference draws no random initial values (they would be overwritten):
  /// the generator is where it was, and the model still gives the checkpoint's outputs.
  @Test func loadingForInferenceDrawsNothing() throws {
    let experiment = try TinyExperiment()
    defer { experiment.remove() }
    let run = try TrainingPipeline.train(experiment.settings)
    Torch.seed(42)
    let expected = try Tensor.rand([4]).toArray(Float.self)
    Torch.seed(42)
    let loaded = try TrainedModel.load(run.folder.bestCheckpoint)
    #expect(try Tensor.rand([4]).toArray(Float.self) == expected, "loading consumed random numbers")
    let saved = try modelTensors(run.folder.bestCheckpoint)
    for (name, tensor) in loaded.model.stateDict() where tensor.dtype == .float32 {
      #expect(try tensor.toArray(Float.self) == saved[name], "\(name)")
    }
  }

  /// A plain state dict (checkpoint init / convert) says nothing about its model: without the facts
  /// the error names the file and what to give; with them it predicts and evaluates.
  @Test func aPlainStateDictRunsWithTheFactsGivenOnTheCommandLine() throws {
    let experiment = try TinyExperiment()
    defer { experiment.remove() }
    let plain = experiment.folder + "/plain.safetensors"
    try ResNet(.resnet18, classCount: 3, inputChannels: 1).save(to: plain)
    let error = #expect(throws: CheckpointError.self) { try TrainedModel.load(plain) }
    #expect(error?.description.contains("plain.safetensors") == true && error?.description.contains("--model") == true)
    let facts = CheckpointFile.ModelFacts(architecture: .resnet18, labelMap: "three-class", imageSize: 32, channels: 1)
    let result = try EvaluationPipeline.evaluate(
      checkpoint: plain, on: experiment.folder + "/test.txt", loader: LoaderSettings(workers: 1), facts: facts)
    #expect(result.predictions.count == 9)
  }

  /// A checkpoint without an image size is an error that names the field, never a silent 224.
  @Test func aMissingImageSizeIsAnErrorNotADefault() throws {
    let experiment = try TinyExperiment()
    defer { experiment.remove() }
    let run = try TrainingPipeline.train(experiment.settings)
    var (tensors, info) = try Safetensors.read(from: run.folder.bestCheckpoint)
    info.removeValue(forKey: "image_size")
    let broken = experiment.folder + "/broken.safetensors"
    try Safetensors.write(tensors, metadata: info, to: broken)
    tensors.removeAll()
    let error = #expect(throws: CheckpointError.self) { try TrainedModel.load(broken) }
    #expect(
      error?.description.contains("\"image_size\"") == true && error?.description.contains("--image-size") == true)
  }

  /// A calibrated checkpoint is the model and its temperature, with no optimizer or random state.
  @Test func calibrationWritesAModelWithItsTemperature() throws {
    let experiment = try TinyExperiment()
    defer { experiment.remove() }
    let run = try TrainingPipeline.train(experiment.settings)
    let calibrated = try TrainedModel.load(run.folder.calibratedCheckpoint)
    #expect(calibrated.isCalibrated && calibrated.temperature == run.calibration?.temperature)
    let names = try Safetensors.read(from: run.folder.calibratedCheckpoint).tensors.keys
    // The model and its out-of-distribution detector; no optimizer or random state.
    #expect(names.allSatisfy { $0.hasPrefix("model.") || $0.hasPrefix("ood.") })
  }
}

@Suite(.serialized) struct PredictionAndInferenceTests {
  /// `predict --no-heatmaps` runs the model once per batch and writes no heatmap anywhere.
  @Test func predictWithoutHeatmapsMakesNone() throws {
    let experiment = try TinyExperiment()
    defer { experiment.remove() }
    let run = try TrainingPipeline.train(experiment.settings)
    let images = experiment.folder + "/images"
    let before = try FileManager.default.contentsOfDirectory(atPath: experiment.folder).sorted()
    let plain = try PredictionPipeline.predict(
      checkpoint: run.folder.calibratedCheckpoint, images: [images], heatmaps: nil)
    #expect(plain.predictions.count == 27 && plain.predictions.allSatisfy { $0.heatmap == nil })
    #expect(try FileManager.default.contentsOfDirectory(atPath: experiment.folder).sorted() == before)
    let withMaps = try PredictionPipeline.predict(
      checkpoint: run.folder.calibratedCheckpoint, images: [images],
      heatmaps: .init(folder: experiment.folder + "/maps"))
    #expect(withMaps.predictions.allSatisfy { $0.heatmap != nil })
    for (a, b) in zip(plain.rows, withMaps.rows) {
      #expect(zip(a.probabilities, b.probabilities).allSatisfy { abs($0 - $1) < 0.05 }, "bf16 vs fp32 only")
    }
  }

  /// `predict --dicom-out`: each DICOM radiograph gets an SR and an SC in its own study, a PNG gets
  /// none, and a CT slice is refused with the reason instead of classified.
  @Test(SharedData.required) func predictWritesDicomResultsForDicomRadiographs() throws {
    let experiment = try TinyExperiment()
    defer { experiment.remove() }
    let run = try TrainingPipeline.train(experiment.settings)
    let radiograph = SharedData.path("dicom/cxr/COVID-1001_mono1_12bit_rle.dcm")
    let ct = SharedData.path("dicom/pydicom-test-files/CT_small.dcm")
    let png = try #require(
      try FileManager.default.contentsOfDirectory(atPath: experiment.folder + "/images").sorted().first)
    let output = experiment.folder + "/dicom"
    #expect(throws: DatasetError.self, "DICOM results need heatmaps") {
      try PredictionPipeline.predict(
        checkpoint: run.folder.calibratedCheckpoint, images: [radiograph], heatmaps: nil, dicomOut: output)
    }
    let result = try PredictionPipeline.predict(
      checkpoint: run.folder.calibratedCheckpoint, images: [radiograph, ct, experiment.folder + "/images/" + png],
      heatmaps: .init(folder: experiment.folder + "/maps"), dicomOut: output)
    #expect(result.predictions.map(\.path) == [radiograph, experiment.folder + "/images/" + png])
    #expect(result.refused.count == 1 && result.refused[0].path == ct)
    #expect(result.refused[0].reason.contains("not a chest radiograph"))
    #expect(result.predictions[1].dicomReport == nil, "a PNG has no study to write into")
    let report = try #require(result.predictions[0].dicomReport)
    let capture = try #require(result.predictions[0].dicomCapture)
    #expect(
      try FileManager.default.contentsOfDirectory(atPath: output).sorted() == [
        "COVID-1001_mono1_12bit_rle-sc.dcm", "COVID-1001_mono1_12bit_rle-sr.dcm",
      ])
    let source = try DicomDecoding.decodeWithAttributes(
      Data(contentsOf: URL(fileURLWithPath: radiograph)), path: radiograph
    ).attributes
    for file in [report, capture] {
      let dataset = try DicomResults.json(of: Data(contentsOf: URL(fileURLWithPath: file)))
      let study = ((dataset["0020000D"] as? [String: Any])?["Value"] as? [String])?.first
      #expect(study == source.studyInstanceUID, "\(file) is in the source's study")
    }
    // The SR's probabilities are the prediction's.
    let dataset = try DicomResults.json(of: Data(contentsOf: URL(fileURLWithPath: report)))
    let text = String(decoding: try JSONSerialization.data(withJSONObject: dataset), as: UTF8.self)
    for probability in result.rows[0].probabilities {
      #expect(text.contains(String(format: "%.6g", probability).prefix(6)), "\(probability) is in the report")
    }
  }

  /// Inference leaves the model in the mode it found it in.
  @Test func thePredictorRestoresTheTrainingMode() throws {
    let experiment = try TinyExperiment()
    defer { experiment.remove() }
    let model = try ResNet(.resnet18, classCount: 3, inputChannels: 1)
    let loader = try LoaderSettings(workers: 1).evaluationLoader(
      experiment.folder + "/val.txt", labelMap: .threeClass, preprocessing: Preprocessing(size: 32))
    model.train()
    _ = try Predictor.logits(of: model, on: loader, mixedPrecision: false)
    #expect(model.isTraining)
    model.eval()
    _ = try Predictor.logits(of: model, on: loader, mixedPrecision: false)
    #expect(!model.isTraining, "before the fix, Predictor always switched the model back to training")
  }
}

@Suite struct DemoTests {
  /// Without a val.txt, the demo holds out whole patients of each class from the training split,
  /// never the test split.
  @Test func theHoldOutIsDisjointByPatientAndCoversTheSplit() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    try SyntheticChestXRay.writeDataset(to: folder, counts: [("train", 10)], size: 32, seed: 3)
    let (train, validation) = try DemoPipeline.holdOut(
      from: folder + "/train.txt", into: folder + "/splits", fraction: 0.2, seed: 0)
    let trainEntries = try DatasetSource.load(train)
    let validationEntries = try DatasetSource.load(validation)
    #expect(trainEntries.count + validationEntries.count == 30)
    #expect(Set(trainEntries.map(\.patientID)).isDisjoint(with: validationEntries.map(\.patientID)))
    #expect(
      Dictionary(grouping: validationEntries, by: \.label).mapValues(\.count) == [
        "COVID-19": 2, "normal": 2, "pneumonia": 2,
      ])
  }
}

@Suite struct DeviceCheckTests {
  @Test func differencesAreTheLargestAndNaNFails() {
    #expect(DeviceCheck.largestDifference([0, 1, 2], [0, 1.5, 1.9]) == 0.5)
    #expect(DeviceCheck.largestDifference([0, 1], [0, .nan]) == .infinity)
    #expect(DeviceCheck.largestDifference([0, 1], [0]) == .infinity, "a missing value is a failure")
    var result = DeviceCheck.Result(
      device: .cuda(0), images: 2, logitsDifference: 2e-4, mapDifferences: [(.gradCAM, 5e-4)], samePredictions: true)
    #expect(result.passes(tolerance: 1e-3))
    result.mapDifferences = [(.gradCAM, 2e-3)]
    #expect(!result.passes(tolerance: 1e-3))
    #expect(result.render(tolerance: 1e-3).contains("FAIL"))
    result.mapDifferences = [(.gradCAM, 0)]
    result.samePredictions = false
    #expect(!result.passes(tolerance: 1e-3), "a changed prediction fails whatever the differences")
  }

  /// The CPU against itself: the comparison runs end to end and finds nothing (a GPU is compared by
  /// `orthocxr device --check cuda`, which scripts/gpu-check runs).
  @Test func theCPUAgreesWithItself() throws {
    let preprocessing = Preprocessing(size: 64)
    let model = try ResNet(.resnet18, classCount: 3, inputChannels: 1)
    let images = try DeviceCheck.syntheticImages(count: 2, preprocessing: preprocessing)
    #expect(images.shape == [2, 1, 64, 64])
    let result = try DeviceCheck.compare(model, images: images, on: .cpu, methods: [.gradCAM, .gradCAMPlusPlus])
    #expect(result.logitsDifference == 0 && result.mapDifferences.map(\.difference) == [0, 0])
    #expect(result.samePredictions && result.passes(tolerance: 1e-6))
  }

  /// The collectives' check on the CPU through Gloo: every line computed, every one within its
  /// tolerance (on a GPU: `orthocxr device --check cuda --collectives`, run by scripts/gpu-check).
  @Test func theCollectivesCheckPassesOnTheCPU() throws {
    let check = try DeviceCheck.collectives(on: .cpu, through: .gloo)
    #expect(check.passes, "\(check.lines.joined(separator: "\n"))")
    #expect(check.lines.count == 6 && check.lines.dropFirst().allSatisfy { $0.hasSuffix(" ok") })
    #expect(check.lines.contains { $0.contains("synchronized BatchNorm, backward") })
  }

  @Test(CUDADriver.required) func theGPUAgreesWithTheCPUAndBatchesArriveOnIt() throws {
    let preprocessing = Preprocessing(size: 64)
    let model = try ResNet(.resnet18, classCount: 3, inputChannels: 1)
    let images = try DeviceCheck.syntheticImages(count: 4, preprocessing: preprocessing)
    let result = try DeviceCheck.compare(model, images: images, on: .cuda(0))
    #expect(result.passes(tolerance: 1e-3), "\(result.render(tolerance: 1e-3))")
    #expect(model.device == .cpu, "the model goes back to the CPU")
    let experiment = try TinyExperiment()
    defer { experiment.remove() }
    let loader = try LoaderSettings(workers: 1, device: .cuda(0)).evaluationLoader(
      experiment.folder + "/val.txt", labelMap: .threeClass, preprocessing: Preprocessing(size: 32))
    let batch = try #require(try loader.epoch(0).next())
    #expect(batch.images.device == .cuda(0) && batch.labels.device == .cuda(0))
  }
}
