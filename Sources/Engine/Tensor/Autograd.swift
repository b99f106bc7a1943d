import CTorch

extension Tensor {
  /// Whether operations on this tensor are recorded for differentiation.
  public var requiresGrad: Bool { ct_requires_grad(handle) != 0 }

  /// Whether this tensor was made by the user rather than by a recorded operation.
  public var isLeaf: Bool { ct_is_leaf(handle) != 0 }

  public func setRequiresGrad(_ requiresGrad: Bool) throws {
    try check(ct_set_requires_grad(handle, requiresGrad ? 1 : 0))
  }

  /// This tensor, marked to record operations (chainable: `try Tensor.randn([3]).requiringGrad()`).
  @discardableResult
  public func requiringGrad() throws -> Tensor {
    try setRequiresGrad(true)
    return self
  }

  /// Computes the gradients of this tensor with respect to every leaf that requires them and adds
  /// them to those leaves' `grad`. Without `gradient`, the tensor must hold one element.
  public func backward(gradient: Tensor? = nil, retainGraph: Bool = false) throws {
    try check(ct_backward(handle, gradient?.handle, retainGraph ? 1 : 0, 0))
  }

  /// The accumulated gradient, or nil before the first backward pass (or after `clearGrad`).
  public var grad: Tensor? {
    var out: OpaquePointer?
    guard ct_grad(&out, handle) == 0, let out else { return nil }
    return Tensor(adopting: out)
  }

  /// Drops the accumulated gradient (PyTorch's `zero_grad(set_to_none=True)`).
  public func clearGrad() throws { try check(ct_clear_grad(handle)) }

  /// Keeps the gradient of a non-leaf tensor (an activation) after backward, for Grad-CAM.
  public func retainGrad() throws { try check(ct_retain_grad(handle)) }

  /// The same values, cut from the autograd graph.
  public func detached() throws -> Tensor { try unary(ct_detach) }

  /// Replaces this tensor's values and layout, keeping its identity: modules and optimizers that
  /// hold it see the new data (PyTorch's `param.data = new`).
  public func setData(_ data: Tensor) throws { try check(ct_set_data(handle, data.handle)) }

  /// Gradients of `outputs` with respect to `inputs` without touching any `grad` (torch.autograd.grad).
  /// An input that the outputs do not depend on gets nil.
  public static func gradients(
    of outputs: [Tensor], withRespectTo inputs: [Tensor], outputGradients: [Tensor]? = nil,
    retainGraph: Bool = false, createGraph: Bool = false
  ) throws -> [Tensor?] {
    var results = [OpaquePointer?](repeating: nil, count: inputs.count)
    let outputHandles: [OpaquePointer?] = outputs.map { $0.handle }
    let inputHandles: [OpaquePointer?] = inputs.map { $0.handle }
    let gradientHandles: [OpaquePointer?]? = outputGradients?.map { $0.handle }
    try withExtendedLifetime((outputs, inputs, outputGradients)) {
      try check(
        ct_autograd_grad(
          &results, outputHandles, gradientHandles, Int32(outputs.count), inputHandles, Int32(inputs.count),
          retainGraph ? 1 : 0, createGraph ? 1 : 0))
    }
    return results.map { $0.map(Tensor.init(adopting:)) }
  }
}

/// Whether operations are being recorded for autograd on this thread.
public var isGradEnabled: Bool { ct_is_grad_enabled() != 0 }

/// Runs `body` without recording operations for autograd (torch.no_grad): for evaluation and for
/// in-place parameter updates. Restores the previous setting afterwards, also when `body` throws.
public func noGrad<Result>(_ body: () throws -> Result) rethrows -> Result {
  let previous = ct_is_grad_enabled()
  ct_set_grad_enabled(0)
  defer { ct_set_grad_enabled(previous) }
  return try body()
}

/// Runs `body` with operation recording switched on, even inside `noGrad`.
public func withGrad<Result>(_ body: () throws -> Result) rethrows -> Result {
  let previous = ct_is_grad_enabled()
  ct_set_grad_enabled(1)
  defer { ct_set_grad_enabled(previous) }
  return try body()
}
