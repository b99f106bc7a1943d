import Engine

/// A trained classifier prepared once for inference: every BatchNorm folded into the convolution
/// before it, and on CPU each convolution run with its ReLU (or its block's residual addition and
/// ReLU) as one oneDNN primitive with its weight reordered once (see `FoldedConvolution`). The
/// features and logits are the model's in eval mode, to float rounding, at about twice the speed on
/// CPU (docs/benchmarks.md).
///
/// A snapshot: it keeps the weights of the moment it was made, so prepare again after training or
/// loading changes them. No gradients flow through it: Grad-CAM and training use the model itself.
/// ResNets only (`prepare` gives nil for a DenseNet, whose BatchNorms come before their
/// convolutions). In bfloat16 (what autocast gives) the convolutions run in bfloat16 and the
/// classifier in float32; inputs of any floating type are converted on the way in.
public final class PreparedClassifier: @unchecked Sendable {
  // @unchecked: nothing is written after init; libtorch reads the tensors from any thread.
  private let stem: FoldedConvolution
  private let blocks: [PreparedBlock]
  /// The classifier's weight (classes, K): the gradient of class c's score with respect to the last
  /// stage's activations is row c divided by their h·w positions (average pooling, then linear).
  public let classifierWeights: Tensor
  private let classifierBias: Tensor?
  /// Whether the convolutions run as oneDNN's fused primitives (else as folded `conv2d`s).
  public var isFused: Bool { stem.isFused }
  /// The convolutions' precision: float32, or bfloat16.
  public let dtype: DType

  /// The prepared form of a float32 `model` computing in `dtype` (float32 or bfloat16), or nil when
  /// it has none (not a ResNet).
  public static func prepare(
    _ model: any ImageClassifier, dtype: DType = .float32, fusing: Bool = true
  ) throws -> PreparedClassifier? {
    guard let resnet = model as? ResNet, resnet.conv1.weight.dtype == .float32 else { return nil }
    guard dtype == .float32 || dtype == .bfloat16 else {
      throw TorchError("a prepared classifier computes in float32 or bfloat16, not \(dtype)")
    }
    let prepared = try PreparedClassifier(resnet, dtype: dtype, fusing: fusing)
    guard prepared.isFused else { return prepared }
    // oneDNN can still refuse at run time (bfloat16 on a CPU without AVX-512, say): one small pass
    // now decides, and the folded convolutions without fusion take over if it fails.
    do {
      let channels = resnet.conv1.weight.shape[1]
      _ = try prepared(Tensor.zeros([1, channels, 32, 32], device: resnet.conv1.weight.device))
      return prepared
    } catch {
      return try PreparedClassifier(resnet, dtype: dtype, fusing: false)
    }
  }

  private init(_ model: ResNet, dtype: DType, fusing: Bool) throws {
    self.dtype = dtype
    stem = try FoldedConvolution(model.conv1, model.bn1, dtype: dtype, fusing: fusing)
    var blocks: [PreparedBlock] = []
    for stage in [model.layer1, model.layer2, model.layer3, model.layer4] {
      for block in stage.layers {
        blocks.append(try PreparedBlock(block, dtype: dtype, fusing: fusing))
      }
    }
    self.blocks = blocks
    classifierWeights = try noGrad { try model.fc.weight.clone() }
    classifierBias = try noGrad { try model.fc.bias?.clone() }
  }

  /// The module path of the last residual stage, whose output `lastStageActivations` gives.
  public static let lastStage = "layer4"

  /// The last residual stage's output (N, K, h, w) in float32: what a forward hook on "layer4" of the
  /// model sees, and what class activation maps are made of.
  public func lastStageActivations(_ input: Tensor) throws -> Tensor {
    try noGrad {
      // bfloat16 runs channels-last, the layout oneDNN fuses it in (NCHW fell back to an unfused
      // addition that has no bfloat16 kernel).
      var converted = input.dtype == dtype ? input : try input.to(dtype)
      if dtype == .bfloat16 { converted = try converted.contiguous(.channelsLast) }
      var x = try Functional.maxPool2d(
        stem(converted, relu: true), kernelSize: (3, 3), stride: (2, 2), padding: (1, 1))
      for block in blocks { x = try block(x) }
      return x.dtype == .float32 ? x : try x.to(.float32)
    }
  }

  /// The penultimate features (N, D) of the last stage's activations: their average over positions.
  public func features(ofLastStage activations: Tensor) throws -> Tensor {
    try noGrad { try Functional.adaptiveAvgPool2d(activations, outputSize: (1, 1)).flattened(from: 1) }
  }

  /// The classifier's logits of penultimate features.
  public func logits(ofFeatures features: Tensor) throws -> Tensor {
    try noGrad { try Functional.linear(features, weight: classifierWeights, bias: classifierBias) }
  }

  /// The penultimate features (N, D), as `ImageClassifier.penultimateFeatures`.
  public func penultimateFeatures(_ input: Tensor) throws -> Tensor {
    try features(ofLastStage: lastStageActivations(input))
  }

  /// Logits and penultimate features from one pass.
  public func logitsAndFeatures(_ input: Tensor) throws -> (logits: Tensor, features: Tensor) {
    let features = try penultimateFeatures(input)
    return (try logits(ofFeatures: features), features)
  }

  /// The logits.
  public func callAsFunction(_ input: Tensor) throws -> Tensor { try logitsAndFeatures(input).logits }
}

/// A residual block with its convolutions folded: a BasicBlock (two 3x3) or a Bottleneck (1x1, 3x3,
/// 1x1), the last one adding the shortcut and applying ReLU.
private struct PreparedBlock {
  let convolutions: [FoldedConvolution]
  let shortcut: FoldedConvolution?

  init(_ block: any Module, dtype: DType, fusing: Bool) throws {
    func projection(_ downsample: Sequential?) throws -> FoldedConvolution? {
      guard let downsample else { return nil }
      guard downsample.layers.count == 2, let convolution = downsample.layers[0] as? Conv2d,
        let norm = downsample.layers[1] as? BatchNorm2d
      else { throw TorchError("a ResNet shortcut is not a convolution and a BatchNorm") }
      return try FoldedConvolution(convolution, norm, dtype: dtype, fusing: fusing)
    }
    switch block {
    case let basic as BasicBlock:
      convolutions = [
        try FoldedConvolution(basic.conv1, basic.bn1, dtype: dtype, fusing: fusing),
        try FoldedConvolution(basic.conv2, basic.bn2, dtype: dtype, fusing: fusing),
      ]
      shortcut = try projection(basic.downsample)
    case let bottleneck as Bottleneck:
      convolutions = [
        try FoldedConvolution(bottleneck.conv1, bottleneck.bn1, dtype: dtype, fusing: fusing),
        try FoldedConvolution(bottleneck.conv2, bottleneck.bn2, dtype: dtype, fusing: fusing),
        try FoldedConvolution(bottleneck.conv3, bottleneck.bn3, dtype: dtype, fusing: fusing),
      ]
      shortcut = try projection(bottleneck.downsample)
    default:
      throw TorchError("\(type(of: block)) is not a ResNet block")
    }
  }

  func callAsFunction(_ input: Tensor) throws -> Tensor {
    let residual = try shortcut?(input) ?? input
    var x = input
    for convolution in convolutions.dropLast() { x = try convolution(x, relu: true) }
    return try convolutions.last!.addingResidualThenReLU(x, residual: residual)
  }
}
