import Foundation
import Testing

@testable import Imaging

@Suite struct PerturbationTests {
  /// A 24 × 16 ramp from 0 to 1, left to right.
  static let ramp = GrayImage(
    width: 24, height: 16, pixels: (0..<(24 * 16)).map { Float($0 % 24) / 23 })

  /// Severity 0 is the image itself, for every family; every family at every severity is the same
  /// for the same seed.
  @Test func severityZeroIsTheIdentityAndEverythingIsSeeded() throws {
    for family in Perturbation.Family.allCases {
      #expect(try Perturbation(family, severity: 0).apply(to: Self.ramp, seed: 1) == Self.ramp)
      for severity in 1...5 {
        let perturbation = Perturbation(family, severity: severity)
        #expect(
          try perturbation.apply(to: Self.ramp, seed: 7) == perturbation.apply(to: Self.ramp, seed: 7),
          "\(perturbation)")
        let output = try perturbation.apply(to: Self.ramp, seed: 7)
        #expect(output.pixels.allSatisfy { $0 >= 0 && $0 <= 1 }, "\(perturbation) stays in [0, 1]")
      }
    }
    let noise = Perturbation(.gaussianNoise, severity: 3)
    #expect(try noise.apply(to: Self.ramp, seed: 1) != noise.apply(to: Self.ramp, seed: 2), "the seed matters")
  }

  /// The blur of an impulse: the kernel's sum is kept (1), it is symmetric, and the peak falls with σ.
  @Test func blurOfAnImpulse() {
    var pixels = [Float](repeating: 0, count: 41 * 41)
    pixels[20 * 41 + 20] = 1
    let impulse = GrayImage(width: 41, height: 41, pixels: pixels)
    let soft = Perturbation.gaussianBlur(impulse, sigma: 1.5)
    let softer = Perturbation.gaussianBlur(impulse, sigma: 3)
    #expect(abs(soft.pixels.reduce(0, +) - 1) < 1e-5 && abs(softer.pixels.reduce(0, +) - 1) < 1e-5)
    #expect(soft[18, 20] == soft[22, 20] && soft[20, 17] == soft[20, 23])
    #expect(abs(soft[18, 20] - soft[20, 18]) < 1e-7)
    #expect(soft[20, 20] < 1 && softer[20, 20] < soft[20, 20])
    // The centre of a 2-D Gaussian of σ = 1.5: 1 / (2π σ²), up to the kernel's truncation at 3σ.
    #expect(abs(Double(soft[20, 20]) - 1 / (2 * Double.pi * 2.25)) < 0.002)
  }

  /// Gamma of a ramp is the ramp to the power γ; contrast keeps the mean; brightness adds and clips;
  /// full inverted polarity is 1 − v.
  @Test func photometricFamiliesByHand() throws {
    let gamma = try Perturbation(.gamma, severity: 3).apply(to: Self.ramp, seed: 0)
    #expect(zip(gamma.pixels, Self.ramp.pixels).allSatisfy { abs($0 - pow($1, 2)) < 1e-6 })
    let contrast = try Perturbation(.contrast, severity: 2).apply(to: Self.ramp, seed: 0)
    let mean = Self.ramp.pixels.reduce(0, +) / Float(Self.ramp.pixels.count)
    #expect(abs(contrast.pixels.reduce(0, +) / Float(contrast.pixels.count) - mean) < 1e-5)
    #expect(abs(contrast[23, 0] - (mean + (1 - mean) * 0.6)) < 1e-5)
    let bright = try Perturbation(.brightness, severity: 5).apply(to: Self.ramp, seed: 0)
    #expect(bright[0, 0] == 0.3 && bright[23, 0] == 1)
    let inverted = try Perturbation(.inversion, severity: 5).apply(to: Self.ramp, seed: 0)
    #expect(zip(inverted.pixels, Self.ramp.pixels).allSatisfy { abs($0 - (1 - $1)) < 1e-6 })
  }

  /// JPEG re-compression changes the pixels, more at lower quality.
  @Test func jpegQualityChangesTheImage() throws {
    let image = GrayImage(
      width: 64, height: 64, pixels: (0..<4096).map { Float(($0 % 64) ^ ($0 / 64)) / 63 })
    func error(_ severity: Int) throws -> Float {
      let output = try Perturbation(.jpeg, severity: severity).apply(to: image, seed: 0)
      return zip(output.pixels, image.pixels).reduce(0) { $0 + abs($1.0 - $1.1) }
    }
    #expect(try error(1) > 0)
    #expect(try error(5) > error(1))
  }

  /// Geometry: padding grows the image by the margin on each side and leaves the original inside;
  /// zoom and resolution keep the size; rotation keeps the centre pixel and blackens corners.
  @Test func geometricFamiliesByHand() throws {
    let padded = try Perturbation(.border, severity: 5).apply(to: Self.ramp, seed: 0)  // 20% of 16 → 3 px
    #expect(padded.width == 24 + 6 && padded.height == 16 + 6)
    #expect(padded[0, 0] == 0 && padded[29, 21] == 0)
    #expect(padded[3 + 23, 3 + 5] == Self.ramp[23, 5])
    for family in [Perturbation.Family.zoom, .resolution, .rotation, .blur, .text] {
      let output = try Perturbation(family, severity: 4).apply(to: Self.ramp, seed: 0)
      #expect(output.width == 24 && output.height == 16, "\(family)")
    }
    let square = GrayImage(width: 21, height: 21, value: 0.5)
    let rotated = try Perturbation(.rotation, severity: 5).apply(to: square, seed: 0)
    #expect(abs(rotated[10, 10] - 0.5) < 1e-6 && rotated[0, 0] == 0)
    #expect(try Perturbation(.rotation, severity: 3).applyGeometry(to: square, seed: 0) != square)
    #expect(try Perturbation(.blur, severity: 3).applyGeometry(to: square, seed: 0) == square, "photometric: unmoved")
  }

  /// Burnt-in text only turns pixels white, more of them at higher severity.
  @Test func burntInTextOnlyAddsWhite() throws {
    let dark = GrayImage(width: 200, height: 200, value: 0.2)
    let light = try Perturbation(.text, severity: 1).apply(to: dark, seed: 3)
    let heavy = try Perturbation(.text, severity: 5).apply(to: dark, seed: 3)
    let changed = { (image: GrayImage) in image.pixels.filter { $0 != 0.2 }.count }
    #expect(light.pixels.allSatisfy { $0 == 0.2 || $0 == 1 })
    #expect(changed(light) > 0 && changed(heavy) > changed(light))
  }
}
