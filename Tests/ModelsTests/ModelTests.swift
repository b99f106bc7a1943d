import Testing

@testable import Engine
@testable import Models

@Suite struct ModelTests {
  // torchvision's counts with 1,000 classes and 3 input channels.
  @Test(arguments: [
    (Architecture.resnet18, 11_689_512), (.resnet34, 21_797_672), (.resnet50, 25_557_032),
    (.densenet121, 7_978_856),
  ])
  func parameterCountsMatchTorchvision(architecture: Architecture, expected: Int) throws {
    let model = try architecture.make(classCount: 1000, inputChannels: 3)
    #expect(model.parameterCount == expected)
  }

  @Test func resnetStateDictNamesFollowTorchvision() throws {
    let model = try ResNet(.resnet18, classCount: 3, inputChannels: 1)
    let names = model.namedTensors().map(\.name)
    #expect(names.first == "conv1.weight")
    #expect(names.contains("layer1.0.bn1.running_mean"))
    #expect(names.contains("layer2.0.downsample.0.weight"))
    #expect(names.contains("layer2.0.downsample.1.num_batches_tracked"))
    #expect(names.last == "fc.bias")
    // 62 parameters and 60 buffers (3 per batch norm) in torchvision's resnet18 state_dict.
    #expect(model.namedParameters().count == 62)
    #expect(model.namedBuffers().count == 60)
    #expect(model.conv1.weight.shape == [64, 1, 7, 7])
    #expect(model.fc.weight.shape == [3, 512])
  }

  @Test func denseNetStateDictNamesFollowTorchvision() throws {
    let model = try DenseNet(.densenet121, classCount: 2, inputChannels: 1)
    let names = Set(model.namedTensors().map(\.name))
    #expect(names.contains("features.conv0.weight"))
    #expect(names.contains("features.denseblock1.denselayer1.norm1.running_var"))
    #expect(names.contains("features.transition3.conv.weight"))
    #expect(names.contains("features.denseblock4.denselayer16.conv2.weight"))
    #expect(names.contains("features.norm5.bias"))
    #expect(names.contains("classifier.weight"))
  }

  @Test(arguments: Architecture.allCases)
  func forwardGivesLogitsAndFeatures(architecture: Architecture) throws {
    let model = try architecture.make(classCount: 3, inputChannels: 1)
    model.eval()
    let input = try Tensor.randn([2, 1, 64, 64])
    let (logits, features) = try noGrad { try model.logitsAndFeatures(input) }
    #expect(logits.shape == [2, 3])
    #expect(features.shape == [2, model.featureCount])
    #expect(model.module(at: model.lastConvolutionalLayer) != nil)
  }
}
