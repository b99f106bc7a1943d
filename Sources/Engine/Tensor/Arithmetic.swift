import CTorch

// Element-wise arithmetic and comparisons. Two tensors broadcast as in PyTorch; a Swift number on
// either side acts as a scalar of the tensor's type.

extension Tensor {
  @inline(__always)
  func unary(_ call: (UnsafeMutablePointer<OpaquePointer?>, OpaquePointer) -> Int32) throws -> Tensor {
    try Tensor.make { call($0, handle) }
  }

  @inline(__always)
  func binary(
    _ other: Tensor, _ call: (UnsafeMutablePointer<OpaquePointer?>, OpaquePointer, OpaquePointer) -> Int32
  ) throws -> Tensor {
    try Tensor.make { call($0, handle, other.handle) }
  }

  @inline(__always)
  func withScalar(
    _ value: Double, _ call: (UnsafeMutablePointer<OpaquePointer?>, OpaquePointer, Double) -> Int32
  ) throws -> Tensor {
    try Tensor.make { call($0, handle, value) }
  }

  // MARK: One operand

  public func exp() throws -> Tensor { try unary(ct_exp) }
  public func log() throws -> Tensor { try unary(ct_log) }
  public func sqrt() throws -> Tensor { try unary(ct_sqrt) }
  public func rsqrt() throws -> Tensor { try unary(ct_rsqrt) }
  public func abs() throws -> Tensor { try unary(ct_abs) }
  public func sign() throws -> Tensor { try unary(ct_sign) }
  public func relu() throws -> Tensor { try unary(ct_relu) }
  public func sigmoid() throws -> Tensor { try unary(ct_sigmoid) }
  public func tanh() throws -> Tensor { try unary(ct_tanh) }
  public func floor() throws -> Tensor { try unary(ct_floor) }
  public func logicalNot() throws -> Tensor { try unary(ct_logical_not) }
  /// True where the element is neither infinite nor NaN.
  public func isFinite() throws -> Tensor { try unary(ct_isfinite) }
  public func pow(_ exponent: Double) throws -> Tensor { try withScalar(exponent, ct_pow_scalar) }
  public func pow(_ exponent: Tensor) throws -> Tensor { try binary(exponent, ct_pow) }
  public func squared() throws -> Tensor { try binary(self, ct_mul) }

  public func clamped(min: Double, max: Double) throws -> Tensor {
    try Tensor.make { ct_clamp($0, handle, min, max) }
  }

  public func clamped(min: Double) throws -> Tensor { try withScalar(min, ct_clamp_min) }

  public func maximum(_ other: Tensor) throws -> Tensor { try binary(other, ct_maximum) }
  public func minimum(_ other: Tensor) throws -> Tensor { try binary(other, ct_minimum) }

  /// Matrix product with PyTorch's broadcasting rules (vector, matrix and batched cases).
  public func matmul(_ other: Tensor) throws -> Tensor { try binary(other, ct_matmul) }

  // MARK: Comparisons (bool results)

  public func equal(_ other: Tensor) throws -> Tensor { try binary(other, ct_eq) }
  public func notEqual(_ other: Tensor) throws -> Tensor { try binary(other, ct_ne) }
  public func less(_ other: Tensor) throws -> Tensor { try binary(other, ct_lt) }
  public func lessOrEqual(_ other: Tensor) throws -> Tensor { try binary(other, ct_le) }
  public func greater(_ other: Tensor) throws -> Tensor { try binary(other, ct_gt) }
  public func greaterOrEqual(_ other: Tensor) throws -> Tensor { try binary(other, ct_ge) }
  public func equal(_ value: Double) throws -> Tensor { try withScalar(value, ct_eq_scalar) }
  public func less(_ value: Double) throws -> Tensor { try withScalar(value, ct_lt_scalar) }
  public func greater(_ value: Double) throws -> Tensor { try withScalar(value, ct_gt_scalar) }
  public func logicalAnd(_ other: Tensor) throws -> Tensor { try binary(other, ct_logical_and) }
  public func logicalOr(_ other: Tensor) throws -> Tensor { try binary(other, ct_logical_or) }

