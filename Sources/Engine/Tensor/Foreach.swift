import CTorch

/// Multi-tensor ("foreach") operations: one call over a whole list of tensors, as PyTorch's optimizers
/// use them. On a GPU each is a few kernels for all the parameters rather than one or more per
/// parameter, which is most of an optimizer step's cost for a model of many small tensors. Lists must
/// have the same length; in-place operations end in `_`, as elsewhere.
extension Tensor {
  public static func foreachMul_(_ tensors: [Tensor], _ value: Double) throws {
    try withHandles(tensors) { ct_foreach_mul_scalar_($0, $1, value) }
  }

  public static func foreachAdd_(_ tensors: [Tensor], _ value: Double) throws {
    try withHandles(tensors) { ct_foreach_add_scalar_($0, $1, value) }
  }

  public static func foreachDiv_(_ tensors: [Tensor], _ value: Double) throws {
    try withHandles(tensors) { ct_foreach_div_scalar_($0, $1, value) }
  }

  /// tensors[i] += alpha × others[i].
  public static func foreachAdd_(_ tensors: [Tensor], _ others: [Tensor], alpha: Double = 1) throws {
    try withHandles(tensors, others) { ct_foreach_add_list_($0, $1, $2, alpha) }
  }

  /// tensors[i] + alpha × others[i], as new tensors.
  public static func foreachAdd(_ tensors: [Tensor], _ others: [Tensor], alpha: Double = 1) throws -> [Tensor] {
    try makeList(count: tensors.count) { outs in
      try withHandles(tensors, others) { ct_foreach_add_list(outs, $0, $1, $2, alpha) }
    }
  }

  /// tensors[i] += weight × (ends[i] − tensors[i]).
  public static func foreachLerp_(_ tensors: [Tensor], _ ends: [Tensor], weight: Double) throws {
    try withHandles(tensors, ends) { ct_foreach_lerp_scalar_($0, $1, $2, weight) }
  }

  /// tensors[i] += value × first[i] × second[i].
  public static func foreachAddcmul_(_ tensors: [Tensor], _ first: [Tensor], _ second: [Tensor], value: Double) throws {
    try withHandles(tensors, first, second) { ct_foreach_addcmul_scalar_($0, $1, $2, $3, value) }
  }

  /// tensors[i] += value × numerators[i] / denominators[i].
  public static func foreachAddcdiv_(
    _ tensors: [Tensor], _ numerators: [Tensor], _ denominators: [Tensor], value: Double
  ) throws {
    try withHandles(tensors, numerators, denominators) { ct_foreach_addcdiv_scalar_($0, $1, $2, $3, value) }
  }

  /// √tensors[i], as new tensors.
  public static func foreachSqrt(_ tensors: [Tensor]) throws -> [Tensor] {
    try makeList(count: tensors.count) { outs in try withHandles(tensors) { ct_foreach_sqrt(outs, $0, $1) } }
  }

  // MARK: Handles

  private typealias Handles = UnsafePointer<OpaquePointer?>?

  private static func withHandles(_ tensors: [Tensor], _ call: (Handles, Int32) -> Int32) throws {
    let handles: [OpaquePointer?] = tensors.map { $0.handle }
    try withExtendedLifetime(tensors) {
      try handles.withUnsafeBufferPointer { try check(call($0.baseAddress, Int32($0.count))) }
    }
  }

  private static func withHandles(
    _ first: [Tensor], _ second: [Tensor], _ call: (Handles, Handles, Int32) -> Int32
  ) throws {
    guard first.count == second.count else {
      throw TorchError("foreach: lists of \(first.count) and \(second.count) tensors")
    }
    let a: [OpaquePointer?] = first.map { $0.handle }
    let b: [OpaquePointer?] = second.map { $0.handle }
    try withExtendedLifetime((first, second)) {
      try a.withUnsafeBufferPointer { a in
        try b.withUnsafeBufferPointer { b in try check(call(a.baseAddress, b.baseAddress, Int32(a.count))) }
      }
    }
  }

  private static func withHandles(
    _ first: [Tensor], _ second: [Tensor], _ third: [Tensor], _ call: (Handles, Handles, Handles, Int32) -> Int32
  ) throws {
    guard first.count == second.count, first.count == third.count else {
      throw TorchError("foreach: lists of \(first.count), \(second.count) and \(third.count) tensors")
    }
    let c: [OpaquePointer?] = third.map { $0.handle }
    try withExtendedLifetime(third) {
      try c.withUnsafeBufferPointer { c in
        try withHandles(first, second) { a, b, count in call(a, b, c.baseAddress, count) }
      }
    }
  }

  /// Runs a call that writes `count` new tensors.
  private static func makeList(
    count: Int, _ call: (UnsafeMutablePointer<OpaquePointer?>) throws -> Void
  ) throws -> [Tensor] {
    var outs = [OpaquePointer?](repeating: nil, count: count)
    try outs.withUnsafeMutableBufferPointer { buffer in
      guard let base = buffer.baseAddress else { return }
      try call(base)
    }
    return try outs.map { handle in
      guard let handle else { throw TorchError("libtorch returned no tensor") }
      return Tensor(adopting: handle)
    }
  }
}
