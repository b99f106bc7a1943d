import CTorch
import Foundation

/// A convolution with the BatchNorm that follows it folded in (or, where none follows, the convolution
/// alone), for inference: in eval mode
/// `bn(conv(x))` is `conv(x)` with weight `w·s` and bias `β − μ·s` (plus the convolution's own bias
/// times `s`), where `s = γ / √(σ² + ε)` per output channel. On CPU (oneDNN) the ReLU after it, or a
/// residual addition and ReLU, run in the same primitive, and the weight is reordered into oneDNN's
/// layout ahead of time instead of on every call — what PyTorch's compiler does for CPU inference
/// ("freezing"). Elsewhere (CUDA, a libtorch without oneDNN) the same folded weight runs through
/// `conv2d` with in-place ReLU and addition.
///
/// A snapshot of the weights and statistics when it was made; no gradients flow through it.
public struct FoldedConvolution: @unchecked Sendable {
  // @unchecked: the tensors are never written after init (the cache has its own lock); libtorch
  // reads them from any thread.
  /// The folded weight, in oneDNN's layout where fused in float32.
  public let weight: Tensor
  public let bias: Tensor
  public let stride: (Int, Int)
  public let padding: (Int, Int)
  public let dilation: (Int, Int)
  public let groups: Int
  /// Whether the oneDNN fused primitives run it (CPU, and a libtorch that has them).
  public let isFused: Bool

  /// Whether this libtorch has oneDNN's fused convolutions for CPU tensors.
  public static var fusionIsAvailable: Bool { ct_fused_convolution_available() != 0 }

  /// Whether this libtorch also has the in-place form that `addingResidualThenReLU(_:into:)` uses.
  public static var inPlaceAdditionIsAvailable: Bool { ct_fused_convolution_in_place_available() != 0 }

  /// Folds `norm` (its running statistics: eval mode) into `convolution`, keeping the result in
  /// `dtype` (the convolution's own by default; bfloat16 for mixed-precision inference, whose inputs
  /// must then be bfloat16 too). With `fusing` false the oneDNN primitives are not used even where
  /// they could be (for comparisons).
  public init(_ convolution: Conv2d, _ norm: BatchNorm2d, dtype: DType? = nil, fusing: Bool = true) throws {
    let dtype = dtype ?? convolution.weight.dtype
    let (weight, bias) = try noGrad {
      let (scale, shift) = try norm.evalAffineInFloat64()
      let weight = try convolution.weight.to(.float64) * (try scale.reshaped([-1, 1, 1, 1]))
      var bias = shift
      if let own = convolution.bias { bias = try bias + (try own.to(.float64) * scale) }
      return (try weight.to(dtype).contiguous(), try bias.to(dtype).contiguous())
    }
    try self.init(convolution, weight: weight, bias: bias, dtype: dtype, fusing: fusing)
  }

  /// A convolution with no BatchNorm after it (a DenseNet's 3x3, a transition's 1x1), prepared the
  /// same way: its weight in oneDNN's layout, its ReLU fused when asked for.
  public init(_ convolution: Conv2d, dtype: DType? = nil, fusing: Bool = true) throws {
    let dtype = dtype ?? convolution.weight.dtype
    let (weight, bias) = try noGrad {
      // Copies (clone), so that later changes to the model's weights do not reach the snapshot.
      let outputs = convolution.weight.shape[0]
      let bias =
        try convolution.bias?.to(dtype).clone()
        ?? Tensor.zeros([outputs], dtype: dtype, device: convolution.weight.device)
      return (try convolution.weight.to(dtype).clone().contiguous(), try bias.contiguous())
    }
    try self.init(convolution, weight: weight, bias: bias, dtype: dtype, fusing: fusing)
  }

  /// `convolution`'s geometry with `weight` and `bias` of its own (already folded, in `dtype`).
  init(_ convolution: Conv2d, weight: Tensor, bias: Tensor, dtype: DType, fusing: Bool) throws {
    stride = convolution.stride
    padding = convolution.padding
    dilation = convolution.dilation
    groups = convolution.groups
    isFused =
      fusing && weight.device == .cpu && (dtype == .float32 || dtype == .bfloat16) && Self.fusionIsAvailable
    self.bias = bias
    // Reordered into oneDNN's layout once. In float32 one layout suits every input shape; in
    // bfloat16 oneDNN picks the layout by the input's shape, and a weight reordered for another shape
    // was slower than the plain one (reordered back on every call: ResNet-50 at batch 16, 66 against
    // 85 images/s), so there it is reordered for each input shape the first time it is seen.
    self.weight =
      isFused && dtype == .float32
      ? try Self.reordered(
        weight, stride: stride, padding: padding, dilation: dilation, groups: groups, inputShape: nil) : weight
    reorderedByShape = isFused && dtype == .bfloat16 ? WeightsByShape() : nil
  }

  /// The weights reordered for each input shape seen (bfloat16), at most a few shapes.
  private let reorderedByShape: WeightsByShape?

