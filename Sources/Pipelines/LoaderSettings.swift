import Datasets
import Engine
import Evaluation
import Foundation
import RunFiles
import Training

/// How images are read and batched: what train, evaluate, calibrate and explain share.
public struct LoaderSettings: Equatable, Sendable {
  /// The folder holding the images, when it is not beside the split file or in its images/ subfolder.
  public var images: String?
  public var batchSize = 32
  public var workers = 2
  public var badImages: BadImagePolicy = .fail
  /// libtorch threads.
  public var threads = 2
  /// Where the model runs and batches are delivered.
  public var device: Device = .cpu

  public init(
    images: String? = nil, batchSize: Int = 32, workers: Int = 2, badImages: BadImagePolicy = .fail, threads: Int = 2,
    device: Device = .cpu
  ) {
    self.images = images
    self.batchSize = batchSize
    self.workers = workers
    self.badImages = badImages
    self.threads = threads
    self.device = device
  }

  /// The loader part of an experiment's settings.
  public init(_ settings: ExperimentSettings) throws {
    guard let policy = BadImagePolicy(rawValue: settings.badImages) else {
      throw SettingsProblem("bad-images must be fail or skip, not \"\(settings.badImages)\"")
    }
    guard let device = Device(settings.device) else {
      throw SettingsProblem("device must be cpu, cuda or cuda:N, not \"\(settings.device)\"")
    }
    self.init(
      images: settings.images, batchSize: settings.batchSize, workers: settings.workers, badImages: policy,
      threads: settings.threads, device: device)
  }

  public func options(seed: UInt64, shuffle: Bool) -> DataLoader.Options {
    var options = DataLoader.Options()
    options.batchSize = batchSize
    options.workers = workers
    options.seed = seed
    options.shuffle = shuffle
    options.badImages = badImages
    options.memoryFormat = .channelsLast
    options.device = device
    return options
  }

  /// The labeled entries of a split under a label map.
  public func entries(_ path: String, labelMap: LabelMap) throws -> [LabeledEntry] {
    try labelMap.apply(to: DatasetSource.load(path, imageFolder: images))
  }

  /// A loader over a split, in the split's order, without augmentation (for evaluation).
  public func evaluationLoader(
    _ path: String, labelMap: LabelMap, preprocessing: Preprocessing, seed: UInt64 = 0, cache: ImageCache? = nil,
    shard: Shard? = nil
  ) throws -> DataLoader {
    try evaluationLoader(
      entries(path, labelMap: labelMap), classCount: labelMap.classes.count, preprocessing: preprocessing, seed: seed,
      cache: cache, shard: shard)
  }

  /// A loader over given entries, in their order, without augmentation (for evaluation).
  public func evaluationLoader(
    _ entries: [LabeledEntry], classCount: Int, preprocessing: Preprocessing, seed: UInt64 = 0,
    cache: ImageCache? = nil, shard: Shard? = nil
  ) -> DataLoader {
    var options = options(seed: seed, shuffle: false)
    options.shard = shard
    return DataLoader(
      entries: entries, classCount: classCount, preprocessing: preprocessing, options: options, cache: cache)
  }
}

/// The logits of a model on a split, with the entries they belong to.
public struct SplitPredictions {
  public var logits: [[Double]]
  public var labels: [Int]
  /// The image of each row: taken from the batches' own indices, so that an image the loader skipped
  /// can never shift the rows.
  public var paths: [String]
  /// The penultimate features, when asked for or when the model has an OOD detector (else empty).
  public var features: [[Double]]
  /// The model's OOD detector's verdict on each image, when it has one.
  public var assessments: [OutOfDistributionAssessment]?

  /// Runs `model` over `loader` (bf16 autocast, as training validates).
  public init(model: TrainedModel, loader: DataLoader, features: Bool = false) throws {
    try model.model.place(on: loader.options.device)
    try model.model.setMemoryFormat(.channelsLast)
    let outputs = try Predictor.outputs(
      of: model.model, on: loader, mixedPrecision: true, features: features || model.outOfDistribution != nil)
    self.logits = outputs.logits
    self.labels = outputs.labels
    self.paths = outputs.indices.map { loader.entries[$0].entry.path }
    self.features = outputs.features
    self.assessments = model.outOfDistribution.map { detector in
      zip(outputs.logits, outputs.features).map { detector.assess(logits: $0, features: $1) }
    }
  }

  /// The detector's scores under its own method, for `EvaluationReport.compute`.
  public var detectorScores: EvaluationReport.DetectorScores? {
    guard let assessments, let first = assessments.first else { return nil }
    return EvaluationReport.DetectorScores(
      method: first.method, scores: assessments.map(\.score), threshold: first.threshold)
  }

  /// One row per image, with probabilities at `temperature`.
  public func rows(temperature: Double) -> [PredictionsFile.Row] {
    let probabilities = softmax(logits, temperature: temperature)
    return paths.indices.map { index in
      PredictionsFile.Row(
        path: paths[index], label: labels[index], probabilities: probabilities[index],
        outOfDistribution: assessments.map { ($0[index].score, $0[index].flagged) })
    }
  }
}
