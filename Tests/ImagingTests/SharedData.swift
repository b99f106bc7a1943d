import Foundation
import Testing

@testable import Imaging

/// ../shared/data beside the repository: real X-rays for tests that need them.
enum SharedData {
  static let root: String = {
    let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    return repository.deletingLastPathComponent().appendingPathComponent("shared/data").path
  }()

  static var isAvailable: Bool { FileManager.default.fileExists(atPath: root + "/README.md") }

  static func path(_ relative: String) -> String { root + "/" + relative }

  /// A trait that skips a test, saying why, when ../shared/data is absent.
  static let required = Testing.ConditionTrait.enabled(
    if: isAvailable, "needs ../shared/data (real chest X-rays) beside the repository; it is absent")
}

/// A fresh temporary folder.
func temporaryFolder() throws -> String {
  let path = NSTemporaryDirectory() + "orthocxr-imaging-" + UUID().uuidString
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}

/// A small deterministic generator for test data.
struct SplitMix64 {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// The ImageError that reading `path` throws, or nil after recording an issue. Unlike
/// `#expect(throws:)` it never prints a decoded image (millions of pixels) when no error comes.
func readingError(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) -> ImageError? {
  do {
    let image = try ImageReader.read(path)
    Issue.record(
      "expected \(path) to be rejected, but it decoded to \(image.width)x\(image.height)",
      sourceLocation: sourceLocation)
  } catch let error as ImageError {
    return error
  } catch {
    Issue.record("expected an ImageError, got \(error)", sourceLocation: sourceLocation)
  }
  return nil
}
