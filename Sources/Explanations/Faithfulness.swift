import Foundation
import Imaging
import Randomness

/// Whether a heatmap points at what the model really uses: change the pixels it ranks highest and
/// watch the class probability.
///
/// All of these work on the image as the network sees it (a `GrayImage` at the input resolution,
/// values in [0, 1]) with a `Scorer` that runs the model: it takes a batch of such images and returns
/// the explained class's probability for each.
public enum Faithfulness {
  public typealias Scorer = ([GrayImage]) throws -> [Double]

  /// A perturbation curve: the class probability after each step, against the fraction of pixels
  /// changed so far.
  public struct Curve: Sendable, Equatable {
    public let fractions: [Double]
    public let scores: [Double]

    /// The area under the curve over [0, 1], by the trapezoidal rule.
    public var area: Double {
      var area = 0.0
      for step in fractions.indices.dropLast() {
        area += (fractions[step + 1] - fractions[step]) * (scores[step] + scores[step + 1]) / 2
      }
      return area
    }
  }

  /// Deletion (Petsiuk et al. 2018): replace the most important pixels by the baseline's, `steps`
  /// equal steps until all are replaced. A faithful map makes the probability fall fast: lower is better.
  public static func deletion(
    _ image: GrayImage, saliency: [Float], baseline: GrayImage, steps: Int = 20, score: Scorer
  ) throws -> Curve {
    try curve(from: image, to: baseline, order: rankedPixels(saliency), steps: steps, score: score)
  }

  /// Insertion: start from the baseline and put back the most important pixels first. A faithful
  /// map makes the probability rise fast: higher is better.
  public static func insertion(
    _ image: GrayImage, saliency: [Float], baseline: GrayImage, steps: Int = 20, score: Scorer
  ) throws -> Curve {
    try curve(from: baseline, to: image, order: rankedPixels(saliency), steps: steps, score: score)
  }

  /// Pixel indices from the most to the least important; ties keep image order, so that results do
  /// not depend on the sort.
  static func rankedPixels(_ saliency: [Float]) -> [Int] {
    saliency.indices.sorted { saliency[$0] != saliency[$1] ? saliency[$0] > saliency[$1] : $0 < $1 }
  }

  /// Scores `start` with the first 0, 1/steps, …, all of `order`'s pixels taken from `end`.
  static func curve(from start: GrayImage, to end: GrayImage, order: [Int], steps: Int, score: Scorer) throws
    -> Curve
  {
    precondition(steps > 0 && start.pixels.count == end.pixels.count && order.count == start.pixels.count)
    var images: [GrayImage] = []
    var fractions: [Double] = []
    var current = start
    var changed = 0
    for step in 0...steps {
      let target = Int((Double(step) * Double(order.count) / Double(steps)).rounded())
      while changed < target {
        current.pixels[order[changed]] = end.pixels[order[changed]]
        changed += 1
      }
      images.append(current)
      fractions.append(Double(changed) / Double(order.count))
    }
    let scores = try score(images)
    precondition(scores.count == images.count, "the scorer returned \(scores.count) scores for \(images.count) images")
    return Curve(fractions: fractions, scores: scores)
  }

  /// The image blurred by a Gaussian of standard deviation `sigma` pixels (edges extended): the
  /// baseline of deletion and insertion, which removes detail without adding a shape of its own.
  public static func blurred(_ image: GrayImage, sigma: Double) -> GrayImage {
    // The stress test's blur: separable, radius 3σ, edges extended.
    Perturbation.gaussianBlur(image, sigma: sigma)
  }


  /// The result of a ROAD-style test.
  public struct ConfidenceDrop: Sendable, Equatable {
    /// The class probability on the unchanged image.
    public let original: Double
    /// The class probability once the most important pixels are imputed.
    public let imputed: Double
    /// original − imputed: higher means the map found pixels the model needed.
    public var drop: Double { original - imputed }
  }

  /// ROAD, most relevant first (Rong et al. 2022): the `fraction` of pixels that the map ranks highest
  /// are removed and filled in by noisy linear imputation from their neighbours, so that the shape of
  /// the removed region does not itself tell the model anything (the weakness of deletion).
  public static func roadConfidenceDrop(
    _ image: GrayImage, saliency: [Float], fraction: Double = 0.2, seed: UInt64 = 0, score: Scorer
  ) throws -> ConfidenceDrop {
    let order = rankedPixels(saliency)
    var removed = [Bool](repeating: false, count: image.pixels.count)
    for index in order.prefix(Int((fraction * Double(order.count)).rounded())) { removed[index] = true }
    let imputed = noisyLinearImputation(image, removing: removed, seed: seed)
    let scores = try score([image, imputed])
    return ConfidenceDrop(original: scores[0], imputed: scores[1])
  }

  /// Fills the `removed` pixels so that each equals the weighted mean of its eight neighbours (1/6
  /// for the four sides, 1/12 for the corners, as in ROAD), solved by successive over-relaxation,
  /// then adds Gaussian noise of standard deviation `noise`.
  public static func noisyLinearImputation(
    _ image: GrayImage, removing removed: [Bool], noise: Float = 0.01, seed: UInt64 = 0
  ) -> GrayImage {
    precondition(removed.count == image.pixels.count)
    let (width, height) = (image.width, image.height)
    let unknowns = removed.indices.filter { removed[$0] }
    guard !unknowns.isEmpty else { return image }
    var output = image
    let known = image.pixels.indices.filter { !removed[$0] }
    let start = known.isEmpty ? 0.5 : known.reduce(Float(0)) { $0 + image.pixels[$1] } / Float(known.count)
    for index in unknowns { output.pixels[index] = start }
    let neighbours: [(dx: Int, dy: Int, weight: Float)] = [
      (-1, 0, 1 / 6), (1, 0, 1 / 6), (0, -1, 1 / 6), (0, 1, 1 / 6),
      (-1, -1, 1 / 12), (1, -1, 1 / 12), (-1, 1, 1 / 12), (1, 1, 1 / 12),
    ]
    let relaxation: Float = 1.9
    output.pixels.withUnsafeMutableBufferPointer { pixels in
      for _ in 0..<2_000 {
        var largestChange: Float = 0
        for index in unknowns {
          let (x, y) = (index % width, index / width)
          var sum: Float = 0
          var weights: Float = 0
          for n in neighbours {
            let (nx, ny) = (x + n.dx, y + n.dy)
            guard nx >= 0, nx < width, ny >= 0, ny < height else { continue }
            sum += n.weight * pixels[ny * width + nx]
            weights += n.weight
          }
          let change = relaxation * (sum / weights - pixels[index])
          pixels[index] += change
          largestChange = max(largestChange, abs(change))
        }
        if largestChange < 1e-4 { break }
      }
    }
    var random = SplitMix64(seed: seed)
    for index in unknowns {
      output.pixels[index] = min(max(output.pixels[index] + noise * Float(random.gaussian()), 0), 1)
    }
    return output
  }
}
