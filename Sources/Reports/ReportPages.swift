import Evaluation
import Foundation
import Imaging
import RunFiles

/// Self-contained HTML reports: one per run, one per comparison. Charts are inline SVG, images are
/// inline PNG (data URIs), styles are inline: the file can be mailed or archived alone.
public enum ReportPages {
  /// Images per (class, right or wrong) cell of the Grad-CAM gallery.
  public static let galleryImagesPerCell = 3

  // MARK: Pages

  /// The report of one run: configuration, training curves, test metrics with intervals, confusion
  /// matrix, reliability before and after temperature scaling, and the heatmap gallery.
  public static func run(_ run: RunArtifacts, explanations: ExplanationArtifacts? = nil) throws -> String {
    var page = Page(title: "OrthoCXR run report — \(run.name)")
    page.add("summary", "Summary", summary([run]))
    page.add("configuration", "Configuration", configuration([run]))
    page.add("training", "Training curves", trainingCurves([run]))
    page.add("metrics", "Test metrics", metricTable([run]))
    page.add("confusion", "Confusion matrix", confusionMatrices([run]))
    page.add("reliability", "Reliability diagrams", reliability([run]))
    page.add("selective", "Selective prediction (risk–coverage)", riskCoverage([run]))
    page.add("gallery", "Grad-CAM gallery", try gallery(explanations))
    return page.render()
  }

  /// The report of a comparison of two configurations over seeds: both configurations, both
  /// models' curves, metrics with intervals, the paired differences, and the gallery side by side.
  public static func comparison(
    baseline: [RunArtifacts], candidate: [RunArtifacts], names: (String, String), differences: ComparisonReport?,
    explanations: ExplanationArtifacts? = nil
  ) throws -> String {
    let firsts = [baseline.first, candidate.first].compactMap { $0 }
    var page = Page(title: "OrthoCXR comparison — \(names.0) vs \(names.1)")
    page.add(
      "summary", "Summary",
      "<p>\(baseline.count) run(s) of <b>\(escape(names.0))</b> and \(candidate.count) of <b>\(escape(names.1))</b>"
        + " (one per seed). Single-run sections show the first seed of each.</p>" + summary(firsts))
    page.add("configuration", "Configuration", configuration(firsts))
    page.add("training", "Training curves", trainingCurves(firsts))
    page.add("metrics", "Test metrics", metricTable(firsts))
    page.add("differences", "\(names.0) vs \(names.1): differences", differenceTable(differences, names: names))
    page.add("confusion", "Confusion matrices", confusionMatrices(firsts))
    page.add("reliability", "Reliability diagrams", reliability(firsts))
    page.add("selective", "Selective prediction (risk–coverage)", riskCoverage(firsts))
    page.add("gallery", "Grad-CAM gallery", try gallery(explanations))
    return page.render()
  }

  // MARK: Sections

  static func summary(_ runs: [RunArtifacts]) -> String {
    var rows = ""
    for run in runs {
      let test = run.test
      rows +=
        "<tr><td>\(escape(run.name))</td><td>\(run.epochs.count)</td><td>\(test.map { String($0.samples) } ?? "–")</td>"
        + "<td>\(percent(test?.accuracy.value))</td><td>\(percent(test?.macroF1?.value))</td>"
        + "<td>\(number(test?.macroAUC?.value))</td><td>\(number(test?.ece.value))</td><td>\(number(test?.temperature))</td></tr>"
    }
    return
      "<table><tr><th>run</th><th>epochs</th><th>test images</th><th>accuracy</th><th>macro-F1</th><th>macro AUC</th>"
      + "<th>ECE</th><th>temperature</th></tr>\(rows)</table>"
      + (runs.contains { $0.test == nil }
        ? "<p class=\"note\">A run without test metrics was not evaluated: use <code>orthocxr train --test SPLIT</code>.</p>"
        : "")
  }

  static func configuration(_ runs: [RunArtifacts]) -> String {
    "<div class=\"row\">"
      + runs.map {
        "<div><h3>\(escape($0.name))</h3><pre>\(escape($0.configuration ?? "(no configuration file)"))</pre></div>"
      }.joined() + "</div>"
  }

