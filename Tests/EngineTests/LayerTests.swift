import Testing

@testable import Engine

@Suite struct LayerTests {
  /// Every parameter requires gradients, optional biases included (they are assigned after the
  /// wrapper starts as nil; before the fix they never trained).
  @Test func everyParameterRequiresGradientsOptionalBiasesIncluded() throws {
    let modules: [any Module] = [
      try Linear(4, 3), try Conv2d(1, 2, kernelSize: 3, bias: true), try BatchNorm2d(2),
    ]
    for module in modules {
      for (name, parameter) in module.namedParameters() {
        #expect(parameter.requiresGrad && parameter.isLeaf, "\(type(of: module)).\(name)")
      }
    }
    let linear = try Linear(2, 1)
    try (linear(Tensor.ones([1, 2]))).sum().backward()
    #expect(linear.bias?.grad != nil, "the bias gets a gradient")
  }

  /// A 3x3 convolution worked by hand: a 4x4 input 0...15, a kernel of ones but a centre of 2.
  @Test func convolutionMatchesHandComputedValues() throws {
    let conv = try Conv2d(1, 1, kernelSize: 3, bias: true)
    try noGrad {
      try conv.weight.copy_(Tensor([1, 1, 1, 1, 2, 1, 1, 1, 1] as [Float], shape: [1, 1, 3, 3]))
      try conv.bias!.copy_(Tensor([0.5] as [Float]))
    }
    let input = try Tensor.arange(0, 16).reshaped([1, 1, 4, 4])
    // Top-left window: 0 1 2 / 4 5 6 / 8 9 10 → sum 45, plus the centre 5 again, plus 0.5.
    // Each step right adds 9 (+1 per cell, centre counted twice: 10) → 10; each step down adds 40.
    let output = try conv(input)
    #expect(output.shape == [1, 1, 2, 2])
    #expect(try output.toArray(Float.self) == [50.5, 60.5, 90.5, 100.5])
  }

  @Test func convolutionWithStrideAndPaddingHasTheRightShape() throws {
    let conv = try Conv2d(3, 8, kernelSize: 7, stride: 2, padding: 3, bias: false)
    #expect(try conv(Tensor.zeros([2, 3, 224, 224])).shape == [2, 8, 112, 112])
    #expect(conv.bias == nil)
    #expect(conv.namedParameters().map(\.name) == ["weight"])
  }

