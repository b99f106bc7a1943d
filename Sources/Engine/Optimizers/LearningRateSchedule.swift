import Foundation

/// A learning rate as a function of the step (an epoch or an iteration: the caller decides). Being a
/// pure function of the step, a schedule resumes exactly from a saved step number.
public protocol LearningRateSchedule: Sendable {
  func learningRate(at step: Int) -> Double
}

/// The base rate, multiplied by `gamma` every `stepSize` steps (torch's StepLR).
public struct StepDecay: LearningRateSchedule {
  public let baseRate: Double
  public let stepSize: Int
  public let gamma: Double

  public init(baseRate: Double, stepSize: Int, gamma: Double = 0.1) {
    self.baseRate = baseRate
    self.stepSize = max(stepSize, 1)
    self.gamma = gamma
  }

  public func learningRate(at step: Int) -> Double {
    baseRate * Foundation.pow(gamma, Double(step / stepSize))
  }
}

/// Half a cosine from the base rate down to `minimumRate` over `totalSteps` (torch's
/// CosineAnnealingLR without restarts); the minimum afterwards.
public struct CosineDecay: LearningRateSchedule {
  public let baseRate: Double
  public let totalSteps: Int
  public let minimumRate: Double

  public init(baseRate: Double, totalSteps: Int, minimumRate: Double = 0) {
    self.baseRate = baseRate
    self.totalSteps = max(totalSteps, 1)
    self.minimumRate = minimumRate
  }

  public func learningRate(at step: Int) -> Double {
    let progress = min(Double(step) / Double(totalSteps), 1)
    return minimumRate + (baseRate - minimumRate) * (1 + Foundation.cos(Double.pi * progress)) / 2
  }
}

/// A linear ramp from `startFactor` × the following schedule's rate up to its full rate over
/// `warmupSteps`, then the following schedule, counted from the end of the warm-up.
public struct LinearWarmup<Following: LearningRateSchedule>: LearningRateSchedule {
  public let warmupSteps: Int
  public let startFactor: Double
  public let following: Following

  public init(warmupSteps: Int, startFactor: Double = 0.1, then following: Following) {
    self.warmupSteps = max(warmupSteps, 0)
    self.startFactor = startFactor
    self.following = following
  }

  public func learningRate(at step: Int) -> Double {
    guard step < warmupSteps else { return following.learningRate(at: step - warmupSteps) }
    let factor = startFactor + (1 - startFactor) * Double(step) / Double(warmupSteps)
    return following.learningRate(at: 0) * factor
  }
}

/// The same rate at every step.
public struct ConstantRate: LearningRateSchedule {
  public let rate: Double
  public init(_ rate: Double) { self.rate = rate }
  public func learningRate(at step: Int) -> Double { rate }
}

/// A type-erased schedule, so that schedules can be chosen at run time.
public struct AnySchedule: LearningRateSchedule {
  let rate: @Sendable (Int) -> Double
  public init(_ schedule: any LearningRateSchedule) { rate = { schedule.learningRate(at: $0) } }
  public func learningRate(at step: Int) -> Double { rate(step) }
}
