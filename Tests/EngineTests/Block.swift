import Testing

@testable import Engine

/// The README's custom-module example: parameters, buffers and children found by reflection.
final class Block: Module {
  let conv1 = try! Conv2d(3, 8, kernelSize: 3, padding: 1)
  let bn1 = try! BatchNorm2d(8)
  @Parameter var scale = try! Tensor.ones([8, 1, 1])
  @Buffer var runningMax = try! Tensor.zeros([8])
  func forward(_ x: Tensor) throws -> Tensor { try bn1(conv1(x)) * scale }
}

@Suite struct CustomModuleTests {
  @Test func readmeBlockNamesItsTensorsAsPyTorchWould() throws {
    let block = Block()
    #expect(
      block.namedTensors().map(\.name) == [
        "scale", "running_max", "conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias", "bn1.running_mean",
        "bn1.running_var", "bn1.num_batches_tracked",
      ])
    #expect(block.namedParameters().map(\.name) == ["scale", "conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias"])
    #expect(block.scale.requiresGrad)
    #expect(!block.runningMax.requiresGrad)
    #expect(try block(Tensor.zeros([1, 3, 5, 5])).shape == [1, 8, 5, 5])
  }
}
