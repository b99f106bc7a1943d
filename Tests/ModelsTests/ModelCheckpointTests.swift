import Foundation
import TestSupport
import Testing

@testable import Engine
@testable import Models

/// A whole model through a safetensors file: same outputs after loading, and a shape mismatch named.
@Suite struct ModelCheckpointTests {
  @Test func modelSaveThenLoadGivesTheSameOutputs() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    Torch.seed(1)
    let original = try ResNet(.resnet18, classCount: 3, inputChannels: 1)
    original.eval()
    let path = folder + "/resnet18.safetensors"
    try original.save(to: path)
    Torch.seed(2)
    let restored = try ResNet(.resnet18, classCount: 3, inputChannels: 1)
    restored.eval()
    let report = try restored.load(from: path)
    #expect(report.isComplete)
    for (name, tensor) in original.stateDict() {
      let copy = try #require(restored.stateDict()[name], "\(name)")
      #expect(try copy.bytes() == tensor.bytes(), "\(name)")
    }
    let input = try Tensor.randn([1, 1, 32, 32])
    #expect(try noGrad { try restored(input).toArray(Float.self) == original(input).toArray(Float.self) })
  }

  @Test func wrongShapeThrowsNamingTheTensor() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let path = folder + "/three-classes.safetensors"
    try ResNet(.resnet18, classCount: 3, inputChannels: 1).save(to: path)
    let twoClasses = try ResNet(.resnet18, classCount: 2, inputChannels: 1)
    let error = #expect(throws: CheckpointError.self) { try twoClasses.load(from: path, strict: false) }
    #expect(error?.description.contains("fc.weight") == true)
    #expect(error?.description.contains("[3, 512]") == true)
    #expect(error?.description.contains("[2, 512]") == true)
    #expect(error?.description.contains(path) == true)
  }
}
