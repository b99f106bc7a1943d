import Engine

/// A trained classifier prepared once for inference: every BatchNorm folded into the convolution
/// before it, and on CPU each convolution run with its ReLU (or its block's residual addition and
/// ReLU) as one oneDNN primitive with its weight reordered once (see `FoldedConvolution`). The
/// features and logits are the model's in eval mode, to float rounding, at about twice the speed on
/// CPU (docs/benchmarks.md).
///
/// A snapshot: it keeps the weights of the moment it was made, so prepare again after training or
/// loading changes them. No gradients flow through it: Grad-CAM and training use the model itself.
/// ResNets and DenseNets. A DenseNet's layers normalise before they convolve (BatchNorm, ReLU,
/// convolution): each layer's second BatchNorm folds into the 1x1 convolution before it (its ReLU
/// fused), and the first, with its ReLU, becomes a per-channel threshold in front of that convolution,
/// which takes the BatchNorm's scale and shift (`PreactivatedConvolution`); every convolution gets
/// its weight in oneDNN's layout. In bfloat16 (what autocast gives) the convolutions run in
/// bfloat16 and the classifier in float32; inputs of any floating type are converted on the way in.
public final class PreparedClassifier: @unchecked Sendable {
  // @unchecked: nothing is written after init; libtorch reads the tensors from any thread.
  private let stem: FoldedConvolution
  private let blocks: [PreparedBlock]
  /// A DenseNet's layers after the stem (nil for a ResNet).
  private let dense: PreparedDenseFeatures?
  /// The classifier's weight (classes, K): the gradient of class c's score with respect to the last
  /// stage's activations is row c divided by their h·w positions (average pooling, then linear).
  public let classifierWeights: Tensor
  private let classifierBias: Tensor?
  /// Whether the convolutions run as oneDNN's fused primitives (else as folded `conv2d`s).
  public var isFused: Bool { stem.isFused }
  /// The convolutions' precision: float32, or bfloat16.
  public let dtype: DType

  /// The prepared form of a float32 `model` computing in `dtype` (float32 or bfloat16), or nil when
  /// it has none (neither a ResNet nor a DenseNet).
  public static func prepare(
    _ model: any ImageClassifier, dtype: DType = .float32, fusing: Bool = true
  ) throws -> PreparedClassifier? {
    let firstConvolution: Conv2d
    switch model {
    case let resnet as ResNet: firstConvolution = resnet.conv1
    case let densenet as DenseNet: firstConvolution = try densenet.stem().convolution
    default: return nil
    }
    guard firstConvolution.weight.dtype == .float32 else { return nil }
    guard dtype == .float32 || dtype == .bfloat16 else {
      throw TorchError("a prepared classifier computes in float32 or bfloat16, not \(dtype)")
    }
    let prepared = try PreparedClassifier(model, dtype: dtype, fusing: fusing)
    guard prepared.isFused else { return prepared }
    // oneDNN can still refuse at run time (bfloat16 on a CPU without AVX-512, say): one small pass
    // now decides, and the folded convolutions without fusion take over if it fails.
    do {
      let channels = firstConvolution.weight.shape[1]
      _ = try prepared(Tensor.zeros([1, channels, 32, 32], device: firstConvolution.weight.device))
      return prepared
    } catch {
      return try PreparedClassifier(model, dtype: dtype, fusing: false)
    }
  }

  private init(_ model: any ImageClassifier, dtype: DType, fusing: Bool) throws {
    self.dtype = dtype
    switch model {
    case let resnet as ResNet:
      stem = try FoldedConvolution(resnet.conv1, resnet.bn1, dtype: dtype, fusing: fusing)
      var blocks: [PreparedBlock] = []
      for stage in [resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4] {
        for block in stage.layers {
          blocks.append(try PreparedBlock(block, dtype: dtype, fusing: fusing))
        }
      }
      self.blocks = blocks
      dense = nil
    case let densenet as DenseNet:
      let (convolution, norm) = try densenet.stem()
      stem = try FoldedConvolution(convolution, norm, dtype: dtype, fusing: fusing)
      blocks = []
      dense = try PreparedDenseFeatures(densenet, dtype: dtype, fusing: fusing)
    default:
      throw TorchError("\(type(of: model)) has no prepared form")
    }
    classifierWeights = try noGrad { try model.classifierHead.weight.clone() }
    classifierBias = try noGrad { try model.classifierHead.bias?.clone() }
  }

  /// The module path of a ResNet's last residual stage, whose output `lastStageActivations` gives and
  /// whose class activation maps the prepared model can make.
  public static let lastStage = "layer4"

  /// Whether `lastStageActivations` is a ResNet's last stage ("layer4"), whose gradient for class
  /// activation maps has a closed form (a DenseNet's last activations pass through a ReLU first).
  public var explainsLastStage: Bool { dense == nil }

  /// The last stage's output (N, K, h, w) in float32: for a ResNet what a forward hook on "layer4" of
  /// the model sees, and what class activation maps are made of; for a DenseNet the output of
  /// "features" (its last BatchNorm, before the ReLU).
  public func lastStageActivations(_ input: Tensor) throws -> Tensor {
    try noGrad {
      // bfloat16 runs channels-last, the layout oneDNN fuses it in (NCHW fell back to an unfused
      // addition that has no bfloat16 kernel).
      var converted = input.dtype == dtype ? input : try input.to(dtype)
      if dtype == .bfloat16 { converted = try converted.contiguous(.channelsLast) }
      var x = try Functional.maxPool2d(
        stem(converted, relu: true), kernelSize: (3, 3), stride: (2, 2), padding: (1, 1))
      if let dense { x = try dense(x) }
      for block in blocks { x = try block(x) }
      return x.dtype == .float32 ? x : try x.to(.float32)
    }
  }

