import Foundation
import Testing

@testable import Engine
@testable import Training

private func loss(_ variant: OrthogonalSpheres, _ rows: [[Double]]) throws -> Double {
  try variant.loss(Tensor(rows.flatMap { $0 }, shape: [rows.count, rows[0].count])).item()
}

@Suite struct OrthogonalSpheresTests {
  @Test func batchVariantOnHandMadeFeatures() throws {
    // Orthogonal rows of any length normalise to orthonormal ones: no loss.
    #expect(try abs(loss(.batch, [[3, 0, 0], [0, 2, 0], [0, 0, 0.5]])) < 1e-12)
    // Two equal rows: Z Zᵀ − I = [[0, 1], [1, 0]], norm √2.
    #expect(try abs(loss(.batch, [[1, 0], [2, 0]]) - 2.0.squareRoot()) < 1e-12)
    // Rows at 45°: off-diagonals 1/√2, norm 1.
    #expect(try abs(loss(.batch, [[1, 0], [1, 1]]) - 1) < 1e-12)
  }

  @Test func featureVariantOnHandMadeFeatures() throws {
    // Columns that are orthogonal over the batch: no loss.
    #expect(try abs(loss(.feature, [[1, 0], [0, 1], [0, 0]])) < 1e-12)
    // Identical columns: Zᵀ Z − I = [[0, 1], [1, 0]].
    #expect(try abs(loss(.feature, [[1, 1], [1, 1]]) - 2.0.squareRoot()) < 1e-12)
  }

  @Test func blocksVariantOnHandMadeFeatures() throws {
    // Sample 1: blocks [1, 0] and [0, 1], orthogonal (0). Sample 2: blocks equal (√2). Mean √2 / 2.
    #expect(try abs(loss(.blocks(2), [[1, 0, 0, 1], [1, 0, 1, 0]]) - 2.0.squareRoot() / 2) < 1e-12)
    // One block is one unit sphere: always orthonormal to itself.
    #expect(try abs(loss(.blocks(1), [[1, 2, 3, 4], [5, 6, 7, 8]])) < 1e-12)
  }

  @Test func badShapesThrowClearly() throws {
    let error = #expect(throws: TrainingError.self) { try OrthogonalSpheres.blocks(3).loss(Tensor.ones([2, 4])) }
    #expect(error?.description.contains("do not split into 3") == true)
    #expect(throws: TrainingError.self) { try OrthogonalSpheres.batch.loss(Tensor.ones([2, 4, 1])) }
  }

  @Test func variantsParse() {
    #expect(OrthogonalSpheres("batch") == .batch)
    #expect(OrthogonalSpheres("feature") == .feature)
    #expect(OrthogonalSpheres("blocks(4)") == .blocks(4))
    #expect(OrthogonalSpheres("blocks:8") == .blocks(8))
    #expect(OrthogonalSpheres("spheres") == nil)
    #expect(OrthogonalSpheres.blocks(4).description == "blocks(4)")
  }

  /// Finite differences in float64 against autograd for each variant.
  @Test(arguments: [OrthogonalSpheres.batch, .feature, .blocks(2), .blocks(3)])
  func gradientsMatchFiniteDifferences(variant: OrthogonalSpheres) throws {
    Torch.seed(5)
    let shape = [4, 6]
    let base = try Tensor.randn(shape, dtype: .float64).toArray(Double.self)
    let input = try Tensor(base, shape: shape).requiringGrad()
    try variant.loss(input).backward()
    let analytic = try #require(input.grad).toArray(Double.self)
    let step = 1e-6
    for index in base.indices {
      var plus = base
      var minus = base
      plus[index] += step
      minus[index] -= step
      let numeric =
        try (variant.loss(Tensor(plus, shape: shape)).item() - variant.loss(Tensor(minus, shape: shape)).item())
        / (2 * step)
      #expect(abs(numeric - analytic[index]) < 1e-6 * max(1, abs(numeric)), "\(variant) element \(index)")
    }
  }

  @Test func objectiveKeepsTermsApartAndBaselineSkipsOS() throws {
    Torch.seed(1)
    let logits = try Tensor.randn([4, 3])
    let features = try Tensor.randn([4, 8])
    let targets = try Tensor([0, 1, 2, 1] as [Int64])
    let baseline = try OrthogonalSpheresObjective(lambda: 0).terms(logits: logits, features: features, targets: targets)
    #expect(baseline.orthogonalSpheres == nil)
    #expect(try baseline.total.item() == baseline.crossEntropy.item())
    let regularized = try OrthogonalSpheresObjective(lambda: 0.5, variant: .batch).terms(
      logits: logits, features: features, targets: targets)
    let os = try #require(regularized.orthogonalSpheres).item()
    #expect(os > 0)
    #expect(try abs(regularized.total.item() - (regularized.crossEntropy.item() + 0.5 * os)) < 1e-5)
  }
}
