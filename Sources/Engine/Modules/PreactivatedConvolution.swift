/// BatchNorm (eval mode), ReLU, then a 1x1 convolution, optionally followed by a BatchNorm: how each
/// DenseNet layer and each transition begins, prepared for inference as one elementwise pass and the
/// convolution, where BatchNorm and ReLU are two passes over the input before it.
///
/// Per channel the BatchNorm is `a·x + b`, with `a = γ/√(σ² + ε)` and `b = β − μ·a`. Where `a > 0`,
/// `relu(a·x + b) = a·max(x, −b/a) + b`: what runs before the convolution is one maximum against a
/// per-channel threshold `−b/a`, and `a` and `b` move into the convolution, its weight times `a` per
/// input channel and `W·b` added to its bias (exact for a 1x1 convolution without padding, which is
/// linear at each position). A channel with `a = 0`, or with a threshold beyond ±1e30 that no
/// activation crosses, is the constant `relu(b)`, carried by the bias alone. A following BatchNorm
/// folds as in `FoldedConvolution`. Where any `a` is negative (its ReLU would cap from above) or the
/// convolution is not 1x1 without padding, the BatchNorm and the ReLU stay as they are.
///
/// `activated(x)` then `convolution` is the whole. Anything linear at each position and channel by
/// channel may run between the two, since it commutes with the convolution: a DenseNet transition
/// average-pools before its convolution instead of after, on a quarter of the positions.
public struct PreactivatedConvolution: @unchecked Sendable {
  // @unchecked: the tensors are never written after init; libtorch reads them from any thread.
  /// The convolution that takes `activated(input)`, with the BatchNorms folded in where they fold.
  public let convolution: FoldedConvolution
  /// The per-channel thresholds, shaped (1, C, 1, 1), in the inputs' dtype; nil when the BatchNorm
  /// before the convolution did not fold.
  private let threshold: Tensor?
  /// The BatchNorm before the convolution, when it did not fold.
  private let norm: FrozenBatchNorm?

  /// Whether the leading BatchNorm and ReLU became a threshold (every channel's scale non-negative).
  public var foldsTheLeadingNorm: Bool { threshold != nil }

  /// Prepares `norm`, ReLU, `convolution` and then `following` (when given), with the weights in
  /// `dtype` (the convolution's own by default; bfloat16 for mixed-precision inference, whose inputs
  /// must then be bfloat16 too).
  public init(
    _ norm: BatchNorm2d, _ convolution: Conv2d, following: BatchNorm2d? = nil, dtype: DType? = nil,
    fusing: Bool = true
  ) throws {
    let dtype = dtype ?? convolution.weight.dtype
    let folded = try noGrad { try Self.fold(norm, into: convolution, following: following, dtype: dtype) }
    guard let folded else {
      self.norm = try FrozenBatchNorm(norm)
      threshold = nil
      self.convolution =
        try following.map { try FoldedConvolution(convolution, $0, dtype: dtype, fusing: fusing) }
        ?? FoldedConvolution(convolution, dtype: dtype, fusing: fusing)
      return
    }
    self.norm = nil
    threshold = folded.threshold
    self.convolution = try FoldedConvolution(
      convolution, weight: folded.weight, bias: folded.bias, dtype: dtype, fusing: fusing)
  }

  /// The input after the leading BatchNorm and ReLU, as far as they did not move into the
  /// convolution: `max(input, threshold)` per channel, or BatchNorm and ReLU themselves.
  public func activated(_ input: Tensor) throws -> Tensor {
    if let threshold { return try input.maximum(threshold) }
    return try norm!(input, relu: true)
  }

  /// The whole: BatchNorm, ReLU, the convolution, the following BatchNorm, and ReLU when `relu`.
  public func callAsFunction(_ input: Tensor, relu: Bool = false) throws -> Tensor {
    try convolution(activated(input), relu: relu)
  }

  /// Thresholds beyond this magnitude are never crossed: the channel is taken as constant.
  private static let unreachableThreshold = 1e30

  /// The folded weight, bias and thresholds, or nil where the BatchNorm cannot fold.
  private static func fold(
    _ norm: BatchNorm2d, into convolution: Conv2d, following: BatchNorm2d?, dtype: DType
  ) throws -> (weight: Tensor, bias: Tensor, threshold: Tensor)? {
    let shape = convolution.weight.shape
    guard shape.count == 4, shape[2] == 1, shape[3] == 1, convolution.padding == (0, 0), convolution.groups == 1
    else { return nil }
    let (outputs, inputs) = (shape[0], shape[1])
    let (normScale, normShift) = try norm.evalAffineInFloat64()
    let (scales, shifts) = (try normScale.toArray(Double.self), try normShift.toArray(Double.self))
    var scale = [Double](repeating: 0, count: inputs)  // a, or 0 for a constant channel
    var constant = [Double](repeating: 0, count: inputs)  // what passes to the bias: b, or relu(b)
    var threshold = [Double](repeating: 0, count: inputs)
    for channel in 0..<inputs {
      let (a, b) = (scales[channel], shifts[channel])
      guard a >= 0, a.isFinite, b.isFinite else { return nil }
      if a == 0 || abs(b / a) > unreachableThreshold {
        constant[channel] = max(b, 0)
      } else {
        scale[channel] = a
        constant[channel] = b
        threshold[channel] = -b / a
      }
    }
    let device = convolution.weight.device
    let perChannel = { (values: [Double], shape: [Int]) in try Tensor(values, shape: shape).to(device) }
    let weight = try convolution.weight.to(.float64)
    var foldedWeight = try weight * (try perChannel(scale, [1, inputs, 1, 1]))
    var foldedBias = try weight.reshaped([outputs, inputs]).matmul(try perChannel(constant, [inputs, 1]))
      .reshaped([outputs])
    if let own = convolution.bias { foldedBias = try foldedBias + (try own.to(.float64)) }
    if let following {
      let (outputScale, outputShift) = try following.evalAffineInFloat64()
      foldedWeight = try foldedWeight * (try outputScale.reshaped([-1, 1, 1, 1]))
      foldedBias = try foldedBias * outputScale + outputShift
    }
    return (
      try foldedWeight.to(dtype).contiguous(), try foldedBias.to(dtype).contiguous(),
      try perChannel(threshold, [1, inputs, 1, 1]).to(dtype)
    )
  }
}
