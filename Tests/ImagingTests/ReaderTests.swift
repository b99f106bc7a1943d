import Foundation
import Randomness
import TestSupport
import Testing

@testable import Imaging

@Suite struct PNGTests {
  private func write(_ data: Data, _ name: String, in folder: String) throws -> String {
    let path = folder + "/" + name
    try data.write(to: URL(fileURLWithPath: path))
    return path
  }

  @Test func eightAndSixteenBitGreyRoundTripExactly() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let eight: [UInt8] = [0, 1, 127, 128, 254, 255]
    let image8 = try ImageReader.read(
      write(ImageWriter.encode(eight, width: 3, height: 2, channels: 1, bitDepth: 8), "grey8.png", in: folder))
    #expect(image8.width == 3 && image8.height == 2 && image8.sourceBitDepth == 8)
    #expect(image8.displayBytes == eight)

    let sixteen: [UInt16] = [0, 1, 256, 4095, 65534, 65535]
    let image16 = try ImageReader.read(
      write(ImageWriter.encode(sixteen, width: 2, height: 3, channels: 1, bitDepth: 16), "grey16.png", in: folder))
    #expect(image16.sourceBitDepth == 16)
    #expect(image16.sixteenBitValues == sixteen, "16-bit precision survives")
  }

  @Test func colourAlphaAndPaletteBecomeGrey() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    // RGB: pure red, green, blue, white → BT.709 luminance 0.2126, 0.7152, 0.0722, 1.
    let rgb: [UInt8] = [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]
    let fromRGB = try ImageReader.read(
      write(ImageWriter.encode(rgb, width: 4, height: 1, channels: 3, bitDepth: 8), "rgb.png", in: folder))
    #expect(isClose(fromRGB.displayBytes, [54, 182, 18, 255]))
    // Grey + alpha: the alpha is dropped, the grey kept.
    let greyAlpha: [UInt8] = [10, 255, 200, 0]
    let fromGA = try ImageReader.read(
      write(ImageWriter.encode(greyAlpha, width: 2, height: 1, channels: 2, bitDepth: 8), "ga.png", in: folder))
    #expect(fromGA.displayBytes == [10, 200])
    // RGBA grey pixels.
    let rgba: [UInt8] = [90, 90, 90, 255, 30, 30, 30, 7]
    let fromRGBA = try ImageReader.read(
      write(ImageWriter.encode(rgba, width: 2, height: 1, channels: 4, bitDepth: 8), "rgba.png", in: folder))
    #expect(fromRGBA.displayBytes == [90, 30])
    // Palette: indices into grey and colour entries.
    let palette: [UInt8] = [0, 0, 0, 100, 100, 100, 255, 255, 255, 0, 0, 255]
    let indices: [UInt8] = [2, 1, 0, 3]
    let fromPalette = try ImageReader.read(
      write(
        ImageWriter.encode(indices, width: 2, height: 2, channels: 1, bitDepth: 8, palette: palette), "palette.png",
        in: folder))
    #expect(isClose(fromPalette.displayBytes, [255, 100, 0, 18]))
  }

  @Test func truncatedAndCorruptFilesNameTheFile() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let pixels = [UInt8](repeating: 77, count: 64 * 64)
    let png = try ImageWriter.encode(pixels, width: 64, height: 64, channels: 1, bitDepth: 8)
    for (name, bytes) in [
      ("header-only.png", png.prefix(20)), ("half.png", png.prefix(png.count / 2)), ("empty.png", png.prefix(0)),
    ] {
      let path = try write(Data(bytes), name, in: folder)
      let error = readingError(path)
      #expect(error?.path == path, "\(name)")
      #expect(error?.reason.isEmpty == false)
    }
    let text = try write(Data("patient_id filename label".utf8), "notes.png", in: folder)
    #expect(readingError(text)?.reason == "is not a PNG, JPEG or DICOM file")
    #expect(readingError(folder + "/absent.png")?.reason == "does not exist")
  }

  private func isClose(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { abs(Int($0) - Int($1)) <= 1 }
  }
}

@Suite struct JPEGTests {
  /// A smooth 64x48 gradient, which JPEG keeps within a few grey levels.
  static let gradient: [UInt8] = (0..<(64 * 48)).map { (index: Int) -> UInt8 in UInt8(index % 64 * 3 + index / 64) }

