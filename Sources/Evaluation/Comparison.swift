import Foundation

/// The per-image predictions of one run on a test split (test-predictions.csv, read by
/// `PredictionsFile` in RunFiles).
public struct RunPredictions: Sendable {
  public var name: String
  public var paths: [String]
  public var labels: [Int]
  public var probabilities: [[Double]]

  public init(name: String, paths: [String], labels: [Int], probabilities: [[Double]]) {
    self.name = name
    self.paths = paths
    self.labels = labels
    self.probabilities = probabilities
  }
}

public struct ComparisonError: Error, CustomStringConvertible {
  public let description: String
  public init(_ description: String) { self.description = description }
}

/// Two configurations over several seeds on the same test images.
public struct ComparisonReport: Sendable {
  public struct Row: Sendable {
    public var metric: String
    public var baseline: (mean: Double, std: Double)
    public var candidate: (mean: Double, std: Double)
    /// candidate − baseline, averaged over seed pairs, with a paired bootstrap interval over images.
    public var difference: (value: Double, low: Double, high: Double)
  }

  public struct McNemar: Sendable {
    public var pair: String
    public var onlyBaselineCorrect: Int
    public var onlyCandidateCorrect: Int
    public var pValue: Double
  }

  public var names: (baseline: String, candidate: String)
  public var seeds: Int
  public var images: Int
  public var rows: [Row]
  public var mcNemar: [McNemar]
  public var bootstrap: String

  static let metrics: [(name: String, compute: @Sendable ([[Double]], [Int]) -> Double?)] = [
    ("accuracy", { p, y in ClassificationMetrics.evaluate(probabilities: p, labels: y).accuracy }),
    ("balanced accuracy", { p, y in ClassificationMetrics.evaluate(probabilities: p, labels: y).balancedAccuracy }),
    ("macro-F1", { p, y in ClassificationMetrics.evaluate(probabilities: p, labels: y).macroF1 }),
    ("macro AUC", { p, y in ClassificationMetrics.evaluate(probabilities: p, labels: y).macroAUC }),
    (
      "ECE (15 bins, L1)",
      { p, y in
        let (c, k) = Calibration.confidences(probabilities: p, labels: y)
        return Calibration.expectedCalibrationError(confidences: c, correct: k)
      }
    ),
    (
      "adaptive ECE",
      { p, y in
        let (c, k) = Calibration.confidences(probabilities: p, labels: y)
        return Calibration.adaptiveCalibrationError(confidences: c, correct: k)
      }
    ),
    ("Brier", { p, y in Calibration.brierScore(probabilities: p, labels: y) }),
    ("NLL", { p, y in Calibration.negativeLogLikelihood(probabilities: p, labels: y) }),
    (
      "AURC (by confidence)",
      { p, y in
        let (c, k) = Calibration.confidences(probabilities: p, labels: y)
        return SelectivePrediction.aurc(certainty: c, correct: k)
      }
    ),
  ]

  /// The metrics a comparison reports, in its order.
  public static var metricNames: [String] { metrics.map(\.name) }

  /// Each metric of one run's predictions, by name (nil where it is undefined, such as an AUC of a
  /// class the images lack).
  public static func metricValues(_ run: RunPredictions) -> [String: Double] {
    var values: [String: Double] = [:]
    for (name, compute) in metrics { values[name] = compute(run.probabilities, run.labels) }
    return values
  }

  /// Pairs run i of the baseline with run i of the candidate (same seed), on the images they share.
  public static func compute(
    baseline: [RunPredictions], candidate: [RunPredictions], names: (String, String) = ("baseline", "candidate"),
    resamples: Int = 1_000, seed: UInt64 = 0
  ) throws -> ComparisonReport {
    guard !baseline.isEmpty, baseline.count == candidate.count else {
      throw ComparisonError("give the same number of baseline and candidate runs (one per seed), at least one each")
    }
    let reference = baseline[0]
    for run in baseline + candidate where run.paths != reference.paths || run.labels != reference.labels {
      throw ComparisonError("\(run.name) was evaluated on other images (or in another order) than \(reference.name)")
    }
    let count = reference.labels.count
    func meanStd(_ values: [Double]) -> (Double, Double) { Statistics.meanAndStandardDeviation(values) }
    var rows: [Row] = []
    for (name, compute) in metrics {
      let baselineValues = baseline.compactMap { compute($0.probabilities, $0.labels) }
      let candidateValues = candidate.compactMap { compute($0.probabilities, $0.labels) }
      guard baselineValues.count == baseline.count, candidateValues.count == candidate.count else { continue }
      let difference = zip(candidateValues, baselineValues).map { $0 - $1 }.reduce(0, +) / Double(baseline.count)
      let interval = Statistics.bootstrapInterval(sampleCount: count, resamples: resamples, seed: seed) { indices in
        var total = 0.0
        for (first, second) in zip(baseline, candidate) {
          let labels = indices.map { reference.labels[$0] }
          guard let a = compute(indices.map { first.probabilities[$0] }, labels),
            let b = compute(indices.map { second.probabilities[$0] }, labels)
          else { return nil }
          total += b - a
        }
        return total / Double(baseline.count)
      }
      rows.append(
        Row(
          metric: name, baseline: meanStd(baselineValues), candidate: meanStd(candidateValues),
          difference: (difference, interval?.low ?? difference, interval?.high ?? difference)))
    }
    let tests = zip(baseline, candidate).map { first, second -> McNemar in
      let a = ClassificationMetrics.predictions(first.probabilities)
      let b = ClassificationMetrics.predictions(second.probabilities)
      var onlyFirst = 0
      var onlySecond = 0
      for index in 0..<count {
        let firstRight = a[index] == reference.labels[index]
        let secondRight = b[index] == reference.labels[index]
        if firstRight && !secondRight { onlyFirst += 1 }
        if secondRight && !firstRight { onlySecond += 1 }
      }
      return McNemar(
        pair: "\(first.name) vs \(second.name)", onlyBaselineCorrect: onlyFirst, onlyCandidateCorrect: onlySecond,
        pValue: Statistics.mcNemarExact(onlyFirstCorrect: onlyFirst, onlySecondCorrect: onlySecond))
    }
    return ComparisonReport(
      names: names, seeds: baseline.count, images: count, rows: rows, mcNemar: tests,
      bootstrap: "paired 95% percentile intervals, \(resamples) resamples of the test images, seed \(seed)")
  }

  /// A Markdown table.
  public func render() -> String {
    var lines = [
      "\(names.candidate) vs \(names.baseline): \(seeds) seed(s) each, \(images) test images; mean ± std over seeds; "
        + "difference = \(names.candidate) − \(names.baseline) (\(bootstrap))",
      "",
      "| metric | \(names.baseline) | \(names.candidate) | difference [95% CI] |",
      "|---|---|---|---|",
    ]
    for row in rows {
      lines.append(
        String(
          format: "| %@ | %.4f ± %.4f | %.4f ± %.4f | %+.4f [%+.4f, %+.4f] |", row.metric, row.baseline.mean,
          row.baseline.std,
          row.candidate.mean, row.candidate.std, row.difference.value, row.difference.low, row.difference.high))
    }
    lines += ["", "McNemar's exact test, per seed (images only one model classified correctly):", ""]
    lines += ["| pair | only \(names.baseline) right | only \(names.candidate) right | p |", "|---|---|---|---|"]
    for test in mcNemar {
      lines.append(
        "| \(test.pair) | \(test.onlyBaselineCorrect) | \(test.onlyCandidateCorrect) | \(String(format: "%.4f", test.pValue)) |"
      )
    }
    return lines.joined(separator: "\n")
  }
}
