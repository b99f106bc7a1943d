import CTorch

/// An n-dimensional array on a device, with autograd, backed by one libtorch tensor.
///
/// A `Tensor` is a reference: two variables may name the same tensor, and in-place operations
/// (used by optimizers and checkpoint loading) are seen through both. The native memory is released
/// when the last Swift reference goes away.
///
/// Every operation that libtorch can reject (a shape mismatch, a wrong type) throws a `TorchError`
/// carrying libtorch's message, so one `try` covers a whole expression: `try (a + b).relu().sum()`.
public final class Tensor: @unchecked Sendable {
  // @unchecked: the handle is never reassigned, and libtorch's tensors may be read from any thread.
  let handle: OpaquePointer

  init(adopting handle: OpaquePointer) { self.handle = handle }

  deinit { ct_free(handle) }

  /// Runs a shim call that returns one new tensor.
  @inline(__always)
  static func make(_ call: (UnsafeMutablePointer<OpaquePointer?>) -> Int32) throws -> Tensor {
    var out: OpaquePointer?
    try check(call(&out))
    guard let out else { throw TorchError("libtorch returned no tensor") }
    return Tensor(adopting: out)
  }

  // MARK: Properties

  /// The size of each dimension.
  public var shape: [Int] {
    let rank = Int(ct_dim(handle))
    var sizes = [Int64](repeating: 0, count: rank)
    sizes.withUnsafeMutableBufferPointer { ct_sizes(handle, $0.baseAddress) }
    return sizes.map(Int.init)
  }

  public var strides: [Int] {
    let rank = Int(ct_dim(handle))
    var strides = [Int64](repeating: 0, count: rank)
    strides.withUnsafeMutableBufferPointer { ct_strides(handle, $0.baseAddress) }
    return strides.map(Int.init)
  }

  public var rank: Int { Int(ct_dim(handle)) }
  public var elementCount: Int { Int(ct_numel(handle)) }
  public var dtype: DType { DType(rawValue: ct_dtype(handle)) ?? .unsupported }
  public var device: Device { Device(type: ct_device_type(handle), index: ct_device_index(handle)) }

  public func isContiguous(_ format: MemoryFormat = .contiguous) -> Bool {
    ct_is_contiguous(handle, format.rawValue) != 0
  }

  // MARK: Creation

  /// A tensor holding a copy of `values`, laid out row-major in `shape`.
  public convenience init<Element: TensorElement>(_ values: [Element], shape: [Int]) throws {
    let expected = shape.reduce(1, *)
    guard expected == values.count else {
      throw TorchError("\(values.count) values cannot fill shape \(shape) (\(expected) elements)")
    }
    let sizes = shape.map(Int64.init)
    var out: OpaquePointer?
    let status = values.withUnsafeBytes { bytes in
      sizes.withUnsafeBufferPointer {
        ct_from_blob(&out, bytes.baseAddress, $0.baseAddress, Int32(sizes.count), Element.dtype.rawValue)
      }
    }
    try check(status)
    self.init(adopting: out!)
  }

  /// A one-dimensional tensor holding a copy of `values`.
  public convenience init<Element: TensorElement>(_ values: [Element]) throws {
    try self.init(values, shape: [values.count])
  }

  /// A tensor of shape `shape` and type `dtype` from raw little-endian bytes (checkpoint loading).
  public static func fromBytes(_ bytes: UnsafeRawBufferPointer, shape: [Int], dtype: DType) throws -> Tensor {
    let expected = shape.reduce(1, *) * dtype.byteCount
    guard bytes.count == expected else {
      throw TorchError("\(bytes.count) bytes cannot fill a \(dtype) tensor of shape \(shape) (\(expected) bytes)")
    }
    let sizes = shape.map(Int64.init)
    return try sizes.withUnsafeBufferPointer { sizes in
      try make { ct_from_blob($0, bytes.baseAddress, sizes.baseAddress, Int32(sizes.count), dtype.rawValue) }
    }
  }

  /// Calls a creation function of the shim with the shape as a C array.
  static func create(
    _ shape: [Int], _ call: (UnsafeMutablePointer<OpaquePointer?>, UnsafePointer<Int64>?, Int32) -> Int32
  ) throws -> Tensor {
    let sizes = shape.map(Int64.init)
    return try sizes.withUnsafeBufferPointer { sizes in
      try make { call($0, sizes.baseAddress, Int32(sizes.count)) }
    }
  }

  public static func zeros(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
    try full(shape, value: 0, dtype: dtype, device: device)
  }

  public static func ones(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
    try full(shape, value: 1, dtype: dtype, device: device)
  }

  public static func full(
    _ shape: [Int], value: Double, dtype: DType = .float32, device: Device = .cpu
  ) throws -> Tensor {
    try create(shape) { ct_full($0, $1, $2, value, dtype.rawValue, device.type, device.index) }
  }

  public static func empty(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
    try create(shape) { ct_empty($0, $1, $2, dtype.rawValue, device.type, device.index) }
  }

