/// Classification metrics from predicted probabilities and true labels.
///
/// Definitions (per class c, one-vs-rest, with TP, FP, TN, FN counted for c):
/// sensitivity (recall) TP/(TP+FN); specificity TN/(TN+FP); PPV (precision) TP/(TP+FP);
/// NPV TN/(TN+FN); F1 2TP/(2TP+FP+FN) (the harmonic mean of PPV and sensitivity, 0 for a class
/// never predicted). Accuracy is the share of correct
/// predictions; balanced accuracy the mean sensitivity over classes; macro-F1 the mean F1.
/// ROC AUC is one-vs-rest on the class's probability, ties counted as half (Mann–Whitney); a metric
/// whose denominator is zero (no positives, no predictions) is nil rather than a made-up number.
public struct ClassificationReport: Equatable, Sendable {
  public struct PerClass: Equatable, Sendable {
    public var sensitivity: Double?
    public var specificity: Double?
    public var positivePredictiveValue: Double?
    public var negativePredictiveValue: Double?
    public var f1: Double?
    public var auc: Double?
    public var support: Int
  }

  /// confusion[true class][predicted class].
  public var confusion: [[Int]]
  public var accuracy: Double
  public var balancedAccuracy: Double?
  public var perClass: [PerClass]
  public var macroF1: Double?
  public var macroAUC: Double?
}

public enum ClassificationMetrics {
  /// The class of highest probability (the first on ties).
  public static func predictions(_ probabilities: [[Double]]) -> [Int] {
    probabilities.map { row in row.indices.max { row[$0] < row[$1] || (row[$0] == row[$1] && $0 > $1) } ?? 0 }
  }

  public static func confusionMatrix(labels: [Int], predictions: [Int], classCount: Int) -> [[Int]] {
    var matrix = Array(repeating: Array(repeating: 0, count: classCount), count: classCount)
    for (label, prediction) in zip(labels, predictions) { matrix[label][prediction] += 1 }
    return matrix
  }

  static func ratio(_ numerator: Int, _ denominator: Int) -> Double? {
    denominator == 0 ? nil : Double(numerator) / Double(denominator)
  }

  static func mean(_ values: [Double?]) -> Double? {
    let present = values.compactMap { $0 }
    return present.count == values.count && !present.isEmpty ? present.reduce(0, +) / Double(present.count) : nil
  }

  /// Every metric above for N samples of C probabilities (`probabilities[i][c]`) and labels in 0..<C.
  public static func evaluate(probabilities: [[Double]], labels: [Int]) -> ClassificationReport {
    let classCount = probabilities.first?.count ?? 0
    let predicted = predictions(probabilities)
    let confusion = confusionMatrix(labels: labels, predictions: predicted, classCount: classCount)
    let total = labels.count
    var perClass: [ClassificationReport.PerClass] = []
    for c in 0..<classCount {
      let truePositives = confusion[c][c]
      let falseNegatives = confusion[c].reduce(0, +) - truePositives
      let falsePositives = (0..<classCount).reduce(0) { $0 + confusion[$1][c] } - truePositives
      let trueNegatives = total - truePositives - falseNegatives - falsePositives
      let sensitivity = ratio(truePositives, truePositives + falseNegatives)
      let precision = ratio(truePositives, truePositives + falsePositives)
      // F1 = 2TP / (2TP + FP + FN): 0 for a class that exists but is never predicted right, and
      // undefined only for a class that is neither present nor predicted.
      let f1 = ratio(2 * truePositives, 2 * truePositives + falsePositives + falseNegatives)
      perClass.append(
        .init(
          sensitivity: sensitivity, specificity: ratio(trueNegatives, trueNegatives + falsePositives),
          positivePredictiveValue: precision,
          negativePredictiveValue: ratio(trueNegatives, trueNegatives + falseNegatives),
          f1: f1, auc: rocAUC(scores: probabilities.map { $0[c] }, positives: labels.map { $0 == c }),
          support: truePositives + falseNegatives))
    }
    let correct = (0..<classCount).reduce(0) { $0 + confusion[$1][$1] }
    return ClassificationReport(
      confusion: confusion, accuracy: total == 0 ? 0 : Double(correct) / Double(total),
      balancedAccuracy: mean(perClass.map(\.sensitivity)), perClass: perClass, macroF1: mean(perClass.map(\.f1)),
      macroAUC: mean(perClass.map(\.auc)))
  }

  /// Ranks from 1, ties sharing the mean of their ranks (what Mann–Whitney and Spearman need).
  public static func averageRanks<Value: Comparable>(_ values: [Value]) -> [Double] {
    let order = values.indices.sorted { values[$0] < values[$1] }
    var ranks = [Double](repeating: 0, count: values.count)
    var start = 0
    while start < order.count {
      var end = start
      while end + 1 < order.count && values[order[end + 1]] == values[order[start]] { end += 1 }
      let averageRank = Double(start + end) / 2 + 1
      for position in start...end { ranks[order[position]] = averageRank }
      start = end + 1
    }
    return ranks
  }

  /// The area under the ROC curve: the probability that a random positive scores above a random
  /// negative, ties counting one half (the Mann–Whitney U statistic over n₊·n₋). nil without both.
  public static func rocAUC(scores: [Double], positives: [Bool]) -> Double? {
    let positiveCount = positives.filter { $0 }.count
    let negativeCount = positives.count - positiveCount
    guard positiveCount > 0, negativeCount > 0 else { return nil }
    let ranks = averageRanks(scores)
    let positiveRankSum = zip(ranks, positives).reduce(0.0) { $0 + ($1.1 ? $1.0 : 0) }
    let u = positiveRankSum - Double(positiveCount * (positiveCount + 1)) / 2
    return u / (Double(positiveCount) * Double(negativeCount))
  }
}
