import Foundation
import Randomness

/// Acquisition shifts and shortcut probes applied to a decoded X-ray (values in [0, 1]) before the
/// model's own preprocessing, at severities 1–5 (0: the image unchanged), after ImageNet-C
/// (Hendrycks & Dietterich 2019) but chosen for radiographs. Sizes are fractions of the image's
/// shorter side, so a severity means the same on a 299-pixel PNG and a 3,000-pixel DICOM. Every
/// perturbation is deterministic for its seed.
public struct Perturbation: Hashable, Sendable, CustomStringConvertible {
  public enum Family: String, CaseIterable, Sendable, Codable {
    case blur
    case gaussianNoise = "gaussian-noise"
    case poissonNoise = "poisson-noise"
    case contrast
    case gamma
    case brightness
    case jpeg
    case resolution
    case rotation
    case zoom
    case inversion = "inverted-polarity"
    case text = "burnt-in-text"
    case border

    /// What severity s does, for help texts and reports.
    public var explanation: String {
      switch self {
      case .blur: "Gaussian blur, σ = 0.3, 0.6, 1, 1.5, 2.5% of the shorter side"
      case .gaussianNoise: "additive Gaussian noise, σ = 0.02, 0.04, 0.06, 0.09, 0.12"
      case .poissonNoise: "quantum (Poisson) noise, 500, 200, 100, 50, 25 photons at full brightness"
      case .contrast: "contrast about the mean × 0.75, 0.6, 0.45, 0.3, 0.2"
      case .gamma: "gamma 1.3, 1.6, 2, 2.5, 3 (darker mid-tones)"
      case .brightness: "brightness + 0.05, 0.1, 0.15, 0.2, 0.3"
      case .jpeg: "JPEG re-compression at quality 80, 60, 40, 20, 10"
      case .resolution: "down to 75, 50, 35, 25, 15% of the size and back up"
      case .rotation: "rotation by 3, 6, 10, 15, 20° (direction by seed), black corners"
      case .zoom: "central crop of 95, 90, 85, 80, 70% of each side, scaled back"
      case .inversion: "inverted polarity mixed in at 20, 40, 60, 80, 100% (a MONOCHROME1 mistake)"
      case .text: "white burnt-in text lines and L/R markers: 1, 2, 3, 4, 6 of each, larger with severity"
      case .border: "black padding of 3, 6, 10, 15, 20% of the shorter side on every edge"
      }
    }

    /// Whether it moves pixels (so a heatmap must be moved the same way to be compared).
    public var isGeometric: Bool { [.rotation, .zoom, .border].contains(self) }
  }

  public var family: Family
  /// 0 (none) to 5.
  public var severity: Int

  public init(_ family: Family, severity: Int) {
    self.family = family
    self.severity = min(max(severity, 0), 5)
  }

  public var description: String { "\(family.rawValue) \(severity)" }

  /// The parameter of each severity 1–5.
  static let parameters: [Family: [Double]] = [
    .blur: [0.003, 0.006, 0.01, 0.015, 0.025], .gaussianNoise: [0.02, 0.04, 0.06, 0.09, 0.12],
    .poissonNoise: [500, 200, 100, 50, 25], .contrast: [0.75, 0.6, 0.45, 0.3, 0.2], .gamma: [1.3, 1.6, 2, 2.5, 3],
    .brightness: [0.05, 0.1, 0.15, 0.2, 0.3], .jpeg: [80, 60, 40, 20, 10], .resolution: [0.75, 0.5, 0.35, 0.25, 0.15],
    .rotation: [3, 6, 10, 15, 20], .zoom: [0.95, 0.9, 0.85, 0.8, 0.7], .inversion: [0.2, 0.4, 0.6, 0.8, 1],
    .text: [1, 2, 3, 4, 6], .border: [0.03, 0.06, 0.1, 0.15, 0.2],
  ]

  var parameter: Double { Self.parameters[family]![severity - 1] }

