import Foundation
import TestSupport
import Testing

@testable import Imaging

/// The value of a tag in DICOM JSON: the first of its values.
private func value(_ dataset: [String: Any], _ tag: String) -> Any? {
  ((dataset[tag] as? [String: Any])?["Value"] as? [Any])?.first
}

private func items(_ dataset: [String: Any], _ tag: String) -> [[String: Any]] {
  ((dataset[tag] as? [String: Any])?["Value"] as? [[String: Any]]) ?? []
}

/// The code meaning of a content item's concept name.
private func conceptName(_ item: [String: Any]) -> String? {
  items(item, "0040A043").first.flatMap { value($0, "00080104") as? String }
}

/// Every content item below `item`, depth first.
private func descendants(_ item: [String: Any]) -> [[String: Any]] {
  items(item, "0040A730").flatMap { [$0] + descendants($0) }
}

@Suite(SharedData.required) struct DicomResultsTests {
  static let model = DicomResults.Model(
    architecture: "resnet18", classes: ["COVID-19", "normal", "pneumonia"],
    checkpointSHA256: String(repeating: "ab", count: 32),
    temperature: 1.5, calibrated: true, heatmapMethod: "gradcam")

  /// A source fixture, decoded, with a map that rises from left to right.
  static func source(_ name: String = "COVID-100_mono1_12bit.dcm") throws -> (
    data: Data, image: GrayImage, attributes: DicomDecoding.Attributes, map: GrayImage
  ) {
    let data = try Data(contentsOf: URL(fileURLWithPath: SharedData.path("dicom/cxr/" + name)))
    let decoded = try DicomDecoding.decodeWithAttributes(data, path: name)
    let image = decoded.image
    let map = GrayImage(
      width: image.width, height: image.height,
      pixels: (0..<(image.width * image.height)).map { Float($0 % image.width) / Float(image.width - 1) })
    return (data, image, decoded.attributes, map)
  }