  static func trainingCurves(_ runs: [RunArtifacts]) -> String {
    let many = runs.count > 1
    func prefix(_ run: RunArtifacts) -> String { many ? run.name + " " : "" }
    // One colour per quantity; the second run's lines are dashed.
    func stepSeries(
      _ pick: @escaping (StepRecord) -> Double, _ label: String,
      color: Int
    ) -> [SVGCharts.Series] {
      runs.enumerated().map { index, run in
        SVGCharts.Series(
          name: prefix(run) + label, points: run.steps.map { (Double($0.step), pick($0)) }, dashed: index > 0,
          color: color)
      }
    }
    func epochSeries(_ label: String, color: Int, _ pick: (RunArtifacts, Int) -> Double?) -> [SVGCharts.Series] {
      runs.enumerated().map { index, run in
        SVGCharts.Series(
          name: prefix(run) + label,
          points: run.epochs.indices.compactMap { i in pick(run, i).map { (Double(run.epochs[i].epoch), $0) } },
          dashed: index > 0, color: color)
      }
    }
    let usesSteps = runs.contains { $0.steps.count >= 2 }
    var charts: [String] = []
    if usesSteps {
      charts.append(
        SVGCharts.lineChart(
          title: "Training loss (logged steps)",
          series: stepSeries({ $0.loss }, "total", color: 0) + stepSeries({ $0.crossEntropy }, "CE", color: 1),
          xLabel: "step", yLabel: "loss"))
      if runs.contains(where: { $0.steps.contains { $0.os.isFinite && $0.os != 0 } }) {
        charts.append(
          SVGCharts.lineChart(
            title: "Orthogonal Spheres term (before λ)", series: stepSeries({ $0.os }, "OS", color: 2), xLabel: "step",
            yLabel: "OS"))
      }
    } else {
      charts.append(
        SVGCharts.lineChart(
          title: "Training loss per epoch",
          series: epochSeries("total", color: 0) { $0.epochs[$1].trainingLoss }
            + epochSeries("CE", color: 1) { $0.epochs[$1].crossEntropy },
          xLabel: "epoch", yLabel: "loss"))
      if runs.contains(where: { $0.epochs.contains { $0.orthogonalSpheres != nil } }) {  // not for baselines alone
        charts.append(
          SVGCharts.lineChart(
            title: "Orthogonal Spheres term per epoch",
            series: epochSeries("OS", color: 2) { $0.epochs[$1].orthogonalSpheres },
            xLabel: "epoch", yLabel: "OS"))
      }
    }
    charts.append(
      SVGCharts.lineChart(
        title: "Validation: accuracy and macro-F1",
        series: epochSeries("accuracy", color: 0) { $0.epochs[$1].validation?.accuracy }
          + epochSeries("macro-F1", color: 1) { $0.epochs[$1].validation?.macroF1 },
        xLabel: "epoch", yLabel: "score", yRange: 0...1))
    charts.append(
      SVGCharts.lineChart(
        title: "Validation: ECE and NLL",
        series: epochSeries("ECE", color: 4) { $0.epochs[$1].validation?.ece }
          + epochSeries("NLL", color: 3) { $0.epochs[$1].validation?.nll },
        xLabel: "epoch", yLabel: "value"))
    return "<div class=\"charts\">" + charts.joined() + "</div>"
  }

