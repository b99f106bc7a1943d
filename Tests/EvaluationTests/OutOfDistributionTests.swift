import Foundation
import Randomness
import Testing

@testable import Evaluation

@Suite struct OutOfDistributionScoreTests {
  /// Energy is −log Σ exp(z): −log 2 for two zero logits, lower when the model is sure (a large
  /// logit), and unchanged in meaning by a shift that keeps logsumexp stable.
  @Test func energyByHand() {
    #expect(close(EnergyScore.score([0, 0]), -log(2)))
    #expect(close(EnergyScore.score([3, 1, -2]), -log(exp(3) + exp(1) + exp(-2))))
    #expect(EnergyScore.score([10, 0, 0]) < EnergyScore.score([0.1, 0, 0]))
    #expect(close(EnergyScore.score([1000, 1000]), -(1000 + log(2)), 1e-9), "no overflow")
  }

  /// Class 0 at (±1, 0), (0, ±1) around (0, 0), class 1 the same around (10, 0): the shared
  /// covariance is 0.5·I, so with no shrinkage the score of (1, 1) is (1² + 1²)/0.5 = 4, a class mean
  /// scores 0 (the lowest possible), and a point far from both is far above every training point.
  @Test func mahalanobisByHand() throws {
    let ring: [[Double]] = [[1, 0], [-1, 0], [0, 1], [0, -1]]
    let features = ring + ring.map { [$0[0] + 10, $0[1]] }
    let labels = [0, 0, 0, 0, 1, 1, 1, 1]
    let scorer = try MahalanobisScorer.fit(features: features, labels: labels, classCount: 2, shrinkage: 0)
    #expect(scorer.means == [[0, 0], [10, 0]])
    #expect(close(scorer.score([1, 1]), 4, 1e-6))
    #expect(close(scorer.score([0, 0]), 0, 1e-9) && close(scorer.score([10, 0]), 0, 1e-9))
    #expect(close(scorer.score([11, 1]), 4, 1e-6), "the nearest class counts")
    let training = features.map(scorer.score)
    let threshold = try #require(OutOfDistributionStatistics.threshold(scores: training, acceptance: 0.95))
    #expect(scorer.score([5, 30]) > threshold, "a far point is flagged")
    #expect(training.allSatisfy { $0 <= threshold })
  }

  /// The shared covariance is not isotropic: distance along the wide axis counts less.
  @Test func mahalanobisFollowsTheCovariance() throws {
    var random = SplitMix64(seed: 3)
    func normal() -> Double {
      let u = max(Double(random.next() >> 11) / Double(1 << 53), 1e-12)
      let v = Double(random.next() >> 11) / Double(1 << 53)
      return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }
    let features = (0..<2_000).map { _ in [5 * normal(), 0.5 * normal()] }
    let scorer = try MahalanobisScorer.fit(
      features: features, labels: [Int](repeating: 0, count: features.count), classCount: 1, shrinkage: 0)
    // Three standard deviations either way score about the same (≈ 9).
    #expect(abs(scorer.score([15, 0]) - 9) < 1 && abs(scorer.score([0, 1.5]) - 9) < 1)
    #expect(scorer.score([0, 5]) > 10 * scorer.score([5, 0]))
  }

