import Engine
import RunFiles

/// The Orthogonal Spheres (OS) regularizer on penultimate features (after global pooling, before the
/// classifier), from Choi, Som and Turaga (arXiv 2009.10762) as used by Wang et al. (arXiv 2102.08360).
///
/// Its exact normalisation is not documented anywhere we can read, so the three readings are offered,
/// each a named variant (Z are the features, B the batch size, D the feature size):
///
/// - `batch`: each sample's feature vector L2-normalised; L = ‖Z Zᵀ − I_B‖_F. Samples of a batch are
///   pushed towards mutual orthogonality.
/// - `feature`: each feature column L2-normalised over the batch; L = ‖Zᵀ Z − I_D‖_F (decorrelated
///   features).
/// - `blocks(k)`: each sample's vector split into k equal blocks, each L2-normalised (a sphere);
///   L = mean over samples of ‖Z_b Z_bᵀ − I_k‖_F (orthogonal spheres, as in PrOSe, arXiv 1907.09554).
public typealias OrthogonalSpheres = OrthogonalSpheresVariant

extension OrthogonalSpheresVariant {
  /// A vector shorter than this is not rescaled up to unit length (avoids dividing by zero).
  static let epsilon = 1e-12

  /// The loss of a batch of features (B × D), differentiable with respect to them.
  public func loss(_ features: Tensor) throws -> Tensor {
    let shape = features.shape
    guard shape.count == 2 else {
      throw TrainingError.invalidSetting(
        "the OS loss needs penultimate features of shape [batch, features], got \(shape)")
    }
    // Under autocast the features may arrive in bfloat16; the Gram matrix wants full precision.
    let z = features.dtype.byteCount < 4 ? try features.to(.float32) : features
    switch self {
    case .batch:
      let rows = try Self.normalized(z, dim: 1)
      let gram = try rows.matmul(rows.transposed())
      return try (gram - Tensor.eye(shape[0], device: z.device)).norm(dims: [0, 1])
    case .feature:
      let columns = try Self.normalized(z, dim: 0)
      let gram = try columns.transposed().matmul(columns)
      return try (gram - Tensor.eye(shape[1], device: z.device)).norm(dims: [0, 1])
    case .blocks(let count):
      guard count >= 1, shape[1] % count == 0 else {
        throw TrainingError.invalidSetting(
          "blocks(\(count)): \(shape[1]) features do not split into \(count) equal blocks")
      }
      let blocks = try Self.normalized(z.reshaped([shape[0], count, shape[1] / count]), dim: 2)
      let gram = try blocks.matmul(blocks.transposed(1, 2))  // B × k × k
      return try (gram - Tensor.eye(count, device: z.device)).norm(dims: [1, 2]).mean()
    }
  }

  /// x / max(‖x‖, ε) along `dim` (torch.nn.functional.normalize).
  static func normalized(_ x: Tensor, dim: Int) throws -> Tensor {
    try x / x.norm(dims: [dim], keepingDims: true).clamped(min: epsilon)
  }
}

/// Cross-entropy plus λ·OS: the training objective. λ = 0 is the baseline.
public struct OrthogonalSpheresObjective: Sendable {
  public var lambda: Double
  public var variant: OrthogonalSpheres
  /// Optional per-class weights of the cross-entropy (for imbalanced data).
  public var classWeights: [Float]?
  public var labelSmoothing: Double

  public init(
    lambda: Double = 0, variant: OrthogonalSpheres = .batch, classWeights: [Float]? = nil, labelSmoothing: Double = 0
  ) {
    self.lambda = lambda
    self.variant = variant
    self.classWeights = classWeights
    self.labelSmoothing = labelSmoothing
  }

  /// The terms, kept apart for logging; `total` is what to differentiate.
  public struct Terms {
    public let total: Tensor
    public let crossEntropy: Tensor
    /// nil when λ = 0 (the OS term is then not computed at all).
    public let orthogonalSpheres: Tensor?
  }

  public func terms(logits: Tensor, features: Tensor, targets: Tensor) throws -> Terms {
    let weights = try classWeights.map { try Tensor($0).to(logits.device) }
    let crossEntropy = try Functional.crossEntropy(
      logits: logits.to(.float32), targets: targets, classWeights: weights, labelSmoothing: labelSmoothing)
    guard lambda != 0 else { return Terms(total: crossEntropy, crossEntropy: crossEntropy, orthogonalSpheres: nil) }
    let os = try variant.loss(features)
    return Terms(total: try crossEntropy + os * lambda, crossEntropy: crossEntropy, orthogonalSpheres: os)
  }
}
