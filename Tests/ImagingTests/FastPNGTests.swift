import CImageIO
import Foundation
import TestSupport
import Testing

/// The fast greyscale PNG path (libdeflate, its own unfilter) against libpng, file by file: it must
/// decode what it claims with libpng's very pixels, and leave every other file to libpng. With the
/// vector unfilter (32 Paeth rows at once, AVX2) and without it: serialized, since that is a setting
/// of the whole process.
@Suite(.serialized) struct FastPNGTests {
  struct Decoded: Equatable, CustomStringConvertible {
    var width: UInt32, height: UInt32, bitDepth: Int32, sourceChannels: Int32, pixels: [UInt8]
    // Short, so that a failure names the difference instead of printing every pixel.
    var description: String {
      "\(width)x\(height), \(bitDepth) bits from \(sourceChannels) channel(s), \(pixels.count) bytes"
    }
  }

  /// Where two results differ, in a few words (nil when they are equal).
  static func difference(_ reference: Result<Decoded, ImageFailure>, _ fast: Decoded) -> String? {
    guard case .success(let expected) = reference else { return "libpng refused it: \(reference)" }
    guard expected != fast else { return nil }
    let differing = zip(expected.pixels, fast.pixels).filter { $0 != $1 }.count
    let first =
      zip(expected.pixels, fast.pixels).enumerated().first { $0.element.0 != $0.element.1 }.map {
        String($0.offset)
      } ?? "none"
    return "libpng: \(expected); fast: \(fast); \(differing) bytes differ, the first at \(first)"
  }

  /// The fast path's result, nil when it declines the file.
  static func direct(_ data: Data) -> Decoded? {
    var image = cio_image()
    let decoded = data.withUnsafeBytes {
      cio_decode_grey_png_directly($0.bindMemory(to: UInt8.self).baseAddress, $0.count, 0, &image)
    }
    return decoded == 1 ? take(&image) : nil
  }

  /// libpng's result, or its message.
  static func libpng(_ data: Data) -> Result<Decoded, ImageFailure> {
    var image = cio_image()
    var message = [CChar](repeating: 0, count: 256)
    let status = data.withUnsafeBytes {
      cio_decode_png_with_libpng($0.bindMemory(to: UInt8.self).baseAddress, $0.count, 0, &image, &message, 256)
    }
    guard status == 0 else { return .failure(ImageFailure(message: Self.text(message))) }
    return .success(take(&image))
  }

  struct ImageFailure: Error, Equatable { var message: String }

  /// A C message buffer's text, up to its terminating zero.
  static func text(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  static func take(_ image: inout cio_image) -> Decoded {
    let count = Int(image.width) * Int(image.height) * Int(image.bit_depth / 8)
    let bytes = Array(UnsafeBufferPointer(start: image.pixels.assumingMemoryBound(to: UInt8.self), count: count))
    cio_free(image.pixels)
    return Decoded(
      width: image.width, height: image.height, bitDepth: image.bit_depth, sourceChannels: image.source_channels,
      pixels: bytes)
  }

  /// Runs `body` with the vector unfilter on or off, then restores the setting.
  static func withVectorUnfilter<T>(_ enabled: Bool, _ body: () throws -> T) rethrows -> T {
    let previous = cio_set_vector_unfilter(enabled ? 1 : 0)
    defer { cio_set_vector_unfilter(previous) }
    return try body()
  }

  @Test(arguments: [true, false])
  func everyKindItTakesGivesLibpngsPixelsAndTheRestGoesToLibpng(vectorUnfilter: Bool) throws {
    try Self.withVectorUnfilter(vectorUnfilter) { try everyKindItTakesGivesLibpngsPixels() }
  }

  func everyKindItTakesGivesLibpngsPixels() throws {
    let fixtures = PNGFixtures.all()
    #expect(fixtures.count == 130)
    var taken = 0
    for (name, data) in fixtures {
      let reference = Self.libpng(data)
      if name.hasPrefix("fallback-") {
        #expect(Self.direct(data) == nil, "\(name) must go to libpng")
        continue
      }
      let fast = try #require(Self.direct(data), "\(name): the fast path declined it")
      let difference = Self.difference(reference, fast)
      #expect(difference == nil, "\(name): \(difference ?? "")")
      taken += 1
    }
    #expect(taken == fixtures.filter { !$0.name.hasPrefix("fallback-") }.count)
  }

  /// Through the public reader: the files the fast path declines are read or refused by libpng as
  /// before (a bad CRC, a short stream, an unknown filter are refused; the others decode).
  @Test func theDeclinedFilesAreLibpngsToReadOrRefuse() throws {
    for (name, data) in PNGFixtures.all() where name.hasPrefix("fallback-") {
      var image = cio_image()
      var message = [CChar](repeating: 0, count: 256)
      let status = data.withUnsafeBytes {
        cio_decode_png($0.bindMemory(to: UInt8.self).baseAddress, $0.count, 0, &image, &message, 256)
      }
      let viaPublic: Result<Decoded, ImageFailure> =
        status == 0 ? .success(Self.take(&image)) : .failure(ImageFailure(message: Self.text(message)))
      #expect(viaPublic == Self.libpng(data), "\(name)")
      if ["fallback-bad-crc.png", "fallback-short-stream.png", "fallback-bad-filter.png"].contains(name) {
        #expect(status != 0, "\(name) is refused")
      }
    }
  }

  /// Every PNG of the validation split: the fast path takes each one, with libpng's pixels.
  @Test(SharedData.required, arguments: [true, false])
  func theRealXRaysDecodeAsLibpngDecodesThem(vectorUnfilter: Bool) throws {
    try Self.withVectorUnfilter(vectorUnfilter) { try realXRaysDecodeAsLibpngDecodesThem() }
  }

  func realXRaysDecodeAsLibpngDecodesThem() throws {
    let split = SharedData.path("covid-radiography/val.txt")
    let images = SharedData.path("covid-radiography/images")
    let names = try String(contentsOfFile: split, encoding: .utf8).split(separator: "\n").compactMap {
      $0.split(separator: " ").dropFirst().first.map(String.init)
    }
    #expect(names.count > 500)
    for name in names where name.hasSuffix(".png") {
      let data = try Data(contentsOf: URL(fileURLWithPath: images + "/" + name))
      let fast = try #require(Self.direct(data), "\(name): the fast path declined it")
      let difference = Self.difference(Self.libpng(data), fast)
      #expect(difference == nil, "\(name): \(difference ?? "")")
    }
  }
}