  static func metricTable(_ runs: [RunArtifacts]) -> String {
    let columns = runs.flatMap { run in
      [
        ("\(run.name): uncalibrated", run.testUncalibrated),
        ("\(run.name): T = \(number(run.test?.temperature))", run.test),
      ]
      .filter { $0.1 != nil }
    }
    guard !columns.isEmpty else { return "<p class=\"empty\">No test metrics: evaluate the run on a test split.</p>" }
    func interval(_ value: EvaluationReport.Interval?, percent asPercent: Bool) -> String {
      guard let value else { return "–" }
      return asPercent
        ? String(
          format: "%.1f%% <span class=\"ci\">[%.1f, %.1f]</span>", value.value * 100, value.low * 100, value.high * 100)
        : String(format: "%.4f <span class=\"ci\">[%.4f, %.4f]</span>", value.value, value.low, value.high)
    }
    let rows: [(String, (EvaluationReport) -> String)] = [
      ("accuracy", { interval($0.accuracy, percent: true) }),
      ("balanced accuracy", { percent($0.balancedAccuracy) }),
      ("macro-F1", { interval($0.macroF1, percent: true) }),
      ("macro ROC AUC", { interval($0.macroAUC, percent: false) }),
      ("ECE (15 equal-width bins, L1)", { interval($0.ece, percent: false) }),
      ("MCE", { number($0.mce) }), ("adaptive ECE (equal mass)", { number($0.adaptiveECE) }),
      ("class-wise ECE", { number($0.classwiseECE) }), ("Brier score", { number($0.brier) }),
      ("NLL", { number($0.nll) }),
    ]
    var html =
      "<table><tr><th>metric</th>" + columns.map { "<th>\(escape($0.0))</th>" }.joined() + "</tr>"
    for (name, value) in rows {
      html += "<tr><td>\(name)</td>" + columns.map { "<td>\(value($0.1!))</td>" }.joined() + "</tr>"
    }
    html += "</table><p class=\"note\">[low, high]: seeded 95% bootstrap intervals over test images.</p>"
    for run in runs {
      guard let report = run.test else { continue }
      html +=
        "<h3>\(escape(run.name)): per class (T = \(number(report.temperature)))</h3><table><tr><th>class</th><th>support</th>"
        + "<th>sensitivity</th><th>specificity</th><th>PPV</th><th>NPV</th><th>F1</th><th>AUC</th></tr>"
      for item in report.perClass {
        html +=
          "<tr><td>\(escape(item.name))</td><td>\(item.support)</td><td>\(percent(item.sensitivity))</td>"
          + "<td>\(percent(item.specificity))</td><td>\(percent(item.ppv))</td><td>\(percent(item.npv))</td>"
          + "<td>\(percent(item.f1))</td><td>\(number(item.auc))</td></tr>"
      }
      html += "</table>"
    }
    return html
  }

  static func differenceTable(_ report: ComparisonReport?, names: (String, String)) -> String {
    guard let report else {
      return "<p class=\"empty\">No paired differences: the runs need test-predictions.csv (orthocxr train --test).</p>"
    }
    var html =
      "<p>\(report.seeds) seed pair(s), \(report.images) test images. Mean ± standard deviation over seeds;"
      + " difference = \(escape(names.1)) − \(escape(names.0)), with a paired bootstrap 95% interval over images"
      + " (\(escape(report.bootstrap))).</p><table><tr><th>metric</th><th>\(escape(names.0))</th><th>\(escape(names.1))</th>"
      + "<th>difference</th><th>95% interval</th></tr>"
    for row in report.rows {
      let significant = row.difference.low > 0 || row.difference.high < 0
      html +=
        "<tr><td>\(escape(row.metric))</td>"
        + String(
          format: "<td>%.4f ± %.4f</td><td>%.4f ± %.4f</td>", row.baseline.mean, row.baseline.std, row.candidate.mean,
          row.candidate.std)
        + String(
          format: "<td class=\"%@\">%+.4f</td><td>[%+.4f, %+.4f]</td></tr>", significant ? "strong" : "",
          row.difference.value, row.difference.low, row.difference.high)
    }
    html +=
      "</table><h3>McNemar's exact test (same test images)</h3><table><tr><th>seed pair</th><th>only \(escape(names.0)) right</th><th>only \(escape(names.1)) right</th><th>p-value</th></tr>"
    for test in report.mcNemar {
      html +=
        "<tr><td>\(escape(test.pair))</td><td>\(test.onlyBaselineCorrect)</td><td>\(test.onlyCandidateCorrect)</td>"
        + String(format: "<td>%.4f</td></tr>", test.pValue)
    }
    return html + "</table>"
  }

  static func confusionMatrices(_ runs: [RunArtifacts]) -> String {
    let tables = runs.compactMap { run -> String? in
      guard let report = run.test else { return nil }
      let largest = max(report.confusion.flatMap { $0 }.max() ?? 1, 1)
      var html =
        "<div><h3>\(escape(run.name))</h3><table class=\"confusion\"><tr><th>true \\ predicted</th>"
        + report.classes.map { "<th>\(escape($0))</th>" }.joined() + "</tr>"
      for (row, counts) in report.confusion.enumerated() {
        html += "<tr><th>\(escape(report.classes[row]))</th>"
        for (column, count) in counts.enumerated() {
          let shade = Double(count) / Double(largest)
          let color = row == column ? "0,114,178" : "213,94,0"
          html +=
            "<td style=\"background: rgba(\(color),\(String(format: "%.2f", 0.08 + 0.6 * shade)))\">\(count)</td>"
        }
        html += "</tr>"
      }
      return html + "</table></div>"
    }
    return tables.isEmpty
      ? "<p class=\"empty\">No test metrics: evaluate the run on a test split.</p>"
      : "<div class=\"row\">" + tables.joined()
        + "</div><p class=\"note\">Rows: true class; columns: predicted class.</p>"
  }

