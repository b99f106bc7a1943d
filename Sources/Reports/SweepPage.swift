import Foundation
import RunFiles

extension ReportPages {
  /// The page of `orthocxr sweep`: every combination's test metrics over seeds, the differences from
  /// each one's baseline as a forest plot, and one table per comparison.
  public static func sweep(_ summary: SweepSummary) -> String {
    var page = Page(title: "OrthoCXR sweep — \(summary.source)")
    page.add("summary", "Combinations", sweepTable(summary))
    if !summary.baseline.isEmpty {
      page.add("differences", "Differences from the baseline", sweepForest(summary))
      page.add("comparisons", "Each comparison", sweepComparisons(summary))
    }
    return page.render()
  }

  static func statistic(_ value: SweepSummary.Statistic?) -> String {
    value.map { String(format: "%.4f <span class=\"ci\">± %.4f</span>", $0.mean, $0.standardDeviation) } ?? "–"
  }

  static func difference(_ value: SweepSummary.Difference?) -> String {
    guard let value else { return "–" }
    return "<span class=\"\(value.excludesZero ? "strong" : "")\">" + String(format: "%+.4f", value.value)
      + String(format: " <span class=\"ci\">[%+.4f, %+.4f]</span>", value.low, value.high) + "</span>"
  }

  static func sweepTable(_ summary: SweepSummary) -> String {
    let keys = summary.settingKeys
    var html =
      "<p>Test metrics of the calibrated models, mean ± std over seeds. "
      + (summary.baseline.isEmpty
        ? "" : "Baseline: \(escape(summary.baseline.map(\.description).joined(separator: ", "))). ")
      + "Differences: \(escape(summary.bootstrap)).</p><table><tr><th>combination</th>"
      + keys.map { "<th>\(escape($0))</th>" }.joined() + "<th>seeds</th>"
      + SweepSummary.headline.map { "<th>\(escape($0))</th>" }.joined() + "</tr>"
    for row in summary.rows {
      html +=
        "<tr><td>\(escape(row.name))</td>"
        + keys.map { key in "<td>\(escape(row.settings.first { $0.key == key }?.value ?? "–"))</td>" }.joined()
        + "<td>\(row.seeds.count)</td>"
        + SweepSummary.headline.map { "<td>\(statistic(row.metrics[$0]))</td>" }.joined() + "</tr>"
    }
    html += "</table>"
    if !summary.missingRuns.isEmpty {
      html +=
        "<p class=\"note\">Not finished (left out): \(summary.missingRuns.map(escape).joined(separator: ", "))</p>"
    }
    return html
  }

  /// Each combination's paired difference from its baseline, with its interval, one chart per metric.
  static func sweepForest(_ summary: SweepSummary) -> String {
    let compared = summary.rows.filter { !$0.differences.isEmpty }
    guard !compared.isEmpty else {
      return "<p class=\"empty\">No combination has finished runs beside its baseline's yet.</p>"
    }
    var charts: [String] = []
    for metric in ["accuracy", "macro-F1", "ECE (15 bins, L1)", "NLL"] {
      let rows = compared.compactMap { row in row.differences[metric].map { (row.name, $0) } }
      guard !rows.isEmpty else { continue }
      let low = min(0, rows.map(\.1.low).min()!)
      let high = max(0, rows.map(\.1.high).max()!)
      let span = max(high - low, 1e-9)
      // The names stand left of the plot: as wide as the longest (about 5.6 px a character at 10 px).
      let left = max(120, 16 + 5.6 * Double(rows.map(\.0.count).max() ?? 0))
      let (width, rowHeight) = (260.0, 22.0)
      let height = Double(rows.count) * rowHeight + 40
      func x(_ value: Double) -> Double { left + (value - low) / span * width }
      var svg =
        "<svg class=\"chart\" width=\"\(Int(left + width + 20))\" height=\"\(Int(height))\" "
        + "role=\"img\" aria-label=\"Δ \(escape(metric))\"><text class=\"title\" x=\"8\" y=\"16\">Δ \(escape(metric)) "
        + "(95% CI)</text><line class=\"diagonal\" x1=\"\(x(0))\" y1=\"24\" x2=\"\(x(0))\" y2=\"\(height - 14)\"/>"
      for (index, (name, value)) in rows.enumerated() {
        let y = 34 + Double(index) * rowHeight
        svg +=
          "<text class=\"tick\" x=\"8\" y=\"\(y + 4)\">\(escape(name))</text>"
          + "<line stroke=\"#0072B2\" stroke-width=\"2\" x1=\"\(x(value.low))\" y1=\"\(y)\" x2=\"\(x(value.high))\" y2=\"\(y)\"/>"
          + "<circle cx=\"\(x(value.value))\" cy=\"\(y)\" r=\"4\" fill=\"\(value.excludesZero ? "#D55E00" : "#0072B2")\"/>"
      }
      svg +=
        "<text class=\"tick\" x=\"\(left)\" y=\"\(height - 2)\">\(SVGCharts.label(low))</text>"
        + "<text class=\"tick\" x=\"\(left + width - 30)\" y=\"\(height - 2)\">\(SVGCharts.label(high))</text></svg>"
      charts.append(svg)
    }
    return "<p class=\"note\">Combination − baseline, averaged over the seeds both finished; the bar is the paired "
      + "bootstrap interval over test images. Orange: the interval leaves out zero.</p>"
      + "<div class=\"charts\">\(charts.joined())</div>"
  }

  static func sweepComparisons(_ summary: SweepSummary) -> String {
    var html = ""
    for row in summary.rows {
      guard let referenceName = row.reference, !row.differences.isEmpty,
        let reference = summary.rows.first(where: { $0.name == referenceName })
      else { continue }
      html +=
        "<h3>\(escape(row.name)) vs \(escape(referenceName)) (seeds \(row.pairedSeeds.map(String.init).joined(separator: ", ")))</h3>"
        + "<table><tr><th>metric</th><th>\(escape(referenceName))</th><th>\(escape(row.name))</th><th>difference [95% CI]</th></tr>"
      for metric in SweepSummary.metrics {
        html +=
          "<tr><td>\(escape(metric))</td><td>\(statistic(reference.metrics[metric]))</td>"
          + "<td>\(statistic(row.metrics[metric]))</td><td>\(difference(row.differences[metric]))</td></tr>"
      }
      html += "</table>"
    }
    return html.isEmpty ? "<p class=\"empty\">No comparison yet.</p>" : html
  }
}
