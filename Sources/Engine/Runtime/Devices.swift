import CTorch

/// Why a device cannot be used, in words that say what is missing and how to get it.
public struct DeviceError: Error, CustomStringConvertible, Equatable {
  public let description: String

  public init(_ description: String) { self.description = description }
}

extension Torch {
  /// Whether a CUDA device can be used now: the CUDA backend is loaded, the driver answers and a
  /// GPU is visible. False until `makeAvailable(.cuda(…))` has loaded the backend (asking never
  /// disables CUDA for later: the shim does not consult libtorch before the backend is loaded).
  public static var isCUDAAvailable: Bool { ct_cuda_is_available() != 0 }

  /// The number of visible CUDA devices (0 before the backend is loaded).
  public static var cudaDeviceCount: Int { Int(ct_cuda_device_count()) }

  /// Makes `device` ready for tensors and models, or says precisely what is missing: the NVIDIA
  /// driver, libtorch's CUDA library (a CPU-only libtorch), a library that one needs (cuDNN, cuBLAS,
  /// ...), or the GPU itself. The CPU is always ready. Safe to call again.
  ///
  /// The shim links libtorch's CPU library only, so that the same build runs on machines without
  /// CUDA; the CUDA backend (libtorch_cuda.so, found beside libtorch_cpu.so through the shim's
  /// rpath) is loaded here, on demand. Call it before `Torch.seed`, so that the seed reaches the GPU's
  /// generator too.
  public static func makeAvailable(_ device: Device) throws {
    guard case .cuda(let index) = device else { return }
    if !isCUDAAvailable {
      // The driver first: without it nothing else matters, and the loader's message says so plainly.
      if ct_load_library("libcuda.so.1") != 0 {
        throw DeviceError(
          """
          \(device) was asked for, but the NVIDIA driver is missing: libcuda.so.1 could not be loaded \
          (\(lastLoaderMessage())). Install the driver, or use --device cpu.
          """)
      }
      if ct_load_cuda_backend() != 0 {
        let message = lastLoaderMessage()
        if message.hasPrefix("libtorch_cuda.so:") && message.contains("No such file") {
          throw DeviceError(
            """
            \(device) was asked for, but this libtorch has no CUDA library (libtorch_cuda.so is not \
            beside libtorch_cpu.so). Run `scripts/bootstrap --cuda`, or LIBTORCH=<a CUDA libtorch> \
            scripts/bootstrap.
            """)
        }
        throw DeviceError(
          """
          \(device) was asked for, but libtorch's CUDA library could not be loaded: \(message). \
          A library it needs is missing; `scripts/bootstrap --cuda` installs all of them (cuDNN, \
          cuBLAS, NCCL, ...) from PyPI.
          """)
      }
      guard isCUDAAvailable else {
        throw DeviceError(
          """
          \(device) was asked for: the driver and libtorch's CUDA library loaded, but no GPU is visible \
          (check nvidia-smi, CUDA_VISIBLE_DEVICES, and that the driver supports CUDA 13).
          """)
      }
    }
    guard index < cudaDeviceCount else {
      throw DeviceError("\(device) was asked for, but this machine has \(cudaDeviceCount) CUDA device(s)")
    }
  }

  /// Whether CUDA float32 convolutions and matrix products may use TensorFloat-32 (faster, about 10
  /// bits of mantissa). PyTorch's defaults stand until this is called: convolutions yes, matrix
  /// products no. Turn both off to compare CUDA results with the CPU's.
  public static func allowTensorFloat32(convolutions: Bool, matrixProducts: Bool) {
    ct_set_cuda_tf32(convolutions ? 1 : 0, matrixProducts ? 1 : 0)
  }

  private static func lastLoaderMessage() -> String { String(cString: ct_last_error()) }
}

extension Module {
  /// Makes `device` available (or says what is missing) and moves every parameter and buffer there.
  public func place(on device: Device) throws {
    try Torch.makeAvailable(device)
    try move(to: device)
  }
}
