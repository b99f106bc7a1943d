import Foundation

/// Adam (Kingma and Ba 2015) and AdamW (Loshchilov and Hutter 2019), with torch.optim's update rules.
///
///     Adam:  g ← ∇ + λθ (L2 decay folded into the gradient)
///     AdamW: θ ← θ(1 − ηλ) (decoupled decay)
///     m ← β₁m + (1 − β₁)g;  v ← β₂v + (1 − β₂)g²
///     θ ← θ − η/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
public final class Adam: Optimizer {
  public let parameters: [Tensor]
  public var learningRate: Double
  public let beta1: Double
  public let beta2: Double
  public let epsilon: Double
  public let weightDecay: Double
  /// Whether weight decay is decoupled from the gradient (AdamW).
  public let decoupledWeightDecay: Bool
  private var steps: [Int]
  private var firstMoments: [Tensor?]
  private var secondMoments: [Tensor?]

  public init(
    parameters: [Tensor], learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999,
    epsilon: Double = 1e-8, weightDecay: Double = 0, decoupledWeightDecay: Bool = false
  ) {
    self.parameters = parameters
    self.learningRate = learningRate
    self.beta1 = beta1
    self.beta2 = beta2
    self.epsilon = epsilon
    self.weightDecay = weightDecay
    self.decoupledWeightDecay = decoupledWeightDecay
    steps = Array(repeating: 0, count: parameters.count)
    firstMoments = Array(repeating: nil, count: parameters.count)
    secondMoments = Array(repeating: nil, count: parameters.count)
  }

  /// AdamW: Adam with decoupled weight decay (PyTorch's default decay for AdamW is 0.01).
  public static func adamW(
    parameters: [Tensor], learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999,
    epsilon: Double = 1e-8, weightDecay: Double = 0.01
  ) -> Adam {
    Adam(
      parameters: parameters, learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon,
      weightDecay: weightDecay, decoupledWeightDecay: true)
  }

  /// One update of every parameter that has a gradient, with multi-tensor operations (PyTorch's
  /// default `foreach` implementation), one group per step count (normally a single group: a
  /// parameter only falls behind when it had no gradient at some step).
  public func step() throws {
    try noGrad {
      var groups: [Int: [(index: Int, parameter: Tensor, gradient: Tensor)]] = [:]
      for (index, parameter) in parameters.enumerated() {
        guard let gradient = parameter.grad else { continue }
        steps[index] += 1
        if firstMoments[index] == nil {
          firstMoments[index] = try Tensor.zeros(parameter.shape, dtype: parameter.dtype, device: parameter.device)
          secondMoments[index] = try Tensor.zeros(parameter.shape, dtype: parameter.dtype, device: parameter.device)
        }
        groups[steps[index], default: []].append((index, parameter, gradient))
      }
      for (step, members) in groups.sorted(by: { $0.key < $1.key }) {
        let weights = members.map(\.parameter)
        var gradients = members.map(\.gradient)
        let m = members.map { firstMoments[$0.index]! }
        let v = members.map { secondMoments[$0.index]! }
        if weightDecay != 0 {
          if decoupledWeightDecay {
            try Tensor.foreachMul_(weights, 1 - learningRate * weightDecay)
          } else {
            gradients = try Tensor.foreachAdd(gradients, weights, alpha: weightDecay)
          }
        }
        try Tensor.foreachLerp_(m, gradients, weight: 1 - beta1)
        try Tensor.foreachMul_(v, beta2)
        try Tensor.foreachAddcmul_(v, gradients, gradients, value: 1 - beta2)
        let t = Double(step)
        let biasCorrection1 = 1 - Foundation.pow(beta1, t)
        let biasCorrection2 = 1 - Foundation.pow(beta2, t)
        let denominators = try Tensor.foreachSqrt(v)
        try Tensor.foreachDiv_(denominators, Foundation.sqrt(biasCorrection2))
        try Tensor.foreachAdd_(denominators, epsilon)
        try Tensor.foreachAddcdiv_(weights, m, denominators, value: -learningRate / biasCorrection1)
      }
    }
  }

  public func stateDict() throws -> [String: Tensor] {
    var state: [String: Tensor] = [:]
    for index in parameters.indices {
      guard let m = firstMoments[index], let v = secondMoments[index] else { continue }
      state["\(index).step"] = try Tensor([Int64(steps[index])], shape: [])
      state["\(index).exp_avg"] = m
      state["\(index).exp_avg_sq"] = v
    }
    return state
  }

  public func loadStateDict(_ state: [String: Tensor]) throws {
    for (index, parameter) in parameters.enumerated() {
      firstMoments[index] = try stateTensor(state, "\(index).exp_avg", like: parameter)
      secondMoments[index] = try stateTensor(state, "\(index).exp_avg_sq", like: parameter)
      steps[index] = try state["\(index).step"]?.itemInt() ?? 0
    }
  }
}