  /// Cholesky and the triangular inverse on a random symmetric positive definite matrix: L Lᵀ = A
  /// and L⁻¹ L = I.
  @Test func choleskyAndInverse() throws {
    var random = SplitMix64(seed: 9)
    let d = 7
    let m = (0..<(d * d)).map { _ in Double(random.next() % 1000) / 500 - 1 }
    var a = [Double](repeating: 0, count: d * d)
    for i in 0..<d {
      for j in 0..<d {
        for k in 0..<d { a[i * d + j] += m[i * d + k] * m[j * d + k] }
      }
      a[i * d + i] += 0.5
    }
    let l = try Covariance.cholesky(a, dimension: d)
    let inverse = Covariance.invertLowerTriangular(l, dimension: d)
    for i in 0..<d {
      for j in 0..<d {
        var product = 0.0
        var identity = 0.0
        for k in 0..<d {
          product += l[i * d + k] * l[j * d + k]
          identity += inverse[i * d + k] * l[k * d + j]
        }
        #expect(abs(product - a[i * d + j]) < 1e-9)
        #expect(abs(identity - (i == j ? 1 : 0)) < 1e-9)
      }
    }
    #expect(throws: OutOfDistributionError.self) {
      try Covariance.cholesky([1, 2, 2, 1], dimension: 2)  // eigenvalues 3 and −1
    }
  }

  /// Ledoit–Wolf shrinks hardly at all with many images per dimension when the covariance is far
  /// from a multiple of I, and strongly with few images; with fewer images than dimensions the fit
  /// still succeeds (the shrunk covariance is invertible).
  @Test func ledoitWolfShrinksWhenImagesAreFew() throws {
    var random = SplitMix64(seed: 5)
    func rows(_ n: Int, _ d: Int, scales: [Double]? = nil) -> [[Double]] {
      (0..<n).map { _ in (0..<d).map { (Double(random.next() % 10_000) / 10_000 - 0.5) * (scales?[$0] ?? 1) } }
    }
    let many = try MahalanobisScorer.fit(
      features: rows(4_000, 4, scales: [1, 3, 9, 27]), labels: [Int](repeating: 0, count: 4_000), classCount: 1)
    let few = try MahalanobisScorer.fit(features: rows(12, 40), labels: [Int](repeating: 0, count: 12), classCount: 1)
    #expect(many.shrinkage < 0.05)
    #expect(few.shrinkage > 0.3 && few.shrinkage <= 1)
    #expect(few.score(rows(1, 40)[0]).isFinite)
  }

  /// The score in lanes of eight equals the quadratic form written out, ‖W(x − μ_c)‖² minimised over
  /// the classes, for dimensions below, at and past a multiple of eight (every row length 1…D).
  @Test func theLaneWiseScoreIsTheQuadraticForm() throws {
    var random = SplitMix64(seed: 9)
    for dimension in [7, 8, 37] {
      let features = (0..<300).map { _ in (0..<dimension).map { _ in Double(random.next() % 10_000) / 1_000 - 5 } }
      let labels = (0..<300).map { $0 % 3 }
      let scorer = try MahalanobisScorer.fit(features: features, labels: labels, classCount: 3)
      for x in features.prefix(20) + [[Double](repeating: 40, count: dimension)] {
        var expected = Double.infinity
        for mean in scorer.means {
          var total = 0.0
          for row in 0..<dimension {
            var value = 0.0
            for column in 0...row { value += scorer.whitening[row * dimension + column] * (x[column] - mean[column]) }
            total += value * value
          }
          expected = min(expected, total)
        }
        let score = scorer.score(x)
        #expect(abs(score - expected) <= 1e-12 * max(1, expected), "D = \(dimension): \(score) vs \(expected)")
      }
    }
  }

  /// k-NN on normalised features: a stored feature (any length) is at distance 0 from itself with
  /// k = 1; an orthogonal direction is at √2; the k-th neighbour is the k-th smallest distance.
  @Test func nearestNeighboursByHand() throws {
    let scorer = try NearestNeighbourScorer.fit(features: [[2, 0, 0], [0, 3, 0], [1, 1, 0]], k: 1)
    #expect(close(scorer.score([5, 0, 0]), 0, 1e-6))
    #expect(close(scorer.score([0, 0, 1]), 2.0.squareRoot(), 1e-6))
    let second = NearestNeighbourScorer(bank: scorer.bank, k: 2)
    // From (1, 0, 0): 0 to the first, √2 to the second, √(2 − √2) to the diagonal.
    #expect(close(second.score([1, 0, 0]), (2 - 2.0.squareRoot()).squareRoot(), 1e-6))
  }

  /// The lane-wise dot products and the kept k nearest give what sorting every distance gives, for
  /// feature lengths below, at and past a multiple of sixteen and for k from 1 to the whole bank.
  @Test func theKeptNearestAreTheSortedDistances() throws {
    var random = SplitMix64(seed: 11)
    for dimension in [5, 16, 37] {
      let features = (0..<300).map { _ in (0..<dimension).map { _ in Double(random.next() % 1_000) / 100 - 5 } }
      for k in [1, 7, 300] {
        let scorer = try NearestNeighbourScorer.fit(features: features, k: k)
        for query in features.suffix(5) + [(0..<dimension).map { Double($0) }] {
          let norm = query.reduce(0) { $0 + $1 * $1 }.squareRoot()
          let unit = query.map { Float($0 / norm) }
          let distances = scorer.bank.map { row in
            max(0, 2 - 2 * zip(row, unit).reduce(Float(0)) { $0 + $1.0 * $1.1 })
          }.sorted()
          // Compared squared: a query from the bank is at 0 ± float noise, which √ magnifies.
          let score = scorer.score(query)
          #expect(abs(score * score - Double(distances[k - 1])) < 1e-5, "D = \(dimension), k = \(k)")
        }
      }
    }
  }

  /// Above the bank limit, a seeded sample is kept: the same for the same seed.
  @Test func theBankIsASeededSample() throws {
    let features = (0..<3_000).map { [Double($0 % 17), Double($0 % 5) + 1] }
    let a = try NearestNeighbourScorer.fit(features: features, seed: 1)
    let b = try NearestNeighbourScorer.fit(features: features, seed: 1)
    #expect(a.bank.count == NearestNeighbourScorer.bankLimit && a == b)
  }
}

