import ModelTestSupport
import Testing

@testable import Engine
@testable import Models

/// The prepared (folded, fused) ResNet or DenseNet gives the model's eval-mode features and logits.
@Suite struct PreparedClassifierTests {
  static func largestDifference(_ a: Tensor, _ b: Tensor) throws -> Float {
    try (a - b).abs().toArray(Float.self).max() ?? .infinity
  }

  @Test(arguments: [
    (Architecture.resnet18, 3, true), (.resnet18, 1, false), (.resnet50, 1, true), (.densenet121, 1, true),
    (.densenet121, 3, false),
  ])
  func preparedModelGivesTheModelsOutputs(architecture: Architecture, channels: Int, fusing: Bool) throws {
    let model = try modelWithTrainedLookingNorms(architecture, channels: channels)
    let prepared = try #require(try PreparedClassifier.prepare(model, fusing: fusing))
    #expect(prepared.isFused == (fusing && FoldedConvolution.fusionIsAvailable))
    for batch in [1, 3] {  // oneDNN's weight layout is chosen once; any batch size must still work
      let input = try Tensor.randn([batch, channels, 64, 64])
      let (logits, features) = try noGrad { try model.logitsAndFeatures(input) }
      let (preparedLogits, preparedFeatures) = try prepared.logitsAndFeatures(input)
      #expect(preparedLogits.shape == logits.shape && preparedFeatures.shape == features.shape)
      // Float rounding only: the logits are of order 1, the features of order 0.1–10.
      #expect(try Self.largestDifference(preparedLogits, logits) < 1e-3)
      #expect(try Self.largestDifference(preparedFeatures, features) < 1e-3)
      // Not trivially equal: a prepared model that skipped its BatchNorms would be far off.
      #expect(try Self.largestDifference(logits, Tensor.zeros(logits.shape)) > 1e-2)
    }
  }

  /// In bfloat16 the prepared model agrees with the model under autocast to bfloat16's precision.
  @Test(arguments: [Architecture.resnet18, .densenet121])
  func aBFloat16PreparedModelGivesTheAutocastModelsLogits(architecture: Architecture) throws {
    let model = try modelWithTrainedLookingNorms(architecture, channels: 1)
    let prepared = try #require(try PreparedClassifier.prepare(model, dtype: .bfloat16))
    #expect(prepared.dtype == .bfloat16)
    // Fused where oneDNN is there: a fused pass that failed would have fallen back silently.
    #expect(prepared.isFused == FoldedConvolution.fusionIsAvailable)
    let input = try Tensor.randn([2, 1, 64, 64])
    let expected = try noGrad { try Autocast.run(if: true, on: .cpu) { try model(input) } }.to(.float32)
    let logits = try prepared(input)
    #expect(logits.dtype == .float32 && logits.shape == [2, 3])
    // bfloat16 keeps 8 bits of mantissa: agreement to a few hundredths on logits of order 1.
    #expect(try Self.largestDifference(logits, expected) < 0.1)
    #expect(try Self.largestDifference(logits, try noGrad { try model(input) }) < 0.1)
  }

  @Test func aFoldedConvolutionIsItsConvolutionThenBatchNorm() throws {
    Torch.seed(3)
    let convolution = try Conv2d(4, 6, kernelSize: 3, stride: 2, padding: 1, bias: true)
    let norm = try BatchNorm2d(6)
    try noGrad {
      try norm.weight.uniform_(from: 0.5, to: 1.5)
      try norm.bias.uniform_(from: -1, to: 1)
      try norm.runningMean.uniform_(from: -1, to: 1)
      try norm.runningVar.uniform_(from: 0.25, to: 4)
    }
    norm.eval()
    let input = try Tensor.randn([2, 4, 9, 9])
    let residual = try Tensor.randn([2, 6, 5, 5])
    let expected = try noGrad { try norm(convolution(input)) }
    for fusing in [true, false] {
      let folded = try FoldedConvolution(convolution, norm, fusing: fusing)
      let plain = try folded(input)
      #expect(try Self.largestDifference(plain, expected) < 1e-5)
      let rectified = try folded(input, relu: true)
      #expect(try Self.largestDifference(rectified, try expected.relu()) < 1e-5)
      let block = try folded.addingResidualThenReLU(input, residual: residual)
      #expect(try Self.largestDifference(block, try (expected + residual).relu()) < 1e-5)
      // In place: the same values, written into the residual (where fused and available).
      let accumulator = try residual.clone()
      let inPlace = try folded.addingResidualThenReLU(input, into: accumulator)
      #expect(try Self.largestDifference(inPlace, try (expected + residual).relu()) < 1e-5)
      if fusing && FoldedConvolution.inPlaceAdditionIsAvailable {
        #expect(try Self.largestDifference(accumulator, inPlace) == 0)
      }
    }
  }

