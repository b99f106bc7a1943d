import CDicom
import Foundation

/// DICOM to display intensities, as DICOM PS3.3 prescribes (C.11): GDCM decodes the stored values;
/// then the modality LUT (rescale slope and intercept), the VOI transform (a VOI LUT when the file has
/// one, else the window with its LINEAR, LINEAR_EXACT or SIGMOID function, else the full range of
/// possible values), and inversion for MONOCHROME1, so that higher is always brighter. GDCM runs in
/// a short-lived child process: it aborts on some malformed files, and that must not end the program. Colour files
/// become grey (RGB by BT.709 weights, YBR by its luminance). Multi-frame files give their first frame.
public enum DicomDecoding {
  /// The attributes that decide how stored values are displayed (for reports and tests).
  public struct Attributes: Equatable, Sendable {
    public var photometric: String
    public var bitsStored: Int
    public var isSigned: Bool
    public var frames: Int
    public var rescaleSlope: Double
    public var rescaleIntercept: Double
    public var window: (center: Double, width: Double)?
    public var voiFunction: String
    public var hasVOILUT: Bool
    /// Study, Series and SOP Instance UIDs ("" when absent). Not part of `==`, which compares how the
    /// pixels are displayed.
    public var studyInstanceUID = ""
    public var seriesInstanceUID = ""
    public var sopInstanceUID = ""
    /// SOP Class UID and Modality ("" when absent), for `DicomInputCheck`.
    public var sopClassUID = ""
    public var modality = ""

    public static func == (a: Attributes, b: Attributes) -> Bool {
      a.photometric == b.photometric && a.bitsStored == b.bitsStored && a.isSigned == b.isSigned
        && a.frames == b.frames && a.rescaleSlope == b.rescaleSlope && a.rescaleIntercept == b.rescaleIntercept
        && a.window?.center == b.window?.center && a.window?.width == b.window?.width
        && a.voiFunction == b.voiFunction && a.hasVOILUT == b.hasVOILUT
    }
  }

  /// A NUL-terminated C character array as a String.
  static func text<Characters>(_ characters: Characters) -> String {
    withUnsafeBytes(of: characters) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
  }

  static func decode(_ data: Data, path: String) throws -> GrayImage {
    try decodeWithAttributes(data, path: path).image
  }

