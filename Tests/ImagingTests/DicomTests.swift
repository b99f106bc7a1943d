import Foundation
import TestSupport
import Testing

@testable import Imaging

@Suite(SharedData.required) struct DicomTests {
  /// Each chest X-ray DICOM decodes to the display image a correct reader yields, within one grey
  /// level: rescale, VOI window (linear function), MONOCHROME1 inversion, in three encodings.
  @Test func chestXRaysMatchTheirExpectedDisplayImages() throws {
    let folder = SharedData.path("dicom/cxr")
    let names = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".dcm") }.sorted()
    #expect(names.count == 12)
    for name in names {
      let image = try ImageReader.read(folder + "/" + name)
      let expected = try ImageReader.read(folder + "/expected/" + name.replacingOccurrences(of: ".dcm", with: ".png"))
      #expect(image.width == expected.width && image.height == expected.height, "\(name)")
      let worst = zip(image.displayBytes, expected.displayBytes).map { abs(Int($0) - Int($1)) }.max() ?? 255
      #expect(worst <= 1, "\(name): differs by up to \(worst) grey levels")
    }
    let twelveBit = try DicomDecoding.decodeWithAttributes(
      Data(contentsOf: URL(fileURLWithPath: folder + "/COVID-100_mono1_12bit.dcm")), path: "12-bit")
    #expect(twelveBit.attributes.photometric == "MONOCHROME1")
    #expect(twelveBit.attributes.bitsStored == 12)
    #expect(twelveBit.attributes.window != nil)
    // The identifiers an audit record keeps: UIDs are digits and dots, at most 64 characters.
    for uid in [
      twelveBit.attributes.studyInstanceUID, twelveBit.attributes.seriesInstanceUID,
      twelveBit.attributes.sopInstanceUID,
    ] {
      #expect(!uid.isEmpty && uid.count <= 64 && uid.allSatisfy { $0.isNumber || $0 == "." }, "\(uid)")
    }
    #expect(twelveBit.attributes.studyInstanceUID != twelveBit.attributes.sopInstanceUID)
  }

  /// pydicom's test files: which decode and which are rejected, each with a reason. A file moving
  /// from one list to the other is a change in behaviour to look at.
  static let decoding: Set<String> = [
    "693_J2KI.dcm", "CT_small.dcm", "ExplVR_BigEnd.dcm", "GDCMJ2K_TextGBR.dcm", "J2K_pixelrep_mismatch.dcm",
    "JPEG-lossy.dcm", "JPEG2000.dcm", "JPEGLSNearLossless_08.dcm", "JPEGLSNearLossless_16.dcm", "JPGExtended.dcm",
    "MR_small.dcm", "MR_small_RLE.dcm", "MR_small_bigendian.dcm", "MR_small_expb.dcm", "MR_small_implicit.dcm",
    "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_padded.dcm",
    "SC_jpeg_no_color_transform.dcm", "SC_jpeg_no_color_transform_2.dcm", "SC_rgb_dcmtk_+eb+cr.dcm",
    "SC_rgb_dcmtk_+eb+cy+n1.dcm", "SC_rgb_dcmtk_+eb+cy+n2.dcm", "SC_rgb_dcmtk_+eb+cy+np.dcm",
    "SC_rgb_dcmtk_+eb+cy+s2.dcm", "SC_rgb_dcmtk_+eb+cy+s4.dcm", "SC_rgb_gdcm_KY.dcm", "SC_rgb_jls_lossy_line.dcm",
    "SC_rgb_jls_lossy_sample.dcm", "SC_rgb_jpeg.dcm", "SC_rgb_jpeg_app14_dcmd.dcm", "SC_rgb_jpeg_dcmd.dcm",
    "SC_rgb_jpeg_dcmtk.dcm", "SC_rgb_jpeg_gdcm.dcm", "SC_rgb_jpeg_lossy_gdcm.dcm", "SC_rgb_rle.dcm",
    "SC_rgb_rle_16bit.dcm", "SC_rgb_rle_16bit_2frame.dcm", "SC_rgb_rle_2frame.dcm", "SC_rgb_rle_32bit.dcm",
    "SC_rgb_rle_32bit_2frame.dcm", "SC_rgb_small_odd.dcm", "SC_rgb_small_odd_big_endian.dcm",
    "SC_rgb_small_odd_jpeg.dcm", "SC_ybr_full_422_uncompressed.dcm", "badVR.dcm", "examples_jpeg2k.dcm",
    "examples_overlay.dcm", "examples_rgb_color.dcm", "examples_ybr_color.dcm", "image_dfl.dcm", "rtdose.dcm",
    "rtdose_expb.dcm", "rtdose_rle.dcm",
  ]

  /// Rejected, with the reason's key words.
  static let rejected: [String: String] = [
    // Not images: a directory, structured reports, RT plans and structures, a waveform, private sequences.
    "DICOMDIR-empty.dcm": "no pixel data", "UN_sequence.dcm": "no pixel data", "empty_charset_LEI.dcm": "no pixel data",
    "priv_SQ.dcm": "no pixel data", "reportsi.dcm": "no pixel data",
    "reportsi_with_empty_number_tags.dcm": "no pixel data",
    "rtplan.dcm": "no pixel data", "rtstruct.dcm": "no pixel data", "test-SR.dcm": "no pixel data",
    "waveform_ecg.dcm": "no pixel data", "ExplVR_BigEndNoMeta.dcm": "no pixel data",
    "ExplVR_LitEndNoMeta.dcm": "no pixel data", "no_meta_group_length.dcm": "no pixel data",
    "nested_priv_SQ.dcm": "cannot read it as a DICOM image",
    // No file meta header or transfer syntax: GDCM cannot tell how to parse them.
    "no_meta.dcm": "cannot parse", "meta_missing_tsyntax.dcm": "cannot parse", "rtplan_truncated.dcm": "cannot parse",
    // Damaged pixel data.
    "MR_truncated.dcm": "truncated", "JPEG2000-embedded-sequence-delimiter.dcm": "cannot decode its pixel data",
    // Valid, but not what a radiograph is: GDCM would abort on these, 1-bit segmentations, palette colour.
    "rtdose_1frame.dcm": "Frame Increment Pointer", "rtdose_expb_1frame.dcm": "Frame Increment Pointer",
    "rtdose_rle_1frame.dcm": "Frame Increment Pointer", "liver_1frame.dcm": "1 bits per sample",
    "liver_expb_1frame.dcm": "1 bits per sample", "examples_palette.dcm": "PALETTE COLOR",
  ]

  @Test func everyPydicomTestFileDecodesOrFailsClearly() throws {
    let folder = SharedData.path("dicom/pydicom-test-files")
    let names = Set(try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".dcm") })
    #expect(names == Self.decoding.union(Self.rejected.keys), "every file is in one of the two lists")
    for name in names.sorted() {
      let path = folder + "/" + name
      do {
        let image = try ImageReader.read(path)
        #expect(Self.decoding.contains(name), "\(name) decoded but is listed as rejected")
        #expect(image.width > 0 && image.pixels.allSatisfy { $0.isFinite && (0...1).contains($0) }, "\(name)")
      } catch let error as ImageError {
        #expect(error.path == path)
        let expected = Self.rejected[name]
        #expect(expected != nil, "\(name) was rejected but is listed as decoding: \(error.reason)")
        if let expected { #expect(error.reason.contains(expected), "\(name): \(error.reason)") }
      }
    }
  }

  /// RLE colour with 16 and 32 bits per sample: bands of known colours (pydicom reads the first row
  /// as pure red and row 10 as (65535, 32896, 32896) in 16 bits). GDCM hands these pixels' bytes over
  /// rotated; our own RLE decoding puts each colour where it belongs, and 32-bit samples keep their
  /// range.
  @Test(arguments: ["SC_rgb_rle_16bit.dcm", "SC_rgb_rle_32bit.dcm"])
  func multiByteRLEColourKeepsItsColours(name: String) throws {
    let image = try ImageReader.read(SharedData.path("dicom/pydicom-test-files/" + name))
    #expect(image.width == 100 && image.height == 100)
    func luminance(_ red: Double, _ green: Double, _ blue: Double) -> Double {
      0.2126 * red + 0.7152 * green + 0.0722 * blue
    }
    let half = 32896.0 / 65535  // 0x8080 of 0xFFFF; 0x80808080 of 0xFFFFFFFF is the same share
    #expect(abs(Double(image.pixels[0]) - luminance(1, 0, 0)) < 1e-3, "row 0 is red: \(image.pixels[0])")
    #expect(abs(Double(image.pixels[10 * 100]) - luminance(1, half, half)) < 1e-3, "\(image.pixels[10 * 100])")
    #expect(abs(Double(image.pixels[20 * 100]) - luminance(0, 1, 0)) < 1e-3, "row 20 is green")
  }

  /// One 32-bit RT dose stored three ways (little-endian, big-endian, RLE) decodes to one image: GDCM
  /// leaves the 16-bit halves of big-endian 32-bit samples in big-endian order, which the decoder
  /// puts right.
  @Test func aThirtyTwoBitDoseReadsTheSameInEveryEncoding() throws {
    let folder = SharedData.path("dicom/pydicom-test-files/")
    let little = try ImageReader.read(folder + "rtdose.dcm")
    #expect(little.width == 10 && little.pixels.contains { $0 > 0 })
    for name in ["rtdose_expb.dcm", "rtdose_rle.dcm"] {
      #expect(try ImageReader.read(folder + name).pixels == little.pixels, "\(name)")
    }
  }

  @Test func truncatedChestXRayDICOMIsRejected() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let bytes = try Data(contentsOf: URL(fileURLWithPath: SharedData.path("dicom/cxr/COVID-100_mono1_12bit.dcm")))
    for fraction in [2, 4] {
      let path = folder + "/cut-\(fraction).dcm"
      try bytes.prefix(bytes.count / fraction).write(to: URL(fileURLWithPath: path))
      #expect(readingError(path)?.path == path)
    }
  }
}

