import Foundation
import Synchronization

/// How large an image the readers decode. A decompression bomb — a small file whose header declares
/// an enormous image (an 875 KB PNG of 30,000 × 30,000 pixels wants 10.8 GB) — is refused from its
/// header, before a pixel is decoded, with an error naming the file, its declared size and the limit.
/// Process-wide, so that every reader (the loader's workers, the server, the pipelines) obeys one
/// setting; `--max-megapixels` and the `max-megapixels` setting change it.
public enum ImageLimits {
  /// 100 megapixels: ten times the largest digital radiograph detectors (about 4,300 × 4,300).
  public static let defaultMaxPixels = 100_000_000

  private static let storage = Atomic<Int>(defaultMaxPixels)

  /// The most pixels (width × height, times frames for DICOM) a reader decodes; 0 for no limit.
  public static var maxPixels: Int {
    get { storage.load(ordering: .relaxed) }
    set { storage.store(max(0, newValue), ordering: .relaxed) }
  }

  /// Why an image of this declared size is refused: "declares 30000 x 30000 pixels (900.0
  /// megapixels), over the limit of 100.0 megapixels; …".
  static func refusal(width: Int, height: Int, frames: Int = 1, limit: Int = maxPixels) -> String {
    let inFrames = frames > 1 ? " in \(frames) frames" : ""
    let declared = Double(width) * Double(height) * Double(max(frames, 1)) / 1e6
    return "declares \(width) x \(height) pixels\(inFrames) (\(String(format: "%.1f", declared)) megapixels), over the "
      + "limit of \(String(format: "%.1f", Double(limit) / 1e6)) megapixels; raise it with --max-megapixels or the "
      + "max-megapixels setting if the image is real"
  }
}
