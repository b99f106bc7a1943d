import CTorch

/// A convolution with the BatchNorm that follows it folded in, for inference: in eval mode
/// `bn(conv(x))` is `conv(x)` with weight `w·s` and bias `β − μ·s` (plus the convolution's own bias
/// times `s`), where `s = γ / √(σ² + ε)` per output channel. On CPU (oneDNN) the ReLU after it, or a
/// residual addition and ReLU, run in the same primitive, and the weight is reordered once into
/// oneDNN's layout instead of on every call — what PyTorch's compiler does for CPU inference
/// ("freezing"). Elsewhere (CUDA, a libtorch without oneDNN) the same folded weight runs through
/// `conv2d` with in-place ReLU and addition.
///
/// A snapshot of the weights and statistics when it was made; no gradients flow through it.
public struct FoldedConvolution: @unchecked Sendable {
  // @unchecked: the tensors are never written after init; libtorch reads them from any thread.
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

  /// Folds `norm` (its running statistics: eval mode) into `convolution`, keeping the result in
  /// `dtype` (the convolution's own by default; bfloat16 for mixed-precision inference, whose inputs
  /// must then be bfloat16 too). With `fusing` false the oneDNN primitives are not used even where
  /// they could be (for comparisons).
  public init(_ convolution: Conv2d, _ norm: BatchNorm2d, dtype: DType? = nil, fusing: Bool = true) throws {
    let dtype = dtype ?? convolution.weight.dtype
    let (weight, bias) = try noGrad {
      // In float64, so that folding adds no rounding of its own beyond the final cast.
      let scale = try norm.weight.to(.float64) * (try (norm.runningVar.to(.float64) + norm.epsilon).rsqrt())
      let weight = try convolution.weight.to(.float64) * (try scale.reshaped([-1, 1, 1, 1]))
      var bias = try norm.bias.to(.float64) - (try norm.runningMean.to(.float64) * scale)
      if let own = convolution.bias { bias = try bias + (try own.to(.float64) * scale) }
      return (try weight.to(dtype).contiguous(), try bias.to(dtype).contiguous())
    }
    stride = convolution.stride
    padding = convolution.padding
    dilation = convolution.dilation
    groups = convolution.groups
    isFused =
      fusing && weight.device == .cpu && (dtype == .float32 || dtype == .bfloat16) && Self.fusionIsAvailable
    self.bias = bias
    self.weight = isFused ? try Self.reorderedForOneDNN(weight, of: convolution) : weight
  }

  /// The weight in oneDNN's blocked layout, reordered once here rather than on each call.
  private static func reorderedForOneDNN(_ weight: Tensor, of convolution: Conv2d) throws -> Tensor {
    try Functional.pair(convolution.stride) { stride in
      try Functional.pair(convolution.padding) { padding in
        try Functional.pair(convolution.dilation) { dilation in
          try Tensor.make {
            ct_conv2d_prepack_weight($0, weight.handle, stride, padding, dilation, Int64(convolution.groups), nil)
          }
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
    return try geometry { stride, padding, dilation in
      try Tensor.make {
        ct_conv2d_fused(
          $0, input.handle, weight.handle, bias.handle, stride, padding, dilation, Int64(groups), relu ? 1 : 0)
      }
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
    return try geometry { stride, padding, dilation in
      try Tensor.make {
        ct_conv2d_fused_add_relu(
          $0, input.handle, residual.handle, weight.handle, bias.handle, stride, padding, dilation, Int64(groups))
      }
    }
  }

  private func geometry(
    _ body: (UnsafePointer<Int64>, UnsafePointer<Int64>, UnsafePointer<Int64>) throws -> Tensor
  ) throws -> Tensor {
    try Functional.pair(stride) { stride in
      try Functional.pair(padding) { padding in
        try Functional.pair(dilation) { dilation in try body(stride, padding, dilation) }
      }
    }
  }
}
