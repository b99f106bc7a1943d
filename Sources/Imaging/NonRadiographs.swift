import Foundation
import Randomness

/// Images that are plainly not radiographs, for testing out-of-distribution detection: noise,
/// gradients, printed text, checkerboards and flat fields, each seeded and reproducible.
public enum NonRadiographs {
  public enum Kind: String, CaseIterable, Sendable {
    case uniformNoise = "uniform-noise"
    case gaussianNoise = "gaussian-noise"
    case linearGradient = "linear-gradient"
    case radialGradient = "radial-gradient"
    case text
    case checkerboard
    case flat
  }

  /// `count` images of `size` × `size`, the kinds taken in turn; image i depends only on (seed, i).
  public static func make(count: Int, size: Int = 256, seed: UInt64 = 0) -> [(name: String, image: GrayImage)] {
    (0..<count).map { index in
      let kind = Kind.allCases[index % Kind.allCases.count]
      var random = SplitMix64(seed: seed &* 0x9E37_79B9 &+ UInt64(index))
      return ("\(kind.rawValue)-\(index)", image(kind, size: size, random: &random))
    }
  }

  static func image(_ kind: Kind, size: Int, random: inout SplitMix64) -> GrayImage {
    func uniform() -> Float { Float(random.next() >> 11) / Float(1 << 53) }
    var pixels = [Float](repeating: 0, count: size * size)
    switch kind {
    case .uniformNoise:
      for index in pixels.indices { pixels[index] = uniform() }
    case .gaussianNoise:
      let (mean, deviation) = (0.3 + 0.4 * uniform(), 0.05 + 0.2 * uniform())
      for index in pixels.indices {
        // Box–Muller.
        let (u, v) = (max(uniform(), 1e-7), uniform())
        let normal = (-2 * Foundation.log(u)).squareRoot() * Foundation.cos(2 * Float.pi * v)
        pixels[index] = min(max(mean + deviation * normal, 0), 1)
      }
    case .linearGradient:
      let angle = 2 * Float.pi * uniform()
      let (dx, dy) = (Foundation.cos(angle), Foundation.sin(angle))
      for y in 0..<size {
        for x in 0..<size {
          let t = (Float(x) / Float(size) - 0.5) * dx + (Float(y) / Float(size) - 0.5) * dy
          pixels[y * size + x] = min(max(t + 0.5, 0), 1)
        }
      }
    case .radialGradient:
      let (cx, cy) = (uniform() * Float(size), uniform() * Float(size))
      let invert = uniform() < 0.5
      for y in 0..<size {
        for x in 0..<size {
          let distance = ((Float(x) - cx) * (Float(x) - cx) + (Float(y) - cy) * (Float(y) - cy)).squareRoot()
          let value = min(distance / Float(size), 1)
          pixels[y * size + x] = invert ? 1 - value : value
        }
      }
    case .text:
      var rgb = [UInt8](repeating: 235, count: size * size * 3)
      let words = ["REPORT", "PATIENT", "CHEST", "NORMAL", "FINDINGS", "IMPRESSION", "LUNG", "X-RAY", "2020"]
      let scale = 1 + Int(uniform() * 2)
      var y = 4
      while y < size - 8 * scale {
        let line = (0..<4).map { _ in words[Int(uniform() * Float(words.count)) % words.count] }.joined(separator: " ")
        BitmapText.draw(line, into: &rgb, width: size, x: 4, y: y, scale: scale, color: (20, 20, 20))
        y += 10 * scale
      }
      for index in pixels.indices { pixels[index] = Float(rgb[index * 3]) / 255 }
    case .checkerboard:
      let cell = 8 + Int(uniform() * 32)
      for y in 0..<size {
        for x in 0..<size { pixels[y * size + x] = (x / cell + y / cell) % 2 == 0 ? 0.9 : 0.1 }
      }
    case .flat:
      let value = uniform()
      for index in pixels.indices { pixels[index] = value }
    }
    return GrayImage(width: size, height: size, pixels: pixels)
  }
}