  private final class WeightsByShape: @unchecked Sendable {
    let lock = NSLock()
    var weights: [[Int]: Tensor] = [:]
  }

  /// The weight to run `input` with.
  private func weight(for input: Tensor) throws -> Tensor {
    guard let cache = reorderedByShape else { return weight }
    let shape = input.shape
    if let found = cache.lock.withLock({ cache.weights[shape] }) { return found }
    let reordered = try Self.reordered(
      weight, stride: stride, padding: padding, dilation: dilation, groups: groups, inputShape: shape)
    cache.lock.withLock {
      if cache.weights.count >= 8 { cache.weights.removeAll() }  // a bound, for inputs of ever new sizes
      cache.weights[shape] = reordered
    }
    return reordered
  }

  /// `weight` in oneDNN's blocked layout, for inputs of `inputShape` (any shape when nil).
  private static func reordered(
    _ weight: Tensor, stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), groups: Int, inputShape: [Int]?
  ) throws -> Tensor {
    let hint = inputShape?.map(Int64.init)
    return try Functional.convolutionGeometry(stride: stride, padding: padding, dilation: dilation) {
      stride, padding, dilation in
      try Tensor.make { out in
        guard let hint else {
          return ct_conv2d_prepack_weight(out, weight.handle, stride, padding, dilation, Int64(groups), nil)
        }
        return hint.withUnsafeBufferPointer {
          ct_conv2d_prepack_weight(out, weight.handle, stride, padding, dilation, Int64(groups), $0.baseAddress)
        }
      }
    }
  }

  /// The convolution (with the BatchNorm folded in), then ReLU when `relu`.
  public func callAsFunction(_ input: Tensor, relu: Bool = false) throws -> Tensor {
    guard isFused else {
      let output = try Functional.conv2d(
        input, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
      if relu { try output.relu_() }
      return output
    }
    return try fused(input) { out, weight, stride, padding, dilation in
      ct_conv2d_fused(
        out, input.handle, weight.handle, bias.handle, stride, padding, dilation, Int64(groups), relu ? 1 : 0)
    }
  }

  /// `relu(self(input) + residual)`: the end of a residual block, in one primitive where fused.
  public func addingResidualThenReLU(_ input: Tensor, residual: Tensor) throws -> Tensor {
    guard isFused else {
      let output = try self(input)
      try output.add_(residual)
      try output.relu_()
      return output
    }
    return try fused(input) { out, weight, stride, padding, dilation in
      ct_conv2d_fused_add_relu(
        out, input.handle, residual.handle, weight.handle, bias.handle, stride, padding, dilation, Int64(groups))
    }
  }

  /// `relu(self(input) + residual)` written into `residual`, whose values are then gone, and returned:
  /// oneDNN's sum post-op, which accumulates onto the residual instead of reading it as a second
  /// input (on large activations the faster of the two: 7.6 against 8.9 ms for 64 channels of 56x56
  /// at batch 32 in bf16; docs/benchmarks.md). Only for a residual that nothing else reads; where
  /// this libtorch lacks the in-place primitive, or unfused, it is `addingResidualThenReLU`.
  public func addingResidualThenReLU(_ input: Tensor, into residual: Tensor) throws -> Tensor {
    guard isFused, Self.inPlaceAdditionIsAvailable else {
      return try addingResidualThenReLU(input, residual: residual)
    }
    return try fused(input) { out, weight, stride, padding, dilation in
      ct_conv2d_fused_add_relu_into(
        out, residual.handle, input.handle, weight.handle, bias.handle, stride, padding, dilation, Int64(groups))
    }
  }

  /// One of the shim's fused primitives, given the weight prepared for `input` and the geometry.
  private func fused(
    _ input: Tensor,
    _ primitive: (
      UnsafeMutablePointer<OpaquePointer?>, Tensor, UnsafePointer<Int64>, UnsafePointer<Int64>, UnsafePointer<Int64>
    ) -> Int32
  ) throws -> Tensor {
    let weight = try weight(for: input)
    return try Functional.convolutionGeometry(stride: stride, padding: padding, dilation: dilation) {
      stride, padding, dilation in
      try Tensor.make { primitive($0, weight, stride, padding, dilation) }
    }
  }
}

extension BatchNorm2d {
  /// The BatchNorm in eval mode as a per-channel affine map `x·scale + shift`, with
  /// `scale = γ / √(σ² + ε)` and `shift = β − μ·scale`: what folding it into a convolution multiplies
  /// and adds. In float64, so that folding adds no rounding of its own beyond the final cast.
  func evalAffineInFloat64() throws -> (scale: Tensor, shift: Tensor) {
    try noGrad {
      let scale = try weight.to(.float64) * (try (runningVar.to(.float64) + epsilon).rsqrt())
      return (scale, try bias.to(.float64) - (try runningMean.to(.float64) * scale))
    }
  }
}
