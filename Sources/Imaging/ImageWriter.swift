import CImageIO
import Foundation

/// Writes PNG files: 8-bit grey for images, 16-bit grey for heatmaps, 8-bit RGB for overlays.
public enum ImageWriter {
  /// Encodes samples as PNG bytes. `samples` holds width × height × channels values of the chosen
  /// depth: [UInt8] for 8 bits, [UInt16] for 16.
  public static func encode<Sample>(
    _ samples: [Sample], width: Int, height: Int, channels: Int, bitDepth: Int, palette: [UInt8]? = nil
  ) throws -> Data {
    guard samples.count == width * height * channels else {
      throw ImageError(
        path: "(PNG encoder)", reason: "\(samples.count) samples cannot fill \(width)x\(height)x\(channels)")
    }
    var output: UnsafeMutablePointer<UInt8>?
    var size = 0
    var message = [CChar](repeating: 0, count: 256)
    let status = samples.withUnsafeBytes { pixels in
      (palette ?? []).withUnsafeBufferPointer { colors in
        cio_encode_png(
          pixels.baseAddress, UInt32(width), UInt32(height), Int32(channels), Int32(bitDepth),
          palette == nil ? nil : colors.baseAddress, Int32((palette?.count ?? 0) / 3), &output, &size, &message,
          message.count)
      }
    }
    guard status == 0, let output else {
      throw ImageError(
        path: "(PNG encoder)",
        reason: decodedMessage(message))
    }
    defer { cio_free(output) }
    return Data(bytes: output, count: size)
  }

  /// Encodes 8-bit samples (1 grey or 3 RGB channels) as JPEG bytes.
  public static func encodeJPEG(
    _ samples: [UInt8], width: Int, height: Int, channels: Int = 1, quality: Int = 90, progressive: Bool = false
  ) throws -> Data {
    var output: UnsafeMutablePointer<UInt8>?
    var size = 0
    var message = [CChar](repeating: 0, count: 256)
    let status = samples.withUnsafeBufferPointer {
      cio_encode_jpeg(
        $0.baseAddress, UInt32(width), UInt32(height), Int32(channels), Int32(quality), progressive ? 1 : 0, &output,
        &size, &message, message.count)
    }
    guard status == 0, let output else {
      throw ImageError(
        path: "(JPEG encoder)",
        reason: decodedMessage(message))
    }
    defer { cio_free(output) }
    return Data(bytes: output, count: size)
  }

  /// Writes an image as 8-bit (default) or 16-bit greyscale PNG.
  public static func writePNG(_ image: GrayImage, to path: String, bitDepth: Int = 8) throws {
    let data =
      bitDepth == 16
      ? try encode(image.sixteenBitValues, width: image.width, height: image.height, channels: 1, bitDepth: 16)
      : try encode(image.displayBytes, width: image.width, height: image.height, channels: 1, bitDepth: 8)
    try write(data, to: path)
  }

  /// Writes interleaved 8-bit RGB samples (width × height × 3) as PNG.
  public static func writeRGBPNG(_ rgb: [UInt8], width: Int, height: Int, to path: String) throws {
    try write(try encode(rgb, width: width, height: height, channels: 3, bitDepth: 8), to: path)
  }

  private static func write(_ data: Data, to path: String) throws {
    do {
      try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
      throw ImageError(path: path, reason: "cannot be written (\(error.localizedDescription))")
    }
  }
}
