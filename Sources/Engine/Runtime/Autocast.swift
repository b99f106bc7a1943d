import CTorch

/// Mixed precision: inside `Autocast.run`, libtorch runs convolutions and matrix products in a lower
/// precision (bfloat16 on CPU, where oneDNN uses AMX) and keeps precision-sensitive operations
/// (softmax, losses, reductions) in float32. Parameters and gradients stay float32.
public enum Autocast {
  /// Runs `body` with autocast on `device` switched to `dtype`, then restores the previous state.
  /// Nested calls are allowed; the cast-weight cache is cleared when the outermost one ends, as
  /// torch.autocast does.
  public static func run<Result>(
    on device: Device = .cpu, dtype: DType = .bfloat16, _ body: () throws -> Result
  ) rethrows -> Result {
    let deviceType = device.type
    let wasEnabled = ct_autocast_is_enabled(deviceType)
    let previousDType = ct_autocast_get_dtype(deviceType)
    ct_autocast_set_enabled(deviceType, 1)
    ct_autocast_set_dtype(deviceType, dtype.rawValue)
    ct_autocast_increment_nesting()
    defer {
      if ct_autocast_decrement_nesting() == 0 { ct_autocast_clear_cache() }
      ct_autocast_set_enabled(deviceType, wasEnabled)
      ct_autocast_set_dtype(deviceType, previousDType)
    }
    return try body()
  }

  /// Runs `body` under autocast when `enabled`, plainly otherwise.
  public static func run<Result>(
    if enabled: Bool, on device: Device = .cpu, dtype: DType = .bfloat16, _ body: () throws -> Result
  ) rethrows -> Result {
    enabled ? try run(on: device, dtype: dtype, body) : try body()
  }

  public static func isEnabled(on device: Device = .cpu) -> Bool { ct_autocast_is_enabled(device.type) != 0 }
}
