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
