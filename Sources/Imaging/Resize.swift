import Foundation

/// Resampling with antialiasing: a triangle (bilinear) filter whose support widens with the
/// reduction factor, as PIL's `Image.resize(..., BILINEAR)` and torchvision's antialiased resize
/// do. Without the widening, shrinking a 2,000-pixel radiograph to 224 would alias rib edges.
public enum Resize {
  /// Per output position: the first input index and `taps` normalised weights from there (zero
  /// padded), flat so that the inner loops touch contiguous memory.
  struct Kernel: Sendable {
    var starts: [Int] = []
    var weights: [Float] = []
    var taps = 0
  }

  private static let kernels = KernelCache()

  static func kernel(inputSize: Int, outputSize: Int) -> Kernel {
    kernels.kernel(inputSize: inputSize, outputSize: outputSize) {
      let scale = Double(inputSize) / Double(outputSize)
      let support = Swift.max(scale, 1)  // triangle radius in input pixels
      var rows: [(start: Int, weights: [Float])] = []
      for output in 0..<outputSize {
        let center = (Double(output) + 0.5) * scale
        let first = Swift.max(Int((center - support).rounded(.down)), 0)
        let last = Swift.min(Int((center + support).rounded(.up)), inputSize)
        var weights: [Float] = []
        var total = 0.0
        for input in first..<last {
          let weight = Swift.max(0, 1 - Swift.abs((Double(input) + 0.5 - center) / support))
          weights.append(Float(weight))
          total += weight
        }
        if total > 0 { weights = weights.map { $0 / Float(total) } }
        rows.append((first, weights))
      }
      var kernel = Kernel()
      kernel.taps = rows.map(\.weights.count).max() ?? 0
      for row in rows {
        // Keep every window inside the input so that the padded taps can be read safely.
        let start = Swift.max(0, Swift.min(row.start, inputSize - kernel.taps))
        let shift = row.start - start
        kernel.starts.append(start)
        var padded = [Float](repeating: 0, count: kernel.taps)
        for (index, weight) in row.weights.enumerated() { padded[index + shift] = weight }
        kernel.weights += padded
      }
      return kernel
    }
  }

  /// `image` resampled to `width` × `height`.
  public static func resized(_ image: GrayImage, width: Int, height: Int) -> GrayImage {
    if width == image.width && height == image.height { return image }
    let horizontal = kernel(inputSize: image.width, outputSize: width)
    let vertical = kernel(inputSize: image.height, outputSize: height)
    // Vertical pass first, on whole input rows (contiguous, so the compiler vectorises it), then the
    // horizontal pass on the `height` rows that remain instead of all of the input's.
    let inputWidth = image.width
    var intermediate = [Float](repeating: 0, count: inputWidth * height)
    image.pixels.withUnsafeBufferPointer { source in
      intermediate.withUnsafeMutableBufferPointer { target in
        for y in 0..<height {
          let start = vertical.starts[y]
          let out = target.baseAddress! + y * inputWidth
          for tap in 0..<vertical.taps {
            let weight = vertical.weights[y * vertical.taps + tap]
            if weight == 0 { continue }
            let row = source.baseAddress! + (start + tap) * inputWidth
            for x in 0..<inputWidth { out[x] += row[x] * weight }
          }
        }
      }
    }
    var output = [Float](repeating: 0, count: width * height)
    intermediate.withUnsafeBufferPointer { source in
      horizontal.starts.withUnsafeBufferPointer { starts in
        horizontal.weights.withUnsafeBufferPointer { weights in
          output.withUnsafeMutableBufferPointer { target in
            let taps = horizontal.taps
            for y in 0..<height {
              let row = source.baseAddress! + y * inputWidth
              let out = target.baseAddress! + y * width
              for x in 0..<width {
                let window = row + starts[x]
                let kernel = weights.baseAddress! + x * taps
                var sum: Float = 0
                for tap in 0..<taps { sum += window[tap] * kernel[tap] }
                out[x] = sum
              }
            }
          }
        }
      }
    }
    return GrayImage(width: width, height: height, pixels: output, sourceBitDepth: image.sourceBitDepth)
  }

  /// The centred square of side min(width, height).
  public static func centerSquare(_ image: GrayImage) -> GrayImage {
    let side = Swift.min(image.width, image.height)
    return crop(image, x: (image.width - side) / 2, y: (image.height - side) / 2, width: side, height: side)
  }

  /// The region starting at (x, y); it must lie inside the image.
  public static func crop(_ image: GrayImage, x: Int, y: Int, width: Int, height: Int) -> GrayImage {
    precondition(x >= 0 && y >= 0 && x + width <= image.width && y + height <= image.height, "crop outside the image")
    var pixels: [Float] = []
    pixels.reserveCapacity(width * height)
    for row in y..<(y + height) {
      pixels += image.pixels[(row * image.width + x)..<(row * image.width + x + width)]
    }
    return GrayImage(width: width, height: height, pixels: pixels, sourceBitDepth: image.sourceBitDepth)
  }
}

/// Resize kernels by (input, output) size: a loader resizes thousands of images between the same sizes.
final class KernelCache: @unchecked Sendable {
  private let lock = NSLock()
  private var kernels: [Int: Resize.Kernel] = [:]

  func kernel(inputSize: Int, outputSize: Int, make: () -> Resize.Kernel) -> Resize.Kernel {
    let key = inputSize << 32 | outputSize
    if let kernel = lock.withLock({ kernels[key] }) { return kernel }
    let kernel = make()
    lock.withLock { kernels[key] = kernel }
    return kernel
  }
}
