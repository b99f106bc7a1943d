/// One epoch's record in the log and the summary.
public struct EpochRecord: Codable, Sendable, Equatable {
  public var epoch: Int
  public var trainingLoss: Double
  public var crossEntropy: Double
  public var orthogonalSpheres: Double?
  public var learningRate: Double
  public var validation: ValidationMetrics?
  public var seconds: Double

  public init(
    epoch: Int, trainingLoss: Double, crossEntropy: Double, orthogonalSpheres: Double?, learningRate: Double,
    validation: ValidationMetrics?, seconds: Double
  ) {
    self.epoch = epoch
    self.trainingLoss = trainingLoss
    self.crossEntropy = crossEntropy
    self.orthogonalSpheres = orthogonalSpheres
    self.learningRate = learningRate
    self.validation = validation
    self.seconds = seconds
  }
}

/// Validation metrics of one epoch.
public struct ValidationMetrics: Codable, Sendable, Equatable {
  public var accuracy: Double
  public var balancedAccuracy: Double?
  public var macroF1: Double?
  public var macroAUC: Double?
  public var nll: Double
  public var ece: Double

  public init(
    accuracy: Double, balancedAccuracy: Double?, macroF1: Double?, macroAUC: Double?, nll: Double, ece: Double
  ) {
    self.accuracy = accuracy
    self.balancedAccuracy = balancedAccuracy
    self.macroF1 = macroF1
    self.macroAUC = macroAUC
    self.nll = nll
    self.ece = ece
  }

  /// The value that selects the best epoch: higher is better (NLL is negated).
  public func score(_ metric: TrainingSettings.SelectionMetric) -> Double {
    switch metric {
    case .accuracy: accuracy
    case .macroF1: macroF1 ?? 0
    case .balancedAccuracy: balancedAccuracy ?? 0
    case .nll: -nll
    }
  }
}

/// metrics.json: how training went.
public struct TrainingSummary: Codable, Sendable, Equatable {
  public var epochs: [EpochRecord]
  public var bestEpoch: Int?
  public var bestScore: Double?
  /// Stopped by the stop hook (Ctrl-C) with a checkpoint to resume from.
  public var interrupted: Bool
  public var stoppedEarly: Bool
  public var skippedImages: [String]

  public init(
    epochs: [EpochRecord], bestEpoch: Int?, bestScore: Double?, interrupted: Bool, stoppedEarly: Bool,
    skippedImages: [String]
  ) {
    self.epochs = epochs
    self.bestEpoch = bestEpoch
    self.bestScore = bestScore
    self.interrupted = interrupted
    self.stoppedEarly = stoppedEarly
    self.skippedImages = skippedImages
  }
}
