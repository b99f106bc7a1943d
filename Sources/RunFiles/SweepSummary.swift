import Evaluation
import Foundation

/// What a sweep found (summary.json, summary.csv, summary.md and summary.html in the sweep's folder):
/// per combination the test metrics' mean ± standard deviation over its seeds, and the paired
/// differences from its reference combination with bootstrap intervals, as `orthocxr compare`
/// computes them.
public struct SweepSummary: Codable, Sendable {
  public struct Statistic: Codable, Sendable, Equatable {
    public var mean: Double
    public var standardDeviation: Double

    public init(_ values: [Double]) {
      (mean, standardDeviation) = Statistics.meanAndStandardDeviation(values)
    }
  }

  /// candidate − reference, averaged over the seeds both have, with a paired 95% interval.
  public typealias Difference = EvaluationReport.Interval

  public struct Row: Codable, Sendable {
    /// The combination's folder name.
    public var name: String
    /// The grid's settings of the combination.
    public var settings: [SweepPlan.Setting]
    /// The seeds whose runs finished (test predictions written).
    public var seeds: [UInt64]
    /// The combination compared with, and the seeds the comparison paired.
    public var reference: String?
    public var pairedSeeds: [UInt64]
    /// By metric name (`SweepSummary.metrics`), the mean ± std over seeds; calibrated probabilities,
    /// but for "ECE before calibration".
    public var metrics: [String: Statistic]
    /// By metric name: the paired difference from the reference (none for "ECE before calibration",
    /// whose per-image probabilities are not kept).
    public var differences: [String: Difference]
    /// `orthocxr compare`'s Markdown for this combination against its reference.
    public var comparison: String?

    public init(
      name: String, settings: [SweepPlan.Setting], seeds: [UInt64], reference: String? = nil,
      pairedSeeds: [UInt64] = [], metrics: [String: Statistic], differences: [String: Difference] = [:],
      comparison: String? = nil
    ) {
      self.name = name
      self.settings = settings
      self.seeds = seeds
      self.reference = reference
      self.pairedSeeds = pairedSeeds
      self.metrics = metrics
      self.differences = differences
      self.comparison = comparison
    }
  }

  /// The metrics, in the order tables show them.
  public static let metrics =
    ComparisonReport.metricNames.filter { $0 != "balanced accuracy" } + ["ECE before calibration"]
  /// The metrics of the main table.
  public static let headline = [
    "accuracy", "macro-F1", "macro AUC", "ECE (15 bins, L1)", "ECE before calibration", "NLL",
  ]

  public var source: String
  public var baseline: [SweepPlan.Setting]
  public var rows: [Row]
  public var bootstrap: String
  /// Runs of the plan without test predictions yet (not finished, failed or still running).
  public var missingRuns: [String]

  public init(
    source: String, baseline: [SweepPlan.Setting], rows: [Row], bootstrap: String, missingRuns: [String]
  ) {
    self.source = source
    self.baseline = baseline
    self.rows = rows
    self.bootstrap = bootstrap
    self.missingRuns = missingRuns
  }

  /// The grid's settings that appear in any row, in order of appearance.
  public var settingKeys: [String] {
    var keys: [String] = []
    for row in rows { for setting in row.settings where !keys.contains(setting.key) { keys.append(setting.key) } }
    return keys
  }

  /// One line per combination: its settings, seeds, reference, every metric's mean and std, and every
  /// difference with its interval.
  public func csv() throws -> String {
    let keys = settingKeys
    let differenced = Self.metrics.filter { $0 != "ECE before calibration" }
    let header =
      ["combination"] + keys + ["seeds", "reference", "paired seeds"]
      + Self.metrics.flatMap { [$0 + " mean", $0 + " std"] }
      + differenced.flatMap { ["Δ " + $0, "Δ " + $0 + " low", "Δ " + $0 + " high"] }
    func number(_ value: Double?) -> String { value.map { String(format: "%.6f", $0) } ?? "" }
    let lines = rows.map { row in
      [row.name] + keys.map { key in row.settings.first { $0.key == key }?.value ?? "" }
        + [row.seeds.map(String.init).joined(separator: " "), row.reference ?? "", String(row.pairedSeeds.count)]
        + Self.metrics.flatMap { [number(row.metrics[$0]?.mean), number(row.metrics[$0]?.standardDeviation)] }
        + differenced.flatMap { name in
          let difference = row.differences[name]
          return [number(difference?.value), number(difference?.low), number(difference?.high)]
        }
    }
    return try CSVTable.text(header: header, rows: lines)
  }

  /// The main table, then (with `comparisons`) each combination's comparison with its reference.
  public func markdown(comparisons: Bool = true) -> String {
    var lines = [
      "Sweep \(source): \(rows.count) combinations; test metrics of the calibrated models, mean ± std over seeds"
        + (baseline.isEmpty
          ? "."
          : "; Δ = combination − its baseline (\(baseline.map(\.description).joined(separator: ", "))) "
            + "with the same other settings, paired over seeds and test images (\(bootstrap)). "
            + "**Bold**: the interval leaves out zero."),
      "",
    ]
    let differenced = ["accuracy", "macro-F1", "ECE (15 bins, L1)", "NLL"]
    var header = "| combination | seeds | " + Self.headline.joined(separator: " | ")
    var rule = "|---|---|" + String(repeating: "---|", count: Self.headline.count)
    if !baseline.isEmpty {
      header += " | " + differenced.map { "Δ \($0) [95% CI]" }.joined(separator: " | ")
      rule += String(repeating: "---|", count: differenced.count)
    }
    lines += [header + " |", rule]
    for row in rows {
      var cells = [row.name, String(row.seeds.count)]
      cells += Self.headline.map { name in
        row.metrics[name].map { String(format: "%.4f ± %.4f", $0.mean, $0.standardDeviation) } ?? "–"
      }
      if !baseline.isEmpty {
        cells += differenced.map { name in
          guard let difference = row.differences[name] else { return row.reference == nil ? "(baseline)" : "–" }
          let text = String(format: "%+.4f [%+.4f, %+.4f]", difference.value, difference.low, difference.high)
          return difference.excludesZero ? "**\(text)**" : text
        }
      }
      lines.append("| " + cells.joined(separator: " | ") + " |")
    }
    if !missingRuns.isEmpty {
      lines += ["", "Not finished (left out above): " + missingRuns.joined(separator: ", ")]
    }
    for row in rows where comparisons {
      guard let comparison = row.comparison, let reference = row.reference else { continue }
      lines += ["", "### \(row.name) vs \(reference)", "", comparison]
    }
    return lines.joined(separator: "\n") + "\n"
  }
}
