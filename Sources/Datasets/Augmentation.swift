import CResampling
import Foundation
import Imaging
import Randomness

/// Training-time augmentation, seeded per sample so that an epoch can be reproduced exactly.
///
/// Each transform is applied with a probability (default 0.5). On covid-radiography, a ResNet-18
/// that saw *every* training image resampled by an affine transform learned the resampling itself
/// and called almost every clean test image COVID-19 (40% clean accuracy against 73% without
/// augmentation); at p = 0.5 the harm went away. Horizontal flips are off by default: laterality
/// matters in chest X-rays (the heart is on the left).
///
/// Defaults: affine with p 0.5 (rotation ±10°, translation ±10% of the side, scale 0.85–1.15,
/// bilinear, edges replicated); brightness and contrast ±10% with p 0.5; random resized crop off
/// (p 0; when on: 80–100% of the area, aspect 3:4 to 4:3); horizontal flip off.
public struct Augmentation: Equatable, Sendable {
  public var affineProbability: Double = 0.5
  public var maxRotationDegrees: Double = 10
  public var maxTranslation: Double = 0.1
  public var scaleRange: ClosedRange<Double> = 0.85...1.15
  public var intensityProbability: Double = 0.5
  public var maxBrightness: Double = 0.1
  public var maxContrast: Double = 0.1
  public var resizedCropProbability: Double = 0
  public var resizedCropArea: ClosedRange<Double> = 0.8...1
  public var horizontalFlipProbability: Double = 0

  public init() {}

  /// No augmentation at all.
  public static let none: Augmentation = {
    var augmentation = Augmentation()
    augmentation.affineProbability = 0
    augmentation.intensityProbability = 0
    return augmentation
  }()

  /// `image` transformed with the random draws of `seed`.
  public func apply(_ image: GrayImage, seed: UInt64) -> GrayImage {
    var random = SplitMix64(seed: seed)
    var result = image
    if random.chance(resizedCropProbability) { result = randomResizedCrop(result, &random) }
    if random.chance(affineProbability) {
      let angle = random.uniform(-maxRotationDegrees, maxRotationDegrees) * .pi / 180
      let scale = random.uniform(scaleRange.lowerBound, scaleRange.upperBound)
      let shiftX = random.uniform(-maxTranslation, maxTranslation) * Double(image.width)
      let shiftY = random.uniform(-maxTranslation, maxTranslation) * Double(image.height)
      result = affine(result, angle: angle, scale: scale, shiftX: shiftX, shiftY: shiftY)
    }
    if random.chance(horizontalFlipProbability) { result = flipped(result) }
    if random.chance(intensityProbability) {
      let brightness = Float(random.uniform(-maxBrightness, maxBrightness))
      let contrast = Float(1 + random.uniform(-maxContrast, maxContrast))
      adjustIntensity(&result.pixels, brightness: brightness, contrast: contrast)
    }
    return result
  }

  /// Contrast about the image's mean, then brightness, clamped to [0, 1], in place: each pixel p
  /// becomes min(max((p − mean)·contrast + mean + brightness, 0), 1). The mean is summed in lanes of
  /// eight: a serial `reduce(0, +)` over a 224-px image is 50,000 dependent additions.
  func adjustIntensity(_ pixels: inout [Float], brightness: Float, contrast: Float) {
    let count = pixels.count
    guard count > 0 else { return }
    pixels.withUnsafeMutableBufferPointer { buffer in
      let base = UnsafeMutableRawPointer(buffer.baseAddress!)
      let lanes = count / 8 * 8
      var sums = SIMD8<Float>()
      var index = 0
      while index < lanes {
        sums += base.loadUnaligned(fromByteOffset: index * 4, as: SIMD8<Float>.self)
        index += 8
      }
      var total = sums.sum()
      for rest in lanes..<count { total += buffer[rest] }
      let mean = total / Float(count)
      // A plain loop: the compiler vectorises the clamp itself (SIMD's `clamped` is a generic call
      // per vector here).
      for index in 0..<count {
        buffer[index] = Swift.min(Swift.max((buffer[index] - mean) * contrast + mean + brightness, 0), 1)
      }
    }
  }

  /// Rotation by `angle` and scaling about the centre, then a shift; bilinear sampling of the inverse
  /// map, edge pixels replicated outside the image. The per-pixel loop is CResampling's (AVX2 gathers
  /// where the processor has them).
  func affine(_ image: GrayImage, angle: Double, scale: Double, shiftX: Double, shiftY: Double) -> GrayImage {
    let width = image.width
    let height = image.height
    let cx = Float(width) / 2
    let cy = Float(height) / 2
    let cosine = Float(Foundation.cos(angle) / scale)
    let sine = Float(Foundation.sin(angle) / scale)
    // Output pixel (x, y), centred: (dx, dy) = (x + 0.5 − cx − shiftX, y + 0.5 − cy − shiftY); its
    // source is (cosine·dx + sine·dy + cx − 0.5, −sine·dx + cosine·dy + cy − 0.5), so the source
    // moves by (cosine, −sine) per column and by (sine, cosine) per row from that of (0, 0).
    let dx0 = 0.5 - cx - Float(shiftX)
    let dy0 = 0.5 - cy - Float(shiftY)
    let originX = cosine * dx0 + sine * dy0 + cx - 0.5
    let originY = -sine * dx0 + cosine * dy0 + cy - 0.5
    let output = [Float](unsafeUninitializedCapacity: width * height) { target, initialized in
      image.pixels.withUnsafeBufferPointer { source in
        crs_affine_bilinear(
          source.baseAddress, target.baseAddress, Int32(width), Int32(height), originX, originY, cosine, -sine, sine,
          cosine)
      }
      initialized = width * height
    }
    return GrayImage(width: width, height: height, pixels: output, sourceBitDepth: image.sourceBitDepth)
  }

  func randomResizedCrop(_ image: GrayImage, _ random: inout SplitMix64) -> GrayImage {
    let area = random.uniform(resizedCropArea.lowerBound, resizedCropArea.upperBound)
    let aspect = Foundation.exp(random.uniform(Foundation.log(3.0 / 4), Foundation.log(4.0 / 3)))
    let width = Swift.min(image.width, Swift.max(8, Int((area * aspect).squareRoot() * Double(image.width))))
    let height = Swift.min(image.height, Swift.max(8, Int((area / aspect).squareRoot() * Double(image.height))))
    let x = Int(random.next() % UInt64(image.width - width + 1))
    let y = Int(random.next() % UInt64(image.height - height + 1))
    return Resize.resized(
      Resize.crop(image, x: x, y: y, width: width, height: height), width: image.width, height: image.height)
  }

  func flipped(_ image: GrayImage) -> GrayImage {
    var result = image
    for y in 0..<image.height {
      for x in 0..<image.width { result[x, y] = image[image.width - 1 - x, y] }
    }
    return result
  }
}

/// A seed for one (run seed, epoch, sample) triple: the same triple always gives the same seed.
public func sampleSeed(_ seed: UInt64, epoch: Int, sample: Int) -> UInt64 {
  var random = SplitMix64(seed: seed ^ (UInt64(truncatingIfNeeded: epoch) &* 0x9E37_79B9_7F4A_7C15))
  random.state ^= UInt64(truncatingIfNeeded: sample) &* 0xC2B2_AE3D_27D4_EB4F
  return random.next()
}