  @Test func aConvolutionWithoutBatchNormIsPreparedAsItIs() throws {
    Torch.seed(4)
    let input = try Tensor.randn([2, 5, 9, 9])
    for convolution in [try Conv2d(5, 7, kernelSize: 3, padding: 1, bias: false), try Conv2d(5, 3, kernelSize: 1)] {
      let expected = try noGrad { try convolution(input) }
      for fusing in [true, false] {
        let prepared = try FoldedConvolution(convolution, fusing: fusing)
        #expect(try Self.largestDifference(prepared(input), expected) < 1e-5)
        #expect(try Self.largestDifference(prepared(input, relu: true), try expected.relu()) < 1e-5)
      }
    }
  }

  /// Changing the model after preparing it leaves the prepared model as it was: every weight and
  /// statistic it uses is a copy, the DenseNet's unfolded BatchNorms and plain convolutions included.
  /// (Unfused too: there the weights are not reordered into new tensors.)
  @Test(arguments: [(Architecture.resnet18, true), (.densenet121, true), (.densenet121, false)])
  func aPreparedModelIsASnapshot(architecture: Architecture, fusing: Bool) throws {
    let model = try modelWithTrainedLookingNorms(architecture, channels: 1)
    let prepared = try #require(try PreparedClassifier.prepare(model, fusing: fusing))
    let input = try Tensor.randn([2, 1, 64, 64])
    let before = try prepared(input)
    try noGrad {
      for (_, module) in model.namedModules() {
        if let norm = module as? BatchNorm2d {
          try norm.weight.mul_(3)
          try norm.runningMean.add_(1)
        }
        if let convolution = module as? Conv2d { try convolution.weight.mul_(-1) }
      }
    }
    #expect(try Self.largestDifference(prepared(input), before) == 0)
    #expect(try Self.largestDifference(try noGrad { try model(input) }, before) > 1e-2)
  }

  /// A DenseNet whose BatchNorms have some negative scales (those layers keep BatchNorm and ReLU
  /// before their 1x1 convolution, the others fold it) gives the model's outputs too.
  @Test func aDenseNetWithNegativeScalesGivesTheModelsOutputs() throws {
    let model = try modelWithTrainedLookingNorms(.densenet121, channels: 1)
    let norms = model.namedModules().compactMap { $0.module as? BatchNorm2d }
    try noGrad {
      for norm in norms.enumerated().filter({ $0.offset % 3 == 0 }).map(\.element) {
        try norm.weight.slice(dim: 0, 0..<1).mul_(-1)
      }
    }
    let prepared = try #require(try PreparedClassifier.prepare(model))
    let input = try Tensor.randn([2, 1, 64, 64])
    let expected = try noGrad { try model(input) }
    #expect(try Self.largestDifference(prepared(input), expected) < 1e-3)
  }

  @Test func onlyAResNetsLastStageHasClosedFormMaps() throws {
    let resnet = try #require(try PreparedClassifier.prepare(modelWithTrainedLookingNorms(.resnet18, channels: 1)))
    let densenet = try #require(try PreparedClassifier.prepare(modelWithTrainedLookingNorms(.densenet121, channels: 1)))
    #expect(resnet.explainsLastStage && !densenet.explainsLastStage)
  }
}
