import CTorch

/// An error raised inside libtorch (a shape mismatch, a bad argument, an unreadable file), carrying
/// libtorch's own message.
public struct TorchError: Error, CustomStringConvertible, Equatable {
  public let message: String

  public init(_ message: String) { self.message = message }

  public var description: String { message }

  /// The error of the last failed libtorch call on this thread.
  static func last() -> TorchError { TorchError(String(cString: ct_last_error())) }
}

/// Throws the pending libtorch error when a shim call reports failure.
@inline(__always)
func check(_ status: Int32) throws {
  if status != 0 { throw TorchError.last() }
}

/// Process-wide libtorch settings: threads, seeding, devices.
public enum Torch {
  /// The libtorch version the shim was built against, such as "2.15.0".
  public static var version: String { String(cString: ct_version()) }

  /// The number of threads libtorch uses inside one operation (intra-op parallelism).
  public static var threadCount: Int {
    get { Int(ct_get_num_threads()) }
    set { ct_set_num_threads(Int32(newValue)) }
  }

  /// Seeds libtorch's generators (CPU and, when loaded, CUDA) so that runs can be repeated.
  public static func seed(_ seed: UInt64) { ct_manual_seed(seed) }

  /// The state of libtorch's CPU random generator (a uint8 tensor), to save with a checkpoint.
  public static func randomState() throws -> Tensor { try Tensor.make { ct_get_rng_state($0) } }

  /// Restores a state from `randomState()`, so that a resumed run draws the same numbers.
  public static func setRandomState(_ state: Tensor) throws { try check(ct_set_rng_state(state.handle)) }

  /// Waits for the work queued on a CUDA device to finish (for timing).
  public static func synchronize(_ device: Device) throws {
    if case .cuda(let index) = device { try check(ct_cuda_synchronize(Int32(index))) }
  }
}
