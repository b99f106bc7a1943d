import Foundation

/// Heatmaps as pictures: coloured, blended with the X-ray, side by side. (Placing a network-sized map
/// back onto the original image is in Explanations: it needs the preprocessing.)
public enum Heatmap {
  /// Google's Turbo colormap (Mikhailov 2019) by its published polynomial approximation: blue for 0,
  /// through green and yellow, to dark red for 1; perceptually smoother than jet.
  public static func turbo(_ value: Float) -> (red: UInt8, green: UInt8, blue: UInt8) {
    let x = Double(min(max(value, 0), 1))
    let powers = [1, x, x * x, x * x * x, x * x * x * x, x * x * x * x * x]
    func channel(_ c: [Double]) -> UInt8 {
      let v = zip(c, powers).reduce(0) { $0 + $1.0 * $1.1 }
      return UInt8((min(max(v, 0), 1) * 255).rounded())
    }
    return (
      channel([0.13572138, 4.61539260, -42.66032258, 132.13108234, -152.94239396, 59.28637943]),
      channel([0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604]),
      channel([0.10667330, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973])
    )
  }

  /// 256 entries of `turbo`, for colouring whole images.
  static let turboTable: [(red: UInt8, green: UInt8, blue: UInt8)] = (0..<256).map { turbo(Float($0) / 255) }

  /// The X-ray in grey blended with the coloured map: interleaved RGB bytes of the image's size.
  /// `opacity` is the map's weight (pytorch-grad-cam uses 0.5).
  public static func overlay(_ image: GrayImage, map: GrayImage, opacity: Float = 0.5) -> [UInt8] {
    precondition(image.width == map.width && image.height == map.height, "the map must have the image's size")
    var rgb = [UInt8](repeating: 0, count: image.pixels.count * 3)
    for index in image.pixels.indices {
      let grey = min(max(image.pixels[index], 0), 1) * 255
      let color = turboTable[Int((min(max(map.pixels[index], 0), 1) * 255).rounded())]
      rgb[index * 3] = UInt8((1 - opacity) * grey + opacity * Float(color.red))
      rgb[index * 3 + 1] = UInt8((1 - opacity) * grey + opacity * Float(color.green))
      rgb[index * 3 + 2] = UInt8((1 - opacity) * grey + opacity * Float(color.blue))
    }
    return rgb
  }

  /// RGB images of one height side by side, `gap` white pixels apart; shorter ones are padded white.
  public static func sideBySide(_ panels: [(rgb: [UInt8], width: Int, height: Int)], gap: Int = 8)
    -> (rgb: [UInt8], width: Int, height: Int)
  {
    let height = panels.map(\.height).max() ?? 0
    let width = panels.map(\.width).reduce(0, +) + gap * max(panels.count - 1, 0)
    var rgb = [UInt8](repeating: 255, count: width * height * 3)
    var left = 0
    for panel in panels {
      for y in 0..<panel.height {
        let source = y * panel.width * 3
        let destination = (y * width + left) * 3
        rgb.replaceSubrange(
          destination..<(destination + panel.width * 3), with: panel.rgb[source..<(source + panel.width * 3)])
      }
      left += panel.width + gap
    }
    return (rgb, width, height)
  }

  /// The grey image as RGB bytes (for panels that show the X-ray alone).
  public static func greyRGB(_ image: GrayImage) -> [UInt8] {
    image.displayBytes.flatMap { [$0, $0, $0] }
  }
}
