import Foundation

/// Selective prediction: a model that may decline to answer, answering the images it is most sure
/// of first. The risk–coverage curve gives the error rate among the answered images against the
/// share answered; its area (AURC, Geifman & El-Yaniv 2017) summarises the curve: lower is better.
public enum SelectivePrediction {
  /// One point of the curve: answering the `coverage` most certain share, the error rate among them.
  public struct Point: Codable, Equatable, Sendable {
    public var coverage: Double
    public var risk: Double
  }

  /// The risk–coverage curve under one ordering, with bootstrap intervals.
  public struct Curve: Codable, Sendable {
    /// What orders the images: "confidence (top-class probability)" or "mahalanobis score (lowest first)".
    public var ordering: String
    /// (1/n) Σ_k risk(k): the mean error rate over the n coverages k/n.
    public var aurc: EvaluationReport.Interval
    /// AURC minus the AURC of the ideal ordering (every error last) with the same errors.
    public var excessAURC: Double
    public var accuracyAt90: EvaluationReport.Interval?
    public var accuracyAt95: EvaluationReport.Interval?
    /// At most 101 points (every 1% of coverage), for charts.
    public var points: [Point]
  }

  /// risk(k) for k = 1…n, answering in order of `certainty` (highest first; ties keep their order).
  public static func risks(certainty: [Double], correct: [Bool]) -> [Double] {
    let order = certainty.indices.sorted {
      certainty[$0] > certainty[$1] || (certainty[$0] == certainty[$1] && $0 < $1)
    }
    var errors = 0
    return order.enumerated().map { position, index in
      if !correct[index] { errors += 1 }
      return Double(errors) / Double(position + 1)
    }
  }

  public static func aurc(certainty: [Double], correct: [Bool]) -> Double? {
    guard !certainty.isEmpty else { return nil }
    return risks(certainty: certainty, correct: correct).reduce(0, +) / Double(certainty.count)
  }

  /// The AURC of the ideal ordering: n − e correct answers first, then the e errors.
  public static func optimalAURC(count n: Int, errors e: Int) -> Double {
    guard n > 0 else { return 0 }
    var total = 0.0
    for k in max(n - e + 1, 1)...max(n, 1) where e > 0 { total += Double(k - (n - e)) / Double(k) }
    return total / Double(n)
  }

  /// The accuracy on the ⌈coverage·n⌉ most certain images.
  public static func accuracy(certainty: [Double], correct: [Bool], coverage: Double) -> Double? {
    guard !certainty.isEmpty else { return nil }
    let answered = max(1, Int((coverage * Double(certainty.count)).rounded(.up)))
    return 1 - risks(certainty: certainty, correct: correct)[answered - 1]
  }

  /// The curve with its AURC and accuracy at 90% and 95% coverage, each with a percentile bootstrap
  /// interval over `resamples` resamples of the images.
  public static func curve(
    ordering: String, certainty: [Double], correct: [Bool], resamples: Int = 1_000, seed: UInt64 = 0
  ) -> Curve? {
    guard let area = aurc(certainty: certainty, correct: correct) else { return nil }
    func interval(_ statistic: @escaping ([Double], [Bool]) -> Double?) -> EvaluationReport.Interval? {
      guard let value = statistic(certainty, correct) else { return nil }
      let bounds = Statistics.bootstrapInterval(sampleCount: certainty.count, resamples: resamples, seed: seed) {
        statistic($0.map { certainty[$0] }, $0.map { correct[$0] })
      }
      return EvaluationReport.Interval(value: value, low: bounds?.low ?? value, high: bounds?.high ?? value)
    }
    let risks = risks(certainty: certainty, correct: correct)
    let n = certainty.count
    let points = (0...100).compactMap { percent -> Point? in
      let k = Int((Double(percent) / 100 * Double(n)).rounded(.up))
      guard k >= 1 else { return nil }
      return Point(coverage: Double(k) / Double(n), risk: risks[k - 1])
    }
    var unique: [Point] = []
    for point in points where unique.last != point { unique.append(point) }
    return Curve(
      ordering: ordering,
      aurc: interval { aurc(certainty: $0, correct: $1) }!,
      excessAURC: area - optimalAURC(count: n, errors: correct.filter { !$0 }.count),
      accuracyAt90: interval { accuracy(certainty: $0, correct: $1, coverage: 0.9) },
      accuracyAt95: interval { accuracy(certainty: $0, correct: $1, coverage: 0.95) },
      points: unique)
  }
}
