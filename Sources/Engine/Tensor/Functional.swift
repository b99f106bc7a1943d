import CTorch

/// How a loss combines its per-sample values.
public enum Reduction: Int32, Sendable {
  case none = 0
  case mean = 1
  case sum = 2
}

/// Stateless neural-network functions (torch.nn.functional). Layers in `Modules/` call these.
public enum Functional {
  /// A pair of values for height and width, as the C API takes them.
  @inline(__always)
  static func pair<Result>(_ value: (Int, Int), _ body: (UnsafePointer<Int64>) throws -> Result) rethrows -> Result {
    let values: [Int64] = [Int64(value.0), Int64(value.1)]
    return try values.withUnsafeBufferPointer { try body($0.baseAddress!) }
  }

  /// A convolution's stride, padding and dilation as the C API takes them (two values each).
  static func convolutionGeometry<Result>(
    stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int),
    _ body: (UnsafePointer<Int64>, UnsafePointer<Int64>, UnsafePointer<Int64>) throws -> Result
  ) rethrows -> Result {
    try pair(stride) { stride in
      try pair(padding) { padding in try pair(dilation) { dilation in try body(stride, padding, dilation) } }
    }
  }

  /// 2-D convolution of an NCHW input with an (out, in/groups, kH, kW) weight.
  public static func conv2d(
    _ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
    padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1
  ) throws -> Tensor {
    try convolutionGeometry(stride: stride, padding: padding, dilation: dilation) { stride, padding, dilation in
      try Tensor.make {
        ct_conv2d($0, input.handle, weight.handle, bias?.handle, stride, padding, dilation, Int64(groups))
      }
    }
  }

  /// Batch normalisation. In training mode it normalises by the batch's statistics and updates the
  /// running ones in place (new = (1 - momentum) * old + momentum * batch, with the unbiased
  /// variance); in evaluation mode it uses the running statistics.
  public static func batchNorm(
    _ input: Tensor, runningMean: Tensor?, runningVariance: Tensor?, weight: Tensor?, bias: Tensor?,
    training: Bool, momentum: Double = 0.1, epsilon: Double = 1e-5
  ) throws -> Tensor {
    try Tensor.make {
      ct_batch_norm(
        $0, input.handle, weight?.handle, bias?.handle, runningMean?.handle, runningVariance?.handle,
        training ? 1 : 0, momentum, epsilon)
    }
  }

  /// x · weightᵀ + bias.
  public static func linear(_ input: Tensor, weight: Tensor, bias: Tensor? = nil) throws -> Tensor {
    try Tensor.make { ct_linear($0, input.handle, weight.handle, bias?.handle) }
  }

  public static func maxPool2d(
    _ input: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
    dilation: (Int, Int) = (1, 1), ceilMode: Bool = false
  ) throws -> Tensor {
    try pair(kernelSize) { kernel in
      try pair(stride ?? kernelSize) { stride in
        try pair(padding) { padding in
          try pair(dilation) { dilation in
            try Tensor.make { ct_max_pool2d($0, input.handle, kernel, stride, padding, dilation, ceilMode ? 1 : 0) }
          }
        }
      }
    }
  }

  public static func avgPool2d(
    _ input: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
    ceilMode: Bool = false, countIncludePad: Bool = true
  ) throws -> Tensor {
    try pair(kernelSize) { kernel in
      try pair(stride ?? kernelSize) { stride in
        try pair(padding) { padding in
          try Tensor.make {
            ct_avg_pool2d($0, input.handle, kernel, stride, padding, ceilMode ? 1 : 0, countIncludePad ? 1 : 0)
          }
        }
      }
    }
  }

  public static func adaptiveAvgPool2d(_ input: Tensor, outputSize: (Int, Int)) throws -> Tensor {
    try pair(outputSize) { size in try Tensor.make { ct_adaptive_avg_pool2d($0, input.handle, size) } }
  }

  /// Zeroes each element with probability `p` and scales the rest by 1 / (1 - p), in training only.
  public static func dropout(_ input: Tensor, p: Double, training: Bool) throws -> Tensor {
    try Tensor.make { ct_dropout($0, input.handle, p, training ? 1 : 0) }
  }

  /// Bilinear resizing of an NCHW tensor to `size` (height, width).
  public static func resizeBilinear(_ input: Tensor, size: (Int, Int), alignCorners: Bool = false) throws -> Tensor {
    try pair(size) { size in
      try Tensor.make { ct_upsample_bilinear2d($0, input.handle, size, alignCorners ? 1 : 0) }
    }
  }

  /// Cross-entropy between logits (N, C) and class indices (N, int64), with optional class
  /// weights and label smoothing, as torch.nn.functional.cross_entropy.
  public static func crossEntropy(
    logits: Tensor, targets: Tensor, classWeights: Tensor? = nil, labelSmoothing: Double = 0,
    reduction: Reduction = .mean, ignoreIndex: Int = -100
  ) throws -> Tensor {
    try Tensor.make {
      ct_cross_entropy(
        $0, logits.handle, targets.handle, classWeights?.handle, reduction.rawValue, Int64(ignoreIndex),
        labelSmoothing)
    }
  }

  public static func meanSquaredError(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) throws -> Tensor
  {
    try Tensor.make { ct_mse_loss($0, input.handle, target.handle, reduction.rawValue) }
  }
}