  static func reliability(_ runs: [RunArtifacts]) -> String {
    var charts: [String] = []
    for run in runs {
      let after = "after T = " + String(format: "%.3g", run.test?.temperature ?? 1)
      for (label, report) in [("before scaling", run.testUncalibrated), (after, run.test)] {
        guard let report else { continue }
        charts.append(
          SVGCharts.reliabilityDiagram(
            title: "\(run.name) · \(label)",
            bins: report.reliability.map { ($0.lower, $0.upper, $0.count, $0.accuracy, $0.meanConfidence) },
            summary: String(format: "ECE %.4f", report.ece.value)))
      }
    }
    return charts.isEmpty
      ? "<p class=\"empty\">No test metrics: evaluate the run on a test split.</p>"
      : "<div class=\"charts\">" + charts.joined()
        + "</div><p class=\"note\">Bars: accuracy per confidence bin (15 equal-width bins); shaded: the gap to the bin's mean confidence; line: perfect calibration.</p>"
  }

  /// Error rate against the share of images answered (most certain first), by confidence and by the
  /// OOD score, one chart per run, with AURC and accuracy at 90% and 95% coverage.
  static func riskCoverage(_ runs: [RunArtifacts]) -> String {
    var charts: [String] = []
    var rows = ""
    for run in runs {
      guard let curves = run.test?.selectivePrediction, !curves.isEmpty else { continue }
      let series = curves.enumerated().map { index, curve in
        SVGCharts.Series(
          name: curve.ordering, points: curve.points.map { ($0.coverage, $0.risk) }, dashed: index > 0, color: index)
      }
      charts.append(
        SVGCharts.lineChart(
          title: "\(run.name) · risk–coverage", series: series, xLabel: "coverage (share answered)",
          yLabel: "error rate among answered"))
      for curve in curves {
        func interval(_ value: EvaluationReport.Interval?, digits: Int, scale: Double) -> String {
          guard let value else { return "–" }
          let format = "%.\(digits)f [%.\(digits)f, %.\(digits)f]"
          return String(format: format, value.value * scale, value.low * scale, value.high * scale)
        }
        rows +=
          "<tr><td>\(escape(run.name))</td><td>\(escape(curve.ordering))</td>"
          + "<td>\(interval(curve.aurc, digits: 4, scale: 1))</td><td>\(String(format: "%.4f", curve.excessAURC))</td>"
          + "<td>\(interval(curve.accuracyAt90, digits: 1, scale: 100))</td>"
          + "<td>\(interval(curve.accuracyAt95, digits: 1, scale: 100))</td></tr>"
      }
    }
    guard !charts.isEmpty else {
      return "<p class=\"empty\">No risk–coverage curve: evaluate the run on a test split.</p>"
    }
    let flagged = runs.compactMap { run -> String? in
      guard let test = run.test, let ood = test.outOfDistribution else { return nil }
      return "<li>\(escape(run.name)): \(ood.flagged) of \(test.samples) test images (\(percent(ood.share))) scored "
        + "above the \(ood.method.rawValue) threshold \(escape(OutOfDistributionAssessment.format(ood.threshold))); "
        + "accuracy \(percent(ood.accuracyAccepted)) on the others, \(percent(ood.accuracyFlagged)) on these</li>"
    }
    return "<div class=\"charts\">" + charts.joined() + "</div>"
      + "<table><tr><th>run</th><th>ordering</th><th>AURC [95% CI]</th><th>excess AURC</th>"
      + "<th>accuracy at 90% coverage (%)</th><th>at 95% (%)</th></tr>" + rows + "</table>"
      + "<p class=\"note\">A model that may decline answers the images it is most sure of first. AURC: the mean "
      + "error rate over all coverages (lower is better); excess AURC: above the ideal ordering with the same errors.</p>"
      + (flagged.isEmpty ? "" : "<p>Out of distribution:</p><ul>" + flagged.joined() + "</ul>")
  }