  @Test(arguments: [false, true])
  func greyBaselineAndProgressiveDecodeClosely(progressive: Bool) throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let data = try ImageWriter.encodeJPEG(Self.gradient, width: 64, height: 48, quality: 95, progressive: progressive)
    let path = folder + "/gradient.jpeg"
    try data.write(to: URL(fileURLWithPath: path))
    let image = try ImageReader.read(path)
    #expect(image.width == 64 && image.height == 48)
    let worst = zip(image.displayBytes, Self.gradient).map { abs(Int($0) - Int($1)) }.max() ?? 0
    #expect(worst <= 4, "largest difference \(worst) grey levels")
  }

  @Test func colourBecomesLuminance() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    // A flat colour (R 200, G 100, B 50): JPEG's luminance is 0.299R + 0.587G + 0.114B = 124.
    let rgb = [UInt8]((0..<(32 * 32)).flatMap { _ in [200, 100, 50] as [UInt8] })
    let path = folder + "/colour.jpeg"
    try ImageWriter.encodeJPEG(rgb, width: 32, height: 32, channels: 3, quality: 95).write(
      to: URL(fileURLWithPath: path))
    let image = try ImageReader.read(path)
    #expect(image.displayBytes.allSatisfy { abs(Int($0) - 124) <= 2 })
  }

  @Test func truncatedJPEGIsRejected() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let data = try ImageWriter.encodeJPEG(Self.gradient, width: 64, height: 48)
    for fraction in [2, 3, 10] {
      let path = folder + "/truncated-\(fraction).jpeg"
      try data.prefix(data.count / fraction).write(to: URL(fileURLWithPath: path))
      #expect(readingError(path)?.path == path)
    }
  }
}

@Suite(SharedData.required) struct RealImageTests {
  @Test func covidRadiographyPNGsAre256PixelGrey() throws {
    let names = try String(contentsOfFile: SharedData.path("covid-radiography/mini_test.txt"), encoding: .utf8)
      .split(separator: "\n").prefix(12).map { String($0.split(separator: " ")[1]) }
    for name in names {
      let image = try ImageReader.read(SharedData.path("covid-radiography/images/" + name))
      #expect(image.width == 256 && image.height == 256, "\(name)")
      #expect(image.pixels.allSatisfy { (0...1).contains($0) })
      #expect(Set(image.displayBytes).count > 50, "\(name) has real content")
    }
  }

  @Test func fullSizeKermanyJPEGsDecode() throws {
    let folder = SharedData.path("kermany-sample")
    let names = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".jpeg") }.sorted()
    #expect(names.count == 16)
    for name in names {
      let image = try ImageReader.read(folder + "/" + name)
      #expect((968...1776).contains(image.width), "\(name): width \(image.width)")
      #expect(image.height > 500)
      let mean = image.pixels.reduce(0, +) / Float(image.pixels.count)
      #expect(mean > 0.1 && mean < 0.9, "\(name): mean \(mean)")
    }
  }

  @Test func truncatedRealJPEGIsRejected() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let source = SharedData.path("kermany-sample/NORMAL2-IM-1427-0001.jpeg")
    let bytes = try Data(contentsOf: URL(fileURLWithPath: source))
    let path = folder + "/truncated.jpeg"
    try bytes.prefix(bytes.count / 3).write(to: URL(fileURLWithPath: path))
    #expect(readingError(path)?.path == path)
  }
}

/// Random bytes and damaged files fed to every decoder: each must return an image or throw, never
/// crash or hang. The seed is fixed so that a failure reproduces.
@Suite struct DecoderFuzzTests {
  @Test func randomBytesAndDamagedFilesNeverCrash() throws {
    var generator = SplitMix64(seed: 2026)
    let png = try ImageWriter.encode(
      (0..<(48 * 40)).map { UInt8($0 % 251) }, width: 48, height: 40, channels: 1, bitDepth: 8)
    var seeds: [(String, Data)] = [
      ("png", png),
      ("jpeg", try ImageWriter.encodeJPEG(JPEGTests.gradient, width: 64, height: 48)),
      ("jpeg", try ImageWriter.encodeJPEG(JPEGTests.gradient, width: 64, height: 48, progressive: true)),
    ]
    // DICOM: GDCM aborts on some damaged files; the reader must turn that into an error too.
    if SharedData.isAvailable {
      for name in ["COVID-100_mono1_12bit.dcm", "COVID-100_mono1_12bit_rle.dcm"] {
        seeds.append(("dicom", try Data(contentsOf: URL(fileURLWithPath: SharedData.path("dicom/cxr/" + name)))))
      }
    }
    var decoded = 0
    var rejected = 0
    for (kind, original) in seeds {
      for trial in 0..<150 {
        var bytes = [UInt8](original)
        switch trial % 3 {
        case 0: bytes = Array(bytes.prefix(Int(generator.next() % UInt64(bytes.count))))
        case 1:
          for _ in 0..<(1 + Int(generator.next() % 16)) {
            bytes[Int(generator.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: generator.next())
          }
        default:
          // Random bytes behind a valid signature, so the decoder itself is exercised.
          let signature = Array(bytes.prefix(kind == "png" ? 8 : kind == "dicom" ? 1_024 : 20))
          bytes =
            signature + (0..<(Int(generator.next() % 4096))).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        }
        do {
          let image = try ImageReader.decode(Data(bytes), path: "fuzz-\(kind)-\(trial)")
          #expect(image.pixels.count == image.width * image.height)
          decoded += 1
        } catch let error as ImageError {
          #expect(error.path == "fuzz-\(kind)-\(trial)")
          rejected += 1
        }
      }
    }
    #expect(rejected > 0)
    #expect(decoded + rejected == seeds.count * 150)
  }
}
