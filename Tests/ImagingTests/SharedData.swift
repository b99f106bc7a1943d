import Foundation
import TestSupport
import Testing

@testable import Imaging

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
