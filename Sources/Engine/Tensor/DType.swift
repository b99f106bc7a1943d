import CTorch

/// The element type of a tensor.
public enum DType: Int32, CaseIterable, Sendable, CustomStringConvertible {
  case uint8 = 0
  case int8 = 1
  case int16 = 2
  case int32 = 3
  case int64 = 4
  case float16 = 5
  case float32 = 6
  case float64 = 7
  case bool = 11
  case bfloat16 = 15
  /// A libtorch type OrthoCXR does not handle (complex, float8, quantised, …): reported as such rather
  /// than read as something else. Operations that need the element type throw for it.
  case unsupported = -1

  /// Bytes per element.
  public var byteCount: Int {
    switch self {
    case .uint8, .int8, .bool: 1
    case .int16, .float16, .bfloat16: 2
    case .int32, .float32: 4
    case .int64, .float64: 8
    case .unsupported: 0
    }
  }

  public var isFloatingPoint: Bool {
    self == .float16 || self == .float32 || self == .float64 || self == .bfloat16
  }

  public var description: String {
    switch self {
    case .uint8: "uint8"
    case .int8: "int8"
    case .int16: "int16"
    case .int32: "int32"
    case .int64: "int64"
    case .float16: "float16"
    case .float32: "float32"
    case .float64: "float64"
    case .bool: "bool"
    case .bfloat16: "bfloat16"
    case .unsupported: "an unsupported libtorch dtype"
    }
  }
}

/// Where a tensor lives.
public enum Device: Equatable, Hashable, Sendable, CustomStringConvertible {
  case cpu
  case cuda(Int)

  var type: Int32 {
    switch self {
    case .cpu: Int32(CT_CPU)
    case .cuda: Int32(CT_CUDA)
    }
  }

  var index: Int32 {
    switch self {
    case .cpu: -1
    case .cuda(let index): Int32(index)
    }
  }

  init(type: Int32, index: Int32) {
    self = type == Int32(CT_CUDA) ? .cuda(Int(max(index, 0))) : .cpu
  }

  /// Parses "cpu", "cuda" or "cuda:N".
  public init?(_ text: String) {
    if text == "cpu" {
      self = .cpu
    } else if text == "cuda" {
      self = .cuda(0)
    } else if text.hasPrefix("cuda:"), let index = Int(text.dropFirst(5)), index >= 0 {
      self = .cuda(index)
    } else {
      return nil
    }
  }

  public var description: String {
    switch self {
    case .cpu: "cpu"
    case .cuda(let index): "cuda:\(index)"
    }
  }
}

/// How the elements of a 4-D tensor are laid out in memory.
public enum MemoryFormat: Int32, Sendable {
  /// NCHW, row-major.
  case contiguous = 0
  /// NHWC: the layout oneDNN and tensor cores prefer for convolutions.
  case channelsLast = 1
  case preserve = 2
}

/// A Swift type that can be copied in and out of a tensor element by element.
public protocol TensorElement {
  static var dtype: DType { get }
}

extension Float: TensorElement { public static var dtype: DType { .float32 } }
extension Double: TensorElement { public static var dtype: DType { .float64 } }
extension Int64: TensorElement { public static var dtype: DType { .int64 } }
extension Int32: TensorElement { public static var dtype: DType { .int32 } }
extension UInt8: TensorElement { public static var dtype: DType { .uint8 } }
extension Int8: TensorElement { public static var dtype: DType { .int8 } }
extension Bool: TensorElement { public static var dtype: DType { .bool } }
