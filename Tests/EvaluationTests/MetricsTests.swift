import Foundation
import Testing

@testable import Evaluation

/// Whether `a` is within `tolerance` of `b` (a missing value is never close).
func close(_ a: Double?, _ b: Double, _ tolerance: Double = 1e-12) -> Bool {
  guard let a else { return false }
  return abs(a - b) <= tolerance
}

@Suite struct ClassificationMetricsTests {
  /// Two classes, 6 samples: labels 0 0 0 1 1 1, predictions 0 0 1 1 1 0.
  /// Class 0: TP 2, FN 1, FP 1, TN 2 → sensitivity 2/3, specificity 2/3, PPV 2/3, NPV 2/3, F1 2/3.
  @Test func perClassMetricsByHand() {
    let probabilities: [[Double]] = [[0.9, 0.1], [0.8, 0.2], [0.4, 0.6], [0.3, 0.7], [0.2, 0.8], [0.6, 0.4]]
    let report = ClassificationMetrics.evaluate(probabilities: probabilities, labels: [0, 0, 0, 1, 1, 1])
    #expect(report.confusion == [[2, 1], [1, 2]])
    #expect(close(report.accuracy, 4.0 / 6))
    #expect(close(report.balancedAccuracy, 2.0 / 3))
    let first = report.perClass[0]
    #expect(close(first.sensitivity, 2.0 / 3) && close(first.specificity, 2.0 / 3))
    #expect(close(first.positivePredictiveValue, 2.0 / 3) && close(first.negativePredictiveValue, 2.0 / 3))
    #expect(close(first.f1, 2.0 / 3) && close(report.macroF1, 2.0 / 3))
    // Class 0 scores: positives 0.9, 0.8, 0.4; negatives 0.3, 0.2, 0.6. Pairs won: 3 + 3 + 2 = 8 of 9.
    #expect(close(first.auc, 8.0 / 9))
    #expect(first.support == 3)
  }

  /// A class that is present but never predicted has F1 0 (not undefined), so macro-F1 stays defined.
  @Test func neverPredictedClassHasZeroF1() {
    let report = ClassificationMetrics.evaluate(probabilities: [[0.9, 0.1], [0.8, 0.2]], labels: [0, 1])
    #expect(report.perClass[1].f1 == 0)
    #expect(report.perClass[1].positivePredictiveValue == nil)
    #expect(close(report.macroF1, (2.0 / 3 + 0) / 2))
  }

  @Test func aucCountsTiesAsHalf() {
    // Pairs: 0.9>0.5, 0.9>0.1, 0.5=0.5 (½), 0.5>0.1 → 3.5 of 4.
    #expect(
      close(ClassificationMetrics.rocAUC(scores: [0.9, 0.5, 0.5, 0.1], positives: [true, true, false, false]), 0.875))
    // All scores tied: ½.
    #expect(close(ClassificationMetrics.rocAUC(scores: [0.3, 0.3, 0.3], positives: [true, false, false]), 0.5))
    #expect(ClassificationMetrics.rocAUC(scores: [0.3, 0.4], positives: [true, true]) == nil, "no negatives")
  }

  @Test func singleClassLeavesUndefinedMetricsNil() {
    let report = ClassificationMetrics.evaluate(probabilities: [[0.7, 0.3], [0.6, 0.4]], labels: [0, 0])
    #expect(report.accuracy == 1)
    #expect(report.perClass[0].auc == nil, "no negatives for class 0")
    #expect(report.perClass[1].sensitivity == nil, "no positives for class 1")
    #expect(report.perClass[1].f1 == nil, "class 1 is neither present nor predicted")
    #expect(report.macroAUC == nil)
    #expect(report.balancedAccuracy == nil)
  }
}

@Suite struct CalibrationTests {
  /// Confidences 0, 1, 1, 0.5 with correctness F, T, F, T. Bin 0 holds 0 (gap 0), bin 7 holds 0.5
  /// (accuracy 1, gap 0.5, weight ¼), bin 14 holds both 1s (accuracy ½, gap 0.5, weight ½); the other
  /// 12 bins are empty. ECE = 0.125 + 0.25 = 0.375; MCE = 0.5.
  @Test func eceWithExactZeroAndOneAndEmptyBins() {
    let confidences = [0.0, 1.0, 1.0, 0.5]
    let correct = [false, true, false, true]
    #expect(close(Calibration.expectedCalibrationError(confidences: confidences, correct: correct), 0.375))
    #expect(close(Calibration.maximumCalibrationError(confidences: confidences, correct: correct), 0.5))
    let bins = Calibration.reliabilityBins(confidences: confidences, correct: correct)
    #expect(bins.count == 15)
    #expect(bins.map(\.count) == [1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 2])
    #expect(bins[3].accuracy == nil && bins[3].meanConfidence == nil)
    #expect(bins[14].accuracy == 0.5 && bins[14].meanConfidence == 1)
  }

