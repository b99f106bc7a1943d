import CImageIO
import Foundation

/// The image formats OrthoCXR reads.
public enum ImageFormat: String, Sendable, CaseIterable {
  case png
  case jpeg
  case dicom

  /// The format of a file by its first bytes (not its name): PNG's signature, JPEG's start-of-image
  /// marker, DICOM's "DICM" at byte 128 (or a `.dcm` name, for files without the preamble).
  public static func detect(_ bytes: Data, path: String = "") -> ImageFormat? {
    let head = [UInt8](bytes.prefix(132))
    if head.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return .png }
    if head.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
    if head.count >= 132, head[128...131].elementsEqual("DICM".utf8) { return .dicom }
    let lowered = path.lowercased()
    if lowered.hasSuffix(".dcm") || lowered.hasSuffix(".dicom") { return .dicom }
    return nil
  }
}

/// Reads X-ray image files into `GrayImage`s. Every failure is an `ImageError` that names the file
/// and the reason; no input crashes or hangs the reader.
public enum ImageReader {
  /// Reads a PNG, JPEG or DICOM file, recognised by its content.
  public static func read(_ path: String) throws -> GrayImage {
    let data: Data
    do {
      data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
    } catch {
      let reason = FileManager.default.fileExists(atPath: path) ? "cannot be read" : "does not exist"
      throw ImageError(path: path, reason: reason)
    }
    return try decode(data, path: path)
  }

  /// Decodes image bytes; `path` names them in errors.
  public static func decode(_ data: Data, path: String) throws -> GrayImage {
    guard !data.isEmpty else { throw ImageError(path: path, reason: "is empty") }
    switch ImageFormat.detect(data, path: path) {
    case .png: return try decodeWithLibrary(data, path: path, cio_decode_png)
    case .jpeg: return try decodeWithLibrary(data, path: path, cio_decode_jpeg)
    case .dicom: return try DicomDecoding.decode(data, path: path)
    case nil: throw ImageError(path: path, reason: "is not a PNG, JPEG or DICOM file")
    }
  }

  typealias Decoder = (
    UnsafePointer<UInt8>?, Int, UInt64, UnsafeMutablePointer<cio_image>?, UnsafeMutablePointer<CChar>?, Int
  ) -> Int32

  private static func decodeWithLibrary(_ data: Data, path: String, _ decoder: Decoder) throws -> GrayImage {
    var image = cio_image()
    var message = [CChar](repeating: 0, count: 512)
    let limit = UInt64(ImageLimits.maxPixels)
    let status = data.withUnsafeBytes { bytes in
      decoder(bytes.bindMemory(to: UInt8.self).baseAddress, bytes.count, limit, &image, &message, message.count)
    }
    if status == CIO_OVER_PIXEL_LIMIT {
      throw ImageError(
        path: path, reason: ImageLimits.refusal(width: Int(image.width), height: Int(image.height), limit: Int(limit)))
    }
    guard status == 0, let raw = image.pixels else { throw ImageError(path: path, reason: decodedMessage(message)) }
    defer { cio_free(raw) }
    let count = Int(image.width) * Int(image.height)
    let pixels = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
      cio_samples_to_float(&image, buffer.baseAddress)
      initialized = count
    }
    return GrayImage(
      width: Int(image.width), height: Int(image.height), pixels: pixels, sourceBitDepth: Int(image.bit_depth))
  }
}
