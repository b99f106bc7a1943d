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
