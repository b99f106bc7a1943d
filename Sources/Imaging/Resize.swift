/// Resampling with antialiasing: a triangle (bilinear) filter whose support widens with the
/// reduction factor, as PIL's `Image.resize(..., BILINEAR)` and torchvision's antialiased resize
/// do. Without the widening, shrinking a 2,000-pixel radiograph to 224 would alias rib edges.
public enum Resize {
  /// Per output position: the first input index and the normalised weights from there.
  struct Kernel {
    var starts: [Int] = []
    var weights: [[Float]] = []
  }

  static func kernel(inputSize: Int, outputSize: Int) -> Kernel {
    let scale = Double(inputSize) / Double(outputSize)
    let support = Swift.max(scale, 1)  // triangle radius in input pixels
    var kernel = Kernel()
    for output in 0..<outputSize {
      let center = (Double(output) + 0.5) * scale
      let first = Swift.max(Int((center - support).rounded(.down)), 0)
      let last = Swift.min(Int((center + support).rounded(.up)), inputSize)
      var weights: [Float] = []
      var total = 0.0
      for input in first..<last {
        let distance = Swift.abs((Double(input) + 0.5 - center) / support)
        let weight = Swift.max(0, 1 - distance)
        weights.append(Float(weight))
        total += weight
      }
      if total > 0 { weights = weights.map { $0 / Float(total) } }
      kernel.starts.append(first)
      kernel.weights.append(weights)
    }
    return kernel
  }

  /// `image` resampled to `width` × `height`.
  public static func resized(_ image: GrayImage, width: Int, height: Int) -> GrayImage {
    if width == image.width && height == image.height { return image }
    let horizontal = kernel(inputSize: image.width, outputSize: width)
    let vertical = kernel(inputSize: image.height, outputSize: height)
    // Horizontal pass: image.height rows of `width` samples.
    var intermediate = [Float](repeating: 0, count: width * image.height)
    image.pixels.withUnsafeBufferPointer { source in
      intermediate.withUnsafeMutableBufferPointer { target in
        for y in 0..<image.height {
          let row = y * image.width
          for x in 0..<width {
            var sum: Float = 0
            let start = row + horizontal.starts[x]
            for (offset, weight) in horizontal.weights[x].enumerated() { sum += source[start + offset] * weight }
            target[y * width + x] = sum
          }
        }
      }
    }
    // Vertical pass.
    var output = [Float](repeating: 0, count: width * height)
    intermediate.withUnsafeBufferPointer { source in
      output.withUnsafeMutableBufferPointer { target in
        for y in 0..<height {
          let start = vertical.starts[y]
          for (offset, weight) in vertical.weights[y].enumerated() {
            let row = (start + offset) * width
            for x in 0..<width { target[y * width + x] += source[row + x] * weight }
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
