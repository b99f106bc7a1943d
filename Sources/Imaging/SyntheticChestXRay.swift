import Foundation
import Randomness

/// Procedural chest radiographs: a body, two lungs crossed by ribs, clavicles, the mediastinum and
/// heart, the diaphragm, noise, and — depending on the class — lesions at known boxes.
///
/// They serve the tests, the demo that runs with no data of the user's, and the Grad-CAM
/// localisation metrics (a heatmap should fall inside the lesion boxes). They look like a chest
/// X-ray, not like a patient: no claim is made that a model trained on them learns anything about
/// real disease.
public enum SyntheticChestXRay {
  /// The classes, with the labels of COVIDx split files.
  public enum Finding: String, CaseIterable, Sendable {
    case covid = "COVID-19"
    case normal
    case pneumonia
  }

  /// A lesion's bounding box in pixels (x and y of the top-left corner, width, height).
  public struct Box: Equatable, Sendable {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int
  }

  public struct Sample: Sendable {
    public let image: GrayImage
    public let finding: Finding
    public let lesions: [Box]
  }

  /// One radiograph of `size` × `size` pixels; the same seed gives the same image.
  public static func generate(size: Int, finding: Finding, seed: UInt64) -> Sample {
    var random = SplitMix64(seed: seed ^ 0x5DEE_CE66_D1CE_4E5B)
    let anatomy = Anatomy(&random)
    var lesions: [Lesion] = []
    switch finding {
    case .normal:
      break
    case .covid:
      // Ground-glass opacities: hazy, bilateral, peripheral, lower zones.
      for index in 0..<(2 + Int(random.next() % 3)) {
        let lung = index % 2 == 0 ? anatomy.leftLung : anatomy.rightLung
        let outward = lung.centerX < 0.5 ? -1.0 : 1.0
        lesions.append(
          Lesion(
            x: lung.centerX + outward * lung.radiusX * random.uniform(0.2, 0.55),
            y: lung.centerY + lung.radiusY * random.uniform(0.05, 0.55),
            sigma: random.uniform(0.035, 0.06), amplitude: random.uniform(0.16, 0.26)))
      }
    case .pneumonia:
      // One lobar consolidation: dense, one-sided, mid or lower zone.
      let lung = random.next() % 2 == 0 ? anatomy.leftLung : anatomy.rightLung
      lesions.append(
        Lesion(
          x: lung.centerX + lung.radiusX * random.uniform(-0.3, 0.3),
          y: lung.centerY + lung.radiusY * random.uniform(-0.1, 0.5),
          sigma: random.uniform(0.055, 0.085), amplitude: random.uniform(0.28, 0.38)))
    }

    var pixels = [Float](repeating: 0, count: size * size)
    let scale = 1 / Double(size)
    for row in 0..<size {
      let y = (Double(row) + 0.5) * scale
      for column in 0..<size {
        let x = (Double(column) + 0.5) * scale
        var value = anatomy.intensity(x: x, y: y)
        for lesion in lesions where anatomy.lungMask(x: x, y: y) > 0 {
          value += lesion.amplitude * anatomy.lungMask(x: x, y: y) * lesion.profile(x: x, y: y)
        }
        value += 0.02 * random.gaussian()
        pixels[row * size + column] = Float(Swift.min(Swift.max(anatomy.contrast * value + anatomy.brightness, 0), 1))
      }
    }
    let boxes = lesions.map { $0.box(size: size) }
    return Sample(image: GrayImage(width: size, height: size, pixels: pixels), finding: finding, lesions: boxes)
  }

  // MARK: Anatomy

  struct Ellipse {
    var centerX, centerY, radiusX, radiusY: Double

    /// 1 inside, 0 outside, with a soft edge `softness` wide (in units of the radius).
    func mask(x: Double, y: Double, softness: Double = 0.08) -> Double {
      let distance = ((x - centerX) / radiusX).squared + ((y - centerY) / radiusY).squared
      return smoothStep(edge0: 1 + softness, edge1: 1 - softness, distance.squareRoot())
    }
  }

  struct Anatomy {
    let body: Ellipse
    let leftLung: Ellipse
    let rightLung: Ellipse
    let heart: Ellipse
    let ribSpacing: Double
    let ribPhase: Double
    let brightness: Double
    let contrast: Double

    init(_ random: inout SplitMix64) {
      let shift = random.uniform(-0.02, 0.02)
      let lungScale = random.uniform(0.92, 1.08)
      body = Ellipse(centerX: 0.5 + shift, centerY: 0.6, radiusX: random.uniform(0.4, 0.46), radiusY: 0.55)
      leftLung = Ellipse(
        centerX: 0.31 + shift, centerY: 0.46, radiusX: 0.135 * lungScale, radiusY: 0.26 * lungScale)
      rightLung = Ellipse(
        centerX: 0.69 + shift, centerY: 0.46, radiusX: 0.135 * lungScale, radiusY: 0.26 * lungScale)
      heart = Ellipse(
        centerX: 0.56 + shift, centerY: 0.63, radiusX: random.uniform(0.12, 0.16), radiusY: random.uniform(0.1, 0.13))
      ribSpacing = random.uniform(0.052, 0.062)
      ribPhase = random.uniform(0, 1)
      brightness = random.uniform(-0.06, 0.06)
      contrast = random.uniform(0.9, 1.1)
    }

