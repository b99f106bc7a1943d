import CTorch

/// Calls `body` with `values` as a C array of int64 and its count.
@inline(__always)
func withInt64s<Result>(
  _ values: [Int], _ body: (UnsafePointer<Int64>?, Int32) throws -> Result
) rethrows -> Result {
  let converted = values.map(Int64.init)
  return try converted.withUnsafeBufferPointer { try body($0.baseAddress, Int32($0.count)) }
}

/// One entry of a subscript: `t[0]`, `t[.all, 1..<3]`, `t[.newAxis]`.
public enum TensorIndex: ExpressibleByIntegerLiteral, Sendable {
  /// One position; the dimension disappears. Negative values count from the end.
  case at(Int)
  /// A half-open range of positions, with an optional step; the dimension stays.
  case range(Range<Int>, step: Int = 1)
  /// The whole dimension.
  case all
  /// A new dimension of size 1.
  case newAxis

  public init(integerLiteral value: Int) { self = .at(value) }
}

extension Tensor {
  public func reshaped(_ shape: [Int]) throws -> Tensor {
    try withInt64s(shape) { dims, count in try Tensor.make { ct_reshape($0, handle, dims, count) } }
  }

  /// The same elements with their dimensions reordered: `permuted([0, 2, 3, 1])` turns NCHW to NHWC.
  public func permuted(_ order: [Int]) throws -> Tensor {
    try withInt64s(order) { dims, count in try Tensor.make { ct_permute($0, handle, dims, count) } }
  }

  public func transposed(_ dim0: Int = -2, _ dim1: Int = -1) throws -> Tensor {
    try Tensor.make { ct_transpose($0, handle, Int64(dim0), Int64(dim1)) }
  }

  /// A view with size-1 dimensions repeated to `shape`, without copying.
  public func expanded(to shape: [Int]) throws -> Tensor {
    try withInt64s(shape) { dims, count in try Tensor.make { ct_expand($0, handle, dims, count) } }
  }

  public func squeezed(dim: Int) throws -> Tensor { try Tensor.make { ct_squeeze($0, handle, Int64(dim)) } }
  public func unsqueezed(dim: Int) throws -> Tensor { try Tensor.make { ct_unsqueeze($0, handle, Int64(dim)) } }

  public func flattened(from start: Int = 0, through end: Int = -1) throws -> Tensor {
    try Tensor.make { ct_flatten($0, handle, Int64(start), Int64(end)) }
  }

  /// Positions `range` (with `step`) of dimension `dim`, as a view.
  public func slice(dim: Int, _ range: Range<Int>, step: Int = 1) throws -> Tensor {
    try Tensor.make {
      ct_slice($0, handle, Int64(dim), Int64(range.lowerBound), Int64(range.upperBound), Int64(step))
    }
  }

  /// Position `index` of dimension `dim`; the dimension disappears.
  public func select(dim: Int, index: Int) throws -> Tensor {
    try Tensor.make { ct_select($0, handle, Int64(dim), Int64(index)) }
  }

  /// The positions listed in `indices` (int64) along `dim`.
  public func indexSelect(dim: Int, indices: Tensor) throws -> Tensor {
    try Tensor.make { ct_index_select($0, handle, Int64(dim), indices.handle) }
  }

  /// out[i][j] = self[i][indices[i][j]] for dim 1 (torch.gather).
  public func gather(dim: Int, indices: Tensor) throws -> Tensor {
    try Tensor.make { ct_gather($0, handle, Int64(dim), indices.handle) }
  }

  /// A view of this tensor's storage with explicit sizes, strides and offset (torch.as_strided).
  public func strided(shape: [Int], strides: [Int], offset: Int = 0) throws -> Tensor {
    guard shape.count == strides.count else {
      throw TorchError("as_strided: \(shape.count) sizes but \(strides.count) strides")
    }
    return try withInt64s(shape) { size, count in
      try withInt64s(strides) { stride, _ in
        try Tensor.make { ct_as_strided($0, handle, size, stride, count, Int64(offset)) }
      }
    }
  }

  public func flipped(dims: [Int]) throws -> Tensor {
    try withInt64s(dims) { d, count in try Tensor.make { ct_flip($0, handle, d, count) } }
  }

  /// Class indices (int64) as one-hot rows (int64).
  public func oneHot(classCount: Int) throws -> Tensor {
    try Tensor.make { ct_one_hot($0, handle, Int64(classCount)) }
  }

  /// Indexing as in PyTorch: `t[0]`, `t[.all, .range(0..<2)]`, `t[.newAxis]`.
  public subscript(_ indices: TensorIndex...) -> Tensor {
    get throws {
      var result = self
      var dim = 0
      for index in indices {
        switch index {
        case .at(let position):
          result = try result.select(dim: dim, index: position)
        case .range(let range, let step):
          result = try result.slice(dim: dim, range, step: step)
          dim += 1
        case .all:
          dim += 1
        case .newAxis:
          result = try result.unsqueezed(dim: dim)
          dim += 1
        }
      }
      return result
    }
  }

  /// Positions `range` of the first dimension.
  public subscript(_ range: Range<Int>) -> Tensor {
    get throws { try slice(dim: 0, range) }
  }

  static func combine(
    _ tensors: [Tensor], dim: Int,
    _ call: (UnsafeMutablePointer<OpaquePointer?>, UnsafePointer<OpaquePointer?>?, Int32, Int64) -> Int32
  ) throws -> Tensor {
    let handles: [OpaquePointer?] = tensors.map { $0.handle }
    return try withExtendedLifetime(tensors) {
      try handles.withUnsafeBufferPointer { list in
        try make { call($0, list.baseAddress, Int32(list.count), Int64(dim)) }
      }
    }
  }

  /// Joins tensors along an existing dimension.
  public static func cat(_ tensors: [Tensor], dim: Int = 0) throws -> Tensor {
    try combine(tensors, dim: dim, ct_cat)
  }

  /// Joins tensors of one shape along a new dimension.
  public static func stack(_ tensors: [Tensor], dim: Int = 0) throws -> Tensor {
    try combine(tensors, dim: dim, ct_stack)
  }
}
