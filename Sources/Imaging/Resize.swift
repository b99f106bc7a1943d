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
  ///
  /// Both passes run down the columns of a row-major buffer, where the inner loop is a whole row
  /// (contiguous, so the compiler vectorises it): the vertical pass on the image, then the
  /// horizontal one as a vertical pass on the transposed intermediate, transposed back. A direct
  /// horizontal pass is a short dot product per pixel that does not vectorise: 256 → 224 px took 200
  /// µs that way and takes 180 µs this way in a stand-alone build, where most of the rest is the C
  /// library faulting in fresh pages for each array.
  public static func resized(_ image: GrayImage, width: Int, height: Int) -> GrayImage {
    if width == image.width && height == image.height { return image }
    let horizontal = kernel(inputSize: image.width, outputSize: width)
    let vertical = kernel(inputSize: image.height, outputSize: height)
    let rowsResampled = columnPass(image.pixels, rowLength: image.width, kernel: vertical, outputRows: height)
    let turned = transposed(rowsResampled, rows: height, columns: image.width)
    let both = columnPass(turned, rowLength: height, kernel: horizontal, outputRows: width)
    return GrayImage(
      width: width, height: height, pixels: transposed(both, rows: width, columns: height),
      sourceBitDepth: image.sourceBitDepth)
  }

  /// Resamples the rows of a row-major buffer (rows of `rowLength`): output row r is the kernel's
  /// weighted sum of input rows from `kernel.starts[r]`.
  static func columnPass(_ input: [Float], rowLength: Int, kernel: Kernel, outputRows: Int) -> [Float] {
    var output = [Float](repeating: 0, count: rowLength * outputRows)
    input.withUnsafeBufferPointer { source in
      output.withUnsafeMutableBufferPointer { target in
        for row in 0..<outputRows {
          let start = kernel.starts[row]
          let out = target.baseAddress! + row * rowLength
          for tap in 0..<kernel.taps {
            let weight = kernel.weights[row * kernel.taps + tap]
            if weight == 0 { continue }
            let inputRow = source.baseAddress! + (start + tap) * rowLength
            for x in 0..<rowLength { out[x] += inputRow[x] * weight }
          }
        }
      }
    }
    return output
  }

  /// The transpose of a `rows` × `columns` row-major buffer, in 8 × 8 tiles so that both the reads
  /// and the writes stay within a few cache lines.
  static func transposed(_ input: [Float], rows: Int, columns: Int) -> [Float] {
    [Float](unsafeUninitializedCapacity: rows * columns) { output, initialized in
      input.withUnsafeBufferPointer { source in
        guard let from = source.baseAddress, let to = output.baseAddress else { return }
        let tile = 8
        var rowBlock = 0
        while rowBlock < rows {
          let rowEnd = Swift.min(rowBlock &+ tile, rows)
          var columnBlock = 0
          while columnBlock < columns {
            let columnEnd = Swift.min(columnBlock &+ tile, columns)
            for row in rowBlock..<rowEnd {
              let line = from + row &* columns
              for column in columnBlock..<columnEnd { to[column &* rows &+ row] = line[column] }
            }
            columnBlock = columnEnd
          }
          rowBlock = rowEnd
        }
      }
      initialized = rows * columns
    }
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