    func lungMask(x: Double, y: Double) -> Double {
      Swift.max(leftLung.mask(x: x, y: y), rightLung.mask(x: x, y: y)) * (1 - 0.8 * heart.mask(x: x, y: y))
    }

    func intensity(x: Double, y: Double) -> Double {
      var value = 0.06 + 0.42 * body.mask(x: x, y: y, softness: 0.05)
      let lungs = lungMask(x: x, y: y)
      value -= 0.3 * lungs
      // The mediastinum and spine: a bright vertical band; the heart: a bright mass over the left lung.
      value += 0.2 * smoothStep(edge0: 0.07, edge1: 0.04, Swift.abs(x - (body.centerX))) * (y > 0.15 ? 1 : 0)
      value += 0.16 * heart.mask(x: x, y: y)
      // Ribs: curved bright bands, seen through the lungs.
      let curve = y - 1.6 * (x - body.centerX).squared
      let position = (curve / ribSpacing + ribPhase).truncatingRemainder(dividingBy: 1)
      value += 0.1 * lungs * smoothStep(edge0: 0.32, edge1: 0.18, Swift.abs(position - 0.5))
      // Clavicles: two slanted bands at the top.
      for side in [-1.0, 1.0] {
        let along = y - (0.2 + 0.12 * Swift.abs(x - body.centerX))
        if (x - body.centerX) * side > 0.03 && Swift.abs(x - body.centerX) < 0.33 {
          value += 0.14 * smoothStep(edge0: 0.018, edge1: 0.008, Swift.abs(along))
        }
      }
      // The diaphragm: brighter below the lungs.
      value += 0.12 * smoothStep(edge0: 0.7, edge1: 0.78, y) * body.mask(x: x, y: y)
      return value
    }
  }

  struct Lesion {
    var x, y, sigma, amplitude: Double

    func profile(x px: Double, y py: Double) -> Double {
      Foundation.exp(-((px - x).squared + (py - y).squared) / (2 * sigma * sigma))
    }

    /// The box of ±2σ around the centre, in pixels, clipped to the image.
    func box(size: Int) -> Box {
      let x0 = Swift.max(0, Int(((x - 2 * sigma) * Double(size)).rounded(.down)))
      let y0 = Swift.max(0, Int(((y - 2 * sigma) * Double(size)).rounded(.down)))
      let x1 = Swift.min(size, Int(((x + 2 * sigma) * Double(size)).rounded(.up)))
      let y1 = Swift.min(size, Int(((y + 2 * sigma) * Double(size)).rounded(.up)))
      return Box(x: x0, y: y0, width: x1 - x0, height: y1 - y0)
    }
  }

}

/// 0 at edge0, 1 at edge1, smooth between (works with edge0 > edge1 for a falling edge).
func smoothStep(edge0: Double, edge1: Double, _ x: Double) -> Double {
  let t = Swift.min(Swift.max((x - edge0) / (edge1 - edge0), 0), 1)
  return t * t * (3 - 2 * t)
}

extension Double {
  fileprivate var squared: Double { self * self }
}

extension SyntheticChestXRay {
  /// Writes a dataset: images/ with one PNG per image, COVIDx split files (train.txt, val.txt,
  /// test.txt: `patient_id filename label source`) and boxes.csv (`filename,label,x,y,width,height`,
  /// one row per lesion). `counts` gives images per class for each split. Returns the split files.
  @discardableResult
  public static func writeDataset(
    to folder: String, counts: [(split: String, perClass: Int)], size: Int = 256, seed: UInt64 = 0,
    progress: ((Int, Int) -> Void)? = nil
  ) throws -> [String] {
    let images = folder + "/images"
    try FileManager.default.createDirectory(atPath: images, withIntermediateDirectories: true)
    var boxes = "filename,label,x,y,width,height\n"
    var splitFiles: [String] = []
    let total = counts.reduce(0) { $0 + $1.perClass } * Finding.allCases.count
    var written = 0
    var index = 0
    for (split, perClass) in counts {
      var lines = ""
      for _ in 0..<perClass {
        for finding in Finding.allCases {
          let name = String(format: "synthetic-%06d", index)
          let sample = generate(size: size, finding: finding, seed: seed &* 1_000_003 &+ UInt64(index))
          try ImageWriter.writePNG(sample.image, to: "\(images)/\(name).png")
          lines += "\(name) \(name).png \(finding.rawValue) synthetic\n"
          for box in sample.lesions {
            boxes += "\(name).png,\(finding.rawValue),\(box.x),\(box.y),\(box.width),\(box.height)\n"
          }
          index += 1
          written += 1
          progress?(written, total)
        }
      }
      let path = "\(folder)/\(split).txt"
      try lines.write(toFile: path, atomically: true, encoding: .utf8)
      splitFiles.append(path)
    }
    try boxes.write(toFile: folder + "/boxes.csv", atomically: true, encoding: .utf8)
    return splitFiles
  }
}