/// Decoder processes forked while other threads decode hold only their own socket (descriptor 3)
/// and /dev/null: an inherited sibling's socket or the parent's output pipe would outlive the parent
/// (a sibling decoder never sees end-of-file; whoever reads the parent's output waits for ever).
@Suite(SharedData.required) struct DecoderProcessTests {
  /// A decoder started by a thread that has since ended serves the next decode (decoders are pooled
  /// across threads; a parent-death signal tied to the forking thread killed them).
  @Test func aDecoderOutlivesTheThreadThatStartedIt() throws {
    let bytes = try Data(contentsOf: URL(fileURLWithPath: SharedData.path("dicom/cxr/COVID-100_mono2_8bit.dcm")))
    final class Work {
      let bytes: Data
      var width = 0
      init(_ bytes: Data) { self.bytes = bytes }
    }
    for _ in 0..<3 {
      // A POSIX thread decodes and is joined: it has ended, as an operating-system thread, before
      // the next decode.
      let work = Work(bytes)
      var thread = pthread_t()
      let started = pthread_create(
        &thread, nil,
        { argument in
          let work = Unmanaged<Work>.fromOpaque(argument!).takeRetainedValue()
          work.width = (try? DicomDecoding.decode(work.bytes, path: "fixture").width) ?? -1
          return nil
        }, Unmanaged.passRetained(work).toOpaque())
      #expect(started == 0)
      pthread_join(thread, nil)
      #expect(work.width == 256)
      #expect(try DicomDecoding.decode(bytes, path: "fixture").width == 256)
    }
  }

