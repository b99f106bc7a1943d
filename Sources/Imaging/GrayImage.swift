/// A greyscale image: intensities in [0, 1], row-major, with the size and bit depth it was read at.
///
/// X-rays are greyscale; colour files are converted on reading (see `ImageReader`). Higher means
/// brighter on the display, whatever the file's photometric convention.
public struct GrayImage: Sendable, Equatable {
  public let width: Int
  public let height: Int
  /// width × height intensities in [0, 1], row by row.
  public var pixels: [Float]
  /// The bits per sample of the source (8, 12, 16), for information.
  public var sourceBitDepth: Int

  public init(width: Int, height: Int, pixels: [Float], sourceBitDepth: Int = 8) {
    precondition(pixels.count == width * height, "\(pixels.count) pixels cannot fill \(width)x\(height)")
    self.width = width
    self.height = height
    self.pixels = pixels
    self.sourceBitDepth = sourceBitDepth
  }

  /// An image of one constant intensity.
  public init(width: Int, height: Int, value: Float = 0) {
    self.init(width: width, height: height, pixels: Array(repeating: value, count: width * height))
  }

  public subscript(x: Int, y: Int) -> Float {
    get { pixels[y * width + x] }
    set { pixels[y * width + x] = newValue }
  }

  /// 8-bit display values (0–255), rounded.
  public var displayBytes: [UInt8] {
    pixels.map { UInt8((Swift.min(Swift.max($0, 0), 1) * 255).rounded()) }
  }

  /// 16-bit values (0–65535), rounded: for saving maps without losing precision.
  public var sixteenBitValues: [UInt16] {
    pixels.map { UInt16((Swift.min(Swift.max($0, 0), 1) * 65535).rounded()) }
  }
}

/// An image file that cannot be read, naming the file and the reason.
public struct ImageError: Error, CustomStringConvertible, Equatable {
  public let path: String
  public let reason: String

  public init(path: String, reason: String) {
    self.path = path
    self.reason = reason
  }

  public var description: String { "\(path): \(reason)" }
}
