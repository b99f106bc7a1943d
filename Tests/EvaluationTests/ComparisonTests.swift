import Foundation
import TestSupport
import Testing

@testable import Evaluation

@Suite struct ComparisonTests {
  /// Four images, two classes. Baseline seeds get images 0–1 right; the candidate gets 0–3 right, so
  /// the accuracy difference is +0.5 for both seeds and McNemar counts 0 vs 2 per pair (p = 0.5).
  func runs() -> (baseline: [RunPredictions], candidate: [RunPredictions]) {
    let paths = ["a", "b", "c", "d"]
    let labels = [0, 0, 1, 1]
    let baseline = [[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.6, 0.4]]
    let candidate = [[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]]
    return (
      [0, 1].map { RunPredictions(name: "b\($0)", paths: paths, labels: labels, probabilities: baseline) },
      [0, 1].map { RunPredictions(name: "c\($0)", paths: paths, labels: labels, probabilities: candidate) }
    )
  }

  @Test func meansDifferencesAndMcNemar() throws {
    let (baseline, candidate) = runs()
    let report = try ComparisonReport.compute(baseline: baseline, candidate: candidate, resamples: 200)
    let accuracy = try #require(report.rows.first { $0.metric == "accuracy" })
    #expect(accuracy.baseline.mean == 0.5 && accuracy.baseline.std == 0)
    #expect(accuracy.candidate.mean == 1)
    #expect(accuracy.difference.value == 0.5)
    #expect(accuracy.difference.low <= 0.5 && 0.5 <= accuracy.difference.high)
    #expect(report.mcNemar.map(\.onlyCandidateCorrect) == [2, 2])
    #expect(report.mcNemar.allSatisfy { $0.onlyBaselineCorrect == 0 && abs($0.pValue - 0.5) < 1e-12 })
    #expect(report.render().contains("| accuracy | 0.5000 ± 0.0000 | 1.0000 ± 0.0000 | +0.5000"))
  }

  @Test func mismatchedRunsAreRejected() throws {
    var (baseline, candidate) = runs()
    candidate[1].paths[0] = "z"
    #expect(throws: ComparisonError.self) { try ComparisonReport.compute(baseline: baseline, candidate: candidate) }
    #expect(throws: ComparisonError.self) {
      try ComparisonReport.compute(baseline: baseline, candidate: [candidate[0]])
    }
  }
}
