import Foundation
import Testing

@testable import Engine

/// One parameter θ = [1, -2] whose loss is Σ θ²/2·k, so its gradient is k·θ: simple enough to
/// follow each optimizer's update by hand.
private func parameterWithGradient(_ values: [Double], gradient: [Double]) throws -> Tensor {
  let parameter = try Tensor(values).requiringGrad()
  try (parameter * Tensor(gradient)).sum().backward()
  return parameter
}

private func close(_ a: [Double], _ b: [Double], tolerance: Double = 1e-9) -> Bool {
  a.count == b.count && zip(a, b).allSatisfy { Swift.abs($0 - $1) <= tolerance }
}

@Suite struct OptimizerTests {
  @Test func sgdWithMomentumAndWeightDecayFollowsTorchsRule() throws {
    let theta = try parameterWithGradient([1, -2], gradient: [0.5, 0.25])
    let sgd = try SGD(parameters: [theta], learningRate: 0.1, momentum: 0.9, weightDecay: 0.01)
    try sgd.step()
    // g = ∇ + 0.01θ = [0.51, 0.23]; b = g; θ = θ − 0.1b
    var expected = [1 - 0.1 * 0.51, -2 - 0.1 * 0.23]
    #expect(close(try theta.toArray(Double.self), expected))
    try sgd.step()  // same ∇, new θ: b = 0.9b + g
    let g2 = [0.5 + 0.01 * expected[0], 0.25 + 0.01 * expected[1]]
    let b2 = [0.9 * 0.51 + g2[0], 0.9 * 0.23 + g2[1]]
    expected = [expected[0] - 0.1 * b2[0], expected[1] - 0.1 * b2[1]]
    #expect(close(try theta.toArray(Double.self), expected))
  }

  @Test func sgdNesterovLooksAhead() throws {
    let theta = try parameterWithGradient([1], gradient: [2])
    let sgd = try SGD(parameters: [theta], learningRate: 0.1, momentum: 0.5, nesterov: true)
    try sgd.step()
    // b = g = 2; g ← g + μb = 3; θ = 1 − 0.3
    #expect(close(try theta.toArray(Double.self), [0.7]))
    #expect(throws: TorchError.self) { try SGD(parameters: [theta], learningRate: 0.1, nesterov: true) }
  }

  @Test func adamFollowsTheBiasCorrectedRule() throws {
    let theta = try parameterWithGradient([1, -2], gradient: [0.5, -0.1])
    let adam = Adam(parameters: [theta], learningRate: 0.01)
    try adam.step()
    try adam.step()
    // Two steps with the same gradient g: m̂ = g, v̂ = g², so each step moves by lr·g/(|g| + ε').
    func expectedAfterTwoSteps(_ value: Double, _ g: Double) -> Double {
      var x = value
      var m = 0.0
      var v = 0.0
      for t in 1...2 {
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        let denominator = (v.squareRoot() / (1 - pow(0.999, Double(t))).squareRoot()) + 1e-8
        x -= 0.01 / (1 - pow(0.9, Double(t))) * m / denominator
      }
      return x
    }
    #expect(close(try theta.toArray(Double.self), [expectedAfterTwoSteps(1, 0.5), expectedAfterTwoSteps(-2, -0.1)]))
  }

  @Test func adamWDecaysWeightsApartFromTheGradient() throws {
    let theta = try parameterWithGradient([2], gradient: [0])
    let adamW = Adam.adamW(parameters: [theta], learningRate: 0.1, weightDecay: 0.5)
    try adamW.step()
    // Zero gradient: only the decay acts, θ ← θ(1 − ηλ) = 2 · 0.95.
    #expect(close(try theta.toArray(Double.self), [1.9]))
    let adam = Adam(parameters: [try parameterWithGradient([2], gradient: [0])], learningRate: 0.1, weightDecay: 0.5)
    try adam.step()
    // Adam folds decay into the gradient: g = λθ = 1, first step moves by lr.
    #expect(close(try adam.parameters[0].toArray(Double.self), [1.9], tolerance: 1e-6))
  }

