import Evaluation
import Foundation
import RunFiles

extension ReportPages {
  /// The page of `orthocxr stress`: mCE, accuracy and ECE against severity for every family (every
  /// configuration on one chart), corruption errors, heatmap stability and the border signal, and a
  /// gallery of one image under each perturbation with each configuration's map. `folder` holds the
  /// gallery files.
  public static func stress(_ result: StressResult, folder: String) throws -> String {
    var page = Page(title: "OrthoCXR stress test — \(result.configurations.joined(separator: " vs "))")
    page.add("summary", "Summary", stressSummary(result))
    page.add("curves", "Accuracy and ECE against severity", stressCurves(result))
    page.add("corruption", "Corruption errors", stressCorruption(result))
    page.add("heatmaps", "Heatmap stability and the border signal", stressHeatmaps(result))
    page.add("gallery", "Gallery", try stressGallery(result, folder: folder))
    return page.render()
  }

  static func cell(_ value: EvaluationReport.Interval?, scale: Double = 1, digits: Int = 3, signed: Bool = false)
    -> String
  {
    guard let value else { return "–" }
    let number = "%\(signed ? "+" : "").\(digits)f"
    return String(format: number, value.value * scale) + " <span class=\"ci\">["
      + String(format: number, value.low * scale) + ", " + String(format: number, value.high * scale) + "]</span>"
  }

  static func stressSummary(_ result: StressResult) -> String {
    var rows = ""
    for (index, name) in result.configurations.enumerated() {
      rows +=
        "<tr><td>\(escape(name))</td><td>\(result.checkpoints[index].count)</td>"
        + "<td>\(cell(result.conditions[0].configurations[index].accuracy, scale: 100, digits: 1))</td>"
        + "<td>\(cell(result.meanCorruptionError[index]))</td><td>\(cell(result.relativeMeanCorruptionError[index]))</td>"
        + "<td>\(cell(result.meanCorruptionErrorDifference[index], signed: true))</td></tr>"
    }
    return "<p>\(result.images) images of \(escape(result.data)) (\(result.mappedImages) with heatmaps); "
      + "\(escape(result.bootstrap)). Metrics of a configuration with several models are their means.</p>"
      + "<table><tr><th>configuration</th><th>models</th><th>clean accuracy (%)</th><th>mCE</th><th>relative mCE</th>"
      + "<th>mCE − \(escape(result.configurations[0]))</th></tr>\(rows)</table>"
      + "<p class=\"note\">CE of a family: the sum over severities of the error, divided by the first configuration's; "
      + "relative CE: the growth of the error over the clean error, likewise; mCE: their mean over the families "
      + "(Hendrycks &amp; Dietterich 2019). Below 1: more robust than the first configuration.</p>"
  }

  static func stressCurves(_ result: StressResult) -> String {
    let clean = result.conditions[0]
    var charts: [String] = []
    for family in result.corruption.map(\.family) {
      let conditions = [clean] + result.conditions.filter { $0.family == family }
      for (label, pick, scale) in [
        ("accuracy (%)", { (m: StressResult.Metrics) in m.accuracy }, 100.0),
        ("ECE", { (m: StressResult.Metrics) in m.ece }, 1.0),
      ] {
        let series = result.configurations.enumerated().map { index, name in
          SVGCharts.Series(
            name: name,
            points: conditions.compactMap { condition in
              pick(condition.configurations[index]).map { (Double(condition.severity), $0.value * scale) }
            }, color: index)
        }
        charts.append(
          SVGCharts.lineChart(
            title: "\(family) · \(label)", series: series, xLabel: "severity", yLabel: label, width: 360, height: 220))
      }
    }
    let explanations = result.families.sorted { $0.key < $1.key }.map {
      "<li><b>\(escape($0.key))</b>: \(escape($0.value))</li>"
    }
    return "<div class=\"charts\">" + charts.joined() + "</div><ul class=\"note\">" + explanations.joined() + "</ul>"
  }

  static func stressCorruption(_ result: StressResult) -> String {
    var header = "<tr><th>family</th>"
    for name in result.configurations { header += "<th>CE \(escape(name))</th><th>relative CE \(escape(name))</th>" }
    var rows = ""
    for row in result.corruption {
      rows += "<tr><td>\(escape(row.family))</td>"
      for index in result.configurations.indices {
        rows += "<td>\(cell(row.corruptionError[index]))</td><td>\(cell(row.relativeCorruptionError[index]))</td>"
      }
      rows += "</tr>"
    }
    return "<table>\(header)</tr>\(rows)</table>"
  }

  static func stressHeatmaps(_ result: StressResult) -> String {
    guard result.mappedImages > 0 else {
      return "<p class=\"empty\">No heatmaps were compared (--heatmap-images 0).</p>"
    }
    var header = "<tr><th>condition</th>"
    for name in result.configurations {
      header += "<th>stability \(escape(name))</th><th>border energy \(escape(name))</th>"
    }
    var rows = ""
    for condition in result.conditions {
      rows += "<tr><td>\(escape(condition.family)) \(condition.severity == 0 ? "" : String(condition.severity))</td>"
      for metrics in condition.configurations {
        rows += "<td>\(cell(metrics.heatmapStability))</td><td>\(cell(metrics.borderEnergy))</td>"
      }
      rows += "</tr>"
    }
    var byClass = "<tr><th>class</th>" + result.configurations.map { "<th>\(escape($0))</th>" }.joined() + "</tr>"
    for (index, name) in result.classes.enumerated() {
      byClass +=
        "<tr><td>\(escape(name))</td>" + result.cleanBorderEnergyByClass.map { "<td>\(cell($0[index]))</td>" }.joined()
        + "</tr>"
    }
    return "<p>On \(result.mappedImages) images: the Spearman correlation of each Grad-CAM map with the clean image's "
      + "(moved as the image was, for rotation, zoom and border), and the share of the map's energy in the outer 10% "
      + "of the image. A uniform map puts about 36% there; much more means the model looks at markers, text and "
      + "borders rather than the lungs.</p><h3>Clean images, by true class</h3><table>\(byClass)</table>"
      + "<h3>Under each perturbation</h3><table>\(header)</tr>\(rows)</table>"
  }

  static func stressGallery(_ result: StressResult, folder: String) throws -> String {
    guard !result.gallery.isEmpty else { return "<p class=\"empty\">No gallery (no heatmap images).</p>" }
    var html = "<div class=\"gallery\">"
    for item in result.gallery {
      html +=
        "<figure><div class=\"panels\"><img alt=\"perturbed X-ray\" src=\"\(try thumbnail(folder + "/" + item.image, map: nil, width: 140))\">"
      for name in result.configurations {
        guard let map = item.maps[name] else { continue }
        html +=
          "<img alt=\"\(escape(name)) heatmap\" src=\"\(try thumbnail(folder + "/" + item.image, map: folder + "/" + map, width: 140))\">"
      }
      html += "</div><figcaption>\(escape(item.condition))</figcaption></figure>"
    }
    return html + "</div><p class=\"note\">The image as the models see it (after their preprocessing), then each "
      + "configuration's Grad-CAM (its first model): " + result.configurations.map(escape).joined(separator: ", ")
      + ".</p>"
  }
}
