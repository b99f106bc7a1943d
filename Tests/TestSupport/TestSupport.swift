import Foundation
import Testing

/// ../shared/data beside the repository: real X-rays for the tests that need them.
public enum SharedData {
  public static let root: String = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()  // the repository
    .deletingLastPathComponent().appendingPathComponent("shared/data").path

  public static var isAvailable: Bool { FileManager.default.fileExists(atPath: root + "/README.md") }

  public static func path(_ relative: String) -> String { root + "/" + relative }

  /// A trait that skips a test, saying why, when ../shared/data is absent.
  public static let required = Testing.ConditionTrait.enabled(
    if: isAvailable, "needs ../shared/data (real chest X-rays) beside the repository; it is absent")
}

/// A fresh folder under the system's temporary directory; the caller removes it.
public func temporaryFolder() throws -> String {
  let path = NSTemporaryDirectory() + "orthocxr-tests-" + UUID().uuidString
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}

/// Whether this machine has an NVIDIA driver, for the tests that need a GPU or its absence.
public enum CUDADriver {
  /// libcuda.so.1 loads: a driver is installed (a GPU may still be absent).
  public static let isInstalled: Bool = {
    guard let handle = dlopen("libcuda.so.1", RTLD_LAZY) else { return false }
    dlclose(handle)
    return true
  }()

  /// Skips a test, saying why, on machines without an NVIDIA driver and GPU. scripts/gpu-check runs
  /// the same checks through the command line on a GPU machine.
  public static let required = Testing.ConditionTrait.enabled(
    if: isInstalled, "needs an NVIDIA GPU and its driver; scripts/gpu-check runs the GPU checks on one")

  /// Skips a test on machines that have a driver (the test is about its absence).
  public static let absent = Testing.ConditionTrait.enabled(
    if: !isInstalled, "checks the messages for a machine without an NVIDIA driver; this one has one")
}