  /// Samples of the standard normal distribution, from libtorch's seeded generator.
  public static func randn(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
    try create(shape) { ct_randn($0, $1, $2, dtype.rawValue, device.type, device.index) }
  }

  /// Samples of the uniform distribution on [0, 1).
  public static func rand(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
    try create(shape) { ct_rand($0, $1, $2, dtype.rawValue, device.type, device.index) }
  }

  /// Integers drawn uniformly from `range` (int64).
  public static func randint(_ range: Range<Int>, shape: [Int], device: Device = .cpu) throws -> Tensor {
    try create(shape) {
      ct_randint($0, Int64(range.lowerBound), Int64(range.upperBound), $1, $2, device.type, device.index)
    }
  }

  /// A random permutation of 0..<count (int64).
  public static func randperm(_ count: Int) throws -> Tensor {
    try make { ct_randperm($0, Int64(count)) }
  }

  /// Values from `start` up to (not including) `end`, `step` apart.
  public static func arange(
    _ start: Double = 0, _ end: Double, step: Double = 1, dtype: DType = .float32, device: Device = .cpu
  ) throws -> Tensor {
    try make { ct_arange($0, start, end, step, dtype.rawValue, device.type, device.index) }
  }

  /// The n×n identity matrix.
  public static func eye(_ n: Int, dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
    try make { ct_eye($0, Int64(n), dtype.rawValue, device.type, device.index) }
  }

  // MARK: Back to Swift

  /// The elements in row-major order, converted to `Element`'s type.
  public func toArray<Element: TensorElement>(_ type: Element.Type = Element.self) throws -> [Element] {
    let source = dtype == Element.dtype ? self : try to(Element.dtype)
    let count = source.elementCount
    return try [Element](unsafeUninitializedCapacity: count) { buffer, initialized in
      try check(ct_copy_to_host(source.handle, buffer.baseAddress, count * Element.dtype.byteCount))
      initialized = count
    }
  }

  /// Calls `body` with the elements of a contiguous CPU tensor of `Element`'s type, to read or fill
  /// them in place without a copy (a data loader writing a batch straight into its tensor). The
  /// buffer is valid only inside `body`; the tensor must not be resized there.
  public func withUnsafeMutableElements<Element: TensorElement, Result>(
    of type: Element.Type, _ body: (UnsafeMutableBufferPointer<Element>) throws -> Result
  ) throws -> Result {
    guard dtype == Element.dtype else {
      throw TorchError("the tensor holds \(dtype) elements, not \(Element.dtype)")
    }
    var data: UnsafeMutableRawPointer?
    try check(ct_cpu_data(handle, &data))
    let count = elementCount
    guard count > 0, let data else { return try body(UnsafeMutableBufferPointer(start: nil, count: 0)) }
    return try body(UnsafeMutableBufferPointer(start: data.assumingMemoryBound(to: Element.self), count: count))
  }

  /// The raw bytes of the elements in row-major order (for checkpoints).
  public func bytes() throws -> [UInt8] {
    let count = elementCount * dtype.byteCount
    return try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
      try check(ct_copy_to_host(handle, buffer.baseAddress, count))
      initialized = count
    }
  }

  /// The value of a one-element tensor.
  public func item() throws -> Double {
    var value = 0.0
    try check(ct_item_double(handle, &value))
    return value
  }

  /// The value of a one-element integer tensor.
  public func itemInt() throws -> Int {
    var value: Int64 = 0
    try check(ct_item_int64(handle, &value))
    return Int(value)
  }

  // MARK: Conversion

  public func to(_ dtype: DType) throws -> Tensor {
    try Tensor.make { ct_to_dtype($0, handle, dtype.rawValue) }
  }

  /// A copy on `device`. With `nonBlocking` and a pinned CPU source, the copy to a GPU is queued on
  /// the device's stream and this returns at once (PyTorch's `.to(device, non_blocking=True)`);
  /// later work on the device waits for it, so the result can be used straight away.
  public func to(_ device: Device, nonBlocking: Bool = false) throws -> Tensor {
    try Tensor.make { ct_to_device($0, handle, device.type, device.index, nonBlocking ? 1 : 0) }
  }

  /// A copy in page-locked (pinned) host memory, which a GPU copies from faster and asynchronously.
  /// Needs the CUDA backend (`Torch.makeAvailable(.cuda(…))`).
  public func pinned() throws -> Tensor { try Tensor.make { ct_pin_memory($0, handle) } }

  /// Whether the data lives in pinned host memory.
  public var isPinned: Bool { ct_is_pinned(handle) != 0 }

  /// A copy laid out in `format` (or this tensor when it already is).
  public func contiguous(_ format: MemoryFormat = .contiguous) throws -> Tensor {
    try Tensor.make { ct_contiguous($0, handle, format.rawValue) }
  }

  /// A copy with its own storage, still connected to the autograd graph.
  public func clone() throws -> Tensor {
    try Tensor.make { ct_clone($0, handle) }
  }
}

extension Tensor: CustomStringConvertible {
  public var description: String {
    "Tensor(shape: \(shape), dtype: \(dtype), device: \(device)\(requiresGrad ? ", requiresGrad" : ""))"
  }
}
