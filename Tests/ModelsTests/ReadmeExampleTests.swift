import Engine
import Foundation
import Models
import TestSupport
import Testing

/// The README's API example, run at a small size so that the documentation cannot drift from the code.
@Suite struct ReadmeExampleTests {
  @Test func apiExampleRuns() throws {
    let a = try Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
    let b = try (a * 2 + 1).softmax(dim: 1).sum(dims: [0])
    #expect(try Swift.abs(b.sum().item() - 2) < 1e-5)

    let x = try Tensor.randn([3]).requiringGrad()
    try (x * x).sum().backward()
    #expect(try x.grad!.toArray(Float.self) == (x * 2).toArray(Float.self))

    Torch.seed(0)
    let model = try ResNet(.resnet18, classCount: 3, inputChannels: 1)
    let optimizer = try SGD(parameters: model.parameters(), learningRate: 0.01, momentum: 0.9, weightDecay: 1e-4)
    let schedule = LinearWarmup(warmupSteps: 100, then: CosineDecay(baseRate: 0.01, totalSteps: 1_000))
    let images = try Tensor.randn([4, 1, 32, 32])
    let labels = try Tensor([0, 1, 2, 0] as [Int64])
    for step in 0..<2 {
      optimizer.learningRate = schedule.learningRate(at: step)
      try optimizer.clearGradients()
      let (logits, features) = try Autocast.run(on: .cpu, dtype: .bfloat16) { try model.logitsAndFeatures(images) }
      #expect(features.shape == [4, 512])
      let loss = try Functional.crossEntropy(logits: logits, targets: labels)
      try loss.backward()
      try optimizer.step()
    }

    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    try model.save(to: folder + "/resnet18.safetensors")
    #expect(try model.load(from: folder + "/resnet18.safetensors", strict: true).isComplete)

    final class Captured: @unchecked Sendable { var activation: Tensor? }
    let captured = Captured()
    let hook = model.layer4.addForwardHook { activation in
      try activation.retainGrad()
      captured.activation = activation
    }
    defer { hook.remove() }
    let logits = try model(images)
    try logits.select(dim: 1, index: 0).sum().backward()
    let activation = try #require(captured.activation)
    #expect(activation.shape == [4, 512, 1, 1])
    #expect(activation.grad?.shape == activation.shape, "Grad-CAM can read the layer's gradient")
  }
}
