import Evaluation
import Foundation

// The files of an explanation folder (what `orthocxr explain` writes and the reports read):
// overlays/ and maps/ (PNG), explanations.csv, means.csv and summary.json per model; with two models,
// a folder each, panels/, comparison.csv and comparison.json.

/// One explained image: what the model said, where it looked, and how faithful and well placed the
/// heatmap is.
public struct ImageExplanation: Codable, Sendable, Equatable {
  public var path: String
  /// The true class, when the image has a label.
  public var label: Int?
  public var predicted: Int
  /// The class the heatmap explains.
  public var target: Int
  /// Class probabilities (with the model's temperature).
  public var probabilities: [Double]
  /// Files written, relative to the output folder.
  public var overlay: String
  public var map: String
  public var deletionAUC: Double?
  public var insertionAUC: Double?
  public var roadDrop: Double?
  public var pointingHit: Bool?
  public var energyInBox: Double?
  /// The model's out-of-distribution verdict, when it has a detector (`orthocxr ood fit`).
  public var outOfDistribution: OutOfDistributionAssessment?

  public var isCorrect: Bool? { label.map { $0 == predicted } }

  public init(
    path: String, label: Int?, predicted: Int, target: Int, probabilities: [Double], overlay: String, map: String,
    deletionAUC: Double? = nil, insertionAUC: Double? = nil, roadDrop: Double? = nil, pointingHit: Bool? = nil,
    energyInBox: Double? = nil
  ) {
    self.path = path
    self.label = label
    self.predicted = predicted
    self.target = target
    self.probabilities = probabilities
    self.overlay = overlay
    self.map = map
    self.deletionAUC = deletionAUC
    self.insertionAUC = insertionAUC
    self.roadDrop = roadDrop
    self.pointingHit = pointingHit
    self.energyInBox = energyInBox
  }
}

/// Means of the metrics over the images that have them.
public struct ExplanationSummary: Codable, Sendable {
  public var images: Int
  public var deletionAUC: Double?
  public var insertionAUC: Double?
  public var roadDrop: Double?
  public var pointingAccuracy: Double?
  public var energyInBox: Double?
  /// Images with a ground-truth region.
  public var localized: Int

  public init(_ results: [ImageExplanation]) {
    func mean(_ values: [Double]) -> Double? { values.isEmpty ? nil : values.reduce(0, +) / Double(values.count) }
    images = results.count
    deletionAUC = mean(results.compactMap(\.deletionAUC))
    insertionAUC = mean(results.compactMap(\.insertionAUC))
    roadDrop = mean(results.compactMap(\.roadDrop))
    pointingAccuracy = mean(results.compactMap { $0.pointingHit.map { $0 ? 1 : 0 } })
    energyInBox = mean(results.compactMap(\.energyInBox))
    localized = results.filter { $0.energyInBox != nil }.count
  }
}

/// What `orthocxr explain` writes to summary.json, and what the report reads back.
public struct ExplanationFile: Codable, Sendable {
  public var method: String
  public var layer: String
  public var classes: [String]
  public var means: ExplanationSummary
  /// Paths of overlays and maps are relative to the file's folder.
  public var images: [ImageExplanation]

  public init(method: String, layer: String, classes: [String], images: [ImageExplanation]) {
    self.method = method
    self.layer = layer
    self.classes = classes
    self.means = ExplanationSummary(images)
    self.images = images
  }
}

extension ImageExplanation {
  /// The columns of explanations.csv.
  static func csvHeader(classes: [String]) -> [String] {
    ["path", "label", "prediction", "target"] + classes.map { "p_\($0)" }
      + [
        "deletion_auc", "insertion_auc", "road_drop", "pointing_hit", "energy_in_box", "overlay", "ood_score",
        "ood_flagged",
      ]
  }

