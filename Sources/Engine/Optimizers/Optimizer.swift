/// Updates parameters from their gradients. Updates run under `noGrad`, in place, so modules keep
/// seeing the same tensors.
public protocol Optimizer: AnyObject {
  /// The parameters being optimised, in a fixed order (the order of the state's names).
  var parameters: [Tensor] { get }

  /// The step size of the next update; schedules set it before each step.
  var learningRate: Double { get set }

  /// Applies one update from the current gradients. Parameters without a gradient are skipped.
  func step() throws

  /// The optimizer's state (moment estimates, step counts) as named tensors, for exact resume.
  func stateDict() throws -> [String: Tensor]

  /// Restores a state written by `stateDict()`; throws when it does not fit these parameters.
  func loadStateDict(_ state: [String: Tensor]) throws
}

extension Optimizer {
  /// Drops every parameter's gradient before the next backward pass.
  public func clearGradients() throws {
    for parameter in parameters { try parameter.clearGrad() }
  }
}

/// Reads a per-parameter state tensor, checking that it matches its parameter.
func stateTensor(_ state: [String: Tensor], _ key: String, like parameter: Tensor) throws -> Tensor? {
  guard let tensor = state[key] else { return nil }
  guard tensor.shape == parameter.shape else {
    throw TorchError("optimizer state \(key) has shape \(tensor.shape), its parameter \(parameter.shape)")
  }
  return try tensor.to(parameter.dtype).to(parameter.device)
}
