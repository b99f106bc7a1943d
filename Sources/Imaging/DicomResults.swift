import CDicom
import Foundation

/// Which software wrote a result: the name and version DICOM results and reports carry.
public enum Software {
  public static let name = "OrthoCXR"
  public static let version = "0.3.0"
  public static var nameAndVersion: String { "\(name) \(version)" }
}

/// New DICOM UIDs: "2.25." followed by a random (version 4) UUID written as one decimal integer, the
/// form ISO/IEC 9834-8 and DICOM PS3.5 B.2 give for UIDs made without a registered root. At most 44
/// characters (the limit is 64), digits and dots only, and unique with overwhelming probability.
public enum DicomUID {
  public static func make() -> String {
    let uuid = UUID().uuid
    let bytes = [
      uuid.0, uuid.1, uuid.2, uuid.3, uuid.4, uuid.5, uuid.6, uuid.7, uuid.8, uuid.9, uuid.10, uuid.11, uuid.12,
      uuid.13, uuid.14, uuid.15,
    ]
    return "2.25." + decimal(bytes)
  }

  /// A big-endian unsigned integer of any length in decimal, by repeated division by 10.
  static func decimal(_ bigEndian: [UInt8]) -> String {
    var number = bigEndian
    var digits: [Character] = []
    while number.contains(where: { $0 != 0 }) {
      var remainder = 0
      for index in number.indices {
        let value = remainder * 256 + Int(number[index])
        number[index] = UInt8(value / 10)
        remainder = value % 10
      }
      digits.append(Character(String(remainder)))
    }
    return digits.isEmpty ? "0" : String(digits.reversed())
  }

  /// Whether `uid` is a valid UID (PS3.5 9.1): at most 64 characters, components of digits separated
  /// by single dots, no component with a leading zero (except "0" itself).
  public static func isValid(_ uid: String) -> Bool {
    guard !uid.isEmpty, uid.utf8.count <= 64 else { return false }
    return uid.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { component in
      !component.isEmpty && component.allSatisfy(\.isASCIIDigit) && (component == "0" || component.first != "0")
    }
  }
}

extension Character {
  fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}

/// Which DICOM images a chest X-ray classifier may be asked about: single-frame greyscale projection
/// radiographs (CR, DX for presentation or processing) and greyscale secondary captures of them.
/// Anything else gets a reason instead of a prediction.
public enum DicomInputCheck {
  public static let acceptedClasses: [String: String] = [
    "1.2.840.10008.5.1.4.1.1.1": "Computed Radiography",
    "1.2.840.10008.5.1.4.1.1.1.1": "Digital X-Ray for presentation",
    "1.2.840.10008.5.1.4.1.1.1.1.1": "Digital X-Ray for processing",
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture",
  ]

  /// Names of common storage classes that are refused, for messages.
  static let otherClasses: [String: String] = [
    "1.2.840.10008.5.1.4.1.1.2": "CT Image", "1.2.840.10008.5.1.4.1.1.2.1": "Enhanced CT Image",
    "1.2.840.10008.5.1.4.1.1.4": "MR Image", "1.2.840.10008.5.1.4.1.1.4.1": "Enhanced MR Image",
    "1.2.840.10008.5.1.4.1.1.6.1": "Ultrasound Image", "1.2.840.10008.5.1.4.1.1.3.1": "Ultrasound Multi-frame Image",
    "1.2.840.10008.5.1.4.1.1.20": "Nuclear Medicine Image", "1.2.840.10008.5.1.4.1.1.128": "PET Image",
    "1.2.840.10008.5.1.4.1.1.481.1": "RT Image", "1.2.840.10008.5.1.4.1.1.481.2": "RT Dose",
    "1.2.840.10008.5.1.4.1.1.1.2": "Mammography for presentation", "1.2.840.10008.5.1.4.1.1.1.3": "Intra-oral X-Ray",
    "1.2.840.10008.5.1.4.1.1.12.1": "X-Ray Angiographic Image",
    "1.2.840.10008.5.1.4.1.1.77.1.4": "VL Photographic Image",
    "1.2.840.10008.5.1.4.1.1.88.33": "Comprehensive SR", "1.2.840.10008.5.1.4.1.1.7.4": "Multi-frame True Color SC",
  ]

  /// Modalities a radiograph's secondary capture may carry ("OT" and none are common for SC).
  static let radiographModalities: Set<String> = ["CR", "DX", "DR", "RG", "OT", ""]