  /// The penultimate features (N, D) of the last stage's activations: their average over positions
  /// (after a ReLU for a DenseNet, as its forward pass does).
  public func features(ofLastStage activations: Tensor) throws -> Tensor {
    try noGrad {
      let positive = dense == nil ? activations : try activations.relu()
      return try Functional.adaptiveAvgPool2d(positive, outputSize: (1, 1)).flattened(from: 1)
    }
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

  /// The block's output. `input` is consumed: where it is the shortcut, the last convolution may
  /// write its result into it (the prepared model's own activations, read by nothing after).
  func callAsFunction(_ input: Tensor) throws -> Tensor {
    let residual = try shortcut?(input) ?? input
    var x = input
    for convolution in convolutions.dropLast() { x = try convolution(x, relu: true) }
    return try convolutions.last!.addingResidualThenReLU(x, into: residual)
  }
}

/// A DenseNet's features after the stem's max-pooling, prepared. Each layer's BatchNorm, ReLU and 1x1
/// convolution, with the second BatchNorm, become a per-channel threshold (one elementwise maximum)
/// and one convolution with its ReLU fused (`PreactivatedConvolution`); the 3x3 convolutions get
/// their weights in oneDNN's layout. Each block writes its layers' outputs into one tensor of all its
/// channels, so a layer reads the channels before it as a slice instead of concatenating them anew
/// (quadratic copying). A transition thresholds, average-pools, then convolves (the pooling and the
/// 1x1 convolution commute, and pooling first convolves a quarter of the positions). The final
/// BatchNorm is a copy. (The stem is the classifier's `stem`.)
private struct PreparedDenseFeatures {
  let blocks: [[PreparedDenseLayer]]
  /// Between consecutive blocks: BatchNorm, ReLU, 1x1 convolution, 2x2 average pooling.
  let transitions: [PreactivatedConvolution]
  let finalNorm: FrozenBatchNorm

  init(_ model: DenseNet, dtype: DType, fusing: Bool) throws {
    var blocks: [[PreparedDenseLayer]] = []
    var transitions: [PreactivatedConvolution] = []
    var finalNorm: FrozenBatchNorm?
    for (name, module) in model.features.namedLayers {
      switch module {
      case let block as DenseBlock:
        blocks.append(try block.layers.map { try PreparedDenseLayer($0.module, dtype: dtype, fusing: fusing) })
      case let transition as Transition:
        guard transition.pool.kernelSize == 2, transition.pool.stride == 2, transition.pool.padding == 0 else {
          throw TorchError("a DenseNet transition that does not pool 2x2")
        }
        transitions.append(try PreactivatedConvolution(transition.norm, transition.conv, dtype: dtype, fusing: fusing))
      case let norm as BatchNorm2d where name != "norm0":
        finalNorm = try FrozenBatchNorm(norm)
      default:
        continue  // the stem: conv0 and norm0 (folded), relu0 (fused), pool0 (applied with it)
      }
    }
    guard let finalNorm, !blocks.isEmpty, transitions.count == blocks.count - 1 else {
      throw TorchError("not a DenseNet of dense blocks and transitions")
    }
    self.blocks = blocks
    self.transitions = transitions
    self.finalNorm = finalNorm
  }

  /// The output of the model's `features`, from the stem's max-pooled output.
  func callAsFunction(_ input: Tensor) throws -> Tensor {
    var x = input
    for (index, block) in blocks.enumerated() {
      x = try Self.run(block, on: x)
      if index < transitions.count {
        let transition = transitions[index]
        x = try transition.convolution(
          Functional.avgPool2d(transition.activated(x), kernelSize: (2, 2), stride: (2, 2)))
      }
    }
    return try finalNorm(x, relu: false)
  }

  /// A dense block: the input and every layer's output side by side in one tensor, in the input's
  /// memory layout, each layer reading the channels filled so far.
  private static func run(_ block: [PreparedDenseLayer], on input: Tensor) throws -> Tensor {
    let (batch, height, width) = (input.shape[0], input.shape[2], input.shape[3])
    let channels = block.reduce(input.shape[1]) { $0 + $1.outputChannels }
    let features =
      input.isContiguous(.channelsLast) && !input.isContiguous()
      ? try Tensor.empty([batch, height, width, channels], dtype: input.dtype, device: input.device)
        .permuted([0, 3, 1, 2])
      : try Tensor.empty([batch, channels, height, width], dtype: input.dtype, device: input.device)
    var filled = input.shape[1]
    try features.slice(dim: 1, 0..<filled).copy_(input)
    for layer in block {
      let output = try layer(features.slice(dim: 1, 0..<filled))
      try features.slice(dim: 1, filled..<filled + layer.outputChannels).copy_(output)
      filled += layer.outputChannels
    }
    return features
  }
}

/// One dense layer: BatchNorm, ReLU and the 1x1 convolution with the second BatchNorm folded and its
/// ReLU fused, then the 3x3 convolution.
private struct PreparedDenseLayer {
  let bottleneck: PreactivatedConvolution
  let convolution: FoldedConvolution
  /// The channels it adds to its block (the growth rate).
  let outputChannels: Int

  init(_ layer: DenseLayer, dtype: DType, fusing: Bool) throws {
    bottleneck = try PreactivatedConvolution(
      layer.norm1, layer.conv1, following: layer.norm2, dtype: dtype, fusing: fusing)
    convolution = try FoldedConvolution(layer.conv2, dtype: dtype, fusing: fusing)
    outputChannels = layer.conv2.weight.shape[0]
  }

  func callAsFunction(_ input: Tensor) throws -> Tensor {
    try convolution(bottleneck(input, relu: true))
  }
}
