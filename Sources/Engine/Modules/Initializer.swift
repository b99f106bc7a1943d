import Foundation

/// Weight initialisation as torch.nn.init does it, drawing from libtorch's seeded generator.
public enum Initializer {
  @TaskLocal static var skipsDrawing = false

  /// Builds modules whose parameters are allocated but not drawn: for a model that a checkpoint is
  /// about to overwrite completely (strict loading), where drawing ResNet-18's 11 M random values
  /// would cost about 60 ms of a one-shot prediction. Nothing is drawn from the generator either.
  public static func withoutDrawing<Result>(_ body: () throws -> Result) rethrows -> Result {
    try $skipsDrawing.withValue(true) { try body() }
  }

  /// PyTorch's default for Conv2d and Linear (kaiming_uniform with a = √5): U(−1/√fanIn, 1/√fanIn).
  public static func defaultUniform(_ shape: [Int], fanIn: Int) throws -> Tensor {
    let bound = 1 / Foundation.sqrt(Double(max(fanIn, 1)))
    let tensor = try Tensor.empty(shape)
    if !skipsDrawing { try tensor.uniform_(from: -bound, to: bound) }
    return tensor
  }

  /// Which fan kaiming initialisation preserves the variance of.
  public enum Fan {
    case fanIn
    case fanOut
  }

  /// kaiming_normal_ for ReLU networks: N(0, 2 / fan), fan counted over the receptive field.
  public static func kaimingNormal_(_ weight: Tensor, fan: Fan) throws {
    guard !skipsDrawing else { return }
    let shape = weight.shape
    let receptiveField = shape.dropFirst(2).reduce(1, *)
    let count = fan == .fanIn ? shape[1] * receptiveField : shape[0] * receptiveField
    try noGrad { try weight.normal_(mean: 0, std: Foundation.sqrt(2 / Double(count))) }
  }

  public static func constant_(_ tensor: Tensor, _ value: Double) throws {
    try noGrad { try tensor.fill_(value) }
  }
}
