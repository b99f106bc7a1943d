import Foundation

/// Calibration: whether a model's confidence matches how often it is right.
///
/// ECE (expected calibration error) here is the L1 form over 15 equal-width bins of confidence
/// (the top-class probability): ECE = Σ_b (n_b / N) · |accuracy_b − mean confidence_b|. Bin b holds
/// confidences in (b/15, (b+1)/15]; a confidence of exactly 0 goes to the first bin; empty bins
/// contribute nothing. MCE is the largest gap over non-empty bins. Adaptive ECE uses bins of equal
/// mass (each holding N/15 samples, by sorted confidence) instead of equal width. Class-wise ECE
/// applies the same binning to every class's probability against "the label is this class" and
/// averages over classes. The Brier score is the mean over samples of Σ_c (p_c − y_c)²; NLL the mean
/// of −log p_label (probabilities below 1e-12 count as 1e-12).
public enum Calibration {
  public static let defaultBinCount = 15

  public struct Bin: Equatable, Sendable {
    public var lower: Double
    public var upper: Double
    public var count: Int
    /// nil for an empty bin.
    public var accuracy: Double?
    public var meanConfidence: Double?
  }

  /// The equal-width reliability bins (a reliability diagram's data).
  public static func reliabilityBins(confidences: [Double], correct: [Bool], binCount: Int = defaultBinCount) -> [Bin] {
    var counts = [Int](repeating: 0, count: binCount)
    var hits = [Int](repeating: 0, count: binCount)
    var confidenceSums = [Double](repeating: 0, count: binCount)
    for (confidence, isCorrect) in zip(confidences, correct) {
      let bin = binIndex(confidence, binCount: binCount)
      counts[bin] += 1
      hits[bin] += isCorrect ? 1 : 0
      confidenceSums[bin] += confidence
    }
    return (0..<binCount).map { bin in
      Bin(
        lower: Double(bin) / Double(binCount), upper: Double(bin + 1) / Double(binCount), count: counts[bin],
        accuracy: counts[bin] == 0 ? nil : Double(hits[bin]) / Double(counts[bin]),
        meanConfidence: counts[bin] == 0 ? nil : confidenceSums[bin] / Double(counts[bin]))
    }
  }

  /// The bin of (b/B, (b+1)/B] holding `confidence`; 0 goes to the first bin.
  static func binIndex(_ confidence: Double, binCount: Int) -> Int {
    let clamped = Swift.min(Swift.max(confidence, 0), 1)
    return Swift.min(Swift.max(Int((clamped * Double(binCount)).rounded(.up)) - 1, 0), binCount - 1)
  }

  static func gaps(_ bins: [Bin]) -> [(weight: Int, gap: Double)] {
    bins.compactMap { bin in
      guard let accuracy = bin.accuracy, let confidence = bin.meanConfidence else { return nil }
      return (bin.count, Swift.abs(accuracy - confidence))
    }
  }

  public static func expectedCalibrationError(confidences: [Double], correct: [Bool], binCount: Int = defaultBinCount)
    -> Double
  {
    let total = confidences.count
    guard total > 0 else { return 0 }
    return gaps(reliabilityBins(confidences: confidences, correct: correct, binCount: binCount))
      .reduce(0) { $0 + Double($1.weight) / Double(total) * $1.gap }
  }

  public static func maximumCalibrationError(confidences: [Double], correct: [Bool], binCount: Int = defaultBinCount)
    -> Double
  {
    gaps(reliabilityBins(confidences: confidences, correct: correct, binCount: binCount)).map(\.gap).max() ?? 0
  }

