import Foundation

/// Charts as inline SVG, drawn here so that a report needs nothing from the network.
public enum SVGCharts {
  /// A named line of (x, y) points.
  public struct Series: Sendable {
    public var name: String
    public var points: [(x: Double, y: Double)]
    public var dashed: Bool
    /// Index into the palette; nil for the series' position.
    public var color: Int?

    public init(name: String, points: [(x: Double, y: Double)], dashed: Bool = false, color: Int? = nil) {
      self.name = name
      self.points = points
      self.dashed = dashed
      self.color = color
    }
  }

  /// Colour-blind-safe (Okabe–Ito) colours, in order of series.
  static let palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]

  /// Round tick values covering [low, high].
  static func ticks(_ low: Double, _ high: Double, count: Int = 5) -> [Double] {
    guard high > low else { return [low] }
    let raw = (high - low) / Double(count)
    let magnitude = pow(10, (log10(raw)).rounded(.down))
    let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
    var values: [Double] = []
    var value = (low / step).rounded(.up) * step
    while value <= high + step * 1e-9 {
      values.append(abs(value) < step * 1e-9 ? 0 : value)
      value += step
    }
    return values
  }

  static func label(_ value: Double) -> String {
    if value == value.rounded() && abs(value) < 1e6 { return String(Int(value)) }
    return String(format: abs(value) < 0.01 ? "%.3g" : "%.2f", value)
  }

  static func escape(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
      .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
  }

  /// A line chart with axes, round ticks and a legend. `yRange` fixes the vertical axis (such as 0–1).
  public static func lineChart(
    title: String, series: [Series], xLabel: String, yLabel: String, yRange: ClosedRange<Double>? = nil,
    width: Int = 440, height: Int = 260
  ) -> String {
    let all = series.flatMap(\.points).filter { $0.y.isFinite }
    guard !all.isEmpty else {
      return "<p class=\"empty\">\(escape(title)): no data.</p>"
    }
    // The legend goes under the plot, two entries a row, so that it never hides a line.
    let legendRows = (series.count + 1) / 2
    let height = height + legendRows * 16
    let (left, right, top, bottom) = (56.0, 12.0, 28.0, 44.0 + Double(legendRows * 16))
    let plotWidth = Double(width) - left - right
    let plotHeight = Double(height) - top - bottom
    var xLow = all.map(\.x).min() ?? 0
    var xHigh = all.map(\.x).max() ?? 1
    if xHigh == xLow { (xLow, xHigh) = (xLow - 1, xHigh + 1) }
    var yLow = yRange?.lowerBound ?? (all.map(\.y).min() ?? 0)
    var yHigh = yRange?.upperBound ?? (all.map(\.y).max() ?? 1)
    if yHigh == yLow { (yLow, yHigh) = (yLow - 0.5, yHigh + 0.5) }
    if yRange == nil {
      let pad = (yHigh - yLow) * 0.05
      (yLow, yHigh) = (yLow - pad, yHigh + pad)
    }
    func px(_ x: Double) -> Double { left + (x - xLow) / (xHigh - xLow) * plotWidth }
    func py(_ y: Double) -> Double { top + (1 - (y - yLow) / (yHigh - yLow)) * plotHeight }
    var svg =
      "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\" aria-label=\"\(escape(title))\">"
    svg += "<text x=\"\(left)\" y=\"16\" class=\"title\">\(escape(title))</text>"
    for tick in ticks(yLow, yHigh) {
      let y = py(tick)
      svg += String(
        format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>", left, y, left + plotWidth, y)
      svg +=
        String(format: "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" text-anchor=\"end\">", left - 6, y + 4) + label(tick)
        + "</text>"
    }
    for tick in ticks(xLow, xHigh) {
      let x = px(tick)
      svg +=
        String(format: "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" text-anchor=\"middle\">", x, top + plotHeight + 16)
        + label(tick) + "</text>"
    }
    svg += String(
      format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" class=\"frame\"/>", left, top, plotWidth,
      plotHeight)
    svg +=
      String(
        format: "<text x=\"%.1f\" y=\"%.1f\" class=\"axis\" text-anchor=\"middle\">", left + plotWidth / 2,
        top + plotHeight + 32) + escape(xLabel) + "</text>"
    svg +=
      String(
        format: "<text x=\"14\" y=\"%.1f\" class=\"axis\" text-anchor=\"middle\" transform=\"rotate(-90 14 %.1f)\">",
        top + plotHeight / 2, top + plotHeight / 2) + escape(yLabel) + "</text>"
    for (index, line) in series.enumerated() {
      let color = palette[(line.color ?? index) % palette.count]
      let points = line.points.filter { $0.y.isFinite }
      let path = points.map { String(format: "%.1f,%.1f", px($0.x), py(min(max($0.y, yLow), yHigh))) }.joined(
        separator: " ")
      svg +=
        "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"\(line.dashed ? " stroke-dasharray=\"6 4\"" : "")/>"
      if points.count <= 40 {
        for point in points {
          svg += String(
            format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%@\"/>", px(point.x),
            py(min(max(point.y, yLow), yHigh)), color)
        }
      }
      let legendX = 8 + Double(index % 2) * Double(width) / 2
      let legendY = top + plotHeight + 50 + Double(index / 2) * 16
      svg += String(
        format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%@\" stroke-width=\"2\"%@/>", legendX,
        legendY - 4, legendX + 22, legendY - 4, color, line.dashed ? " stroke-dasharray=\"6 4\"" : "")
      svg +=
        String(format: "<text x=\"%.1f\" y=\"%.1f\" class=\"legend\">", legendX + 28, legendY) + escape(line.name)
        + "</text>"
    }
    return svg + "</svg>"
  }

  /// A reliability diagram: per confidence bin, the accuracy (bars) against the diagonal of perfect
  /// calibration, with the gap to the bin's mean confidence shaded; empty bins are left out.
  public static func reliabilityDiagram(
    title: String, bins: [(lower: Double, upper: Double, count: Int, accuracy: Double?, confidence: Double?)],
    summary: String, size: Int = 300
  ) -> String {
    let (left, top, bottom) = (48.0, 28.0, 40.0)
    let plot = Double(size) - left - 12
    let height = Double(size) + 10
    func px(_ x: Double) -> Double { left + x * plot }
    func py(_ y: Double) -> Double { top + (1 - y) * plot }
    var svg =
      "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(size)\" height=\"\(Int(height + bottom - 28))\" role=\"img\" aria-label=\"\(escape(title))\">"
    svg += "<text x=\"\(left)\" y=\"16\" class=\"title\">\(escape(title))</text>"
    for tick in [0.0, 0.25, 0.5, 0.75, 1.0] {
      svg += String(
        format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>", px(0), py(tick), px(1),
        py(tick))
      svg += String(
        format: "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" text-anchor=\"end\">%@</text>", px(0) - 5, py(tick) + 4,
        label(tick))
      svg += String(
        format: "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" text-anchor=\"middle\">%@</text>", px(tick), py(0) + 15,
        label(tick))
    }
    for bin in bins where bin.count > 0 {
      guard let accuracy = bin.accuracy, let confidence = bin.confidence else { continue }
      let x = px(bin.lower) + 1
      let width = max(px(bin.upper) - px(bin.lower) - 2, 1)
      svg += String(
        format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" class=\"bar\"><title>%@</title></rect>", x,
        py(accuracy), width, py(0) - py(accuracy),
        String(
          format: "%.2f–%.2f: %d images, accuracy %.3f, confidence %.3f", bin.lower, bin.upper, bin.count, accuracy,
          confidence))
      let (a, b) = (min(accuracy, confidence), max(accuracy, confidence))
      svg += String(
        format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" class=\"gap\"/>", x, py(b), width,
        max(py(a) - py(b), 0.5))  // outlined, so it reads the same over a bar or above it
    }
    svg += String(
      format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"diagonal\"/>", px(0), py(0), px(1), py(1))
    svg += String(
      format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" class=\"frame\"/>", left, top, plot, plot)
    svg += String(
      format: "<text x=\"%.1f\" y=\"%.1f\" class=\"axis\" text-anchor=\"middle\">confidence · %@</text>",
      left + plot / 2, py(0) + 32, escape(summary))
    svg += String(
      format:
        "<text x=\"12\" y=\"%.1f\" class=\"axis\" text-anchor=\"middle\" transform=\"rotate(-90 12 %.1f)\">accuracy</text>",
      top + plot / 2, top + plot / 2)
    return svg + "</svg>"
  }
}
