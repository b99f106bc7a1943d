/// A BatchNorm in eval mode with copies of its statistics and affine parameters, for prepared
/// (inference-only) models: changing the model afterwards leaves it as it was.
public struct FrozenBatchNorm: @unchecked Sendable {
  // @unchecked: the tensors are never written after init; libtorch reads them from any thread.
  public let weight: Tensor
  public let bias: Tensor
  public let runningMean: Tensor
  public let runningVariance: Tensor
  public let epsilon: Double

  public init(_ norm: BatchNorm2d) throws {
    (weight, bias, runningMean, runningVariance) = try noGrad {
      (try norm.weight.clone(), try norm.bias.clone(), try norm.runningMean.clone(), try norm.runningVar.clone())
    }
    epsilon = norm.epsilon
  }

  /// The normalised input, then ReLU (in place) when `relu`.
  public func callAsFunction(_ input: Tensor, relu: Bool) throws -> Tensor {
    let output = try Functional.batchNorm(
      input, runningMean: runningMean, runningVariance: runningVariance, weight: weight, bias: bias, training: false,
      epsilon: epsilon)
    if relu { try output.relu_() }
    return output
  }
}
