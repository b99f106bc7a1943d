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
  /// The largest image read, in megapixels (width × height, times frames); larger ones are refused
  /// from their header as unreadable. 0: no limit; nil: the limit in force (`ImageLimits`, 100
  /// megapixels unless something set it).
  public var maxMegapixels: Double?
  /// Train on this share of the training split (0 < f ≤ 1; nil: all of it): a class-stratified
  /// subset, drawn by patient where the split names patients, the same for every run of one seed.
  public var trainFraction: Double?
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
  /// Where the model trains: "cpu", "cuda" or "cuda:N".
  public var device = "cpu"
  /// With several processes: BatchNorm normalises with the statistics of the whole step's batch
  /// over all of them, not each process's slice.
  public var syncBatchNorm = false

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
      root = try composeGuarded(yaml: text)
    } catch let problem as SettingsProblem {
      throw RunFileError(path: source, reason: problem.description)
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

  /// The node tree of an experiment or sweep file, with what would crash Yams refused first (a
  /// `SettingsProblem`): text that would nest too deep for its loader, before composing, and base-60
  /// numbers too large for Int, before anything decodes them. Yams's own errors pass through.
  static func composeGuarded(yaml text: String) throws -> Node? {
    try refuseOverdeepYAML(text)
    let root = try Yams.compose(yaml: text)
    if let root { try refuseBaseSixtyNumbers(in: root) }
    return root
  }

  /// The largest experiment or sweep file read (far above any real one).
  static let maximumYAMLBytes = 1 << 20
  /// The most flow collections (`[…]`, `{…}`) one file may open; real sweep files open tens.
  static let maximumFlowCollections = 512

  /// Refuses text that would overflow the stack of Yams's recursive loader before it gets there: a
  /// few kilobytes of `[[[[…` ended the process with a segmentation fault (about 5,000 levels on the
  /// main thread's 8 MB stack; found by scripts/fuzz experiment-yaml, kept in fuzz/corpus). Flow
  /// collections can nest no deeper than the number of `[` and `{` in the file, so that number is
  /// bounded (quotes and comments are not told apart: a bound that a quoted `]` cannot fool); block
  /// collections need ever more indentation per level, so the size bound keeps them shallow.
  static func refuseOverdeepYAML(_ text: String) throws {
    guard text.utf8.count <= maximumYAMLBytes else {
      throw SettingsProblem(
        "the file has \(text.utf8.count) bytes; an experiment file of more than \(maximumYAMLBytes) is not read")
    }
    let openings = text.utf8.reduce(0) { $1 == UInt8(ascii: "[") || $1 == UInt8(ascii: "{") ? $0 + 1 : $0 }
    guard openings <= maximumFlowCollections else {
      throw SettingsProblem(
        "the file opens \(openings) collections with [ or {; more than \(maximumFlowCollections) are not read")
    }
  }

  /// Refuses, anywhere in `node`, a plain scalar that Yams would read as a base-60 integer too large
  /// for Int. YAML 1.1 reads `1:30` as 90; Yams's integer decoding does so for any plain scalar with
  /// a colon (keeping the parts that are numbers) and traps when the result overflows Int: a value
  /// like `image-size: 1:1:1:1:1:1:1:1:1:1:1:1` ended the process (found by scripts/fuzz
  /// experiment-yaml; kept in fuzz/corpus). Such a value is refused by name before anything decodes it.
  static func refuseBaseSixtyNumbers(in node: Node) throws {
    switch node {
    case .scalar(let scalar):
      if scalar.style == .plain || scalar.style == .any, overflowsAsBaseSixty(scalar.string) {
        throw SettingsProblem(
          "\"\(scalar.string.prefix(40))\" reads as a base-60 number in YAML, too large for an integer; quote it, or write a plain number"
        )
      }
    case .mapping(let mapping):
      for (key, value) in mapping {
        try refuseBaseSixtyNumbers(in: key)
        try refuseBaseSixtyNumbers(in: value)
      }
    case .sequence(let sequence):
      for item in sequence { try refuseBaseSixtyNumbers(in: item) }
    }
  }

  /// Whether Yams's integer decoding of `text` (Yams 5–6, Constructor.swift: underscores dropped; a
  /// leading 0 means another radix; else with a colon, base 60 over the parts that are numbers)
  /// overflows Int.
  static func overflowsAsBaseSixty(_ text: String) -> Bool {
    var digits = Substring(text.replacingOccurrences(of: "_", with: ""))
    if digits.hasPrefix("-") || digits.hasPrefix("+") { digits = digits.dropFirst() }
    guard !digits.hasPrefix("0"), digits.contains(":") else { return false }
    var (base, value) = (1, 0)
    for part in digits.components(separatedBy: ":").compactMap({ Int($0, radix: 10) }).reversed() {
      let (product, productOverflows) = part.multipliedReportingOverflow(by: base)
      let (sum, sumOverflows) = value.addingReportingOverflow(product)
      let (next, baseOverflows) = base.multipliedReportingOverflow(by: 60)
      if productOverflows || sumOverflows || baseOverflows { return true }
      (base, value) = (next, sum)
    }
    return false
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
    try require(training.steps.map { $0 > 0 } ?? true, "--steps must be positive")
    try require(training.validateEvery.map { $0 > 0 } ?? true, "--validate-every must be positive")
    try require(
      trainFraction.map { $0 > 0 && $0 <= 1 } ?? true, "--train-fraction must be above 0 and at most 1, such as 0.1")
    try require(imageSize >= 32, "--image-size must be at least 32")
    try require(channels == 1 || channels == 3, "--channels must be 1 or 3")
    try require(training.learningRate >= 0, "--learning-rate must not be negative")
    try require(batchSize > 0 && workers > 0 && threads > 0, "--batch-size, --workers and --threads must be positive")
    try require(["fail", "skip"].contains(badImages), "--bad-images must be fail or skip, not \"\(badImages)\"")
    try require((maxMegapixels ?? 0) >= 0, "--max-megapixels must not be negative")
    try require(test == nil || val != nil, "--test needs --val: the temperature is fitted on the validation split")
    try require(training.stepEpochs.map { $0 > 0 } ?? true, "--step-epochs must be positive")
    try require(training.warmupEpochs >= 0, "--warmup-epochs must not be negative")
    try require(training.logEvery > 0, "--log-every must be positive")
    try require(
      training.classWeights.map { $0.allSatisfy { $0 >= 0 && $0.isFinite } } ?? true,
      "--class-weights must be numbers that are not negative")
    try require(
      isDeviceName(device), "--device must be cpu, cuda or cuda:N (N a GPU's number), not \"\(device)\"")
    if let seeds {
      try require(!seeds.isEmpty && Set(seeds).count == seeds.count, "--seeds must be different whole numbers")
    }
  }
}

