import Foundation

/// Everything `orthocxr evaluate` reports for one model on one split, ready for metrics.json.
public struct EvaluationReport: Codable, Sendable {
  public struct Interval: Codable, Sendable, Equatable {
    public var value: Double
    public var low: Double
    public var high: Double

    public init(value: Double, low: Double, high: Double) {
      self.value = value
      self.low = low
      self.high = high
    }

    /// Whether the interval leaves out zero (for a difference: a clear one).
    public var excludesZero: Bool { low > 0 || high < 0 }
  }

  public struct ClassMetrics: Codable, Sendable {
    public var name: String
    public var support: Int
    public var sensitivity: Double?
    public var specificity: Double?
    public var ppv: Double?
    public var npv: Double?
    public var f1: Double?
    public var auc: Double?
  }

  public struct ReliabilityBin: Codable, Sendable {
    public var lower: Double
    public var upper: Double
    public var count: Int
    public var accuracy: Double?
    public var meanConfidence: Double?
  }

  public var samples: Int
  public var classes: [String]
  public var temperature: Double
  public var accuracy: Interval
  public var balancedAccuracy: Double?
  public var macroF1: Interval?
  public var macroAUC: Interval?
  public var perClass: [ClassMetrics]
  public var confusion: [[Int]]
  /// "15 equal-width bins, L1 (top-class confidence)", stated in every report.
  public var eceDefinition: String
  public var ece: Interval
  public var mce: Double
  public var adaptiveECE: Double
  public var classwiseECE: Double
  public var brier: Double
  public var nll: Double
  public var reliability: [ReliabilityBin]
  /// Risk–coverage curves: by confidence, and by OOD score when the model has a detector.
  public var selectivePrediction: [SelectivePrediction.Curve]?
  /// How many images the model's OOD detector flagged, when it has one.
  public var outOfDistribution: FlaggedImages?
  public var bootstrap: String

  /// The images an out-of-distribution detector flagged in a split.
  public struct FlaggedImages: Codable, Sendable, Equatable {
    public var method: OutOfDistributionMethod
    public var threshold: Double
    public var flagged: Int
    public var share: Double
    /// Accuracy on the images not flagged, and on the flagged ones (nil when there are none).
    public var accuracyAccepted: Double?
    public var accuracyFlagged: Double?
  }

  /// What `compute` needs to report on a model's OOD detector: each image's score under `method`.
  public struct DetectorScores: Sendable {
    public var method: OutOfDistributionMethod
    public var scores: [Double]
    public var threshold: Double

    public init(method: OutOfDistributionMethod, scores: [Double], threshold: Double) {
      self.method = method
      self.scores = scores
      self.threshold = threshold
    }
  }

  /// Computes every metric from logits (scaled by `temperature`) and labels, with seeded 95% bootstrap
  /// intervals over `resamples` resamples of the images.
  public static func compute(
    logits: [[Double]], labels: [Int], classes: [String], temperature: Double = 1, resamples: Int = 1_000,
    seed: UInt64 = 0, detector: DetectorScores? = nil
  ) -> EvaluationReport {
    let probabilities = softmax(logits, temperature: temperature)
    let report = ClassificationMetrics.evaluate(probabilities: probabilities, labels: labels)
    let (confidences, correct) = Calibration.confidences(probabilities: probabilities, labels: labels)
    func interval(_ value: Double?, _ statistic: @escaping ([Int]) -> Double?) -> Interval? {
      guard let value else { return nil }
      let bounds = Statistics.bootstrapInterval(
        sampleCount: labels.count, resamples: resamples, seed: seed, statistic: statistic)
      return Interval(value: value, low: bounds?.low ?? value, high: bounds?.high ?? value)
    }
    func subset(_ indices: [Int]) -> ([[Double]], [Int]) {
      (indices.map { probabilities[$0] }, indices.map { labels[$0] })
    }
    let accuracy = interval(report.accuracy) { indices in
      Double(indices.filter { correct[$0] }.count) / Double(indices.count)
    }!
    let macroF1 = interval(report.macroF1) { indices in
      let (p, y) = subset(indices)
      return ClassificationMetrics.evaluate(probabilities: p, labels: y).macroF1
    }
    let macroAUC = interval(report.macroAUC) { indices in
      let (p, y) = subset(indices)
      return ClassificationMetrics.evaluate(probabilities: p, labels: y).macroAUC
    }
    let ece = interval(Calibration.expectedCalibrationError(confidences: confidences, correct: correct)) { indices in
      Calibration.expectedCalibrationError(
        confidences: indices.map { confidences[$0] }, correct: indices.map { correct[$0] })
    }!
    return EvaluationReport(
      samples: labels.count, classes: classes, temperature: temperature, accuracy: accuracy,
      balancedAccuracy: report.balancedAccuracy, macroF1: macroF1, macroAUC: macroAUC,
      perClass: report.perClass.enumerated().map { index, metrics in
        ClassMetrics(
          name: classes[index], support: metrics.support, sensitivity: metrics.sensitivity,
          specificity: metrics.specificity,
          ppv: metrics.positivePredictiveValue, npv: metrics.negativePredictiveValue, f1: metrics.f1, auc: metrics.auc)
      },
      confusion: report.confusion, eceDefinition: "15 equal-width bins, L1, top-class confidence", ece: ece,
      mce: Calibration.maximumCalibrationError(confidences: confidences, correct: correct),
      adaptiveECE: Calibration.adaptiveCalibrationError(confidences: confidences, correct: correct),
      classwiseECE: Calibration.classwiseCalibrationError(probabilities: probabilities, labels: labels),
      brier: Calibration.brierScore(probabilities: probabilities, labels: labels),
      nll: Calibration.negativeLogLikelihood(probabilities: probabilities, labels: labels),
      reliability: Calibration.reliabilityBins(confidences: confidences, correct: correct).map {
        ReliabilityBin(
          lower: $0.lower, upper: $0.upper, count: $0.count, accuracy: $0.accuracy, meanConfidence: $0.meanConfidence)
      },
      selectivePrediction: selectiveCurves(
        confidences: confidences, correct: correct, detector: detector, resamples: resamples, seed: seed),
      outOfDistribution: detector.map { flagged($0, correct: correct) },
      bootstrap: "95% percentile intervals, \(resamples) resamples of the images, seed \(seed)")
  }

