import Engine
import Explanations
import Foundation
import Testing

/// The tiny CNN of scripts/make_gradcam_fixture.py, with the same module names.
final class TinyCNN: Module {
  let conv1 = try! Conv2d(1, 4, kernelSize: 3, padding: 1)
  let act1 = ReLU()
  let conv2 = try! Conv2d(4, 6, kernelSize: 3, stride: 2, padding: 1)
  let act2 = ReLU()
  let head = try! Linear(6, 3)

  func forward(_ input: Tensor) throws -> Tensor {
    try head(act2(conv2(act1(conv1(input)))).mean(dims: [2, 3]))
  }
}

/// OrthoCXR's maps against pytorch-grad-cam's on the same model and inputs (the fixture holds both
/// the weights and pytorch-grad-cam 1.5.7's maps).
@Suite struct PytorchGradCAMReferenceTests {
  static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("Fixtures/gradcam-reference.safetensors").path

  @Test(arguments: CAMMethod.allCases)
  func mapsMatchPytorchGradCAM(method: CAMMethod) throws {
    let (tensors, _) = try Safetensors.read(from: Self.fixture)
    let model = TinyCNN()
    let weights = Dictionary(
      uniqueKeysWithValues: tensors.filter { $0.key.hasPrefix("model.") }.map {
        (String($0.key.dropFirst(6)), $0.value)
      })
    try model.loadStateDict(weights, strict: true)
    let input = try #require(tensors["input"])
    let expectedLogits = try #require(tensors["logits"])
    #expect(try (noGrad { try model(input) } - expectedLogits).abs().max().item() < 1e-5)

    let ours = try CAMExplainer(model: model, layer: "act2").explain(input, method: method).maps
    // pytorch-grad-cam scales each map to [0, 1] and then resizes it; OrthoCXR resizes and then scales.
    // Bilinear upsampling is affine in the values, so rescaling theirs to [0, 1] gives ours.
    let reference = try #require(tensors["maps." + method.rawValue]).flattened(from: 1)
    let shifted = try reference - reference.min(dim: 1, keepingDims: true).values
    let theirs = try (shifted / shifted.max(dim: 1, keepingDims: true).values).reshaped(ours.shape)
    let difference = try (ours - theirs).abs().max().item()
    #expect(difference < 1e-4, "\(method.rawValue) differs from pytorch-grad-cam by \(difference)")
    #expect(try theirs.max().item() > 0.99)
  }
}