@Suite struct OutOfDistributionStatisticsTests {
  /// The threshold accepts the requested share: 95 of the scores 1…100 at 95%; at least the share
  /// when n does not divide (⌈0.95·7⌉ = 7 of 7); ties are all accepted together.
  @Test func thresholdHitsTheAcceptanceRate() throws {
    let scores = (1...100).map(Double.init).shuffled()
    let threshold = try #require(OutOfDistributionStatistics.threshold(scores: scores, acceptance: 0.95))
    #expect(threshold == 95 && scores.filter { $0 <= threshold }.count == 95)
    #expect(OutOfDistributionStatistics.threshold(scores: [7, 1, 2, 3, 4, 5, 6], acceptance: 0.95) == 7)
    #expect(OutOfDistributionStatistics.threshold(scores: [7, 1, 2, 3, 4, 5, 6], acceptance: 0.5) == 4)
    #expect(OutOfDistributionStatistics.threshold(scores: [], acceptance: 0.95) == nil)
  }

  /// AUROC is 1 when every OOD image scores above every in-distribution one, ½ when they are the
  /// same, and counts ties as one half; FPR at 95% TPR by hand.
  @Test func separationByHand() {
    let inside = (1...20).map(Double.init)
    #expect(OutOfDistributionStatistics.auroc(inDistribution: inside, outOfDistribution: [30, 40]) == 1)
    #expect(OutOfDistributionStatistics.auroc(inDistribution: [1, 2], outOfDistribution: [1, 2]) == 0.5)
    #expect(OutOfDistributionStatistics.auroc(inDistribution: [1, 2], outOfDistribution: [2]) == 0.75)
    // The threshold accepting 95% of 1…20 is 19: the OOD scores 5 and 19 are accepted, 25 and 30 not.
    #expect(
      OutOfDistributionStatistics.falsePositiveRate(inDistribution: inside, outOfDistribution: [5, 19, 25, 30]) == 0.5)
  }

  /// The paired difference of two models on the same images: 0 with a zero-width interval when they
  /// score alike; when the second separates perfectly and the first not at all (AUROC ½), the
  /// difference is +½ and its whole interval lies well above 0.
  @Test func pairedDifferenceByHand() throws {
    let inside = (0..<40).map { Double($0 % 10) }
    let outside = (0..<20).map { Double($0 % 10) }
    let auroc: ([Double], [Double]) -> Double? = {
      OutOfDistributionStatistics.auroc(inDistribution: $0, outOfDistribution: $1)
    }
    let same = OutOfDistributionStatistics.ScoredPair(first: (inside, outside), second: (inside, outside))
    let zero = try #require(
      OutOfDistributionStatistics.pairedDifference([same, same], resamples: 200, statistic: auroc))
    #expect(zero.value == 0 && zero.low == 0 && zero.high == 0)
    let better = OutOfDistributionStatistics.ScoredPair(
      first: (inside, outside), second: (inside, outside.map { $0 + 100 }))
    let gain = try #require(OutOfDistributionStatistics.pairedDifference([better], resamples: 200, statistic: auroc))
    // A resample can push the first model's AUROC below ½, so the interval may reach past +½.
    #expect(close(gain.value, 0.5, 1e-12) && gain.low > 0.3 && gain.low <= gain.value && gain.value <= gain.high)
    let mismatched = OutOfDistributionStatistics.ScoredPair(first: (inside, outside), second: (inside, [1]))
    #expect(OutOfDistributionStatistics.pairedDifference([mismatched], statistic: auroc) == nil)
  }

  /// An image is flagged when its score exceeds the threshold, and the sentence says so with both numbers.
  @Test func theVerdictSaysWhy() throws {
    let detector = OutOfDistributionDetector(
      mahalanobis: MahalanobisScorer(means: [[0, 0]], whitening: [1, 0, 0, 1], shrinkage: 0),
      neighbours: NearestNeighbourScorer(bank: [[1, 0]], k: 1),
      thresholds: [.energy: 0, .mahalanobis: 9, .knn: 1], acceptance: 0.95, method: .mahalanobis, provenance: "")
    let far = detector.assess(logits: [0, 0], features: [3, 1])
    #expect(far.flagged && far.score == 10)
    #expect(far.sentence == "outside the training distribution: mahalanobis score 10 > threshold 9")
    let near = detector.assess(logits: [0, 0], features: [1, 1])
    #expect(!near.flagged && near.sentence.hasPrefix("within the training distribution"))
    #expect(near.scores[.energy] == EnergyScore.score([0, 0]))
  }
}

