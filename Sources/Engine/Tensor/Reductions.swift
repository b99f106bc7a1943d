import CTorch

extension Tensor {
  @inline(__always)
  func reduce(
    _ dims: [Int], keepingDims: Bool,
    _ call: (UnsafeMutablePointer<OpaquePointer?>, OpaquePointer, UnsafePointer<Int64>?, Int32, Int32) -> Int32
  ) throws -> Tensor {
    try withInt64s(dims) { d, count in
      try Tensor.make { call($0, handle, d, count, keepingDims ? 1 : 0) }
    }
  }

  /// The sum of all elements, as a zero-dimensional tensor.
  public func sum() throws -> Tensor { try unary(ct_sum) }
  public func sum(dims: [Int], keepingDims: Bool = false) throws -> Tensor {
    try reduce(dims, keepingDims: keepingDims, ct_sum_dims)
  }

  public func mean() throws -> Tensor { try unary(ct_mean) }
  public func mean(dims: [Int], keepingDims: Bool = false) throws -> Tensor {
    try reduce(dims, keepingDims: keepingDims, ct_mean_dims)
  }

  /// The variance over `dims`, unbiased (divided by n - 1) unless asked otherwise.
  public func variance(dims: [Int], unbiased: Bool = true, keepingDims: Bool = false) throws -> Tensor {
    try withInt64s(dims) { d, count in
      try Tensor.make { ct_var_dims($0, handle, d, count, unbiased ? 1 : 0, keepingDims ? 1 : 0) }
    }
  }

  public func max() throws -> Tensor { try unary(ct_max) }
  public func min() throws -> Tensor { try unary(ct_min) }

  /// The largest values along `dim` and where they are.
  public func max(dim: Int, keepingDims: Bool = false) throws -> (values: Tensor, indices: Tensor) {
    var values: OpaquePointer?
    var indices: OpaquePointer?
    try check(ct_max_dim(&values, &indices, handle, Int64(dim), keepingDims ? 1 : 0))
    return (Tensor(adopting: values!), Tensor(adopting: indices!))
  }

  public func min(dim: Int, keepingDims: Bool = false) throws -> (values: Tensor, indices: Tensor) {
    var values: OpaquePointer?
    var indices: OpaquePointer?
    try check(ct_min_dim(&values, &indices, handle, Int64(dim), keepingDims ? 1 : 0))
    return (Tensor(adopting: values!), Tensor(adopting: indices!))
  }

  public func argmax(dim: Int, keepingDims: Bool = false) throws -> Tensor {
    try Tensor.make { ct_argmax($0, handle, Int64(dim), keepingDims ? 1 : 0) }
  }

  /// log(sum(exp(x))) over `dims`, computed stably.
  public func logSumExp(dims: [Int], keepingDims: Bool = false) throws -> Tensor {
    try reduce(dims, keepingDims: keepingDims, ct_logsumexp)
  }

  /// The p-norm over `dims` (Euclidean by default).
  public func norm(p: Double = 2, dims: [Int], keepingDims: Bool = false) throws -> Tensor {
    try withInt64s(dims) { d, count in
      try Tensor.make { ct_norm_dims($0, handle, p, d, count, keepingDims ? 1 : 0) }
    }
  }

  public func softmax(dim: Int) throws -> Tensor { try Tensor.make { ct_softmax($0, handle, Int64(dim)) } }
  public func logSoftmax(dim: Int) throws -> Tensor { try Tensor.make { ct_log_softmax($0, handle, Int64(dim)) } }
}