  public static func decodeWithAttributes(_ data: Data, path: String) throws -> (
    image: GrayImage, attributes: Attributes
  ) {
    var raw = cdcm_image()
    var message = [CChar](repeating: 0, count: 512)
    let limit = UInt64(ImageLimits.maxPixels)
    let status = data.withUnsafeBytes { bytes in
      cdcm_decode_isolated(
        bytes.bindMemory(to: UInt8.self).baseAddress, bytes.count, limit, &raw, &message, message.count)
    }
    defer {
      cdcm_free(raw.values)
      cdcm_free(raw.lut)
    }
    if status == CDCM_OVER_PIXEL_LIMIT {
      throw ImageError(
        path: path,
        reason: "DICOM: "
          + ImageLimits.refusal(
            width: Int(raw.width), height: Int(raw.height), frames: Int(raw.frames), limit: Int(limit)))
    }
    guard status == 0, let values = raw.values else {
      throw ImageError(path: path, reason: "DICOM: " + decodedMessage(message))
    }
    let photometric = Self.text(raw.photometric)
    let function = Self.text(raw.voi_function).uppercased()
    let attributes = Attributes(
      photometric: photometric, bitsStored: Int(raw.bits_stored), isSigned: raw.pixel_representation == 1,
      frames: Int(raw.frames), rescaleSlope: raw.rescale_slope, rescaleIntercept: raw.rescale_intercept,
      window: raw.has_window != 0 ? (raw.window_center, raw.window_width) : nil, voiFunction: function,
      hasVOILUT: raw.lut_count > 0, studyInstanceUID: Self.text(raw.study_instance_uid),
      seriesInstanceUID: Self.text(raw.series_instance_uid), sopInstanceUID: Self.text(raw.sop_instance_uid),
      sopClassUID: Self.text(raw.sop_class_uid), modality: Self.text(raw.modality))

    let count = Int(raw.width) * Int(raw.height)
    let samples = Int(raw.samples_per_pixel)
    // 1. One stored value per pixel.
    var stored = [Double](repeating: 0, count: count)
    switch (samples, photometric) {
    case (1, "MONOCHROME1"), (1, "MONOCHROME2"):
      for index in 0..<count { stored[index] = Double(values[index]) }
    case (3, let interpretation) where interpretation.hasPrefix("YBR_FULL") || interpretation.hasPrefix("YBR_PARTIAL"):
      for index in 0..<count { stored[index] = Double(values[3 * index]) }  // Y is the luminance
    case (3, "RGB"), (3, "YBR_RCT"), (3, "YBR_ICT"):  // JPEG 2000's colour transforms decode to RGB
      for index in 0..<count {
        stored[index] =
          0.2126 * Double(values[3 * index]) + 0.7152 * Double(values[3 * index + 1]) + 0.0722
          * Double(values[3 * index + 2])
      }
    default:
      throw ImageError(
        path: path,
        reason: "DICOM: photometric interpretation \(photometric) with \(samples) samples per pixel is not supported")
    }

    // 2. Modality LUT.
    let slope = raw.rescale_slope == 0 ? 1 : raw.rescale_slope
    let modality = stored.map { $0 * slope + raw.rescale_intercept }

    // 3. VOI transform to [0, 1].
    var display = [Float](repeating: 0, count: count)
    if raw.lut_count > 0, let lut = raw.lut {
      let top = Double((1 << Int(Swift.max(1, Swift.min(raw.lut_bits, 16)))) - 1)
      let last = Int(raw.lut_count) - 1
      for index in 0..<count {
        let position = Swift.min(Swift.max(Int(modality[index].rounded()) - Int(raw.lut_first_mapped), 0), last)
        display[index] = Float(Double(lut[position]) / top)
      }
    } else if let (center, width) = attributes.window, width > 0 {
      for index in 0..<count {
        display[index] = Float(voi(modality[index], center: center, width: width, function: function))
      }
    } else {
      // No window: the full range the stored values can take, through the modality LUT.
      let bits = Swift.max(1, Swift.min(Int(raw.bits_stored), 31))
      let low = attributes.isSigned ? -Double(1 << (bits - 1)) : 0
      let high = attributes.isSigned ? Double((1 << (bits - 1)) - 1) : Double((1 << bits) - 1)
      let ends = [low * slope + raw.rescale_intercept, high * slope + raw.rescale_intercept]
      let (minimum, maximum) = (ends.min()!, ends.max()!)
      for index in 0..<count {
        display[index] = Float(
          Swift.min(Swift.max((modality[index] - minimum) / Swift.max(maximum - minimum, 1e-12), 0), 1))
      }
    }

    // 4. MONOCHROME1: low values are bright.
    if photometric == "MONOCHROME1" { display = display.map { 1 - $0 } }
    return (
      GrayImage(width: Int(raw.width), height: Int(raw.height), pixels: display, sourceBitDepth: bits(raw)), attributes
    )
  }

  private static func bits(_ raw: cdcm_image) -> Int { Int(raw.bits_stored > 0 ? raw.bits_stored : raw.bits_allocated) }

  /// The VOI functions of DICOM PS3.3 C.11.2.1.2, with output range [0, 1].
  static func voi(_ x: Double, center c: Double, width w: Double, function: String) -> Double {
    switch function {
    case "LINEAR_EXACT":
      if x <= c - w / 2 { return 0 }
      if x > c + w / 2 { return 1 }
      return (x - c) / w + 0.5
    case "SIGMOID":
      return 1 / (1 + Foundation.exp(-4 * (x - c) / w))
    default:  // LINEAR (C.11.2.1.2.1)
      if x <= c - 0.5 - (w - 1) / 2 { return 0 }
      if x > c - 0.5 + (w - 1) / 2 { return 1 }
      return ((x - (c - 0.5)) / Swift.max(w - 1, 1e-12) + 0.5)
    }
  }
}
