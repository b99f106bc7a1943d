import Engine

/// A convolutional image classifier whose last step is global pooling then a linear layer: the
/// shape of every model here, and what the OS loss and Grad-CAM rely on.
public protocol ImageClassifier: Module {
  /// The penultimate features: after global average pooling, before the classifier (N, D). The
  /// Orthogonal Spheres loss acts on these.
  func penultimateFeatures(_ input: Tensor) throws -> Tensor

  /// The final linear layer, from the features to the class logits.
  var classifierHead: Linear { get }

  /// The path of the last convolutional block (Grad-CAM's default layer), such as "layer4".
  var lastConvolutionalLayer: String { get }
}

extension ImageClassifier {
  public var classCount: Int { classifierHead.outFeatures }
  public var featureCount: Int { classifierHead.inFeatures }

  /// Logits and penultimate features from one forward pass.
  public func logitsAndFeatures(_ input: Tensor) throws -> (logits: Tensor, features: Tensor) {
    let features = try penultimateFeatures(input)
    return (try classifierHead(features), features)
  }
}

/// The architectures OrthoCXR can build, by their torchvision names.
public enum Architecture: String, CaseIterable, Sendable {
  case resnet18
  case resnet34
  case resnet50
  case densenet121

  /// A freshly initialised model. `inputChannels` is 1 for greyscale X-rays or 3 for ImageNet weights.
  public func make(classCount: Int, inputChannels: Int = 3) throws -> any ImageClassifier {
    switch self {
    case .resnet18: try ResNet(.resnet18, classCount: classCount, inputChannels: inputChannels)
    case .resnet34: try ResNet(.resnet34, classCount: classCount, inputChannels: inputChannels)
    case .resnet50: try ResNet(.resnet50, classCount: classCount, inputChannels: inputChannels)
    case .densenet121: try DenseNet(.densenet121, classCount: classCount, inputChannels: inputChannels)
    }
  }
}
