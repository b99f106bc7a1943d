import Engine

/// DenseNet (Huang et al. 2017) as torchvision builds it, with its parameter names
/// (`features.denseblock1.denselayer1.norm1.weight`, `classifier.weight`). CheXNet and
/// TorchXRayVision use DenseNet-121.
public final class DenseNet: ImageClassifier {
  public struct Configuration: Sendable {
    public let growthRate: Int
    public let blockCounts: [Int]
    public let initialFeatures: Int
    public let bottleneckSize: Int

    public static let densenet121 = Configuration(
      growthRate: 32, blockCounts: [6, 12, 24, 16], initialFeatures: 64, bottleneckSize: 4)
  }

  public let features: NamedSequential
  public let classifier: Linear
  let pool = AdaptiveAvgPool2d(outputSize: (1, 1))

  public init(_ configuration: Configuration, classCount: Int, inputChannels: Int = 3) throws {
    var layers: [(name: String, module: any Module)] = [
      (
        "conv0",
        try Conv2d(inputChannels, configuration.initialFeatures, kernelSize: 7, stride: 2, padding: 3, bias: false)
      ),
      ("norm0", try BatchNorm2d(configuration.initialFeatures)),
      ("relu0", ReLU(inPlace: true)),
      ("pool0", MaxPool2d(kernelSize: 3, stride: 2, padding: 1)),
    ]
    var channels = configuration.initialFeatures
    for (index, layerCount) in configuration.blockCounts.enumerated() {
      let block = try DenseBlock(
        inChannels: channels, layerCount: layerCount, growthRate: configuration.growthRate,
        bottleneckSize: configuration.bottleneckSize)
      layers.append(("denseblock\(index + 1)", block))
      channels += layerCount * configuration.growthRate
      if index < configuration.blockCounts.count - 1 {
        layers.append(("transition\(index + 1)", try Transition(inChannels: channels, outChannels: channels / 2)))
        channels /= 2
      }
    }
    layers.append(("norm5", try BatchNorm2d(channels)))
    features = NamedSequential(layers)
    classifier = try Linear(channels, classCount)

    // torchvision's initialisation: He-normal (fan in) convolutions, zero classifier bias.
    for (_, module) in namedModules() {
      if let conv = module as? Conv2d { try Initializer.kaimingNormal_(conv.weight, fan: .fanIn) }
    }
    if let bias = classifier.bias { try Initializer.constant_(bias, 0) }
  }

  public var classifierHead: Linear { classifier }

  /// The stem's convolution and the BatchNorm after it (conv0, norm0).
  func stem() throws -> (convolution: Conv2d, norm: BatchNorm2d) {
    let layers = features.namedLayers
    guard let convolution = layers.first(where: { $0.name == "conv0" })?.module as? Conv2d,
      let norm = layers.first(where: { $0.name == "norm0" })?.module as? BatchNorm2d
    else { throw TorchError("this DenseNet has no conv0 and norm0") }
    return (convolution, norm)
  }
  public var lastConvolutionalLayer: String { "features.norm5" }

  public func penultimateFeatures(_ input: Tensor) throws -> Tensor {
    try pool(features(input).relu()).flattened(from: 1)
  }

  public func forward(_ input: Tensor) throws -> Tensor { try classifier(penultimateFeatures(input)) }
}

/// BN-ReLU-1x1 conv-BN-ReLU-3x3 conv, producing `growthRate` new channels from all earlier ones.
public final class DenseLayer: Module {
  public let norm1: BatchNorm2d
  public let relu1 = ReLU(inPlace: true)
  public let conv1: Conv2d
  public let norm2: BatchNorm2d
  public let relu2 = ReLU(inPlace: true)
  public let conv2: Conv2d

  init(inChannels: Int, growthRate: Int, bottleneckSize: Int) throws {
    norm1 = try BatchNorm2d(inChannels)
    conv1 = try Conv2d(inChannels, bottleneckSize * growthRate, kernelSize: 1, bias: false)
    norm2 = try BatchNorm2d(bottleneckSize * growthRate)
    conv2 = try Conv2d(bottleneckSize * growthRate, growthRate, kernelSize: 3, padding: 1, bias: false)
  }

  public func forward(_ input: Tensor) throws -> Tensor {
    try conv2(relu2(norm2(conv1(relu1(norm1(input))))))
  }
}

/// Dense layers, each fed the concatenation of the block's input and every earlier layer's output.
public final class DenseBlock: Module {
  public let layers: [(name: String, module: DenseLayer)]

  init(inChannels: Int, layerCount: Int, growthRate: Int, bottleneckSize: Int) throws {
    layers = try (0..<layerCount).map { index in
      (
        "denselayer\(index + 1)",
        try DenseLayer(
          inChannels: inChannels + index * growthRate, growthRate: growthRate, bottleneckSize: bottleneckSize)
      )
    }
  }

  public var namedChildren: [(name: String, module: any Module)] { layers.map { ($0.name, $0.module) } }

  public func forward(_ input: Tensor) throws -> Tensor {
    var outputs = [input]
    for (_, layer) in layers { outputs.append(try layer(Tensor.cat(outputs, dim: 1))) }
    return try Tensor.cat(outputs, dim: 1)
  }
}

/// BN-ReLU-1x1 conv-2x2 average pool between dense blocks, halving channels and resolution.
public final class Transition: Module {
  public let norm: BatchNorm2d
  public let relu = ReLU(inPlace: true)
  public let conv: Conv2d
  public let pool = AvgPool2d(kernelSize: 2, stride: 2)

  init(inChannels: Int, outChannels: Int) throws {
    norm = try BatchNorm2d(inChannels)
    conv = try Conv2d(inChannels, outChannels, kernelSize: 1, bias: false)
  }

  public func forward(_ input: Tensor) throws -> Tensor { try pool(conv(relu(norm(input)))) }
}