  @Test func decodersForkedConcurrentlyHoldNothingOfTheirParents() throws {
    let bytes = try Data(contentsOf: URL(fileURLWithPath: SharedData.path("dicom/cxr/COVID-100_mono2_8bit.dcm")))
    // Four decodes at once start several decoders, each forked while the others' sockets are open.
    DispatchQueue.concurrentPerform(iterations: 4) { _ in _ = try? DicomDecoding.decode(bytes, path: "fixture") }
    let me = getpid()
    let children = try FileManager.default.contentsOfDirectory(atPath: "/proc").compactMap(Int32.init).filter {
      pid in
      guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
      else { return false }
      // Fields after the command: state, then the parent's pid.
      return stat[stat.index(after: close)...].split(separator: " ").dropFirst().first == "\(me)"
    }
    #expect(!children.isEmpty, "the decoders are this process's children")
    for child in children {
      let descriptors = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(child)/fd").compactMap(Int.init)
      #expect(descriptors.allSatisfy { $0 <= 3 }, "decoder \(child) holds \(descriptors.sorted())")
      for descriptor in [1, 2] {
        let target = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(child)/fd/\(descriptor)")
        #expect(target == "/dev/null", "decoder \(child)'s descriptor \(descriptor) is \(target)")
      }
    }
  }
}

@Suite struct VOIFunctionTests {
  /// DICOM PS3.3 C.11.2.1.2.1 by hand: centre 2048, width 4096 maps 0 to the bottom and 4095 to the top.
  @Test func linearExactAndSigmoid() {
    #expect(DicomDecoding.voi(-1, center: 2048, width: 4096, function: "LINEAR") == 0)
    #expect(abs(DicomDecoding.voi(2047.5, center: 2048, width: 4096, function: "LINEAR") - 0.5) < 1e-12)
    #expect(DicomDecoding.voi(4095, center: 2048, width: 4096, function: "LINEAR") == 1)
    // Centre 40, width 400 (a soft-tissue window): x = 40 - 0.5 + 399 / 4 is three quarters up.
    #expect(abs(DicomDecoding.voi(39.5 + 99.75, center: 40, width: 400, function: "LINEAR") - 0.75) < 1e-12)
    #expect(DicomDecoding.voi(140, center: 40, width: 400, function: "LINEAR_EXACT") == 0.75)
    #expect(abs(DicomDecoding.voi(40, center: 40, width: 400, function: "SIGMOID") - 0.5) < 1e-12)
  }
}