/// "cpu", "cuda" or "cuda:N", as `Device(parsing:)` in Engine reads them (RunFiles has no libtorch).
public func isDeviceName(_ name: String) -> Bool {
  if name == "cpu" || name == "cuda" { return true }
  guard name.hasPrefix("cuda:"), let index = Int(name.dropFirst(5)) else { return false }
  return index >= 0
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
    case maxMegapixels = "max-megapixels", trainFraction = "train-fraction"
    case noAugmentation = "no-augmentation"
    case lambda, osVariant = "os-variant", labelSmoothing = "label-smoothing", classWeights = "class-weights"
    case optimizer, learningRate = "learning-rate", momentum, weightDecay = "weight-decay"
    case schedule, warmupEpochs = "warmup-epochs", stepEpochs = "step-epochs", gamma, epochs, steps
    case batchSize = "batch-size", select, validateEvery = "validate-every", patience, fp32, seed, seeds, output,
      logEvery = "log-every"
    case workers, threads, device, syncBatchnorm = "sync-batchnorm"
  }

  static let sections: [(name: String, keys: [Key])] = [
    ("model", [.model, .weights, .imageSize, .channels]),
    ("data", [.train, .val, .test, .labelMap, .images, .badImages, .maxMegapixels, .trainFraction]),
    ("augmentation", [.noAugmentation]),
    ("loss", [.lambda, .osVariant, .labelSmoothing, .classWeights]),
    ("optimizer", [.optimizer, .learningRate, .momentum, .weightDecay]),
    ("schedule", [.schedule, .warmupEpochs, .stepEpochs, .gamma, .epochs, .steps]),
    ("training", [.batchSize, .select, .validateEvery, .patience, .fp32, .seed, .seeds, .output, .logEvery]),
    ("machine", [.workers, .threads, .device, .syncBatchnorm]),
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
    try Self.field(key).decode(&self, container, anyKey)
  }

  public func encode(to encoder: any Encoder) throws {
    var root = encoder.container(keyedBy: AnyKey.self)
    for (name, keys) in Self.sections {
      var section = root.nestedContainer(keyedBy: AnyKey.self, forKey: AnyKey(name))
      for key in keys { try Self.field(key).encode(self, &section, AnyKey(key.rawValue)) }
    }
  }

  /// How one setting is read and written: the single table of which key is which stored value.
  struct Field {
    let decode: (inout ExperimentSettings, KeyedDecodingContainer<AnyKey>, AnyKey) throws -> Void
    let encode: (ExperimentSettings, inout KeyedEncodingContainer<AnyKey>, AnyKey) throws -> Void

    /// A setting with a default: null or absent keeps it.
    static func value<Value: Codable>(_ path: WritableKeyPath<ExperimentSettings, Value>) -> Field {
      Field(
        decode: { settings, container, key in
          if let value = try container.decodeIfPresent(Value.self, forKey: key) { settings[keyPath: path] = value }
        },
        encode: { settings, container, key in try container.encode(settings[keyPath: path], forKey: key) })
    }

    /// An optional setting: null clears it.
    static func optional<Value: Codable>(_ path: WritableKeyPath<ExperimentSettings, Value?>) -> Field {
      Field(
        decode: { settings, container, key in
          settings[keyPath: path] = try container.decodeIfPresent(Value.self, forKey: key)
        },
        encode: { settings, container, key in try container.encode(settings[keyPath: path], forKey: key) })
    }

    /// A flag that switches a setting off (no-augmentation, fp32).
    static func negated(_ path: WritableKeyPath<ExperimentSettings, Bool>) -> Field {
      Field(
        decode: { settings, container, key in
          if let flag = try container.decodeIfPresent(Bool.self, forKey: key) { settings[keyPath: path] = !flag }
        },
        encode: { settings, container, key in try container.encode(!settings[keyPath: path], forKey: key) })
    }
  }

  static func field(_ key: Key) -> Field {
    switch key {
    case .model: .value(\.model)
    case .weights: .optional(\.weights)
    case .imageSize: .value(\.imageSize)
    case .channels: .value(\.channels)
    case .train: .optional(\.train)
    case .val: .optional(\.val)
    case .test: .optional(\.test)
    case .labelMap: .value(\.labelMap)
    case .images: .optional(\.images)
    case .badImages: .value(\.badImages)
    case .maxMegapixels: .optional(\.maxMegapixels)
    case .trainFraction: .optional(\.trainFraction)
    case .noAugmentation: .negated(\.augmentation)
    case .lambda: .value(\.training.lambda)
    case .osVariant: .value(\.training.osVariant)
    case .labelSmoothing: .value(\.training.labelSmoothing)
    case .classWeights: .optional(\.training.classWeights)
    case .optimizer: .value(\.training.optimizer)
    case .learningRate: .value(\.training.learningRate)
    case .momentum: .value(\.training.momentum)
    case .weightDecay: .value(\.training.weightDecay)
    case .schedule: .value(\.training.schedule)
    case .warmupEpochs: .value(\.training.warmupEpochs)
    case .stepEpochs: .optional(\.training.stepEpochs)
    case .gamma: .value(\.training.gamma)
    case .epochs: .value(\.training.epochs)
    case .steps: .optional(\.training.steps)
    case .batchSize: .value(\.batchSize)
    case .select: .value(\.training.selectionMetric)
    case .validateEvery: .optional(\.training.validateEvery)
    case .patience: .optional(\.training.earlyStoppingPatience)
    case .fp32: .negated(\.training.mixedPrecision)
    case .seed: .value(\.training.seed)
    case .seeds: .optional(\.seeds)
    case .output: .optional(\.output)
    case .logEvery: .value(\.training.logEvery)
    case .workers: .value(\.workers)
    case .threads: .value(\.threads)
    case .device: .value(\.device)
    case .syncBatchnorm: .value(\.syncBatchNorm)
    }
  }
}

extension ExperimentSettings {
  /// Each setting's value as text, by key (what config.yaml would write): for comparing two runs'
  /// settings one key at a time.
  public func keyedValues() -> [String: String] {
    guard let data = try? JSONEncoder().encode(self),
      let sections = (try? JSONSerialization.jsonObject(with: data)) as? [String: [String: Any]]
    else { return [:] }
    var values: [String: String] = [:]
    for (_, section) in sections {
      for (key, value) in section { values[key] = "\(value)" }
    }
    return values
  }
}