  static func gallery(_ explanations: ExplanationArtifacts?) throws -> String {
    guard let explanations, let first = explanations.models.first else {
      return
        "<p class=\"empty\">No heatmaps: run <code>orthocxr explain</code> and pass its folder with --explanations.</p>"
    }
    let classes = first.file.classes
    var html =
      "<p>\(escape(first.file.method)) at layer <code>\(escape(first.file.layer))</code>, for the predicted class."
      + (explanations.models.count > 1
        ? " Each row: the X-ray, then \(explanations.models.map { escape($0.name) }.joined(separator: ", ")) on the same image; grouped by \(escape(first.name))'s prediction."
        : "") + "</p>"
    html += explanationMeans(explanations)
    let pairs = first.file.images.indices.map { index in
      explanations.models.map {
        $0.file.images.indices.contains(index) ? $0.file.images[index] : first.file.images[index]
      }
    }
    for (classIndex, className) in classes.enumerated() {
      for right in [true, false] {
        let chosen = pairs.filter { $0[0].label == classIndex && ($0[0].predicted == classIndex) == right }
          .prefix(galleryImagesPerCell)
        html += "<h3>\(escape(className)): \(right ? "right" : "wrong") predictions</h3>"
        guard !chosen.isEmpty else {
          html += "<p class=\"empty\">none among the explained images</p>"
          continue
        }
        html += "<div class=\"gallery\">"
        for images in chosen {
          html += "<figure><div class=\"panels\">"
          html += "<img alt=\"X-ray\" src=\"\(try thumbnail(images[0].path, map: nil))\">"
          for (model, image) in zip(explanations.models, images) {
            html +=
              "<img alt=\"\(escape(model.name)) heatmap\" src=\"\(try thumbnail(image.path, map: model.folder + "/" + image.map))\">"
          }
          html +=
            "</div><figcaption>\(escape((images[0].path as NSString).lastPathComponent)) · true \(escape(className))"
          for (model, image) in zip(explanations.models, images) {
            let probability =
              image.probabilities.indices.contains(image.predicted) ? image.probabilities[image.predicted] : .nan
            html +=
              "<br>\(escape(model.name)): \(escape(classes[image.predicted])) (p = \(String(format: "%.2f", probability)))"
          }
          html += "</figcaption></figure>"
        }
        html += "</div>"
      }
    }
    let unlabeled = pairs.filter { $0[0].label == nil }.prefix(galleryImagesPerCell * 2)
    if !unlabeled.isEmpty {
      html += "<h3>unlabeled images</h3><div class=\"gallery\">"
      for images in unlabeled {
        html += "<figure><div class=\"panels\"><img alt=\"X-ray\" src=\"\(try thumbnail(images[0].path, map: nil))\">"
        for (model, image) in zip(explanations.models, images) {
          html +=
            "<img alt=\"\(escape(model.name)) heatmap\" src=\"\(try thumbnail(image.path, map: model.folder + "/" + image.map))\">"
        }
        html += "</div><figcaption>\(escape((images[0].path as NSString).lastPathComponent))</figcaption></figure>"
      }
      html += "</div>"
    }
    return html
  }

  static func explanationMeans(_ explanations: ExplanationArtifacts) -> String {
    if let comparison = explanations.comparison {
      var html =
        "<table><tr><th>heatmap metric</th><th>\(escape(comparison.names[0]))</th><th>\(escape(comparison.names[1]))</th><th>difference</th><th>95% interval</th><th>images</th></tr>"
      for row in comparison.rows {
        html +=
          "<tr><td>\(escape(row.metric))\(row.higherIsBetter ? "" : " (lower is better)")</td>"
          + String(format: "<td>%.4f</td><td>%.4f</td><td>%+.4f</td>", row.first, row.second, row.difference)
          + "<td>\(row.low.map { String(format: "[%+.4f, %+.4f]", $0, row.high ?? 0) } ?? "–")</td><td>\(row.images)</td></tr>"
      }
      return html + "</table>"
    }
    let means = explanations.models[0].file.means
    let rows: [(String, Double?)] = [
      ("deletion AUC (lower is better)", means.deletionAUC), ("insertion AUC", means.insertionAUC),
      ("ROAD drop", means.roadDrop), ("pointing game (\(means.localized) with boxes)", means.pointingAccuracy),
      ("energy in box", means.energyInBox),
    ]
    return "<table><tr><th>heatmap metric</th><th>mean over \(means.images) images</th></tr>"
      + rows.filter { $0.1 != nil }.map { "<tr><td>\($0.0)</td><td>\(number($0.1))</td></tr>" }.joined() + "</table>"
  }

