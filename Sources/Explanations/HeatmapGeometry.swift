import Datasets
import Foundation
import Imaging

extension Heatmap {
  /// A map at the network's input (size × size) placed back onto the original image: the inverse of
  /// the preprocessing's crop and resize. Pixels the network never saw (outside a centre crop) get 0.
  public static func toOriginalSize(
    _ map: GrayImage, width: Int, height: Int, crop: Preprocessing.Crop
  ) -> GrayImage {
    switch crop {
    case .none:
      return Resize.resized(map, width: width, height: height)
    case .centerSquare:
      let side = min(width, height)
      let square = Resize.resized(map, width: side, height: side)
      var output = GrayImage(width: width, height: height, value: 0)
      let (left, top) = ((width - side) / 2, (height - side) / 2)
      for y in 0..<side {
        let source = y * side
        let destination = (y + top) * width + left
        output.pixels.replaceSubrange(destination..<(destination + side), with: square.pixels[source..<(source + side)])
      }
      return output
    }
  }
}