  static func selectiveCurves(
    confidences: [Double], correct: [Bool], detector: DetectorScores?, resamples: Int, seed: UInt64
  ) -> [SelectivePrediction.Curve] {
    var curves = [
      SelectivePrediction.curve(
        ordering: "confidence (top-class probability)", certainty: confidences, correct: correct,
        resamples: resamples, seed: seed)
    ]
    if let detector {
      curves.append(
        SelectivePrediction.curve(
          ordering: "\(detector.method.rawValue) OOD score (lowest first)", certainty: detector.scores.map { -$0 },
          correct: correct, resamples: resamples, seed: seed))
    }
    return curves.compactMap { $0 }
  }

  static func flagged(_ detector: DetectorScores, correct: [Bool]) -> FlaggedImages {
    let isFlagged = detector.scores.map { $0 > detector.threshold }
    func accuracy(_ flaggedOnes: Bool) -> Double? {
      let chosen = zip(isFlagged, correct).filter { $0.0 == flaggedOnes }
      return chosen.isEmpty ? nil : Double(chosen.filter(\.1).count) / Double(chosen.count)
    }
    let count = isFlagged.filter { $0 }.count
    return FlaggedImages(
      method: detector.method, threshold: detector.threshold, flagged: count,
      share: Double(count) / Double(max(correct.count, 1)), accuracyAccepted: accuracy(false),
      accuracyFlagged: accuracy(true))
  }

  /// A plain-text summary for the terminal.
  public func render() -> String {
    func percent(_ value: Double?) -> String { value.map { String(format: "%.1f%%", $0 * 100) } ?? "–" }
    func withInterval(_ interval: Interval?, percentage: Bool = true) -> String {
      guard let interval else { return "–" }
      return percentage
        ? String(format: "%.1f%% [%.1f, %.1f]", interval.value * 100, interval.low * 100, interval.high * 100)
        : String(format: "%.4f [%.4f, %.4f]", interval.value, interval.low, interval.high)
    }
    var lines = [
      "\(samples) images, classes \(classes.joined(separator: ", ")), temperature \(String(format: "%.3f", temperature))",
      "accuracy           \(withInterval(accuracy))", "balanced accuracy  \(percent(balancedAccuracy))",
      "macro-F1           \(withInterval(macroF1))", "macro AUC          \(withInterval(macroAUC, percentage: false))",
      "ECE                \(withInterval(ece, percentage: false))   (\(eceDefinition))",
      String(
        format: "MCE %.4f   adaptive ECE %.4f   class-wise ECE %.4f   Brier %.4f   NLL %.4f", mce, adaptiveECE,
        classwiseECE, brier, nll),
    ]
    for curve in selectivePrediction ?? [] {
      lines.append(
        "risk–coverage by \(curve.ordering): AURC \(withInterval(curve.aurc, percentage: false)), "
          + "accuracy at 90% coverage \(withInterval(curve.accuracyAt90)), at 95% \(withInterval(curve.accuracyAt95))")
    }
    if let flagged = outOfDistribution {
      lines.append(
        "out of distribution (\(flagged.method.rawValue) > \(OutOfDistributionAssessment.format(flagged.threshold))): "
          + "\(flagged.flagged) of \(samples) flagged (\(percent(flagged.share))); accuracy on the rest "
          + "\(percent(flagged.accuracyAccepted)), on the flagged \(percent(flagged.accuracyFlagged))")
    }
    lines += ["", "class          support  sensitivity  specificity  PPV      NPV      F1       AUC"]
    for metrics in perClass {
      let cells = [
        metrics.name.padding(toLength: 15, withPad: " ", startingAt: 0),
        String(metrics.support).padding(toLength: 9, withPad: " ", startingAt: 0),
        percent(metrics.sensitivity).padding(toLength: 13, withPad: " ", startingAt: 0),
        percent(metrics.specificity).padding(toLength: 13, withPad: " ", startingAt: 0),
        percent(metrics.ppv).padding(toLength: 9, withPad: " ", startingAt: 0),
        percent(metrics.npv).padding(toLength: 9, withPad: " ", startingAt: 0),
        percent(metrics.f1).padding(toLength: 9, withPad: " ", startingAt: 0),
        metrics.auc.map { String(format: "%.4f", $0) } ?? "–",
      ]
      lines.append(cells.joined())
    }
    lines.append("")
    lines.append("confusion (rows: true class, columns: predicted)")
    for (index, row) in confusion.enumerated() {
      lines.append(
        "  " + classes[index].padding(toLength: 13, withPad: " ", startingAt: 0)
          + row.map { String($0).padding(toLength: 8, withPad: " ", startingAt: 0) }.joined())
    }
    return lines.joined(separator: "\n")
  }
}
