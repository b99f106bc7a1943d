import Evaluation
import Foundation

/// Per-image predictions as CSV: `path,label,prediction,p_<class>…` (test-predictions.csv, what
/// `orthocxr compare` and the comparison report read), or without the label column for unlabeled
/// images (`orthocxr predict --csv`). Paths are always quoted; probabilities have six decimals. When the
/// model has an out-of-distribution detector, two more columns follow: `ood_score` (its method's
/// score) and `ood_flagged` (true or false).
public enum PredictionsFile {
  /// One image's prediction.
  public struct Row: Equatable, Sendable {
    public var path: String
    /// The true class index; nil for unlabeled images.
    public var label: Int?
    public var probabilities: [Double]
    /// The OOD detector's score and flag, when the model has one.
    public var outOfDistribution: (score: Double, flagged: Bool)?

    public init(
      path: String, label: Int?, probabilities: [Double], outOfDistribution: (score: Double, flagged: Bool)? = nil
    ) {
      self.path = path
      self.label = label
      self.probabilities = probabilities
      self.outOfDistribution = outOfDistribution
    }

    public static func == (lhs: Row, rhs: Row) -> Bool {
      lhs.path == rhs.path && lhs.label == rhs.label && lhs.probabilities == rhs.probabilities
        && lhs.outOfDistribution?.score == rhs.outOfDistribution?.score
        && lhs.outOfDistribution?.flagged == rhs.outOfDistribution?.flagged
    }

    /// The class with the highest probability (the first of equals).
    public var predicted: Int { probabilities.indices.max { probabilities[$0] < probabilities[$1] } ?? 0 }
  }

  /// Writes the rows; the label column is there when every row has a label, and absent when none has.
  public static func write(_ rows: [Row], classes: [String], to path: String) throws {
    let labeled = rows.allSatisfy { $0.label != nil }
    guard labeled || rows.allSatisfy({ $0.label == nil }) else {
      throw RunFileError(path: path, reason: "some predictions have a label and some have none")
    }
    let scored = !rows.isEmpty && rows.allSatisfy { $0.outOfDistribution != nil }
    let header =
      ["path"] + (labeled ? ["label"] : []) + ["prediction"] + classes.map { "p_" + $0 }
      + (scored ? ["ood_score", "ood_flagged"] : [])
    let lines = rows.map { row in
      [row.path] + (row.label.map { [classes[$0]] } ?? []) + [classes[row.predicted]]
        + row.probabilities.map { String(format: "%.6f", $0) }
        + (scored
          ? [String(format: "%.6g", row.outOfDistribution!.score), String(row.outOfDistribution!.flagged)] : [])
    }
    try CSVTable.write(header: header, rows: lines, to: path, alwaysQuoted: { $0 == 0 })
  }

  /// The classes (from the p_ columns) and rows of a predictions file with labels.
  public static func read(_ path: String) throws -> (classes: [String], rows: [Row]) {
    let (fullHeader, lines) = try CSVTable.read(path)
    let scored = fullHeader.suffix(2) == ["ood_score", "ood_flagged"]
    let header = scored ? Array(fullHeader.dropLast(2)) : fullHeader
    guard header.count > 3, Array(header.prefix(3)) == ["path", "label", "prediction"],
      header.dropFirst(3).allSatisfy({ $0.hasPrefix("p_") })
    else {
      throw RunFileError(
        path: path, reason: "is not a predictions file with labels: its header should be path,label,prediction,p_CLASS…"
      )
    }
    let classes = header.dropFirst(3).map { String($0.dropFirst(2)) }
    var rows: [Row] = []
    for (index, line) in lines.enumerated() {
      let location = "\(path):\(index + 2)"
      guard let label = classes.firstIndex(of: line[1]) else {
        throw RunFileError(path: location, reason: "the label \"\(line[1])\" is not one of \(classes)")
      }
      let probabilities = line.dropFirst(3).prefix(classes.count).map { Double($0) }
      guard probabilities.count == classes.count, probabilities.allSatisfy({ $0 != nil }) else {
        throw RunFileError(path: location, reason: "a probability is missing or is not a number")
      }
      var outOfDistribution: (score: Double, flagged: Bool)?
      if scored {
        guard line.count == fullHeader.count, let score = Double(line[line.count - 2]),
          let flagged = Bool(line[line.count - 1])
        else { throw RunFileError(path: location, reason: "ood_score or ood_flagged is not valid") }
        outOfDistribution = (score, flagged)
      }
      rows.append(
        Row(path: line[0], label: label, probabilities: probabilities.map { $0! }, outOfDistribution: outOfDistribution)
      )
    }
    return (classes, rows)
  }

  /// A run's test predictions for `ComparisonReport`, named after the run folder.
  public static func readRun(_ folder: RunFolder) throws -> RunPredictions {
    guard FileManager.default.fileExists(atPath: folder.testPredictions) else {
      throw RunFileError(
        path: folder.testPredictions, reason: "does not exist; evaluate the run first (orthocxr train --test SPLIT)")
    }
    let (_, rows) = try read(folder.testPredictions)
    return RunPredictions(
      name: folder.name, paths: rows.map(\.path), labels: rows.map { $0.label! },
      probabilities: rows.map(\.probabilities))
  }
}
