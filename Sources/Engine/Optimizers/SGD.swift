/// Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay, with
/// torch.optim.SGD's update rule:
///
///     g ← ∇ + λθ;   b ← μb + (1 − dampening)g (b = g at the first step);
///     g ← g + μb (Nesterov) or g ← b;   θ ← θ − ηg
public final class SGD: Optimizer {
  public let parameters: [Tensor]
  public var learningRate: Double
  public let momentum: Double
  public let dampening: Double
  public let weightDecay: Double
  public let nesterov: Bool
  private var momentumBuffers: [Tensor?]

  public init(
    parameters: [Tensor], learningRate: Double, momentum: Double = 0, dampening: Double = 0,
    weightDecay: Double = 0, nesterov: Bool = false
  ) throws {
    guard !nesterov || (momentum > 0 && dampening == 0) else {
      throw TorchError("SGD: Nesterov momentum needs momentum > 0 and no dampening")
    }
    self.parameters = parameters
    self.learningRate = learningRate
    self.momentum = momentum
    self.dampening = dampening
    self.weightDecay = weightDecay
    self.nesterov = nesterov
    momentumBuffers = Array(repeating: nil, count: parameters.count)
  }

  /// One update of every parameter that has a gradient, with multi-tensor operations (PyTorch's
  /// default `foreach` implementation): the same arithmetic as one parameter at a time, in a few calls.
  public func step() throws {
    try noGrad {
      var updated: [Int] = []
      var weights: [Tensor] = []
      var gradients: [Tensor] = []
      for (index, parameter) in parameters.enumerated() {
        guard let gradient = parameter.grad else { continue }
        updated.append(index)
        weights.append(parameter)
        gradients.append(gradient)
      }
      guard !updated.isEmpty else { return }
      if weightDecay != 0 {
        gradients = try Tensor.foreachAdd(gradients, weights, alpha: weightDecay)
      }
      if momentum != 0 {
        // b ← μb + (1 − dampening)g for the buffers that exist; b = g at a parameter's first step.
        var existing: [Tensor] = []
        var existingGradients: [Tensor] = []
        var buffers: [Tensor] = []
        for (position, index) in updated.enumerated() {
          if let buffer = momentumBuffers[index] {
            existing.append(buffer)
            existingGradients.append(gradients[position])
            buffers.append(buffer)
          } else {
            let buffer = try gradients[position].detached().clone()
            momentumBuffers[index] = buffer
            buffers.append(buffer)
          }
        }
        if !existing.isEmpty {
          try Tensor.foreachMul_(existing, momentum)
          try Tensor.foreachAdd_(existing, existingGradients, alpha: 1 - dampening)
        }
        gradients = nesterov ? try Tensor.foreachAdd(gradients, buffers, alpha: momentum) : buffers
      }
      try Tensor.foreachAdd_(weights, gradients, alpha: -learningRate)
    }
  }

  public func stateDict() throws -> [String: Tensor] {
    var state: [String: Tensor] = [:]
    for (index, buffer) in momentumBuffers.enumerated() {
      if let buffer { state["\(index).momentum_buffer"] = buffer }
    }
    return state
  }

  public func loadStateDict(_ state: [String: Tensor]) throws {
    momentumBuffers = try parameters.enumerated().map { index, parameter in
      try stateTensor(state, "\(index).momentum_buffer", like: parameter)
    }
  }
}
