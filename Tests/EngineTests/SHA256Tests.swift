import Foundation
import Randomness
import Testing

@testable import Digests

/// SHA-256 against FIPS 180-4's examples, and the processor's SHA extensions against the Swift rounds
/// on every length around the block boundaries and in pieces of every size.
@Suite struct SHA256Tests {
  @Test func theStandardsExamples() {
    for extensions in [false, true] {
      func hex(_ text: String) -> String {
        var hasher = SHA256(usingProcessorExtensions: extensions)
        hasher.update(Array(text.utf8))
        return hasher.finalize().hex
      }
      #expect(hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
      #expect(hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
      #expect(
        hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
          == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
      var million = SHA256(usingProcessorExtensions: extensions)
      million.update([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000))
      #expect(million.finalize().hex == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
  }

  @Test func theExtensionsAgreeWithTheSwiftRounds() {
    var random = SplitMix64(seed: 21)
    let bytes = (0..<5_000).map { _ in UInt8(truncatingIfNeeded: random.next()) }
    for length in Array(0...200) + [1_000, 4_096, 4_999] {
      var plain = SHA256(usingProcessorExtensions: false)
      var fast = SHA256(usingProcessorExtensions: true)
      plain.update(Array(bytes[0..<length]))
      // In uneven pieces, so that blocks straddle the calls.
      var start = 0
      var piece = 1
      while start < length {
        let end = min(length, start + piece)
        fast.update(Array(bytes[start..<end]))
        start = end
        piece = piece * 3 % 97 + 1
      }
      #expect(plain.finalize() == fast.finalize(), "length \(length)")
    }
  }
}