@Suite struct SelectivePredictionTests {
  /// Four images, one error. Ordered with the error last the risks are 0, 0, 0, ¼ and the AURC is
  /// 1/16 — the ideal, so the excess is 0; with the error first they are 1, ½, ⅓, ¼.
  @Test func riskCoverageByHand() throws {
    let correct = [true, true, true, false]
    #expect(SelectivePrediction.risks(certainty: [0.9, 0.8, 0.7, 0.6], correct: correct) == [0, 0, 0, 0.25])
    #expect(close(SelectivePrediction.aurc(certainty: [0.9, 0.8, 0.7, 0.6], correct: correct), 1.0 / 16))
    #expect(close(SelectivePrediction.optimalAURC(count: 4, errors: 1), 1.0 / 16))
    #expect(
      close(
        SelectivePrediction.aurc(certainty: [0.6, 0.7, 0.8, 0.9], correct: correct), (1 + 0.5 + 1.0 / 3 + 0.25) / 4))
    // The three most certain, error first: two of three right.
    #expect(
      close(SelectivePrediction.accuracy(certainty: [0.6, 0.7, 0.8, 0.9], correct: correct, coverage: 0.75), 2.0 / 3))
    #expect(close(SelectivePrediction.accuracy(certainty: [0.9, 0.8, 0.7, 0.6], correct: correct, coverage: 1), 0.75))
    let curve = try #require(
      SelectivePrediction.curve(ordering: "test", certainty: [0.9, 0.8, 0.7, 0.6], correct: correct, resamples: 50))
    #expect(close(curve.excessAURC, 0))
    #expect(curve.points.first == .init(coverage: 0.25, risk: 0) && curve.points.last == .init(coverage: 1, risk: 0.25))
  }

  /// Perfectly ordered confidences over n images with e errors give the analytic
  /// (1/n) Σ_{k=n−e+1}^{n} (k − n + e)/k; a model with no errors has AURC 0.
  @Test func perfectOrderingGivesTheAnalyticAURC() {
    let (n, e) = (50, 7)
    let certainty = (0..<n).map { Double(n - $0) }
    let correct = (0..<n).map { $0 < n - e }
    var sum = 0.0
    for k in (n - e + 1)...n { sum += Double(k - n + e) / Double(k) }
    let analytic = sum / Double(n)
    #expect(close(SelectivePrediction.aurc(certainty: certainty, correct: correct), analytic, 1e-12))
    #expect(SelectivePrediction.aurc(certainty: certainty, correct: [Bool](repeating: true, count: n)) == 0)
  }

  /// evaluate's report carries the curve by confidence always, and by OOD score with a detector,
  /// and counts the flagged images.
  @Test func theReportCarriesTheCurves() {
    let logits: [[Double]] = [[3, 0], [2, 0], [0, 1], [0, 4], [1, 0.5], [0, 0.2]]
    let labels = [0, 0, 1, 1, 1, 0]
    let plain = EvaluationReport.compute(logits: logits, labels: labels, classes: ["a", "b"], resamples: 20)
    #expect(plain.selectivePrediction?.count == 1 && plain.outOfDistribution == nil)
    let scored = EvaluationReport.compute(
      logits: logits, labels: labels, classes: ["a", "b"], resamples: 20,
      detector: .init(method: .energy, scores: [1, 2, 3, 4, 5, 6], threshold: 4.5))
    #expect(scored.selectivePrediction?.count == 2)
    #expect(scored.outOfDistribution?.flagged == 2 && close(scored.outOfDistribution?.share, 2.0 / 6))
    // Images 5 and 6 (flagged) are both wrong; the four accepted are right.
    #expect(scored.outOfDistribution?.accuracyAccepted == 1 && scored.outOfDistribution?.accuracyFlagged == 0)
    #expect(scored.render().contains("2 of 6 flagged"))
  }
}

