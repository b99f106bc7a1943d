import Foundation
import Testing

import TestSupport

@testable import Imaging

/// The inputs kept in fuzz/corpus (findings of scripts/fuzz once fixed, and hand-made hostile files):
/// each one decodes or is refused with an ImageError naming it — never a crash, a hang or another
/// error — through the same readers the program uses. `scripts/fuzz --replay` runs them through the
/// sanitizer builds too.
@Suite struct KeptInputTests {
  static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("fuzz/corpus").path

  @Test func everyKeptInputDecodesOrIsRefusedByName() throws {
    var count = 0
    for target in ["png", "jpeg", "dicom"] {
      let folder = Self.corpus + "/" + target
      for name in try FileManager.default.contentsOfDirectory(atPath: folder).sorted() {
        let path = folder + "/" + name
        count += 1
        do {
          _ = try ImageReader.read(path)
          // Refusing these is the memory budget's work, which AddressSanitizer turns off.
          #expect(
            !name.contains("claims") || AddressSanitizer.isActive, "\(name) claims more than it holds, yet decoded")
        } catch let error as ImageError {
          #expect(error.path == path)
        } catch {
          Issue.record("\(name): \(error) is not an ImageError")
        }
      }
    }
    #expect(count >= 3, "fuzz/corpus holds the kept inputs")
  }
}
