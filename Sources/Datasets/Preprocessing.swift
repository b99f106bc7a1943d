import Engine
import Imaging

/// How a decoded X-ray becomes network input: crop, resize, normalise, channels. Deterministic;
/// the same for training and evaluation (augmentation comes on top, for training only).
public struct Preprocessing: Equatable, Sendable {
  public enum Crop: String, Sendable, CaseIterable {
    /// The centred square, then resize: keeps the aspect ratio.
    case centerSquare = "center"
    /// Resize the whole image to a square, stretching it.
    case none
  }

  public enum Normalization: Equatable, Sendable {
    /// ImageNet's mean and standard deviation per channel (grey uses their averages), for ImageNet weights.
    case imagenet
    /// The dataset's own mean and standard deviation.
    case meanStd(mean: Float, std: Float)
    /// Intensities in [0, 1] as they are.
    case none
  }

  /// Side of the square network input, in pixels.
  public var size: Int
  public var crop: Crop
  public var normalization: Normalization
  /// 1 (greyscale) or 3 (the grey replicated, for ImageNet-pretrained weights).
  public var channels: Int

  public init(size: Int = 224, crop: Crop = .centerSquare, normalization: Normalization = .imagenet, channels: Int = 1)
  {
    self.size = size
    self.crop = crop
    self.normalization = normalization
    self.channels = channels
  }

  /// Crop and resize (the part worth caching: it is the same every epoch).
  public func resize(_ image: GrayImage) -> GrayImage {
    let cropped = crop == .centerSquare ? Resize.centerSquare(image) : image
    return Resize.resized(cropped, width: size, height: size)
  }

  static let imagenetMean: [Float] = [0.485, 0.456, 0.406]
  static let imagenetStd: [Float] = [0.229, 0.224, 0.225]

  /// The (mean, std) used for `channel`.
  func statistics(channel: Int) -> (mean: Float, std: Float) {
    switch normalization {
    case .imagenet:
      return channels == 3 ? (Self.imagenetMean[channel], Self.imagenetStd[channel]) : (0.449, 0.226)
    case .meanStd(let mean, let std):
      return (mean, std)
    case .none:
      return (0, 1)
    }
  }

  /// Writes the normalised image as `channels` planes (CHW) into `output`, which holds exactly
  /// channels × size × size values.
  public func writeNormalized(_ image: GrayImage, into output: UnsafeMutableBufferPointer<Float>) {
    let plane = image.pixels.count
    precondition(output.count == channels * plane, "the output holds \(output.count) values, not \(channels * plane)")
    image.pixels.withUnsafeBufferPointer { pixels in
      for channel in 0..<channels {
        let (mean, std) = statistics(channel: channel)
        let scale = 1 / std
        let base = channel * plane
        for index in 0..<plane { output[base + index] = (pixels[index] - mean) * scale }
      }
    }
  }

  /// The normalised image as `channels` planes (CHW).
  public func normalized(_ image: GrayImage) -> [Float] {
    [Float](unsafeUninitializedCapacity: channels * image.pixels.count) { buffer, initialized in
      writeNormalized(image, into: buffer)
      initialized = buffer.count
    }
  }
}

extension Preprocessing {
  /// Network-sized images (already resized) as one normalised (N, C, size, size) float32 batch on
  /// `device`.
  public func batch(_ images: [GrayImage], on device: Device = .cpu) throws -> Tensor {
    let plane = channels * size * size
    var values = [Float](repeating: 0, count: images.count * plane)
    values.withUnsafeMutableBufferPointer { buffer in
      for (index, image) in images.enumerated() {
        writeNormalized(
          image, into: UnsafeMutableBufferPointer(rebasing: buffer[(index * plane)..<((index + 1) * plane)]))
      }
    }
    let batch = try Tensor(values, shape: [images.count, channels, size, size])
    return device == .cpu ? batch : try batch.to(device)
  }
}