  // MARK: Pieces

  /// A small PNG (data URI) of the X-ray, or of the X-ray with the map over it, 180 pixels wide.
  static func thumbnail(_ imagePath: String, map mapPath: String?, width: Int = 180) throws -> String {
    let original = try ImageReader.read(imagePath)
    let height = max(1, Int((Double(original.height) * Double(width) / Double(original.width)).rounded()))
    let image = Resize.resized(original, width: width, height: height)
    let rgb: [UInt8]
    if let mapPath {
      let map = Resize.resized(try ImageReader.read(mapPath), width: width, height: height)
      rgb = Heatmap.overlay(image, map: map)
    } else {
      rgb = Heatmap.greyRGB(image)
    }
    let png = try ImageWriter.encode(rgb, width: width, height: height, channels: 3, bitDepth: 8)
    return "data:image/png;base64," + png.base64EncodedString()
  }

  static func escape(_ text: String) -> String { SVGCharts.escape(text) }

  static func percent(_ value: Double?) -> String {
    guard let value, value.isFinite else { return "–" }
    return String(format: "%.1f%%", value * 100)
  }

  static func number(_ value: Double?) -> String {
    guard let value, value.isFinite else { return "–" }
    return String(format: "%.4f", value)
  }

  /// An HTML document with a table of contents.
  struct Page {
    var title: String
    var sections: [(id: String, heading: String, body: String)] = []

    init(title: String) { self.title = title }

    mutating func add(_ id: String, _ heading: String, _ body: String) { sections.append((id, heading, body)) }

    func render() -> String {
      let generated = ISO8601DateFormatter().string(from: Date())
      return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <style>\(style)</style></head><body>
        <header><h1>\(escape(title))</h1><p class="note">Written by OrthoCXR on \(generated). Self-contained: nothing is loaded from the network.</p>
        <nav>\(sections.map { "<a href=\"#\($0.id)\">\(escape($0.heading))</a>" }.joined(separator: " · "))</nav></header>
        \(sections.map { "<section id=\"\($0.id)\"><h2>\(escape($0.heading))</h2>\($0.body)</section>" }.joined(separator: "\n"))
        </body></html>

        """
    }
  }

  static let style = """
    body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:16px 24px;color:#1b1f23;background:#fff}
    h1{font-size:1.6em;margin:0 0 4px}h2{border-bottom:2px solid #0072B2;padding-bottom:4px;margin-top:32px}h3{font-size:1.05em;margin:18px 0 6px}
    nav a{color:#0072B2;text-decoration:none}nav{margin-top:6px}
    table{border-collapse:collapse;margin:8px 0;font-size:.92em}th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:right}th:first-child,td:first-child{text-align:left}
    th{background:#f6f8fa}.ci{color:#57606a;font-size:.9em}.strong{font-weight:700}.note{color:#57606a;font-size:.88em}.empty{color:#8c959f;font-style:italic}
    pre{background:#f6f8fa;padding:8px 12px;font-size:.85em;overflow:auto;max-height:420px;white-space:pre-wrap;word-break:break-all}
    .row{display:flex;flex-wrap:wrap;gap:24px}.row>div{flex:1 1 320px;min-width:0}.charts{display:flex;flex-wrap:wrap;gap:12px}
    svg.chart{background:#fff;border:1px solid #eaeef2}svg .title{font-size:13px;font-weight:600}svg .tick{font-size:10px;fill:#57606a}svg .axis{font-size:11px;fill:#24292f}svg .legend{font-size:11px}
    svg .grid{stroke:#eaeef2}svg .frame{fill:none;stroke:#8c959f}svg .bar{fill:#0072B2;opacity:.75}svg .gap{fill:#D55E00;fill-opacity:.18;stroke:#D55E00;stroke-width:1.5}svg .diagonal{stroke:#24292f;stroke-dasharray:4 3}
    table.confusion td{min-width:48px;text-align:center;font-weight:600}
    .gallery{display:flex;flex-wrap:wrap;gap:14px}figure{margin:0;border:1px solid #d0d7de;padding:6px;background:#f6f8fa}.panels{display:flex;gap:4px}.panels img{width:180px;height:auto;display:block}
    figcaption{font-size:.82em;color:#24292f;margin-top:4px}
    """
}
