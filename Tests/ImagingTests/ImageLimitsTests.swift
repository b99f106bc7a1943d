import Foundation
import TestSupport
import Testing

@testable import Imaging

/// The pixel limit: images whose header declares more pixels than allowed are refused from the
/// header, by every reader, with the file, the declared size and the limit in the message.
/// Serialized: the limit is process-wide, and these tests change it.
@Suite(SharedData.required, .serialized) struct ImageLimitsTests {
  func refusal(_ data: Data, path: String, sourceLocation: SourceLocation = #_sourceLocation) -> ImageError? {
    do {
      let image = try ImageReader.decode(data, path: path)
      Issue.record("decoded to \(image.width)x\(image.height) instead of refusing", sourceLocation: sourceLocation)
    } catch let error as ImageError {
      return error
    } catch {
      Issue.record("expected an ImageError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
  }

  @Test func aPNGBombIsRefusedFromItsHeader() throws {
    let error = refusal(DecompressionBomb.png(width: 30_000, height: 30_000), path: "bomb.png")
    #expect(error?.path == "bomb.png")
    #expect(
      error?.reason.hasPrefix("declares 30000 x 30000 pixels (900.0 megapixels), over the limit of 100.0 megapixels")
        == true, "\(error?.reason ?? "")")
    #expect(error?.reason.contains("--max-megapixels") == true, "the message says how to raise it")
  }

  @Test func jpegAndDicomObeyTheSameLimit() throws {
    let jpegFile = try #require(
      try FileManager.default.contentsOfDirectory(atPath: SharedData.path("kermany-sample")).sorted().first {
        $0.lowercased().hasSuffix(".jpeg") || $0.lowercased().hasSuffix(".jpg")
      })
    let jpeg = try Data(contentsOf: URL(fileURLWithPath: SharedData.path("kermany-sample/" + jpegFile)))
    let jpegBomb = try #require(DecompressionBomb.jpeg(jpeg, width: 30_000, height: 30_000))
    #expect(refusal(jpegBomb, path: "bomb.jpg")?.reason.hasPrefix("declares 30000 x 30000 pixels") == true)

    let dicom = try Data(contentsOf: URL(fileURLWithPath: SharedData.path("dicom/cxr/COVID-100_mono2_8bit.dcm")))
    let dicomBomb = try #require(DecompressionBomb.dicom(dicom, rows: 30_000, columns: 30_000))
    let reason = refusal(dicomBomb, path: "bomb.dcm")?.reason ?? ""
    #expect(reason.hasPrefix("DICOM: declares 30000 x 30000 pixels (900.0 megapixels)"), "\(reason)")
  }

  /// The limit counts every frame of a DICOM file (GDCM decompresses them all), and it can be
  /// lowered, raised or lifted.
  @Test func theLimitIsAdjustableAndCountsFrames() throws {
    defer { ImageLimits.maxPixels = ImageLimits.defaultMaxPixels }
    let dose = try Data(contentsOf: URL(fileURLWithPath: SharedData.path("dicom/pydicom-test-files/rtdose.dcm")))
    ImageLimits.maxPixels = 1_000  // 10 x 10 x 15 frames = 1,500
    #expect(refusal(dose, path: "rtdose.dcm")?.reason.contains("declares 10 x 10 pixels in 15 frames") == true)
    ImageLimits.maxPixels = 1_500
    #expect(try ImageReader.decode(dose, path: "rtdose.dcm").width == 10)

    let png = try Data(contentsOf: URL(fileURLWithPath: SharedData.path("covid-radiography/images/COVID-100.png")))
    ImageLimits.maxPixels = 256 * 256 - 1
    #expect(refusal(png, path: "COVID-100.png")?.reason.contains("over the limit of 0.1 megapixels") == true)
    ImageLimits.maxPixels = 0  // no limit
    #expect(try ImageReader.decode(png, path: "COVID-100.png").width == 256)
  }

  /// A 66 KB DICOM file whose Pixel Data claims 2 GB: GDCM would zero-fill 2 GB before noticing; the
  /// decoder's memory budget (what the file justifies while parsing) makes it a quick refusal.
  @Test(AddressSanitizer.budgetEnforced) func aDicomElementLongerThanTheFileIsRefused() throws {
    var bytes = [UInt8](
      try Data(contentsOf: URL(fileURLWithPath: SharedData.path("dicom/cxr/COVID-100_mono2_8bit.dcm"))))
    let tag: [UInt8] = [0xE0, 0x7F, 0x10, 0x00, 0x4F, 0x42]  // (7FE0,0010) OB
    let start = try #require(
      bytes.indices.dropLast(12).first { bytes[$0..<($0 + 6)].elementsEqual(tag) })
    (bytes[start + 8], bytes[start + 9], bytes[start + 10], bytes[start + 11]) = (0xF0, 0xFF, 0xFF, 0x7F)
    let reason = refusal(Data(bytes), path: "long.dcm")?.reason ?? ""
    #expect(reason.contains("an element longer than the file"), "\(reason)")
  }
}