  /// `self` with `value` written where `mask` is true.
  public func filled(where mask: Tensor, with value: Double) throws -> Tensor {
    try Tensor.make { ct_masked_fill($0, handle, mask.handle, value) }
  }

  /// Picks elements of `a` where `condition` holds and of `b` elsewhere (torch.where).
  public static func choosing(where condition: Tensor, _ a: Tensor, otherwise b: Tensor) throws -> Tensor {
    try Tensor.make { ct_where($0, condition.handle, a.handle, b.handle) }
  }

  // MARK: Operators

  public static prefix func - (operand: Tensor) throws -> Tensor { try operand.unary(ct_neg) }
  public static func + (lhs: Tensor, rhs: Tensor) throws -> Tensor { try lhs.binary(rhs, ct_add) }
  public static func - (lhs: Tensor, rhs: Tensor) throws -> Tensor { try lhs.binary(rhs, ct_sub) }
  public static func * (lhs: Tensor, rhs: Tensor) throws -> Tensor { try lhs.binary(rhs, ct_mul) }
  public static func / (lhs: Tensor, rhs: Tensor) throws -> Tensor { try lhs.binary(rhs, ct_div) }

  public static func + (lhs: Tensor, rhs: Double) throws -> Tensor { try lhs.withScalar(rhs, ct_add_scalar) }
  public static func - (lhs: Tensor, rhs: Double) throws -> Tensor { try lhs.withScalar(-rhs, ct_add_scalar) }
  public static func * (lhs: Tensor, rhs: Double) throws -> Tensor { try lhs.withScalar(rhs, ct_mul_scalar) }
  public static func / (lhs: Tensor, rhs: Double) throws -> Tensor { try lhs.withScalar(rhs, ct_div_scalar) }
  public static func + (lhs: Double, rhs: Tensor) throws -> Tensor { try rhs + lhs }
  public static func * (lhs: Double, rhs: Tensor) throws -> Tensor { try rhs * lhs }
  public static func - (lhs: Double, rhs: Tensor) throws -> Tensor { try (-rhs).withScalar(lhs, ct_add_scalar) }

  // MARK: In place
  //
  // These change the tensor's values without creating a new one. They are for optimizers and
  // weight loading, under `noGrad`; autograd rejects them on leaves that require gradients.

  /// self += alpha * other
  public func add_(_ other: Tensor, alpha: Double = 1) throws { try check(ct_add_(handle, other.handle, alpha)) }
  public func add_(_ value: Double) throws { try check(ct_add_scalar_(handle, value)) }
  /// Replaces negative values by zero in place. Allowed on activations inside autograd (not on
  /// leaves); saves a full-size allocation per call, as torchvision's ReLU(inplace=True) does.
  public func relu_() throws { try check(ct_relu_(handle)) }
  public func mul_(_ other: Tensor) throws { try check(ct_mul_(handle, other.handle)) }
  public func mul_(_ value: Double) throws { try check(ct_mul_scalar_(handle, value)) }
  public func div_(_ other: Tensor) throws { try check(ct_div_(handle, other.handle)) }
  /// self += value * a * b
  public func addcmul_(_ a: Tensor, _ b: Tensor, value: Double = 1) throws {
    try check(ct_addcmul_(handle, a.handle, b.handle, value))
  }
  /// self += value * a / b
  public func addcdiv_(_ a: Tensor, _ b: Tensor, value: Double = 1) throws {
    try check(ct_addcdiv_(handle, a.handle, b.handle, value))
  }
  /// self += weight * (end - self)
  public func lerp_(_ end: Tensor, weight: Double) throws { try check(ct_lerp_(handle, end.handle, weight)) }
  public func copy_(_ source: Tensor) throws { try check(ct_copy_(handle, source.handle)) }
  public func zero_() throws { try check(ct_zero_(handle)) }
  public func fill_(_ value: Double) throws { try check(ct_fill_(handle, value)) }
  public func normal_(mean: Double = 0, std: Double = 1) throws { try check(ct_normal_(handle, mean, std)) }
  public func uniform_(from: Double = 0, to: Double = 1) throws { try check(ct_uniform_(handle, from, to)) }
}
