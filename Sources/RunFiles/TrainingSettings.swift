/// What to train with: optimizer, schedule, loss, model selection, stopping. Every field has a
/// default, and every field is a setting of `orthocxr train` and of experiment files.
public struct TrainingSettings: Codable, Equatable, Sendable {
  public enum OptimizerKind: String, Codable, Sendable, CaseIterable { case sgd, adam, adamw }
  public enum ScheduleKind: String, Codable, Sendable, CaseIterable { case constant, step, cosine }
  /// The validation metric that picks the best checkpoint (higher is better, but for NLL).
  public enum SelectionMetric: String, Codable, Sendable, CaseIterable {
    case accuracy, macroF1 = "macro-f1", balancedAccuracy = "balanced-accuracy", nll
  }

  public var epochs = 10
  /// Train for exactly this many optimizer steps instead of `epochs` passes over the training split:
  /// as many passes as the steps need, the last one cut short, with the schedule spread over the
  /// steps. Runs on training subsets of different sizes then train equally long.
  public var steps: Int?
  /// Validate, select the best checkpoint and write the last one after every this many epochs (and
  /// after the last epoch) rather than after each; nil for every epoch. For runs of many short
  /// epochs (a small subset with `steps`), where validating and saving would take most of the time.
  /// Early stopping's patience then counts validations.
  public var validateEvery: Int?
  public var optimizer: OptimizerKind = .adamw
  public var learningRate = 1e-3
  public var momentum = 0.9
  public var weightDecay = 1e-4
  public var schedule: ScheduleKind = .cosine
  /// Linear warm-up over this many epochs before the schedule.
  public var warmupEpochs = 1
  /// For the step schedule: multiply by `gamma` every `stepEpochs` epochs after the warm-up; nil for
  /// a third of the epochs after the warm-up (so that the default decays twice).
  public var stepEpochs: Int?
  public var gamma = 0.1
  /// λ of the OS term; 0 is the baseline.
  public var lambda = 0.0
  public var osVariant: OrthogonalSpheresVariant = .batch
  public var labelSmoothing = 0.0
  /// Per-class weights of the cross-entropy, in the order of the label map's classes (nil: equal).
  public var classWeights: [Double]?
  public var selectionMetric: SelectionMetric = .macroF1
  /// Stop after this many epochs without improvement of the selection metric (nil: never).
  public var earlyStoppingPatience: Int?
  /// bf16 autocast for the forward pass.
  public var mixedPrecision = true
  /// Write a step line to the log every this many steps.
  public var logEvery = 10
  /// Seeds libtorch (weights, and anything random in the model) when training starts, and the loader
  /// (order and augmentation).
  public var seed: UInt64 = 0

  public init() {}

  /// The epochs between two decays of the step schedule.
  public func resolvedStepEpochs(plannedEpochs: Int) -> Int { stepEpochs ?? max(1, (plannedEpochs - warmupEpochs) / 3) }

  /// The passes over the training split: `epochs`, or with `steps` as many as the steps need.
  public func plannedEpochs(stepsPerEpoch: Int) -> Int {
    steps.map { ($0 + stepsPerEpoch - 1) / max(stepsPerEpoch, 1) } ?? epochs
  }
}

/// The three readings of the Orthogonal Spheres regularizer (see `OrthogonalSpheres` in Training for
/// their losses). Written as "batch", "feature" or "blocks(k)".
public enum OrthogonalSpheresVariant: Equatable, Hashable, Sendable, Codable, LosslessStringConvertible {
  case batch
  case feature
  case blocks(Int)

  /// Parses "batch", "feature" or "blocks(k)" / "blocks:k".
  public init?(_ text: String) {
    switch text {
    case "batch": self = .batch
    case "feature": self = .feature
    default:
      let digits = text.drop { !$0.isNumber }.prefix { $0.isNumber }
      guard text.hasPrefix("blocks"), let count = Int(digits), count >= 1 else { return nil }
      self = .blocks(count)
    }
  }

  public var description: String {
    switch self {
    case .batch: "batch"
    case .feature: "feature"
    case .blocks(let count): "blocks(\(count))"
    }
  }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    let text = try container.decode(String.self)
    guard let variant = Self(text) else {
      throw DecodingError.dataCorruptedError(
        in: container, debugDescription: "\"\(text)\" is not an OS variant; use batch, feature or blocks(k)")
    }
    self = variant
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(description)
  }
}