  /// Why `attributes` describe an image this tool must not classify, or nil when it may.
  public static func refusal(_ attributes: DicomDecoding.Attributes) -> String? {
    let sopClass = attributes.sopClassUID
    if !sopClass.isEmpty && acceptedClasses[sopClass] == nil {
      let name = otherClasses[sopClass].map { " (\($0))" } ?? ""
      return "its SOP class \(sopClass)\(name) is not a chest radiograph: only CR, DX and greyscale secondary"
        + " captures are classified"
    }
    if !radiographModalities.contains(attributes.modality.uppercased()) {
      return "its modality is \(attributes.modality), not a radiograph (CR or DX)"
    }
    if attributes.frames > 1 {
      return "it has \(attributes.frames) frames: only single-frame radiographs are classified"
    }
    if !attributes.photometric.hasPrefix("MONOCHROME") {
      return "it is a colour image (\(attributes.photometric)): radiographs are greyscale"
    }
    return nil
  }
}

/// A model's result on a DICOM image, as DICOM for the image's own study: a Comprehensive SR (TID
/// 1500 measurement report: the predicted class as the finding with each class's probability, the
/// algorithm's name, version, checkpoint hash and temperature) and a Secondary Capture of the X-ray
/// with the heatmap blended in and a burnt-in line saying it is a research result. Both carry the
/// source's patient and study, new series and instance UIDs, and a reference to the source image.
public enum DicomResults {
  /// The model, as the results describe it.
  public struct Model: Sendable {
    /// "resnet18".
    public var architecture: String
    public var classes: [String]
    public var checkpointSHA256: String
    public var temperature: Double
    public var calibrated: Bool
    /// The heatmap method ("gradcam").
    public var heatmapMethod: String

    public init(
      architecture: String, classes: [String], checkpointSHA256: String, temperature: Double, calibrated: Bool,
      heatmapMethod: String
    ) {
      self.architecture = architecture
      self.classes = classes
      self.checkpointSHA256 = checkpointSHA256
      self.temperature = temperature
      self.calibrated = calibrated
      self.heatmapMethod = heatmapMethod
    }

    var name: String { "\(architecture), \(classes.count) classes" }
  }

  /// The two instances written for one image.
  public struct Written: Sendable {
    public var structuredReport: Data
    public var secondaryCapture: Data
    public var reportUID: String
    public var captureUID: String
    public var studyInstanceUID: String
  }

  /// The private coding scheme of concepts DICOM has no code for (a class probability; a class
  /// without a SNOMED code).
  public static let privateScheme = "99ORTHOCXR"
  /// Series numbers of the results, high so that they sort after the acquisition's series.
  public static let reportSeriesNumber = 9901
  public static let captureSeriesNumber = 9902
  /// A secondary capture's longest side at most (larger sources are scaled down; the pixel spacing
  /// follows).
  public static let largestCaptureSide = 2048
  public static let researchNotice = "RESEARCH USE ONLY - NOT FOR DIAGNOSIS"

  /// SNOMED CT codes for the classes of the COVID-19 datasets; other classes get a private code.
  public static func findingCode(for className: String) -> (value: String, scheme: String, meaning: String) {
    let key = className.lowercased().filter { $0.isLetter || $0.isNumber }
    switch key {
    case "covid19", "covid": return ("840539006", "SCT", "COVID-19")
    case "normal": return ("17621005", "SCT", "Normal")
    case "pneumonia", "viralpneumonia": return ("233604007", "SCT", "Pneumonia")
    default:
      let value = "C-" + String(className.uppercased().filter { $0.isASCII && ($0.isLetter || $0.isNumber) }.prefix(14))
      return (value, privateScheme, className)
    }
  }

  /// Writes both instances for one decoded DICOM image. `image` and `map` have the source's size;
  /// `attributes` are the source's (from `DicomDecoding.decodeWithAttributes`).
  public static func make(
    source: Data, attributes: DicomDecoding.Attributes, image: GrayImage, map: GrayImage, probabilities: [Double],
    model: Model
  ) throws -> Written {
    precondition(probabilities.count == model.classes.count, "one probability per class")
    let predicted = probabilities.indices.max { probabilities[$0] < probabilities[$1] } ?? 0
    let study = attributes.studyInstanceUID.isEmpty ? DicomUID.make() : attributes.studyInstanceUID
    let report = try structuredReport(
      source: source, study: study, probabilities: probabilities, predicted: predicted, model: model)
    let capture = try secondaryCapture(
      source: source, study: study, image: image, map: map, probabilities: probabilities, predicted: predicted,
      model: model)
    return Written(
      structuredReport: report.data, secondaryCapture: capture.data, reportUID: report.uid, captureUID: capture.uid,
      studyInstanceUID: study)
  }