  @Test func theReportReadsBackAsAMeasurementReportInTheSourcesStudy() throws {
    let source = try Self.source()
    let probabilities = [0.7, 0.2, 0.1]
    let written = try DicomResults.make(
      source: source.data, attributes: source.attributes, image: source.image, map: source.map,
      probabilities: probabilities, model: Self.model)
    let report = try DicomResults.json(of: written.structuredReport)

    #expect(value(report, "00080016") as? String == "1.2.840.10008.5.1.4.1.1.88.33", "Comprehensive SR")
    #expect(value(report, "00080060") as? String == "SR")
    #expect(value(report, "0020000D") as? String == source.attributes.studyInstanceUID, "the source's study")
    #expect(value(report, "0020000E") as? String != source.attributes.seriesInstanceUID, "a new series")
    #expect(value(report, "00080018") as? String == written.reportUID)
    #expect((value(report, "00100010") as? [String: String])?["Alphabetic"] == "Anonymous", "patient copied")
    #expect(value(report, "00100020") as? String == "ANON")
    #expect(value(report, "0040A493") as? String == "UNVERIFIED")

    // The evidence names the source image.
    let evidence = items(report, "0040A375").first
    let referenced = items(items(evidence ?? [:], "00081115").first ?? [:], "00081199").first
    #expect(value(referenced ?? [:], "00081155") as? String == source.attributes.sopInstanceUID)

    // TID 1500: the root, its template, the measurement group with the finding and the probabilities.
    #expect(conceptName(report) == "Imaging Measurement Report")
    #expect(value(items(report, "0040A504").first ?? [:], "0040DB00") as? String == "1500")
    let all = descendants(report)
    let group = try #require(all.first { conceptName($0) == "Measurement Group" })
    let groupItems = items(group, "0040A730")
    let finding = try #require(groupItems.first { conceptName($0) == "Finding" })
    #expect(value(items(finding, "0040A168").first ?? [:], "00080100") as? String == "840539006", "COVID-19 in SNOMED")
    for (name, probability) in zip(Self.model.classes, probabilities) {
      let number = try #require(groupItems.first { conceptName($0) == "Probability of \(name)" })
      let measured = items(number, "0040A300").first ?? [:]
      #expect(abs((value(measured, "0040A30A") as? Double ?? -1) - probability) < 1e-9)
      let reference = items(items(number, "0040A730").first ?? [:], "00081199").first ?? [:]
      #expect(
        value(reference, "00081155") as? String == source.attributes.sopInstanceUID, "inferred from the source image")
    }
    let parameters = groupItems.filter { conceptName($0) == "Algorithm Parameters" }.compactMap {
      value($0, "0040A160") as? String
    }
    #expect(parameters.contains { $0.contains(Self.model.checkpointSHA256) })
    #expect(parameters.contains { $0.contains("temperature 1.5") })
  }

  @Test func theCaptureIsTheOverlayWithTheNoticeBurntIn() throws {
    let source = try Self.source()
    let written = try DicomResults.make(
      source: source.data, attributes: source.attributes, image: source.image, map: source.map,
      probabilities: [0.1, 0.8, 0.1], model: Self.model)
    let capture = try DicomResults.json(of: written.secondaryCapture)
    #expect(value(capture, "00080016") as? String == "1.2.840.10008.5.1.4.1.1.7", "Secondary Capture")
    #expect(value(capture, "0020000D") as? String == source.attributes.studyInstanceUID)
    #expect(value(capture, "00280301") as? String == "YES", "burnt-in annotation declared")
    #expect((value(capture, "00204000") as? String)?.contains("RESEARCH USE ONLY") == true)
    #expect(
      value(items(capture, "00082112").first ?? [:], "00081155") as? String == source.attributes.sopInstanceUID)

    // Our reader decodes it (RGB to grey); below the text band it is the overlay, pixel for pixel.
    let decoded = try DicomDecoding.decodeWithAttributes(written.secondaryCapture, path: "sc")
    #expect(decoded.attributes.photometric == "RGB")
    #expect(decoded.image.width == source.image.width && decoded.image.height == source.image.height)
    let overlay = Heatmap.overlay(source.image, map: source.map)
    let width = source.image.width
    for (x, y) in [(10, 200), (128, 128), (250, 250), (0, 100)] {
      let index = y * width + x
      let luminance =
        (0.2126 * Float(overlay[3 * index]) + 0.7152 * Float(overlay[3 * index + 1]) + 0.0722
          * Float(overlay[3 * index + 2])) / 255
      #expect(abs(decoded.image[x, y] - luminance) < 1.5 / 255, "pixel (\(x), \(y))")
    }
    // The band at the top is black with the notice's first letter ("R") in yellow at its place.
    let lines = DicomResults.captureLines([0.1, 0.8, 0.1], 1, Self.model)
    let composed = DicomResults.captureImage(image: source.image, map: source.map, lines: lines)
    let scale = max(
      1, min(width / ((lines.map(\.count).max() ?? 1) * BitmapText.cellWidth + 2), source.image.height / 60))
    let topLeftOfR = (scale * width + scale) * 3  // "R" is drawn at (scale, scale); its row 0 starts set
    #expect(Array(composed.rgb[topLeftOfR..<(topLeftOfR + 3)]) == [255, 220, 0])
    #expect(Array(composed.rgb[0..<3]) == [0, 0, 0])
  }

  /// A capture scaled down to the largest side carries the source's pixel spacing scaled up alike.
  @Test func theCapturesPixelSpacingFollowsItsScale() throws {
    let path = SharedData.path("dicom/pydicom-test-files/JPEG2000.dcm")  // SC with Pixel Spacing 2.26
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    let attributes = try DicomDecoding.decodeWithAttributes(data, path: path).attributes
    let wide = GrayImage(width: 2 * DicomResults.largestCaptureSide, height: 64, value: 0.5)
    let written = try DicomResults.make(
      source: data, attributes: attributes, image: wide, map: wide, probabilities: [0.2, 0.3, 0.5], model: Self.model)
    let capture = try DicomResults.json(of: written.secondaryCapture)
    #expect(value(capture, "00280011") as? Int == DicomResults.largestCaptureSide, "columns halved")
    #expect(value(capture, "00280010") as? Int == 32)
    let spacing = (capture["00280030"] as? [String: Any])?["Value"] as? [Double]
    #expect(spacing == [4.52, 4.52], "2.26 mm per source pixel, 4.52 per capture pixel")
  }

  /// The UIDs of 1,000 results: valid, new (none is the source's) and all different.
  @Test func uidsAreValidNewAndUniqueAcrossAThousandOutputs() throws {
    let source = try Self.source("COVID-1000_mono2_8bit.dcm")
    let small = GrayImage(width: 8, height: 8, value: 0.5)
    var seen = Set<String>()
    for _ in 0..<500 {
      let written = try DicomResults.make(
        source: source.data, attributes: source.attributes, image: small, map: small, probabilities: [0.2, 0.3, 0.5],
        model: Self.model)
      for data in [written.structuredReport, written.secondaryCapture] {
        let dataset = try DicomResults.json(of: data)
        for tag in ["00080018", "0020000E"] {
          let uid = try #require(value(dataset, tag) as? String)
          #expect(DicomUID.isValid(uid), "\(uid)")
          #expect(![source.attributes.sopInstanceUID, source.attributes.seriesInstanceUID].contains(uid))
          seen.insert(uid)
        }
      }
    }
    #expect(seen.count == 2_000, "1,000 outputs, each with its own instance and series UID")
  }

  @Test func uidValidityAndTheDecimalForm() {
    #expect(DicomUID.decimal([0x01, 0x00]) == "256")
    #expect(DicomUID.decimal(Array(repeating: 0xFF, count: 16)) == "340282366920938463463374607431768211455")
    #expect(DicomUID.decimal([0, 0]) == "0")
    #expect(DicomUID.isValid("1.2.840.10008.5.1.4.1.1.7") && DicomUID.isValid("2.25.0"))
    for bad in ["", "1..2", "1.02", "1.2.a", ".1", "1.", String(repeating: "1", count: 65)] {
      #expect(!DicomUID.isValid(bad), "\(bad)")
    }
    #expect(DicomUID.make().count <= 44 && DicomUID.make() != DicomUID.make())
  }

  /// Only single-frame greyscale radiographs are classified; each refusal says why.
  @Test func onlyRadiographsAreAccepted() throws {
    let accepted = try Self.source().attributes
    #expect(DicomInputCheck.refusal(accepted) == nil)
    let ct = try DicomDecoding.decodeWithAttributes(
      Data(contentsOf: URL(fileURLWithPath: SharedData.path("dicom/pydicom-test-files/CT_small.dcm"))), path: "ct"
    ).attributes
    #expect(DicomInputCheck.refusal(ct)?.contains("(CT Image) is not a chest radiograph") == true)
    var changed = accepted
    changed.sopClassUID = "1.2.840.10008.5.1.4.1.1.7"
    changed.modality = "MR"
    #expect(DicomInputCheck.refusal(changed)?.contains("modality is MR") == true)
    changed = accepted
    changed.frames = 3
    #expect(DicomInputCheck.refusal(changed)?.contains("3 frames") == true)
    changed = accepted
    changed.photometric = "RGB"
    #expect(DicomInputCheck.refusal(changed)?.contains("colour image (RGB)") == true)
  }

  @Test func classesGetSnomedOrPrivateCodesOfLegalLength() {
    #expect(DicomResults.findingCode(for: "COVID-19").value == "840539006")
    #expect(DicomResults.findingCode(for: "Normal").scheme == "SCT")
    let other = DicomResults.findingCode(for: "lung opacity with a very long name")
    #expect(other.scheme == DicomResults.privateScheme && other.value.count <= 16)
  }
}

