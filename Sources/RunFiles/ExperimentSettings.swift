import Foundation
import Yams

/// Every setting of a training run, from one source: experiment files (YAML) decode into it, the
/// command line's options override it, the run folder's config.yaml is its encoding, and the training
/// pipeline reads it. A setting left out of a file keeps its default.
///
/// In YAML each key is an option of `orthocxr train` without its dashes, optionally grouped in
/// sections whose names are free (one level), for example
///
///     model: {model: resnet18, image-size: 224, channels: 1}
///     data: {train: data/train.txt, val: data/val.txt, test: data/test.txt, label-map: three-class}
///     loss: {lambda: 0.01, os-variant: batch, label-smoothing: 0}
///     schedule: {schedule: cosine, warmup-epochs: 1, epochs: 10}
///     training: {seeds: [0, 1, 2]}
public struct ExperimentSettings: Equatable, Sendable {
  /// The architecture's name (`Architecture` in Models).
  public var model = "resnet18"
  /// Weights to start from (.safetensors or .pth); the classifier is kept new.
  public var weights: String?
  public var imageSize = 224
  /// Input channels: 1 (greyscale) or 3 (for ImageNet weights).
  public var channels = 1
  /// The training split (a COVIDx split file, a class folder or a CSV).
  public var train: String?
  public var val: String?
  /// After training, calibrate on `val` and evaluate on this split.
  public var test: String?
  public var labelMap = "three-class"
  /// The folder holding the images, when it is not beside the split file.
  public var images: String?
  /// What to do with an unreadable image: "fail" or "skip".
  public var badImages = "fail"
  public var augmentation = true
  public var training = TrainingSettings()
  public var batchSize = 32
  /// One run per seed in OUTPUT/seed-N (overrides `training.seed`).
  public var seeds: [UInt64]?
  /// The run folder.
  public var output: String?
  /// Loader worker threads.
  public var workers = 2
  /// libtorch threads.
  public var threads = 2

  public init() {}

  /// The settings of an experiment file (defaults for what it leaves out). Errors name the file.
  public static func load(file path: String) throws -> ExperimentSettings {
    guard FileManager.default.fileExists(atPath: path) else {
      throw RunFileError(path: path, reason: "the configuration does not exist")
    }
    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
      throw RunFileError(path: path, reason: "the configuration cannot be read as UTF-8 text")
    }
    return try parse(yaml: text, source: path)
  }

  /// The settings of YAML text; `source` names it in errors.
  public static func parse(yaml text: String, source: String) throws -> ExperimentSettings {
    let root: Node?
    do {
      root = try Yams.compose(yaml: text)
    } catch {
      throw RunFileError(path: source, reason: "the configuration is not valid YAML: \(error)")
    }
    guard let root, root.mapping != nil else {
      throw RunFileError(path: source, reason: "the configuration must be a mapping of settings (key: value)")
    }
    do {
      return try YAMLDecoder().decode(ExperimentSettings.self, from: text)
    } catch let problem as SettingsProblem {
      throw RunFileError(path: source, reason: problem.description)
    } catch let error as DecodingError {
      // Yams wraps what the decoding initializer throws.
      if case .dataCorrupted(let context) = error, let problem = context.underlyingError as? SettingsProblem {
        throw RunFileError(path: source, reason: problem.description)
      }
      throw RunFileError(path: source, reason: DecodingProblem.describe(error))
    }
  }

  /// The settings as YAML in sections, in the form `load` reads: `orthocxr train --config` of this text
  /// repeats the run.
  public func yaml() throws -> String {
    "# Resolved settings of this run (orthocxr train --config this-file repeats it).\n"
      + (try YAMLEncoder().encode(self))
  }

  /// Problems a command line or a file can cause, in words (named as options: a file's keys are the
  /// options without their dashes).
  public func validate() throws {
    func require(_ condition: Bool, _ message: String) throws {
      if !condition { throw SettingsProblem(message) }
    }
    try require(training.epochs > 0, "--epochs must be positive")
    try require(imageSize >= 32, "--image-size must be at least 32")
    try require(channels == 1 || channels == 3, "--channels must be 1 or 3")
    try require(training.learningRate >= 0, "--learning-rate must not be negative")
    try require(batchSize > 0 && workers > 0 && threads > 0, "--batch-size, --workers and --threads must be positive")
    try require(["fail", "skip"].contains(badImages), "--bad-images must be fail or skip, not \"\(badImages)\"")
    try require(test == nil || val != nil, "--test needs --val: the temperature is fitted on the validation split")
    try require(training.stepEpochs.map { $0 > 0 } ?? true, "--step-epochs must be positive")
    try require(training.warmupEpochs >= 0, "--warmup-epochs must not be negative")
    try require(training.logEvery > 0, "--log-every must be positive")
    try require(
      training.classWeights.map { $0.allSatisfy { $0 >= 0 && $0.isFinite } } ?? true,
      "--class-weights must be numbers that are not negative")
    if let seeds {
      try require(!seeds.isEmpty && Set(seeds).count == seeds.count, "--seeds must be different whole numbers")
    }
  }
}

