import Engine

/// ResNet (He et al. 2016) as torchvision builds it (v1.5: the stride of a bottleneck sits on its 3x3
/// convolution), with torchvision's parameter names, so its checkpoints load as they are.
public final class ResNet: ImageClassifier {
  public struct Configuration: Sendable {
    public let blockCounts: [Int]
    public let usesBottleneck: Bool

    public static let resnet18 = Configuration(blockCounts: [2, 2, 2, 2], usesBottleneck: false)
    public static let resnet34 = Configuration(blockCounts: [3, 4, 6, 3], usesBottleneck: false)
    public static let resnet50 = Configuration(blockCounts: [3, 4, 6, 3], usesBottleneck: true)

    var expansion: Int { usesBottleneck ? 4 : 1 }
  }

  public let conv1: Conv2d
  public let bn1: BatchNorm2d
  public let relu = ReLU(inPlace: true)
  public let maxpool = MaxPool2d(kernelSize: 3, stride: 2, padding: 1)
  public let layer1: Sequential
  public let layer2: Sequential
  public let layer3: Sequential
  public let layer4: Sequential
  public let avgpool = AdaptiveAvgPool2d(outputSize: (1, 1))
  public let fc: Linear

  public init(_ configuration: Configuration, classCount: Int, inputChannels: Int = 3) throws {
    conv1 = try Conv2d(inputChannels, 64, kernelSize: 7, stride: 2, padding: 3, bias: false)
    bn1 = try BatchNorm2d(64)
    var channels = 64
    func stage(width: Int, blocks: Int, stride: Int) throws -> Sequential {
      var layers: [any Module] = []
      for index in 0..<blocks {
        let block: any Module =
          configuration.usesBottleneck
          ? try Bottleneck(inChannels: channels, width: width, stride: index == 0 ? stride : 1)
          : try BasicBlock(inChannels: channels, width: width, stride: index == 0 ? stride : 1)
        layers.append(block)
        channels = width * configuration.expansion
      }
      return Sequential(layers)
    }
    layer1 = try stage(width: 64, blocks: configuration.blockCounts[0], stride: 1)
    layer2 = try stage(width: 128, blocks: configuration.blockCounts[1], stride: 2)
    layer3 = try stage(width: 256, blocks: configuration.blockCounts[2], stride: 2)
    layer4 = try stage(width: 512, blocks: configuration.blockCounts[3], stride: 2)
    fc = try Linear(512 * configuration.expansion, classCount)

    // torchvision's initialisation: He-normal (fan out) convolutions; batch norms start at 1 and 0.
    for (_, module) in namedModules() {
      if let conv = module as? Conv2d { try Initializer.kaimingNormal_(conv.weight, fan: .fanOut) }
    }
  }

  public var classifierHead: Linear { fc }
  public var lastConvolutionalLayer: String { "layer4" }

  public func penultimateFeatures(_ input: Tensor) throws -> Tensor {
    var x = try maxpool(relu(bn1(conv1(input))))
    x = try layer4(layer3(layer2(layer1(x))))
    return try avgpool(x).flattened(from: 1)
  }

  public func forward(_ input: Tensor) throws -> Tensor { try fc(penultimateFeatures(input)) }
}

/// The projection that matches a block's shortcut to its output when the shape changes.
func shortcutProjection(inChannels: Int, outChannels: Int, stride: Int) throws -> Sequential? {
  guard stride != 1 || inChannels != outChannels else { return nil }
  return Sequential(
    try Conv2d(inChannels, outChannels, kernelSize: 1, stride: stride, bias: false), try BatchNorm2d(outChannels))
}

/// Two 3x3 convolutions with a shortcut (ResNet-18 and -34).
public final class BasicBlock: Module {
  public let conv1: Conv2d
  public let bn1: BatchNorm2d
  public let relu = ReLU(inPlace: true)
  public let conv2: Conv2d
  public let bn2: BatchNorm2d
  public let downsample: Sequential?

  public init(inChannels: Int, width: Int, stride: Int) throws {
    conv1 = try Conv2d(inChannels, width, kernelSize: 3, stride: stride, padding: 1, bias: false)
    bn1 = try BatchNorm2d(width)
    conv2 = try Conv2d(width, width, kernelSize: 3, padding: 1, bias: false)
    bn2 = try BatchNorm2d(width)
    downsample = try shortcutProjection(inChannels: inChannels, outChannels: width, stride: stride)
  }

  public func forward(_ input: Tensor) throws -> Tensor {
    let out = try bn2(conv2(relu(bn1(conv1(input)))))
    // In place, as torchvision: `out` is this block's own tensor, so nothing else reads it.
    try out.add_(downsample?(input) ?? input)
    return try relu(out)
  }
}

/// 1x1 reduce, 3x3, 1x1 expand (x4), with a shortcut (ResNet-50).
public final class Bottleneck: Module {
  public let conv1: Conv2d
  public let bn1: BatchNorm2d
  public let conv2: Conv2d
  public let bn2: BatchNorm2d
  public let conv3: Conv2d
  public let bn3: BatchNorm2d
  public let relu = ReLU(inPlace: true)
  public let downsample: Sequential?

  public init(inChannels: Int, width: Int, stride: Int) throws {
    conv1 = try Conv2d(inChannels, width, kernelSize: 1, bias: false)
    bn1 = try BatchNorm2d(width)
    conv2 = try Conv2d(width, width, kernelSize: 3, stride: stride, padding: 1, bias: false)
    bn2 = try BatchNorm2d(width)
    conv3 = try Conv2d(width, width * 4, kernelSize: 1, bias: false)
    bn3 = try BatchNorm2d(width * 4)
    downsample = try shortcutProjection(inChannels: inChannels, outChannels: width * 4, stride: stride)
  }

  public func forward(_ input: Tensor) throws -> Tensor {
    var out = try relu(bn1(conv1(input)))
    out = try relu(bn2(conv2(out)))
    out = try bn3(conv3(out))
    // In place, as torchvision: `out` is this block's own tensor, so nothing else reads it.
    try out.add_(downsample?(input) ?? input)
    return try relu(out)
  }
}
