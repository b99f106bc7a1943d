import Testing

@testable import Engine

/// BatchNorm, ReLU and a 1x1 convolution (and a BatchNorm after it), prepared as one per-channel
/// threshold and one convolution, give what the modules give in eval mode, and keep the BatchNorm
/// where the fold does not hold.
@Suite struct PreactivatedConvolutionTests {
  /// A BatchNorm in eval mode with the given scales (γ) and shifts (β) and running statistics that
  /// put its thresholds (μ − β/a) among standard-normal inputs.
  static func norm(gammas: [Float], betas: [Float]) throws -> BatchNorm2d {
    let norm = try BatchNorm2d(gammas.count)
    try noGrad {
      try norm.weight.copy_(try Tensor(gammas))
      try norm.bias.copy_(try Tensor(betas))
      try norm.runningMean.uniform_(from: -0.3, to: 0.3)
      try norm.runningVar.uniform_(from: 0.5, to: 2)
    }
    norm.eval()
    return norm
  }

  /// What the modules compute: BatchNorm, ReLU, the convolution, the following BatchNorm.
  static func reference(_ norm: BatchNorm2d, _ convolution: Conv2d, _ following: BatchNorm2d?, _ input: Tensor)
    throws -> Tensor
  {
    try noGrad {
      let output = try convolution(try norm(input).relu())
      return try following.map { try $0(output) } ?? output
    }
  }

  static let difference = PreparedClassifierTests.largestDifference

  /// Scales of every kind that folds: ordinary, zero (a constant channel: relu(β) with β < 0 is 0,
  /// not β), and so small that the threshold is out of reach (constant too, relu(β) = β here).
  @Test(arguments: [true, false])
  func theNormBecomesAThresholdWhereEveryScaleIsNonNegative(fusing: Bool) throws {
    Torch.seed(11)
    let norm = try Self.norm(gammas: [0.5, 1.2, 0, 2, 1e-38, 0.8], betas: [0.1, -0.2, -0.4, 0.05, 0.3, -0.1])
    let convolution = try Conv2d(6, 4, kernelSize: 1, bias: true)
    let following = try Self.norm(gammas: [0.9, 1.1, 0.6, 1.4], betas: [0.2, -0.1, 0, 0.1])
    let input = try Tensor.randn([2, 6, 8, 8])
    for after in [nil, following] {
      let prepared = try PreactivatedConvolution(norm, convolution, following: after, fusing: fusing)
      #expect(prepared.foldsTheLeadingNorm)
      let expected = try Self.reference(norm, convolution, after, input)
      #expect(try Self.difference(prepared(input), expected) < 1e-4)
      #expect(try Self.difference(prepared(input, relu: true), try expected.relu()) < 1e-4)
      // Average pooling between the threshold and the convolution: the transition's order.
      let pooledFirst = try prepared.convolution(
        Functional.avgPool2d(prepared.activated(input), kernelSize: (2, 2), stride: (2, 2)))
      let pooledAfter = try Functional.avgPool2d(expected, kernelSize: (2, 2), stride: (2, 2))
      #expect(try Self.difference(pooledFirst, pooledAfter) < 1e-4)
      // Not trivially equal: the threshold matters (without it, no ReLU).
      #expect(try Self.difference(prepared.convolution(input), expected) > 1e-2)
    }
  }

  /// A channel slice of a larger channels-last tensor (a dense block's storage) works as input.
  @Test func aStridedChannelSliceIsAnInput() throws {
    Torch.seed(12)
    let norm = try Self.norm(gammas: [0.7, 1, 1.3, 0.4], betas: [0, 0.1, -0.1, 0.2])
    let convolution = try Conv2d(4, 3, kernelSize: 1, bias: false)
    let storage = try Tensor.randn([2, 6, 5, 5]).contiguous(.channelsLast)
    let slice = try storage.slice(dim: 1, 0..<4)
    let prepared = try PreactivatedConvolution(norm, convolution)
    let expected = try Self.reference(norm, convolution, nil, try slice.contiguous())
    #expect(try Self.difference(prepared(slice), expected) < 1e-4)
  }

  /// A negative scale (its ReLU would cap from above) or a convolution other than 1x1 without
  /// padding keeps the BatchNorm and the ReLU, with the same result.
  @Test func theNormStaysWhereItCannotFold() throws {
    Torch.seed(13)
    let negative = try Self.norm(gammas: [0.5, -0.7, 1], betas: [0.1, 0.2, -0.1])
    let positive = try Self.norm(gammas: [0.5, 0.7, 1], betas: [0.1, 0.2, -0.1])
    let input = try Tensor.randn([2, 3, 7, 7])
    let cases: [(BatchNorm2d, Conv2d)] = [
      (negative, try Conv2d(3, 4, kernelSize: 1, bias: false)),
      (positive, try Conv2d(3, 4, kernelSize: 3, padding: 1, bias: false)),
      (positive, try Conv2d(3, 4, kernelSize: 1, padding: 1, bias: false)),
    ]
    for (norm, convolution) in cases {
      let prepared = try PreactivatedConvolution(norm, convolution)
      #expect(!prepared.foldsTheLeadingNorm)
      #expect(try Self.difference(prepared(input), try Self.reference(norm, convolution, nil, input)) < 1e-5)
    }
  }
}
