// The layers of torch.nn that the project's models use, with PyTorch's parameter names, shapes and
// default initialisation.

/// 2-D convolution over NCHW inputs. Parameters: `weight` (out, in/groups, kH, kW) and `bias` (out).
public final class Conv2d: Module {
  @Parameter public var weight: Tensor
  @Parameter public var bias: Tensor?
  public let stride: (Int, Int)
  public let padding: (Int, Int)
  public let dilation: (Int, Int)
  public let groups: Int

  public init(
    _ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
    dilation: Int = 1, groups: Int = 1, bias: Bool = true
  ) throws {
    guard inChannels % groups == 0, outChannels % groups == 0 else {
      throw TorchError("Conv2d: \(inChannels) in and \(outChannels) out channels do not split into \(groups) groups")
    }
    let fanIn = inChannels / groups * kernelSize * kernelSize
    weight = try Initializer.defaultUniform([outChannels, inChannels / groups, kernelSize, kernelSize], fanIn: fanIn)
    self.bias = bias ? try Initializer.defaultUniform([outChannels], fanIn: fanIn) : nil
    self.stride = (stride, stride)
    self.padding = (padding, padding)
    self.dilation = (dilation, dilation)
    self.groups = groups
  }

  public func forward(_ input: Tensor) throws -> Tensor {
    try Functional.conv2d(
      input, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
  }
}

/// Batch normalisation over the channels of NCHW inputs, as torch.nn.BatchNorm2d.
public final class BatchNorm2d: Module, TrainingModeAware {
  @Parameter public var weight: Tensor
  @Parameter public var bias: Tensor
  @Buffer public var runningMean: Tensor
  @Buffer public var runningVar: Tensor
  @Buffer public var numBatchesTracked: Tensor
  public let epsilon: Double
  public let momentum: Double
  public var isTraining = true
  /// In training, normalise with the statistics of the whole batch over this group of processes
  /// (synchronized BatchNorm) rather than this process's slice of it.
  public var synchronizedOver: ProcessGroup?

  public init(_ featureCount: Int, epsilon: Double = 1e-5, momentum: Double = 0.1) throws {
    weight = try Tensor.ones([featureCount])
    bias = try Tensor.zeros([featureCount])
    runningMean = try Tensor.zeros([featureCount])
    runningVar = try Tensor.ones([featureCount])
    numBatchesTracked = try Tensor.zeros([], dtype: .int64)
    self.epsilon = epsilon
    self.momentum = momentum
  }

  public func forward(_ input: Tensor) throws -> Tensor {
    if isTraining { try noGrad { try numBatchesTracked.add_(1) } }
    if isTraining, let group = synchronizedOver, group.size > 1 {
      return try synchronizedForward(input, over: group)
    }
    return try Functional.batchNorm(
      input, runningMean: runningMean, runningVariance: runningVar, weight: weight, bias: bias,
      training: isTraining, momentum: momentum, epsilon: epsilon)
  }
}

extension Module {
  /// Every BatchNorm2d of the tree normalises with the statistics of the whole batch over `group`.
  public func synchronizeBatchNorm(over group: ProcessGroup) {
    for case let norm as BatchNorm2d in namedModules().map(\.module) { norm.synchronizedOver = group }
  }
}

extension BatchNorm2d {
  /// Batch statistics over every rank's slice, in float32, in two passes (mean, then the mean squared
  /// deviation, as a single-process batch norm computes them), each a differentiable sum over the
  /// group, so that backward carries every rank's share of the statistics' gradient. `forward` takes
  /// this path only for a group of two or more; a check may call it with a group of one.
  public func synchronizedForward(_ input: Tensor, over group: ProcessGroup) throws -> Tensor {
    let x = input.dtype == .float32 ? input : try input.to(.float32)
    let channels = x.shape[1]
    let localCount = Double(x.shape[0] * x.shape[2] * x.shape[3])
    let totals = try group.allReducedSum(
      Tensor.cat([x.sum(dims: [0, 2, 3]), Tensor.full([1], value: localCount, device: x.device)]))
    let count = try totals.slice(dim: 0, channels..<(channels + 1)).detached()
    let mean = try totals.slice(dim: 0, 0..<channels) / count
    let centred = try x - mean.reshaped([1, channels, 1, 1])
    let variance = try group.allReducedSum((centred * centred).sum(dims: [0, 2, 3])) / count
    let total = try count.item()
    try noGrad {
      try runningMean.mul_(1 - momentum)
      try runningMean.add_(mean.detached(), alpha: momentum)
      try runningVar.mul_(1 - momentum)
      try runningVar.add_(variance.detached() * (total / max(total - 1, 1)), alpha: momentum)
    }
    let scale = try (variance + epsilon).rsqrt() * weight
    return try centred * scale.reshaped([1, channels, 1, 1]) + bias.reshaped([1, channels, 1, 1])
  }
}

/// A fully connected layer: x · weightᵀ + bias. Parameters: `weight` (out, in) and `bias` (out).
public final class Linear: Module {
  @Parameter public var weight: Tensor
  @Parameter public var bias: Tensor?