  /// The multi-tensor step treats each parameter as the one-at-a-time rule does, also when one of
  /// them had no gradient at some step (it then has its own step count, and its own group).
  @Test func adamWithParametersAtDifferentStepsUpdatesEachByItsOwnCount() throws {
    let first = try Tensor([1.0, -2]).requiringGrad()
    let second = try Tensor([3.0]).requiringGrad()
    let adam = Adam(parameters: [first, second], learningRate: 0.01)
    try (first * Tensor([0.5, -0.1])).sum().backward()  // step 1: only `first` has a gradient
    try adam.step()
    try adam.clearGradients()
    try ((first * Tensor([0.5, -0.1])).sum() + (second * Tensor([0.2])).sum()).backward()
    try adam.step()  // `first` at its step 2, `second` at its step 1
    func adamSteps(_ value: Double, _ g: Double, count: Int) -> Double {
      var (x, m, v) = (value, 0.0, 0.0)
      for t in 1...count {
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        x -= 0.01 / (1 - pow(0.9, Double(t))) * m / ((v / (1 - pow(0.999, Double(t)))).squareRoot() + 1e-8)
      }
      return x
    }
    #expect(close(try first.toArray(Double.self), [adamSteps(1, 0.5, count: 2), adamSteps(-2, -0.1, count: 2)]))
    #expect(close(try second.toArray(Double.self), [adamSteps(3, 0.2, count: 1)]))
    #expect(try #require(try adam.stateDict()["1.step"]).itemInt() == 1)
  }

  @Test func sgdSkipsParametersWithoutGradientAndStartsTheirMomentumLater() throws {
    let first = try Tensor([1.0]).requiringGrad()
    let second = try Tensor([1.0]).requiringGrad()
    let sgd = try SGD(parameters: [first, second], learningRate: 0.1, momentum: 0.9)
    try (first * Tensor([1.0])).sum().backward()
    try sgd.step()  // first: b = 1, θ = 0.9; second untouched
    try sgd.clearGradients()
    try ((first + second) * Tensor([1.0])).sum().backward()
    try sgd.step()  // first: b = 0.9 + 1 = 1.9, θ = 0.71; second: b = 1, θ = 0.9
    #expect(close(try first.toArray(Double.self), [0.71]))
    #expect(close(try second.toArray(Double.self), [0.9]))
  }

  @Test func optimizerStateRoundTrips() throws {
    let theta = try parameterWithGradient([1, 2], gradient: [0.3, 0.4])
    let adam = Adam(parameters: [theta], learningRate: 0.01)
    try adam.step()
    let state = try adam.stateDict()
    #expect(Set(state.keys) == ["0.step", "0.exp_avg", "0.exp_avg_sq"])
    let twin = Adam(parameters: [try theta.detached().clone().requiringGrad()], learningRate: 0.01)
    try twin.loadStateDict(state)
    let restored = try twin.stateDict()
    #expect(
      try #require(restored["0.exp_avg"]).toArray(Double.self) == #require(state["0.exp_avg"]).toArray(Double.self))
    #expect(try #require(restored["0.step"]).itemInt() == 1)
  }

  @Test func schedules() {
    let step = StepDecay(baseRate: 1, stepSize: 10, gamma: 0.5)
    #expect(step.learningRate(at: 0) == 1)
    #expect(step.learningRate(at: 9) == 1)
    #expect(step.learningRate(at: 10) == 0.5)
    #expect(step.learningRate(at: 25) == 0.25)
    let cosine = CosineDecay(baseRate: 1, totalSteps: 100, minimumRate: 0.1)
    #expect(cosine.learningRate(at: 0) == 1)
    #expect(Swift.abs(cosine.learningRate(at: 50) - 0.55) < 1e-12)
    #expect(Swift.abs(cosine.learningRate(at: 100) - 0.1) < 1e-12)
    #expect(Swift.abs(cosine.learningRate(at: 200) - 0.1) < 1e-12)
    let warm = LinearWarmup(warmupSteps: 4, startFactor: 0, then: ConstantRate(0.8))
    #expect(close([0, 1, 2, 3, 4, 10].map(warm.learningRate(at:)), [0, 0.2, 0.4, 0.6, 0.8, 0.8], tolerance: 1e-12))
  }
}