  static func structuredReport(
    source: Data, study: String, probabilities: [Double], predicted: Int, model: Model
  ) throws -> (data: Data, uid: String) {
    let uid = DicomUID.make()
    let findings = model.classes.map { findingCode(for: $0) }
    let concepts = model.classes.enumerated().map { index, name in
      (value: "P-\(index + 1)", scheme: privateScheme, meaning: "Probability of \(name)")
    }
    let parameters = [
      "checkpoint SHA-256 \(model.checkpointSHA256)",
      String(format: "temperature %.6g (%@)", model.temperature, model.calibrated ? "calibrated" : "not calibrated"),
      "heatmap \(model.heatmapMethod)",
    ]
    let strings = CStrings()
    let codes = { (list: [(value: String, scheme: String, meaning: String)]) in
      list.map { cdcm_code(value: strings[$0.value], scheme: strings[$0.scheme], meaning: strings[$0.meaning]) }
    }
    let findingCodes = codes(findings)
    let conceptCodes = codes(concepts)
    let parameterPointers: [UnsafePointer<CChar>?] = parameters.map { strings[$0] }
    var identity = identity(
      uid: uid, study: study, series: reportSeriesNumber, description: "OrthoCXR result (SR)", model: model, strings)
    let data = try parameterPointers.withUnsafeBufferPointer { parameterBuffer in
      try findingCodes.withUnsafeBufferPointer { findingBuffer in
        try conceptCodes.withUnsafeBufferPointer { conceptBuffer in
          try probabilities.withUnsafeBufferPointer { probabilityBuffer in
            var content = cdcm_sr_content(
              device_observer_uid: strings[deviceObserverUID], algorithm_name: strings[Software.name],
              algorithm_version: strings["\(Software.nameAndVersion), \(model.name)"],
              algorithm_parameters: parameterBuffer.baseAddress, parameter_count: parameters.count,
              tracking_identifier: strings["chest X-ray classification"], tracking_uid: strings[DicomUID.make()],
              class_count: model.classes.count, findings: findingBuffer.baseAddress,
              probability_concepts: conceptBuffer.baseAddress, probabilities: probabilityBuffer.baseAddress,
              predicted: predicted, private_scheme: strings[privateScheme],
              private_scheme_name: strings["OrthoCXR concepts without a standard code"])
            return try call(source) { cdcm_make_sr($0, $1, &identity, &content, $2, $3, $4, $5) }
          }
        }
      }
    }
    return (data, uid)
  }

  static func secondaryCapture(
    source: Data, study: String, image: GrayImage, map: GrayImage, probabilities: [Double], predicted: Int,
    model: Model
  ) throws -> (data: Data, uid: String) {
    let uid = DicomUID.make()
    let composed = captureImage(image: image, map: map, lines: captureLines(probabilities, predicted, model))
    let strings = CStrings()
    var identity = identity(
      uid: uid, study: study, series: captureSeriesNumber, description: "OrthoCXR heatmap (SC)", model: model, strings)
    let data = try composed.rgb.withUnsafeBufferPointer { pixels in
      var content = cdcm_sc_content(
        width: UInt32(composed.width), height: UInt32(composed.height), rgb: pixels.baseAddress,
        scale: Double(composed.width) / Double(image.width),
        derivation_description: strings[
          "\(model.heatmapMethod) heatmap of \(model.architecture) for class \(model.classes[predicted]), blended"
            + " with the source image (turbo colours, weight 0.5); text burnt in"],
        image_comments: strings[researchNotice + ". \(Software.nameAndVersion)."])
      return try call(source) { cdcm_make_sc($0, $1, &identity, &content, $2, $3, $4, $5) }
    }
    return (data, uid)
  }

  /// The burnt-in lines: the notice, then the prediction with every class's probability.
  static func captureLines(_ probabilities: [Double], _ predicted: Int, _ model: Model) -> [String] {
    let classes = zip(model.classes, probabilities).map { String(format: "%@ %.2f", $0.0, $0.1) }
    return [
      researchNotice,
      "\(Software.name) \(model.architecture) \(model.heatmapMethod): \(model.classes[predicted])",
      classes.joined(separator: "  "),
    ]
  }