  @Test func perfectCalibrationAndASingleClass() {
    // Confidence 0.75 and three of four right: calibrated.
    #expect(
      close(
        Calibration.expectedCalibrationError(
          confidences: [0.75, 0.75, 0.75, 0.75], correct: [true, true, true, false]), 0))
    // One class only, always predicted with probability 1 and right.
    let probabilities: [[Double]] = [[1], [1], [1]]
    let (confidences, correct) = Calibration.confidences(probabilities: probabilities, labels: [0, 0, 0])
    #expect(Calibration.expectedCalibrationError(confidences: confidences, correct: correct) == 0)
    #expect(Calibration.classwiseCalibrationError(probabilities: probabilities, labels: [0, 0, 0]) == 0)
  }

  /// Equal-mass bins: with 2 bins over confidences 0.1, 0.2 (wrong, right) and 0.8, 0.9 (right, right):
  /// bin 1 gap |0.5 − 0.15| = 0.35, bin 2 gap |1 − 0.85| = 0.15; each weight ½ → 0.25.
  @Test func adaptiveECEByHand() {
    let value = Calibration.adaptiveCalibrationError(
      confidences: [0.9, 0.1, 0.8, 0.2], correct: [true, false, true, true], binCount: 2)
    #expect(close(value, 0.25))
  }

  @Test func classwiseECEBrierAndNLLByHand() {
    // One sample, p = (0.7, 0.2, 0.1), label 0. Brier: 0.3² + 0.2² + 0.1² = 0.14. NLL: −log 0.7.
    #expect(close(Calibration.brierScore(probabilities: [[0.7, 0.2, 0.1]], labels: [0]), 0.14, 1e-12))
    #expect(close(Calibration.negativeLogLikelihood(probabilities: [[0.7, 0.2, 0.1]], labels: [0]), -log(0.7)))
    // Class-wise: class 0 gap |1 − 0.7| = 0.3; class 1 |0 − 0.2|; class 2 |0 − 0.1|; mean 0.2.
    #expect(close(Calibration.classwiseCalibrationError(probabilities: [[0.7, 0.2, 0.1]], labels: [0]), 0.2))
  }
}

@Suite struct TemperatureScalingTests {
  /// Labels drawn from softmax(z) are calibrated for z; logits z · 2.5 are overconfident, and the
  /// fitted temperature must bring them back to about 2.5.
  @Test func recoversAKnownTemperature() {
    var state: UInt64 = 12345
    func uniform() -> Double {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return Double(state >> 11) / Double(1 << 53)
    }
    var logits: [[Double]] = []
    var labels: [Int] = []
    for _ in 0..<6_000 {
      let z = (0..<3).map { _ in (uniform() - 0.5) * 6 }
      let p = softmax([z])[0]
      let draw = uniform()
      labels.append(draw < p[0] ? 0 : draw < p[0] + p[1] ? 1 : 2)
      logits.append(z.map { $0 * 2.5 })
    }
    let temperature = TemperatureScaling.fit(logits: logits, labels: labels)
    #expect(abs(temperature - 2.5) < 0.15, "fitted \(temperature)")
    let before = TemperatureScaling.nll(logits: logits, labels: labels, temperature: 1)
    let after = TemperatureScaling.nll(logits: logits, labels: labels, temperature: temperature)
    #expect(after < before)
  }
}

@Suite struct StatisticsTests {
  @Test func mcNemarExactByHand() {
    // b = 0, c = 5: p = 2 · (1/2)⁵ = 0.0625.
    #expect(close(Statistics.mcNemarExact(onlyFirstCorrect: 0, onlySecondCorrect: 5), 0.0625, 1e-12))
    // b = 1, c = 4: p = 2 · (1 + 5) / 32 = 0.375.
    #expect(close(Statistics.mcNemarExact(onlyFirstCorrect: 1, onlySecondCorrect: 4), 0.375, 1e-12))
    #expect(Statistics.mcNemarExact(onlyFirstCorrect: 3, onlySecondCorrect: 3) == 1)
    #expect(Statistics.mcNemarExact(onlyFirstCorrect: 0, onlySecondCorrect: 0) == 1)
  }

  @Test func bootstrapIsSeededAndCoversTheMean() throws {
    let values = (0..<200).map { Double($0 % 10) }
    let mean = { (indices: [Int]) -> Double? in indices.reduce(0.0) { $0 + values[$1] } / Double(indices.count) }
    let first = try #require(Statistics.bootstrapInterval(sampleCount: 200, seed: 3, statistic: mean))
    let again = try #require(Statistics.bootstrapInterval(sampleCount: 200, seed: 3, statistic: mean))
    #expect(first.low == again.low && first.high == again.high)
    #expect(first.low < 4.5 && 4.5 < first.high)
    #expect(first.high - first.low < 1.5)
  }
}
