import Engine
import Explanations
import ModelTestSupport
import Models
import Testing

/// Feature map k is the image inside quadrant k (top-left, top-right, bottom-left, bottom-right).
final class QuadrantFeatures: Module {
  let masks: Tensor

  init(size: Int) throws {
    var values = [Float](repeating: 0, count: 4 * size * size)
    let half = size / 2
    for quadrant in 0..<4 {
      for y in 0..<size {
        for x in 0..<size where (y >= half ? 2 : 0) + (x >= half ? 1 : 0) == quadrant {
          values[quadrant * size * size + y * size + x] = 1
        }
      }
    }
    masks = try Tensor(values, shape: [1, 4, size, size])
  }

  func forward(_ input: Tensor) throws -> Tensor { try (input * masks).relu() }
}

/// A classifier whose class-0 score is 100 × the mean of the bottom-right quadrant (class 1: minus
/// that), through global average pooling and a linear layer.
final class QuadrantModel: Module {
  let features: QuadrantFeatures
  let pool = AdaptiveAvgPool2d(outputSize: (1, 1))
  let head: Linear

  init(size: Int) throws {
    features = try QuadrantFeatures(size: size)
    head = try Linear(4, 2, bias: false)
    try head.weight.setData(Tensor([0, 0, 0, 100, 0, 0, 0, -100] as [Float], shape: [2, 4]))
  }

  func forward(_ input: Tensor) throws -> Tensor { try head(pool(features(input)).flattened(from: 1)) }
}

@Suite struct ClassActivationMapTests {
  /// Random positive images, so that every quadrant has content and only the model decides.
  func images(_ count: Int, size: Int) throws -> Tensor {
    try Tensor.rand([count, 1, size, size]) * 0.5 + 0.5
  }

  func massInBottomRight(_ map: [Float], size: Int) -> Double {
    var inside = 0.0
    var total = 0.0
    for y in 0..<size {
      for x in 0..<size {
        total += Double(map[y * size + x])
        if y >= size / 2 && x >= size / 2 { inside += Double(map[y * size + x]) }
      }
    }
    return inside / total
  }

  @Test(arguments: CAMMethod.allCases)
  func heatmapLiesInTheQuadrantThatDecides(method: CAMMethod) throws {
    let size = 32
    let model = try QuadrantModel(size: size)
    let explainer = try CAMExplainer(model: model, layer: "features")
    let result = try explainer.explain(try images(3, size: size), method: method)
    #expect(result.targets == [0, 0, 0])
    #expect(result.maps.shape == [3, size, size])
    for index in 0..<3 {
      let map = try result.map(at: index)
      #expect(map.allSatisfy { $0 >= 0 && $0 <= 1 })
      #expect(abs((map.max() ?? 0) - 1) < 1e-4)
      #expect(massInBottomRight(map, size: size) > 0.95, "\(method.rawValue) puts its mass elsewhere")
    }
  }

  @Test func aClassWithNoPositiveEvidenceGivesAnAllZeroMap() throws {
    let model = try QuadrantModel(size: 16)
    let result = try CAMExplainer(model: model, layer: "features").explain(
      try images(2, size: 16), method: .gradCAM, targets: [1, 1])
    let values = try result.maps.flattened().toArray(Float.self)
    #expect(values.allSatisfy { $0 == 0 })
  }

