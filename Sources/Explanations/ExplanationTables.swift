import Evaluation
import Foundation

extension ImageExplanation {
  /// The CSV header for `csvRow`.
  public static func csvHeader(classes: [String]) -> String {
    "path,label,prediction,target," + classes.map { "p_\($0)" }.joined(separator: ",")
      + ",deletion_auc,insertion_auc,road_drop,pointing_hit,energy_in_box,overlay"
  }

  /// One CSV row; metrics that were not measured are empty.
  public func csvRow(classes: [String]) -> String {
    func number(_ value: Double?) -> String { value.map { String(format: "%.6f", $0) } ?? "" }
    let quoted = "\"" + path.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    let fields =
      [quoted, label.map { classes[$0] } ?? "", classes[predicted], classes[target]]
      + probabilities.map { String(format: "%.6f", $0) }
      + [
        number(deletionAUC), number(insertionAUC), number(roadDrop), pointingHit.map { $0 ? "1" : "0" } ?? "",
        number(energyInBox), overlay,
      ]
    return fields.joined(separator: ",")
  }
}

/// Two models' heatmaps of the same images, metric by metric: means, the paired difference
/// (second − first) and its seeded 95% bootstrap interval over images.
public struct ExplanationComparison: Codable, Sendable {
  public struct Row: Codable, Sendable {
    public var metric: String
    /// Whether a higher value means a better heatmap.
    public var higherIsBetter: Bool
    public var first: Double
    public var second: Double
    public var difference: Double
    public var low: Double?
    public var high: Double?
    public var images: Int
  }

  public var names: [String]
  public var rows: [Row]

  public init(first: [ImageExplanation], second: [ImageExplanation], names: [String], seed: UInt64 = 0) {
    self.names = names
    let metrics: [(String, Bool, (ImageExplanation) -> Double?)] = [
      ("deletion AUC", false, \.deletionAUC), ("insertion AUC", true, \.insertionAUC), ("ROAD drop", true, \.roadDrop),
      ("pointing game", true, { $0.pointingHit.map { $0 ? 1 : 0 } }), ("energy in box", true, \.energyInBox),
    ]
    rows = metrics.compactMap { name, higherIsBetter, value in
      let pairs = zip(first, second).compactMap { a, b -> (Double, Double)? in
        guard let x = value(a), let y = value(b) else { return nil }
        return (x, y)
      }
      guard !pairs.isEmpty else { return nil }
      let meanFirst = pairs.map(\.0).reduce(0, +) / Double(pairs.count)
      let meanSecond = pairs.map(\.1).reduce(0, +) / Double(pairs.count)
      let interval = Statistics.bootstrapInterval(sampleCount: pairs.count, seed: seed) { indices in
        indices.reduce(0) { $0 + pairs[$1].1 - pairs[$1].0 } / Double(indices.count)
      }
      return Row(
        metric: name, higherIsBetter: higherIsBetter, first: meanFirst, second: meanSecond,
        difference: meanSecond - meanFirst, low: interval?.low, high: interval?.high, images: pairs.count)
    }
  }

  public var csv: String {
    var text = "metric,higher_is_better,\(names[0]),\(names[1]),difference,ci_low,ci_high,images\n"
    for row in rows {
      text +=
        "\(row.metric),\(row.higherIsBetter),\(String(format: "%.6f", row.first)),\(String(format: "%.6f", row.second)),"
        + "\(String(format: "%.6f", row.difference)),\(row.low.map { String(format: "%.6f", $0) } ?? ""),"
        + "\(row.high.map { String(format: "%.6f", $0) } ?? ""),\(row.images)\n"
    }
    return text
  }

  /// A plain-text table for the terminal.
  public func render() -> String {
    var lines = [
      "metric            " + names.map { $0.padding(toLength: 12, withPad: " ", startingAt: 0) }.joined()
        + "difference (95% CI)"
    ]
    for row in rows {
      let interval = row.low.map { String(format: " (%+.4f to %+.4f)", $0, row.high ?? 0) } ?? ""
      lines.append(
        row.metric.padding(toLength: 18, withPad: " ", startingAt: 0)
          + String(format: "%-12.4f%-12.4f", row.first, row.second)
          + String(format: "%+.4f", row.difference) + interval + (row.higherIsBetter ? "" : "  (lower is better)"))
    }
    return lines.joined(separator: "\n")
  }
}