  /// The perturbed image. `seed` decides the random parts (noise, rotation direction, text).
  public func apply(to image: GrayImage, seed: UInt64) throws -> GrayImage {
    guard severity > 0, image.width > 0, image.height > 0 else { return image }
    var random = SplitMix64(seed: seed ^ (UInt64(Family.allCases.firstIndex(of: family)!) << 32) ^ UInt64(severity))
    let side = Double(min(image.width, image.height))
    switch family {
    case .blur: return Self.gaussianBlur(image, sigma: parameter * side)
    case .gaussianNoise:
      return map(image) { $0 + Float(parameter) * Self.normal(&random) }
    case .poissonNoise:
      return map(image) { Float(Self.poisson(Double($0) * parameter, &random) / parameter) }
    case .contrast:
      let mean = image.pixels.reduce(0, +) / Float(image.pixels.count)
      return map(image) { ($0 - mean) * Float(parameter) + mean }
    case .gamma: return map(image) { Foundation.pow(max($0, 0), Float(parameter)) }
    case .brightness: return map(image) { $0 + Float(parameter) }
    case .jpeg:
      let data = try ImageWriter.encodeJPEG(
        image.displayBytes, width: image.width, height: image.height, quality: Int(parameter))
      return try ImageReader.decode(data, path: "(re-compressed JPEG)")
    case .resolution:
      let small = Resize.resized(
        image, width: max(1, Int((Double(image.width) * parameter).rounded())),
        height: max(1, Int((Double(image.height) * parameter).rounded())))
      return Resize.resized(small, width: image.width, height: image.height)
    case .rotation:
      let sign: Double = random.next() % 2 == 0 ? 1 : -1
      return Self.rotated(image, degrees: sign * parameter)
    case .zoom:
      let (width, height) = (
        max(1, Int((Double(image.width) * parameter).rounded())),
        max(1, Int((Double(image.height) * parameter).rounded()))
      )
      let cropped = Resize.crop(
        image, x: (image.width - width) / 2, y: (image.height - height) / 2, width: width, height: height)
      return Resize.resized(cropped, width: image.width, height: image.height)
    case .inversion:
      let weight = Float(parameter)
      return map(image) { (1 - weight) * $0 + weight * (1 - $0) }
    case .text: return Self.burnIn(image, count: Int(parameter), severity: severity, random: &random)
    case .border: return Self.padded(image, by: max(1, Int((parameter * side).rounded())))
    }
  }

  /// The same geometric change applied to a map of the image (a heatmap at the image's size), so
  /// that it can be compared with the map of the perturbed image. Photometric families leave it.
  public func applyGeometry(to map: GrayImage, seed: UInt64) throws -> GrayImage {
    guard family.isGeometric else { return map }
    return try apply(to: map, seed: seed)
  }

  func map(_ image: GrayImage, _ transform: (Float) -> Float) -> GrayImage {
    GrayImage(
      width: image.width, height: image.height, pixels: image.pixels.map { min(max(transform($0), 0), 1) },
      sourceBitDepth: image.sourceBitDepth)
  }

  // MARK: The operations

  static func normal(_ random: inout SplitMix64) -> Float {
    let u = max(Double(random.next() >> 11) / Double(1 << 53), 1e-300)
    let v = Double(random.next() >> 11) / Double(1 << 53)
    return Float((-2 * Foundation.log(u)).squareRoot() * Foundation.cos(2 * .pi * v))
  }

  /// A Poisson draw: Knuth's product method for small means, the normal approximation above 30.
  static func poisson(_ mean: Double, _ random: inout SplitMix64) -> Double {
    guard mean > 0 else { return 0 }
    if mean > 30 { return max(0, (mean + mean.squareRoot() * Double(normal(&random))).rounded()) }
    let limit = Foundation.exp(-mean)
    var product = 1.0
    var count = -1.0
    repeat {
      product *= Double(random.next() >> 11) / Double(1 << 53)
      count += 1
    } while product > limit
    return count
  }

  /// Separable Gaussian blur (kernel radius 3σ, edges clamped); σ below 0.1 pixel is the identity.
  public static func gaussianBlur(_ image: GrayImage, sigma: Double) -> GrayImage {
    guard sigma >= 0.1 else { return image }
    let radius = max(1, Int((3 * sigma).rounded(.up)))
    var kernel = (-radius...radius).map { Float(Foundation.exp(-Double($0 * $0) / (2 * sigma * sigma))) }
    let total = kernel.reduce(0, +)
    kernel = kernel.map { $0 / total }
    let (width, height) = (image.width, image.height)
    var horizontal = [Float](repeating: 0, count: width * height)
    image.pixels.withUnsafeBufferPointer { source in
      for y in 0..<height {
        for x in 0..<width {
          var value: Float = 0
          for k in -radius...radius {
            value += kernel[k + radius] * source[y * width + min(max(x + k, 0), width - 1)]
          }
          horizontal[y * width + x] = value
        }
      }
    }
    var output = [Float](repeating: 0, count: width * height)
    for y in 0..<height {
      for x in 0..<width {
        var value: Float = 0
        for k in -radius...radius {
          value += kernel[k + radius] * horizontal[min(max(y + k, 0), height - 1) * width + x]
        }
        output[y * width + x] = value
      }
    }
    return GrayImage(width: width, height: height, pixels: output, sourceBitDepth: image.sourceBitDepth)
  }