@Suite struct RobustnessTests {
  /// CE by hand: errors 0.2 and 0.3 against the reference's 0.1 and 0.3 → 0.5 / 0.4 = 1.25; relative:
  /// (0.1 + 0.2) / (0.05 + 0.25) = 1 with clean errors 0.1 and 0.05; mCE the mean of the families.
  @Test func corruptionErrorsByHand() {
    #expect(close(Robustness.corruptionError(errors: [0.2, 0.3], reference: [0.1, 0.3]), 1.25))
    #expect(Robustness.corruptionError(errors: [0.2, 0.3], reference: [0, 0]) == nil)
    #expect(
      close(
        Robustness.relativeCorruptionError(
          errors: [0.2, 0.3], clean: 0.1, reference: [0.1, 0.3], referenceClean: 0.05),
        1))
    #expect(close(Robustness.mean([1.25, nil, 0.75]), 1))
    // A reference whose error grows by 1 point in all is too flat to divide by.
    #expect(
      Robustness.relativeCorruptionError(
        errors: [0.2, 0.3], clean: 0.1, reference: [0.055, 0.055], referenceClean: 0.05)
        == nil)
    // The reference against itself: 1 for every family.
    #expect(close(Robustness.corruptionError(errors: [0.4, 0.5], reference: [0.4, 0.5]), 1))
  }

  /// Spearman: 1 for any increasing relation, −1 for a decreasing one, nil for a constant map; ties
  /// share their ranks.
  @Test func spearmanByHand() {
    #expect(close(Robustness.spearman([1, 2, 3, 4], [10, 20, 35, 100]), 1))
    #expect(close(Robustness.spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1))
    #expect(Robustness.spearman([1, 1, 1], [1, 2, 3]) == nil)
    // Ranks (1.5, 1.5, 3) against (1, 2, 3): correlation √3/2.
    #expect(close(Robustness.spearman([5, 5, 9], [1, 2, 3]), 3.0.squareRoot() / 2, 1e-12))
  }

  /// A map lit only in the border has border energy 1; one lit only inside, 0; a uniform map the
  /// border's share of the area.
  @Test func borderEnergyByHand() {
    let (width, height) = (20, 10)
    let border = (0..<(width * height)).map { index -> Float in
      let (x, y) = (index % width, index / width)
      return x < 2 || x >= 18 || y < 1 || y >= 9 ? 1 : 0
    }
    #expect(Robustness.borderEnergy(border, width: width, height: height) == 1)
    #expect(Robustness.borderEnergy(border.map { 1 - $0 }, width: width, height: height) == 0)
    let uniform = [Float](repeating: 0.3, count: width * height)
    #expect(close(Robustness.borderEnergy(uniform, width: width, height: height), 1 - 16.0 * 8 / 200, 1e-12))
    #expect(Robustness.borderEnergy([Float](repeating: 0, count: 200), width: width, height: height) == nil)
  }

  /// Several statistics bootstrapped at once: a constant statistic has a zero-width interval, and
  /// the mean's interval holds the mean.
  @Test func bootstrapIntervalsOfSeveralStatistics() throws {
    let values = (0..<50).map(Double.init)
    let intervals = Robustness.bootstrapIntervals(count: 50, resamples: 200, seed: 1) { indices in
      [3, indices.map { values[$0] }.reduce(0, +) / Double(indices.count), nil]
    }
    #expect(intervals.count == 3)
    #expect(intervals[0]?.low == 3 && intervals[0]?.high == 3)
    let mean = try #require(intervals[1])
    #expect(mean.low < 24.5 && mean.high > 24.5 && mean.high - mean.low < 20)
    #expect(intervals[2] == nil)
  }
}
