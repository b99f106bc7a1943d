import Testing

@testable import Imaging

@Suite struct ResizeTests {
  @Test func constantImageStaysConstant() {
    let image = GrayImage(width: 300, height: 200, value: 0.4)
    for (width, height) in [(224, 224), (50, 70), (600, 500)] {
      let resized = Resize.resized(image, width: width, height: height)
      #expect(resized.width == width && resized.height == height)
      #expect(resized.pixels.allSatisfy { abs($0 - 0.4) < 1e-5 })
    }
  }

  /// Halving averages each 2x2 block (the triangle filter of radius 2 input pixels centred between
  /// them weights the near pair 3/4 and the far pair 1/4 in each direction): an alternating
  /// one-pixel stripe pattern, which plain bilinear sampling would alias, turns into flat grey.
  @Test func downscalingAntialiasesFineStripes() {
    var image = GrayImage(width: 64, height: 64)
    for y in 0..<64 { for x in 0..<64 { image[x, y] = x % 2 == 0 ? 1 : 0 } }
    let half = Resize.resized(image, width: 32, height: 32)
    let interior = (2..<30).flatMap { y in (2..<30).map { half[$0, y] } }
    #expect(interior.allSatisfy { abs($0 - 0.5) < 1e-4 }, "stripes average to grey")
  }

  /// Against the filter written out: each output pixel the product of the two triangle kernels
  /// (normalised per axis) summed over the input, for shrinking, enlarging and mixed sizes.
  @Test(arguments: [(256, 256, 224, 224), (300, 200, 64, 90), (20, 31, 45, 17), (64, 64, 128, 32)])
  func resizedIsTheSeparableTriangleFilter(sizes: (Int, Int, Int, Int)) {
    let (inputWidth, inputHeight, width, height) = sizes
    var image = GrayImage(width: inputWidth, height: inputHeight)
    for y in 0..<inputHeight {
      for x in 0..<inputWidth { image[x, y] = Float((x * 37 + y * 91) % 101) / 100 }
    }
    func weights(input: Int, output: Int, at position: Int) -> [Double] {
      let scale = Double(input) / Double(output)
      let support = max(scale, 1)
      let center = (Double(position) + 0.5) * scale
      let raw = (0..<input).map { max(0, 1 - abs((Double($0) + 0.5 - center) / support)) }
      let total = raw.reduce(0, +)
      return raw.map { $0 / total }
    }
    let resized = Resize.resized(image, width: width, height: height)
    var worst = 0.0
    for y in stride(from: 0, to: height, by: 3) {
      let rowWeights = weights(input: inputHeight, output: height, at: y)
      for x in stride(from: 0, to: width, by: 5) {
        let columnWeights = weights(input: inputWidth, output: width, at: x)
        var expected = 0.0
        for (sourceY, wy) in rowWeights.enumerated() where wy > 0 {
          for (sourceX, wx) in columnWeights.enumerated() where wx > 0 {
            expected += wy * wx * Double(image[sourceX, sourceY])
          }
        }
        worst = max(worst, abs(Double(resized[x, y]) - expected))
      }
    }
    #expect(worst < 1e-5, "\(sizes): differs from the written-out filter by \(worst)")
  }

  @Test func transposeOfAnOddShape() {
    let values = (0..<(13 * 5)).map(Float.init)
    let turned = Resize.transposed(values, rows: 13, columns: 5)
    var mismatches = 0
    for row in 0..<13 {
      for column in 0..<5 where turned[column * 13 + row] != values[row * 5 + column] { mismatches += 1 }
    }
    #expect(turned.count == values.count && mismatches == 0)
  }

  @Test func cropsAndCentreSquare() {
    var image = GrayImage(width: 6, height: 4)
    for y in 0..<4 { for x in 0..<6 { image[x, y] = Float(y * 6 + x) } }
    let square = Resize.centerSquare(image)
    #expect(square.width == 4 && square.height == 4)
    #expect(square.pixels.prefix(4) == [1, 2, 3, 4])
    let crop = Resize.crop(image, x: 2, y: 1, width: 2, height: 2)
    #expect(crop.pixels == [8, 9, 14, 15])
  }
}