  /// Batch norm in training mode: per-channel batch mean and biased variance normalise; the running
  /// statistics move by momentum towards the batch mean and the unbiased variance.
  @Test func batchNormTrainingModeMatchesHandComputedValues() throws {
    let bn = try BatchNorm2d(1, epsilon: 0, momentum: 0.5)
    try noGrad {
      try bn.weight.fill_(2)
      try bn.bias.fill_(1)
    }
    // One channel holding 1, 2, 3, 6: mean 3, biased variance 3.5, unbiased 14/3.
    let input = try Tensor([1, 2, 3, 6] as [Float], shape: [2, 1, 1, 2])
    let output = try bn(input).toArray(Float.self)
    let sd = Float(3.5).squareRoot()
    let expected: [Float] = [1, 2, 3, 6].map { 2 * ($0 - 3) / sd + 1 }
    for (a, b) in zip(output, expected) { #expect(Swift.abs(a - b) < 1e-5) }
    #expect(try bn.runningMean.toArray(Float.self) == [1.5])
    #expect(try Swift.abs(bn.runningVar.item() - (0.5 * 1 + 0.5 * 14.0 / 3)) < 1e-5)
    #expect(try bn.numBatchesTracked.itemInt() == 1)
  }

  @Test func batchNormEvaluationModeUsesRunningStatistics() throws {
    let bn = try BatchNorm2d(2, epsilon: 0)
    try noGrad {
      try bn.runningMean.copy_(Tensor([1, -1] as [Float]))
      try bn.runningVar.copy_(Tensor([4, 0.25] as [Float]))
    }
    bn.eval()
    let input = try Tensor([3, 5, 0, 1] as [Float], shape: [1, 2, 1, 2])
    // Channel 0: (x - 1) / 2; channel 1: (x + 1) / 0.5.
    #expect(try bn(input).toArray(Float.self) == [1, 2, 2, 4])
    #expect(try bn.runningMean.toArray(Float.self) == [1, -1], "evaluation leaves the statistics alone")
    #expect(try bn.numBatchesTracked.itemInt() == 0)
  }

  @Test func linearPoolingAndFlatten() throws {
    let linear = try Linear(3, 2)
    try noGrad {
      try linear.weight.copy_(Tensor([1, 0, -1, 2, 2, 2] as [Float], shape: [2, 3]))
      try linear.bias!.copy_(Tensor([0, 1] as [Float]))
    }
    #expect(try linear(Tensor([1, 2, 3] as [Float], shape: [1, 3])).toArray(Float.self) == [-2, 13])

    let image = try Tensor.arange(0, 16).reshaped([1, 1, 4, 4])
    #expect(try MaxPool2d(kernelSize: 2)(image).toArray(Float.self) == [5, 7, 13, 15])
    #expect(try AvgPool2d(kernelSize: 2)(image).toArray(Float.self) == [2.5, 4.5, 10.5, 12.5])
    #expect(try AdaptiveAvgPool2d()(image).toArray(Float.self) == [7.5])
    #expect(try Flatten()(Tensor.zeros([2, 3, 4])).shape == [2, 12])
    #expect(try ReLU()(Tensor([-1, 2] as [Float])).toArray(Float.self) == [0, 2])
  }

  @Test func dropoutScalesInTrainingAndPassesInEvaluation() throws {
    let dropout = Dropout(probability: 0.5)
    let input = try Tensor.ones([1000])
    let values = try dropout(input).toArray(Float.self)
    #expect(values.allSatisfy { $0 == 0 || $0 == 2 })
    #expect(values.filter { $0 == 0 }.count > 300 && values.filter { $0 == 0 }.count < 700)
    dropout.isTraining = false
    #expect(try dropout(input).toArray(Float.self).allSatisfy { $0 == 1 })
  }

  @Test func sequentialNamesChildrenByPosition() throws {
    let model = Sequential(try Conv2d(1, 2, kernelSize: 3), try BatchNorm2d(2), ReLU())
    #expect(
      model.namedTensors().map(\.name) == [
        "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked",
      ])
    #expect(model.module(at: "1") is BatchNorm2d)
    model.eval()
    #expect((model.module(at: "1") as? BatchNorm2d)?.isTraining == false)
    model.train()
    #expect((model.module(at: "1") as? BatchNorm2d)?.isTraining == true)
  }

  @Test func forwardHooksSeeActivationsUntilRemoved() throws {
    let inner = try Linear(2, 2)
    let model = Sequential(inner, ReLU())
    final class Box: @unchecked Sendable { var shapes: [[Int]] = [] }
    let box = Box()
    var handle: ForwardHookHandle? = inner.addForwardHook { box.shapes.append($0.shape) }
    _ = try model(Tensor.zeros([5, 2]))
    #expect(box.shapes == [[5, 2]])
    handle?.remove()
    handle = nil
    _ = try model(Tensor.zeros([5, 2]))
    #expect(box.shapes.count == 1)
  }

  @Test func movingToChannelsLastKeepsOutputs() throws {
    let model = Sequential(try Conv2d(3, 4, kernelSize: 3, padding: 1), try BatchNorm2d(4), ReLU())
    model.eval()
    let input = try Tensor.randn([2, 3, 8, 8])
    let before = try model(input).toArray(Float.self)
    try model.setMemoryFormat(.channelsLast)
    #expect((model.module(at: "0") as? Conv2d)?.weight.isContiguous(.channelsLast) == true)
    let after = try model(input.contiguous(.channelsLast))
    let difference = zip(before, try after.toArray(Float.self)).map { Swift.abs($0 - $1) }.max() ?? 0
    #expect(difference < 1e-4)
  }
}