  /// ECE over bins of equal mass: samples sorted by confidence, cut into `binCount` runs whose sizes
  /// differ by at most one.
  public static func adaptiveCalibrationError(confidences: [Double], correct: [Bool], binCount: Int = defaultBinCount)
    -> Double
  {
    let total = confidences.count
    guard total > 0 else { return 0 }
    let order = confidences.indices.sorted { confidences[$0] < confidences[$1] }
    let bins = Swift.min(binCount, total)
    var error = 0.0
    for bin in 0..<bins {
      let members = order[(bin * total / bins)..<((bin + 1) * total / bins)]
      guard !members.isEmpty else { continue }
      let accuracy = Double(members.filter { correct[$0] }.count) / Double(members.count)
      let confidence = members.reduce(0.0) { $0 + confidences[$1] } / Double(members.count)
      error += Double(members.count) / Double(total) * Swift.abs(accuracy - confidence)
    }
    return error
  }

  public static func classwiseCalibrationError(
    probabilities: [[Double]], labels: [Int], binCount: Int = defaultBinCount
  ) -> Double {
    let classCount = probabilities.first?.count ?? 0
    guard classCount > 0 else { return 0 }
    let perClass = (0..<classCount).map { c in
      expectedCalibrationError(
        confidences: probabilities.map { $0[c] }, correct: labels.map { $0 == c }, binCount: binCount)
    }
    return perClass.reduce(0, +) / Double(classCount)
  }

  public static func brierScore(probabilities: [[Double]], labels: [Int]) -> Double {
    guard !labels.isEmpty else { return 0 }
    let total = zip(probabilities, labels).reduce(0.0) { sum, sample in
      sum + sample.0.enumerated().reduce(0.0) { $0 + Foundation.pow($1.element - ($1.offset == sample.1 ? 1 : 0), 2) }
    }
    return total / Double(labels.count)
  }

  public static func negativeLogLikelihood(probabilities: [[Double]], labels: [Int]) -> Double {
    guard !labels.isEmpty else { return 0 }
    return zip(probabilities, labels).reduce(0.0) { $0 - Foundation.log(Swift.max($1.0[$1.1], 1e-12)) }
      / Double(labels.count)
  }

  /// Confidence (top probability) and correctness of each sample.
  public static func confidences(probabilities: [[Double]], labels: [Int]) -> (confidences: [Double], correct: [Bool]) {
    let predicted = ClassificationMetrics.predictions(probabilities)
    return (zip(probabilities, predicted).map { $0[$1] }, zip(predicted, labels).map { $0 == $1 })
  }
}

/// Softmax of each row of logits, computed stably.
public func softmax(_ logits: [[Double]], temperature: Double = 1) -> [[Double]] {
  logits.map { row in
    let scaled = row.map { $0 / temperature }
    let top = scaled.max() ?? 0
    let exponentials = scaled.map { Foundation.exp($0 - top) }
    let sum = exponentials.reduce(0, +)
    return exponentials.map { $0 / sum }
  }
}

/// Temperature scaling (Guo et al. 2017): one temperature T > 0 dividing every logit, fitted on the
/// validation split by minimising the NLL over log T (so that T stays positive). The NLL is convex
/// in 1/T, hence unimodal in log T: golden-section search over log T ∈ [−5, 5] finds the minimum.
public enum TemperatureScaling {
  public static func nll(logits: [[Double]], labels: [Int], temperature: Double) -> Double {
    Calibration.negativeLogLikelihood(probabilities: softmax(logits, temperature: temperature), labels: labels)
  }

  public static func fit(logits: [[Double]], labels: [Int], tolerance: Double = 1e-7) -> Double {
    var low = -5.0
    var high = 5.0
    let ratio = (5.0.squareRoot() - 1) / 2
    var a = high - ratio * (high - low)
    var b = low + ratio * (high - low)
    var fa = nll(logits: logits, labels: labels, temperature: Foundation.exp(a))
    var fb = nll(logits: logits, labels: labels, temperature: Foundation.exp(b))
    while high - low > tolerance {
      if fa < fb {
        high = b
        b = a
        fb = fa
        a = high - ratio * (high - low)
        fa = nll(logits: logits, labels: labels, temperature: Foundation.exp(a))
      } else {
        low = a
        a = b
        fa = fb
        b = low + ratio * (high - low)
        fb = nll(logits: logits, labels: labels, temperature: Foundation.exp(b))
      }
    }
    return Foundation.exp((low + high) / 2)
  }
}