  /// Rotation about the centre (bilinear), outside the image black.
  static func rotated(_ image: GrayImage, degrees: Double) -> GrayImage {
    let angle = degrees * .pi / 180
    let (cosine, sine) = (Foundation.cos(angle), Foundation.sin(angle))
    let (width, height) = (image.width, image.height)
    let (cx, cy) = (Double(width - 1) / 2, Double(height - 1) / 2)
    var output = [Float](repeating: 0, count: width * height)
    for y in 0..<height {
      for x in 0..<width {
        // The source of each output pixel: rotate back.
        let (dx, dy) = (Double(x) - cx, Double(y) - cy)
        let sx = cosine * dx + sine * dy + cx
        let sy = -sine * dx + cosine * dy + cy
        guard sx >= 0, sy >= 0, sx <= Double(width - 1), sy <= Double(height - 1) else { continue }
        let (x0, y0) = (Int(sx), Int(sy))
        let (x1, y1) = (min(x0 + 1, width - 1), min(y0 + 1, height - 1))
        let (fx, fy) = (Float(sx - Double(x0)), Float(sy - Double(y0)))
        let top = image.pixels[y0 * width + x0] * (1 - fx) + image.pixels[y0 * width + x1] * fx
        let bottom = image.pixels[y1 * width + x0] * (1 - fx) + image.pixels[y1 * width + x1] * fx
        output[y * width + x] = top * (1 - fy) + bottom * fy
      }
    }
    return GrayImage(width: width, height: height, pixels: output, sourceBitDepth: image.sourceBitDepth)
  }

  /// Black padding of `margin` pixels on every side.
  static func padded(_ image: GrayImage, by margin: Int) -> GrayImage {
    let (width, height) = (image.width + 2 * margin, image.height + 2 * margin)
    var output = [Float](repeating: 0, count: width * height)
    for y in 0..<image.height {
      let destination = (y + margin) * width + margin
      output.replaceSubrange(
        destination..<(destination + image.width),
        with: image.pixels[(y * image.width)..<((y + 1) * image.width)])
    }
    return GrayImage(width: width, height: height, pixels: output, sourceBitDepth: image.sourceBitDepth)
  }

  /// White text lines and L/R markers at seeded places, as scanners and technologists burn them in.
  static func burnIn(_ image: GrayImage, count: Int, severity: Int, random: inout SplitMix64) -> GrayImage {
    let side = min(image.width, image.height)
    let scale = max(1, side * (2 + severity) / 400)
    var rgb = image.displayBytes.flatMap { [$0, $0, $0] }
    let words = ["PORTABLE", "AP SUPINE", "ERECT", "ICU 4", "L", "R", "12:04", "MOBILE"]
    func position(_ limit: Int) -> Int { limit > 0 ? Int(random.next() % UInt64(limit)) : 0 }
    for index in 0..<count {
      let marker = index % 2 == 0 ? "L" : "R"
      let markerScale = scale * 3
      BitmapText.draw(
        marker, into: &rgb, width: image.width,
        x: position(image.width - BitmapText.width(of: marker, scale: markerScale)),
        y: position(image.height - BitmapText.cellHeight * markerScale), scale: markerScale)
      let line = words[Int(random.next() % UInt64(words.count))] + " " + words[Int(random.next() % UInt64(words.count))]
      BitmapText.draw(
        line, into: &rgb, width: image.width, x: position(image.width - BitmapText.width(of: line, scale: scale)),
        y: position(image.height - BitmapText.cellHeight * scale), scale: scale)
    }
    // Only the burnt-in pixels change: the rest keeps its full precision.
    let display = image.displayBytes
    var pixels = image.pixels
    for index in pixels.indices where rgb[index * 3] != display[index] { pixels[index] = Float(rgb[index * 3]) / 255 }
    return GrayImage(width: image.width, height: image.height, pixels: pixels, sourceBitDepth: image.sourceBitDepth)
  }
}