  /// The X-ray with the map blended in, scaled to at most `largestCaptureSide`, and `lines` on a dark
  /// band at the top, the font scaled with the image.
  static func captureImage(image: GrayImage, map: GrayImage, lines: [String]) -> (
    rgb: [UInt8], width: Int, height: Int
  ) {
    let factor = min(1, Double(largestCaptureSide) / Double(max(image.width, image.height)))
    let (width, height) = (
      max(1, Int((Double(image.width) * factor).rounded())), max(1, Int((Double(image.height) * factor).rounded()))
    )
    var rgb = Heatmap.overlay(
      Resize.resized(image, width: width, height: height), map: Resize.resized(map, width: width, height: height))
    // The longest line fills at most the image's width.
    let longest = lines.map(\.count).max() ?? 1
    let scale = max(1, min(width / (longest * BitmapText.cellWidth + 2), height / 60))
    let lineHeight = BitmapText.cellHeight * scale
    BitmapText.fill(
      &rgb, width: width, x: 0, y: 0, boxWidth: width, boxHeight: lineHeight * lines.count + 2 * scale,
      color: (0, 0, 0))
    for (index, line) in lines.enumerated() {
      BitmapText.draw(
        line, into: &rgb, width: width, x: scale, y: scale + index * lineHeight, scale: scale,
        color: index == 0 ? (255, 220, 0) : (255, 255, 255))
    }
    return (rgb, width, height)
  }

  /// The Device Observer UID of every OrthoCXR result (TID 1004): one fixed UID made once for this
  /// software, so that results from any installation are recognisably this tool's.
  static let deviceObserverUID = "2.25.100182697949850490567654186983243374782"

  static func identity(
    uid: String, study: String, series: Int, description: String, model: Model, _ strings: CStrings
  ) -> cdcm_result_identity {
    cdcm_result_identity(
      series_instance_uid: strings[DicomUID.make()], sop_instance_uid: strings[uid],
      fallback_study_instance_uid: strings[study], series_number: Int32(series),
      series_description: strings[description], manufacturer: strings[Software.name],
      software_version: strings[Software.nameAndVersion], model_name: strings["\(Software.name) \(model.architecture)"])
  }

  /// Runs a C writer over `source`, returning its output or throwing its message.
  static func call(
    _ source: Data,
    _ writer: (
      UnsafePointer<UInt8>?, Int, UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>, UnsafeMutablePointer<Int>,
      UnsafeMutablePointer<CChar>, Int
    ) -> Int32
  ) throws -> Data {
    var output: UnsafeMutablePointer<UInt8>?
    var size = 0
    var message = [CChar](repeating: 0, count: 512)
    let status = source.withUnsafeBytes { bytes in
      writer(bytes.bindMemory(to: UInt8.self).baseAddress, bytes.count, &output, &size, &message, message.count)
    }
    defer { cdcm_free(output) }
    guard status == 0, let output else {
      throw ImageError(path: "DICOM result", reason: decodedMessage(message))
    }
    return Data(bytes: output, count: size)
  }

  /// The data set of a DICOM file as DICOM JSON (PS3.18 F.2), parsed: for checking what was written.
  /// Only for files this program wrote or has decoded already (it parses in this process).
  public static func json(of data: Data) throws -> [String: Any] {
    var text: UnsafeMutablePointer<CChar>?
    var message = [CChar](repeating: 0, count: 512)
    let status = data.withUnsafeBytes { bytes in
      cdcm_to_json(bytes.bindMemory(to: UInt8.self).baseAddress, bytes.count, &text, &message, message.count)
    }
    defer { cdcm_free(text) }
    guard status == 0, let text else { throw ImageError(path: "DICOM", reason: decodedMessage(message)) }
    let object = try JSONSerialization.jsonObject(with: Data(bytes: text, count: strlen(text)))
    guard let dictionary = object as? [String: Any] else { throw ImageError(path: "DICOM", reason: "not a data set") }
    return dictionary
  }
}

/// NUL-terminated copies of Swift strings that live as long as this object: for C structs of
/// `const char *` fields.
final class CStrings {
  private var storage: [UnsafeMutablePointer<CChar>] = []

  subscript(_ text: String) -> UnsafePointer<CChar>? {
    let copy = strdup(text)!
    storage.append(copy)
    return UnsafePointer(copy)
  }

  deinit { storage.forEach { free($0) } }
}