  /// One row of explanations.csv; metrics that were not measured are empty.
  func csvRow(classes: [String]) -> [String] {
    func number(_ value: Double?) -> String { value.map { String(format: "%.6f", $0) } ?? "" }
    let names: [String] = [path, label.map { classes[$0] } ?? "", classes[predicted], classes[target]]
    let metrics: [String] = [
      number(deletionAUC), number(insertionAUC), number(roadDrop), pointingHit.map { $0 ? "1" : "0" } ?? "",
      number(energyInBox), overlay,
    ]
    let ood: [String] = [
      outOfDistribution.map { String(format: "%.6g", $0.score) } ?? "",
      outOfDistribution.map { String($0.flagged) } ?? "",
    ]
    return names + probabilities.map { String(format: "%.6f", $0) } + metrics + ood
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

  /// comparison.csv: one row per metric.
  public func csv() throws -> String {
    func number(_ value: Double?) -> String { value.map { String(format: "%.6f", $0) } ?? "" }
    return try CSVTable.text(
      header: ["metric", "higher_is_better", names[0], names[1], "difference", "ci_low", "ci_high", "images"],
      rows: rows.map {
        [
          $0.metric, String($0.higherIsBetter), number($0.first), number($0.second), number($0.difference),
          number($0.low), number($0.high), String($0.images),
        ]
      })
  }

  /// A plain-text table for the terminal.
  public func render() -> String {
    // Each model's column is as wide as its name (at least 12), with two spaces after it: a long
    // name is neither cut nor glued to the next column.
    let widths = names.map { max(12, $0.count + 2) }
    func cell(_ text: String, _ column: Int) -> String {
      text.padding(toLength: widths[column], withPad: " ", startingAt: 0)
    }
    var lines = [
      "metric            " + cell(names[0], 0) + cell(names[1], 1) + "difference (95% CI)"
    ]
    for row in rows {
      let interval = row.low.map { String(format: " (%+.4f to %+.4f)", $0, row.high ?? 0) } ?? ""
      lines.append(
        row.metric.padding(toLength: 18, withPad: " ", startingAt: 0)
          + cell(String(format: "%.4f", row.first), 0) + cell(String(format: "%.4f", row.second), 1)
          + String(format: "%+.4f", row.difference) + interval + (row.higherIsBetter ? "" : "  (lower is better)"))
    }
    return lines.joined(separator: "\n")
  }
}

/// An explanation folder: one model's files, or two models' folders and their comparison. Owns the
/// folder's file names; `write` and `read` are the one writer and reader of each table.
public struct ExplanationFolder: Sendable {
  public let path: String

  public init(_ path: String) { self.path = path }

  public var explanationsCSV: String { file("explanations.csv") }
  public var meansCSV: String { file("means.csv") }
  public var summaryJSON: String { file("summary.json") }
  public var comparisonCSV: String { file("comparison.csv") }
  public var comparisonJSON: String { file("comparison.json") }
  public var panels: String { file("panels") }
  /// Where a heatmap file named in `ImageExplanation` (overlays/NAME.png, maps/NAME.png) lies.
  public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
  /// The folder of one of two compared models.
  public func model(_ name: String) -> ExplanationFolder { ExplanationFolder(file(name)) }

  /// explanations.csv (one row per image), means.csv (each metric's mean and how many images it
  /// covers) and summary.json (all of it).
  public func write(_ file: ExplanationFile) throws {
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    try CSVTable.write(
      header: ImageExplanation.csvHeader(classes: file.classes),
      rows: file.images.map { $0.csvRow(classes: file.classes) }, to: explanationsCSV, alwaysQuoted: { $0 == 0 })
    let means = file.means
    let counts: [(String, Double?, Int)] = [
      ("deletion_auc", means.deletionAUC, file.images.filter { $0.deletionAUC != nil }.count),
      ("insertion_auc", means.insertionAUC, file.images.filter { $0.insertionAUC != nil }.count),
      ("road_drop", means.roadDrop, file.images.filter { $0.roadDrop != nil }.count),
      ("pointing_hit", means.pointingAccuracy, means.localized), ("energy_in_box", means.energyInBox, means.localized),
    ]
    try CSVTable.write(
      header: ["metric", "mean", "images"],
      rows: counts.compactMap { name, mean, count in mean.map { [name, String(format: "%.6f", $0), String(count)] } },
      to: meansCSV)
    try JSONFile.write(file, to: summaryJSON)
  }

  public func read() throws -> ExplanationFile {
    guard FileManager.default.fileExists(atPath: summaryJSON) else {
      throw RunFileError(path: path, reason: "holds no summary.json; make it with orthocxr explain")
    }
    return try JSONFile.read(ExplanationFile.self, from: summaryJSON)
  }

  /// comparison.csv and comparison.json of two models explained on the same images.
  public func writeComparison(_ comparison: ExplanationComparison) throws {
    try comparison.csv().write(toFile: comparisonCSV, atomically: true, encoding: .utf8)
    try JSONFile.write(comparison, to: comparisonJSON)
  }

  /// The comparison, or nil when the folder holds one model's explanations.
  public func readComparison() throws -> ExplanationComparison? {
    guard FileManager.default.fileExists(atPath: comparisonJSON) else { return nil }
    return try JSONFile.read(ExplanationComparison.self, from: comparisonJSON)
  }
}