@Suite struct BitmapTextTests {
  /// "L" at scale 2: its stem is the left column of font pixels, its foot the bottom row.
  @Test func glyphsLandWhereTheFontSays() {
    let width = 20
    var rgb = [UInt8](repeating: 0, count: width * 20 * 3)
    BitmapText.draw("L", into: &rgb, width: width, x: 2, y: 1, scale: 2, color: (9, 9, 9))
    func set(_ x: Int, _ y: Int) -> Bool { rgb[(y * width + x) * 3] == 9 }
    for row in 0..<7 {
      #expect(set(2, 1 + 2 * row) && set(3, 2 + 2 * row), "the stem, row \(row)")
    }
    for column in 0..<5 { #expect(set(2 + 2 * column, 13), "the foot, column \(column)") }
    #expect(!set(4, 1) && !set(12, 1) && !set(1, 1), "nothing beside the stem")
    #expect(rgb.filter { $0 == 9 }.count == 3 * 4 * 11, "11 font pixels of 2 × 2, three channels")
  }

  @Test func unknownCharactersAreQuestionMarksAndClippingIsSafe() {
    var a = [UInt8](repeating: 0, count: 10 * 10 * 3)
    var b = a
    BitmapText.draw("é", into: &a, width: 10, x: 0, y: 0, scale: 1)
    BitmapText.draw("?", into: &b, width: 10, x: 0, y: 0, scale: 1)
    #expect(a == b && a.contains(255))
    BitmapText.draw("WIDE TEXT", into: &a, width: 10, x: -3, y: 8, scale: 3)
    BitmapText.fill(&a, width: 10, x: 5, y: 50, boxWidth: 10, boxHeight: 10, color: (1, 1, 1))
    #expect(a.count == 300)
  }
}