/// A setting that is unknown, repeated or out of range.
public struct SettingsProblem: Error, CustomStringConvertible {
  public let description: String
  public init(_ description: String) { self.description = description }
}

extension ExperimentSettings: Codable {
  /// The settings' names, in the order and sections config.yaml shows them.
  enum Key: String, CodingKey, CaseIterable {
    case model, weights, imageSize = "image-size", channels
    case train, val, test, labelMap = "label-map", images, badImages = "bad-images"
    case noAugmentation = "no-augmentation"
    case lambda, osVariant = "os-variant", labelSmoothing = "label-smoothing", classWeights = "class-weights"
    case optimizer, learningRate = "learning-rate", momentum, weightDecay = "weight-decay"
    case schedule, warmupEpochs = "warmup-epochs", stepEpochs = "step-epochs", gamma, epochs
    case batchSize = "batch-size", select, patience, fp32, seed, seeds, output, logEvery = "log-every"
    case workers, threads
  }

  static let sections: [(name: String, keys: [Key])] = [
    ("model", [.model, .weights, .imageSize, .channels]),
    ("data", [.train, .val, .test, .labelMap, .images, .badImages]),
    ("augmentation", [.noAugmentation]),
    ("loss", [.lambda, .osVariant, .labelSmoothing, .classWeights]),
    ("optimizer", [.optimizer, .learningRate, .momentum, .weightDecay]),
    ("schedule", [.schedule, .warmupEpochs, .stepEpochs, .gamma, .epochs]),
    ("training", [.batchSize, .select, .patience, .fp32, .seed, .seeds, .output, .logEvery]),
    ("machine", [.workers, .threads]),
  ]

  struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
  }

  /// Reads settings at the top level or in sections (a mapping under any name); a key in `snake_case`
  /// counts as its `kebab-case` option.
  public init(from decoder: any Decoder) throws {
    self.init()
    let root = try decoder.container(keyedBy: AnyKey.self)
    var seen: Set<Key> = []
    for key in root.allKeys.sorted(by: { $0.stringValue < $1.stringValue }) {
      if let section = try? root.nestedContainer(keyedBy: AnyKey.self, forKey: key) {
        for inner in section.allKeys.sorted(by: { $0.stringValue < $1.stringValue }) {
          if (try? section.nestedContainer(keyedBy: AnyKey.self, forKey: inner)) != nil {
            throw SettingsProblem(
              "section \"\(key.stringValue)\" holds another section \"\(inner.stringValue)\"; one level of sections only"
            )
          }
          try read(inner, from: section, seen: &seen)
        }
      } else {
        try read(key, from: root, seen: &seen)
      }
    }
  }

  private mutating func read(
    _ anyKey: AnyKey, from container: KeyedDecodingContainer<AnyKey>, seen: inout Set<Key>
  ) throws {
    let name = anyKey.stringValue.replacingOccurrences(of: "_", with: "-")
    if name == "config" { throw SettingsProblem("a configuration cannot name another (config:)") }
    guard let key = Key(rawValue: name) else {
      throw SettingsProblem(
        "unknown setting \"\(anyKey.stringValue)\"; the keys are the options of `orthocxr train --help`, without the dashes"
      )
    }
    guard seen.insert(key).inserted else { throw SettingsProblem("\"\(name)\" is set twice") }
    func value<T: Decodable>(_ type: T.Type = T.self) throws -> T? {
      try container.decodeIfPresent(T.self, forKey: anyKey)
    }
    switch key {
    case .model: model = try value() ?? model
    case .weights: weights = try value()
    case .imageSize: imageSize = try value() ?? imageSize
    case .channels: channels = try value() ?? channels
    case .train: train = try value()
    case .val: val = try value()
    case .test: test = try value()
    case .labelMap: labelMap = try value() ?? labelMap
    case .images: images = try value()
    case .badImages: badImages = try value() ?? badImages
    case .noAugmentation: augmentation = !(try value(Bool.self) ?? !augmentation)
    case .lambda: training.lambda = try value() ?? training.lambda
    case .osVariant: training.osVariant = try value() ?? training.osVariant
    case .labelSmoothing: training.labelSmoothing = try value() ?? training.labelSmoothing
    case .classWeights: training.classWeights = try value()
    case .optimizer: training.optimizer = try value() ?? training.optimizer
    case .learningRate: training.learningRate = try value() ?? training.learningRate
    case .momentum: training.momentum = try value() ?? training.momentum
    case .weightDecay: training.weightDecay = try value() ?? training.weightDecay
    case .schedule: training.schedule = try value() ?? training.schedule
    case .warmupEpochs: training.warmupEpochs = try value() ?? training.warmupEpochs
    case .stepEpochs: training.stepEpochs = try value()
    case .gamma: training.gamma = try value() ?? training.gamma
    case .epochs: training.epochs = try value() ?? training.epochs
    case .batchSize: batchSize = try value() ?? batchSize
    case .select: training.selectionMetric = try value() ?? training.selectionMetric
    case .patience: training.earlyStoppingPatience = try value()
    case .fp32: training.mixedPrecision = !(try value(Bool.self) ?? !training.mixedPrecision)
    case .seed: training.seed = try value() ?? training.seed
    case .seeds: seeds = try value()
    case .output: output = try value()
    case .logEvery: training.logEvery = try value() ?? training.logEvery
    case .workers: workers = try value() ?? workers
    case .threads: threads = try value() ?? threads
    }
  }

  public func encode(to encoder: any Encoder) throws {
    var root = encoder.container(keyedBy: AnyKey.self)
    for (name, keys) in Self.sections {
      var section = root.nestedContainer(keyedBy: Key.self, forKey: AnyKey(name))
      for key in keys {
        switch key {
        case .model: try section.encode(model, forKey: key)
        case .weights: try section.encode(weights, forKey: key)
        case .imageSize: try section.encode(imageSize, forKey: key)
        case .channels: try section.encode(channels, forKey: key)
        case .train: try section.encode(train, forKey: key)
        case .val: try section.encode(val, forKey: key)
        case .test: try section.encode(test, forKey: key)
        case .labelMap: try section.encode(labelMap, forKey: key)
        case .images: try section.encode(images, forKey: key)
        case .badImages: try section.encode(badImages, forKey: key)
        case .noAugmentation: try section.encode(!augmentation, forKey: key)
        case .lambda: try section.encode(training.lambda, forKey: key)
        case .osVariant: try section.encode(training.osVariant, forKey: key)
        case .labelSmoothing: try section.encode(training.labelSmoothing, forKey: key)
        case .classWeights: try section.encode(training.classWeights, forKey: key)
        case .optimizer: try section.encode(training.optimizer, forKey: key)
        case .learningRate: try section.encode(training.learningRate, forKey: key)
        case .momentum: try section.encode(training.momentum, forKey: key)
        case .weightDecay: try section.encode(training.weightDecay, forKey: key)
        case .schedule: try section.encode(training.schedule, forKey: key)
        case .warmupEpochs: try section.encode(training.warmupEpochs, forKey: key)
        case .stepEpochs: try section.encode(training.stepEpochs, forKey: key)
        case .gamma: try section.encode(training.gamma, forKey: key)
        case .epochs: try section.encode(training.epochs, forKey: key)
        case .batchSize: try section.encode(batchSize, forKey: key)
        case .select: try section.encode(training.selectionMetric, forKey: key)
        case .patience: try section.encode(training.earlyStoppingPatience, forKey: key)
        case .fp32: try section.encode(!training.mixedPrecision, forKey: key)
        case .seed: try section.encode(training.seed, forKey: key)
        case .seeds: try section.encode(seeds, forKey: key)
        case .output: try section.encode(output, forKey: key)
        case .logEvery: try section.encode(training.logEvery, forKey: key)
        case .workers: try section.encode(workers, forKey: key)
        case .threads: try section.encode(threads, forKey: key)
        }
      }
    }
  }
}