  /// With global average pooling then a linear layer, the gradient of class c's score with respect to
  /// the last feature maps is W[c, k] / (h·w) everywhere, so Grad-CAM is CAM up to a positive factor,
  /// which the [0, 1] scaling removes.
  @Test func gradCAMEqualsCAMForGlobalPoolingAndALinearLayer() throws {
    // Seeded: with some weights and inputs every class's CAM is negative everywhere, and the check
    // that the comparison is not between two all-zero maps failed once in a full run.
    Torch.seed(11)
    let model = try ResNet(.resnet18, classCount: 3, inputChannels: 1)
    model.eval()
    let input = try Tensor.randn([3, 1, 64, 64])
    let explanation = try CAMExplainer(classifier: model).explain(input, method: .gradCAM, targets: [0, 1, 2])

    final class Capture: @unchecked Sendable { var value: Tensor? }
    let capture = Capture()
    let hook = model.layer4.addForwardHook { capture.value = $0 }
    _ = try noGrad { try model(input) }
    hook.remove()
    let activations = try #require(capture.value)  // (3, 512, 2, 2)
    let weights = try model.fc.weight.detached()  // (3, 512)
    var cams: [Tensor] = []
    for image in 0..<3 {
      let classWeights = try weights.select(dim: 0, index: image).reshaped([512, 1, 1])
      cams.append(try (activations.select(dim: 0, index: image) * classWeights).sum(dims: [0]).relu())
    }
    let expected = try CAMExplainer.upsampledAndNormalized(Tensor.stack(cams), to: (64, 64))
    let difference = try (explanation.maps - expected).abs().max().item()
    #expect(difference < 1e-4)
    #expect(try expected.max().item() > 0.99)  // not a trivially all-zero comparison
  }

  @Test func aNonSpatialLayerIsRefusedByName() throws {
    let model = try ResNet(.resnet18, classCount: 2, inputChannels: 1)
    model.eval()
    let explainer = try CAMExplainer(model: model, layer: "fc")
    let input = try Tensor.randn([1, 1, 32, 32])
    var message = ""
    do { _ = try explainer.explain(input) } catch { message = "\(error)" }
    #expect(message.contains("\"fc\"") && message.contains("not spatial"))
  }

  @Test func anUnknownLayerIsRefusedWithTheLayersThereAre() throws {
    let model = try ResNet(.resnet18, classCount: 2, inputChannels: 1)
    var message = ""
    do { _ = try CAMExplainer(model: model, layer: "layer9") } catch { message = "\(error)" }
    #expect(message.contains("layer9") && message.contains("layer4"))
  }

  @Test func explainingLeavesParameterGradientsUntouched() throws {
    let model = try ResNet(.resnet18, classCount: 2, inputChannels: 1)
    model.eval()
    _ = try CAMExplainer(classifier: model).explain(try Tensor.randn([2, 1, 32, 32]), method: .gradCAMPlusPlus)
    #expect(model.parameters().allSatisfy { $0.grad == nil })
  }
}

/// Through the prepared model (closed-form gradient of the last stage, prepared forward passes) the
/// maps, logits and targets are the autograd ones, for every method.
@Suite struct PreparedExplanationTests {
  @Test(arguments: CAMMethod.allCases)
  func preparedMapsAreTheAutogradMaps(method: CAMMethod) throws {
    let model = try modelWithTrainedLookingNorms(.resnet18, channels: 1, seed: 11)
    let prepared = try #require(try PreparedClassifier.prepare(model))
    let fast = try CAMExplainer(classifier: model, prepared: prepared)
    let slow = try CAMExplainer(classifier: model)
    #expect(fast.prepared != nil && slow.prepared == nil)
    let input = try Tensor.randn([2, 1, 64, 64])
    // One image explained for its predicted class, one for a class chosen here.
    for targets in [nil, [2, 0]] as [[Int]?] {
      let expected = try slow.explain(input, method: method, targets: targets)
      let found = try fast.explain(input, method: method, targets: targets)
      #expect(found.targets == expected.targets)
      let mapDifference = try (found.maps - expected.maps).abs().toArray(Float.self).max() ?? 1
      #expect(mapDifference < 2e-3, "\(method.rawValue): maps differ by \(mapDifference)")
      let logitDifference = try (found.logits - expected.logits).abs().toArray(Float.self).max() ?? 1
      #expect(logitDifference < 1e-3)
    }
  }

  @Test func anotherLayerIsExplainedThroughTheModel() throws {
    let model = try ResNet(.resnet18, classCount: 3, inputChannels: 1)
    model.eval()
    let explainer = try CAMExplainer(classifier: model, layer: "layer3", prepared: PreparedClassifier.prepare(model))
    #expect(explainer.prepared == nil)
    #expect(try explainer.explain(Tensor.randn([1, 1, 64, 64])).maps.shape == [1, 64, 64])
  }
}
