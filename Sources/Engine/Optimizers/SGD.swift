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

  public func step() throws {
    try noGrad {
      for (index, parameter) in parameters.enumerated() {
        guard var gradient = parameter.grad else { continue }
        if weightDecay != 0 {
          gradient = try gradient.clone()
          try gradient.add_(parameter, alpha: weightDecay)
        }
        if momentum != 0 {
          let buffer: Tensor
          if let existing = momentumBuffers[index] {
            buffer = existing
            try buffer.mul_(momentum)
            try buffer.add_(gradient, alpha: 1 - dampening)
          } else {
            buffer = try gradient.detached().clone()
            momentumBuffers[index] = buffer
          }
          if nesterov {
            gradient = try gradient + buffer * momentum
          } else {
            gradient = buffer
          }
        }
        try parameter.add_(gradient, alpha: -learningRate)
      }
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