  public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) throws {
    weight = try Initializer.defaultUniform([outFeatures, inFeatures], fanIn: inFeatures)
    self.bias = bias ? try Initializer.defaultUniform([outFeatures], fanIn: inFeatures) : nil
  }

  public var inFeatures: Int { weight.shape[1] }
  public var outFeatures: Int { weight.shape[0] }

  public func forward(_ input: Tensor) throws -> Tensor {
    try Functional.linear(input, weight: weight, bias: bias)
  }
}

/// max(x, 0). With `inPlace`, the input itself is overwritten and returned, as torchvision's models
/// do after batch norm: use it only where nothing else reads the input afterwards.
public final class ReLU: Module {
  public let inPlace: Bool

  public init(inPlace: Bool = false) { self.inPlace = inPlace }

  public func forward(_ input: Tensor) throws -> Tensor {
    guard inPlace else { return try input.relu() }
    try input.relu_()
    return input
  }
}

public final class MaxPool2d: Module {
  public let kernelSize: Int
  public let stride: Int
  public let padding: Int

  public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0) {
    self.kernelSize = kernelSize
    self.stride = stride ?? kernelSize
    self.padding = padding
  }

  public func forward(_ input: Tensor) throws -> Tensor {
    try Functional.maxPool2d(
      input, kernelSize: (kernelSize, kernelSize), stride: (stride, stride), padding: (padding, padding))
  }
}

public final class AvgPool2d: Module {
  public let kernelSize: Int
  public let stride: Int
  public let padding: Int

  public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0) {
    self.kernelSize = kernelSize
    self.stride = stride ?? kernelSize
    self.padding = padding
  }

  public func forward(_ input: Tensor) throws -> Tensor {
    try Functional.avgPool2d(
      input, kernelSize: (kernelSize, kernelSize), stride: (stride, stride), padding: (padding, padding))
  }
}

/// Average pooling to a fixed output size; (1, 1) is global average pooling.
public final class AdaptiveAvgPool2d: Module {
  public let outputSize: (Int, Int)

  public init(outputSize: (Int, Int) = (1, 1)) { self.outputSize = outputSize }

  public func forward(_ input: Tensor) throws -> Tensor {
    try Functional.adaptiveAvgPool2d(input, outputSize: outputSize)
  }
}

public final class Dropout: Module, TrainingModeAware {
  public let probability: Double
  public var isTraining = true

  public init(probability: Double = 0.5) { self.probability = probability }

  public func forward(_ input: Tensor) throws -> Tensor {
    try Functional.dropout(input, p: probability, training: isTraining)
  }
}

/// Flattens every dimension after the first (batch) one.
public final class Flatten: Module {
  public let startDim: Int

  public init(startDim: Int = 1) { self.startDim = startDim }

  public func forward(_ input: Tensor) throws -> Tensor { try input.flattened(from: startDim) }
}

public final class Identity: Module {
  public init() {}
  public func forward(_ input: Tensor) throws -> Tensor { input }
}

/// Modules applied one after another; their state_dict names are their positions ("0", "1", ...),
/// as in torch.nn.Sequential.
public final class Sequential: Module {
  public let layers: [any Module]

  public init(_ layers: [any Module]) { self.layers = layers }

  public convenience init(_ layers: any Module...) { self.init(layers) }

  public var namedChildren: [(name: String, module: any Module)] {
    layers.enumerated().map { ("\($0.offset)", $0.element) }
  }

  public func forward(_ input: Tensor) throws -> Tensor {
    try layers.reduce(input) { try $1($0) }
  }
}

/// Modules applied one after another under names of their own, as torch.nn.Sequential built from an
/// OrderedDict (DenseNet's `features.conv0`, `features.denseblock1`, ...).
public final class NamedSequential: Module {
  public let namedLayers: [(name: String, module: any Module)]

  public init(_ namedLayers: [(name: String, module: any Module)]) { self.namedLayers = namedLayers }

  public var namedChildren: [(name: String, module: any Module)] { namedLayers }

  public func forward(_ input: Tensor) throws -> Tensor {
    try namedLayers.reduce(input) { try $1.module($0) }
  }
}
