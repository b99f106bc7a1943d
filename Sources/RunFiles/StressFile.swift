import Evaluation
import Foundation

/// What `orthocxr stress` reports (stress.json).
public struct StressResult: Codable, Sendable {
  public struct Condition: Codable, Sendable {
    /// "clean" or the family.
    public var family: String
    public var severity: Int
    /// Per configuration (in order): the metrics, means over its seeds, with intervals.
    public var configurations: [Metrics]

    public init(family: String, severity: Int, configurations: [Metrics]) {
      self.family = family
      self.severity = severity
      self.configurations = configurations
    }
  }

  public struct Metrics: Codable, Sendable {
    public var accuracy: EvaluationReport.Interval?
    public var macroF1: EvaluationReport.Interval?
    public var macroAUC: EvaluationReport.Interval?
    public var ece: EvaluationReport.Interval?
    /// Spearman correlation of the Grad-CAM map with the clean image's map (moved the same way for
    /// geometric families), over the mapped images.
    public var heatmapStability: EvaluationReport.Interval?
    /// The share of Grad-CAM energy in the outer 10% of the image.
    public var borderEnergy: EvaluationReport.Interval?
    /// Against the first configuration (nil for it): paired differences over the same images.
    public var accuracyDifference: EvaluationReport.Interval?
    public var eceDifference: EvaluationReport.Interval?

    public init(
      accuracy: EvaluationReport.Interval?, macroF1: EvaluationReport.Interval?, macroAUC: EvaluationReport.Interval?,
      ece: EvaluationReport.Interval?, heatmapStability: EvaluationReport.Interval?,
      borderEnergy: EvaluationReport.Interval?, accuracyDifference: EvaluationReport.Interval?,
      eceDifference: EvaluationReport.Interval?
    ) {
      self.accuracy = accuracy
      self.macroF1 = macroF1
      self.macroAUC = macroAUC
      self.ece = ece
      self.heatmapStability = heatmapStability
      self.borderEnergy = borderEnergy
      self.accuracyDifference = accuracyDifference
      self.eceDifference = eceDifference
    }
  }

  public struct Corruption: Codable, Sendable {
    public var family: String
    /// Per configuration: CE normalised to the first configuration (1 for it), and relative CE.
    public var corruptionError: [EvaluationReport.Interval?]
    public var relativeCorruptionError: [EvaluationReport.Interval?]

    public init(
      family: String, corruptionError: [EvaluationReport.Interval?],
      relativeCorruptionError: [EvaluationReport.Interval?]
    ) {
      self.family = family
      self.corruptionError = corruptionError
      self.relativeCorruptionError = relativeCorruptionError
    }
  }

  public struct GalleryItem: Codable, Sendable {
    public var condition: String
    /// The perturbed image as the model sees it, relative to the output folder.
    public var image: String
    /// Configuration → its first model's 16-bit Grad-CAM map.
    public var maps: [String: String]

    public init(condition: String, image: String, maps: [String: String]) {
      self.condition = condition
      self.image = image
      self.maps = maps
    }
  }

  public var data: String
  public var images: Int
  public var mappedImages: Int
  public var classes: [String]
  public var configurations: [String]
  public var checkpoints: [[String]]
  public var conditions: [Condition]
  public var corruption: [Corruption]
  /// Per configuration: mean CE and mean relative CE over the families.
  public var meanCorruptionError: [EvaluationReport.Interval?]
  public var relativeMeanCorruptionError: [EvaluationReport.Interval?]
  /// Against the first configuration: mCE difference (nil for it).
  public var meanCorruptionErrorDifference: [EvaluationReport.Interval?]
  /// Per configuration, per class: border energy of the clean maps of that class's images.
  public var cleanBorderEnergyByClass: [[EvaluationReport.Interval?]]
  public var families: [String: String]
  public var gallery: [GalleryItem]
  public var bootstrap: String

  public init(
    data: String, images: Int, mappedImages: Int, classes: [String], configurations: [String],
    checkpoints: [[String]], conditions: [Condition], corruption: [Corruption],
    meanCorruptionError: [EvaluationReport.Interval?], relativeMeanCorruptionError: [EvaluationReport.Interval?],
    meanCorruptionErrorDifference: [EvaluationReport.Interval?],
    cleanBorderEnergyByClass: [[EvaluationReport.Interval?]],
    families: [String: String], gallery: [GalleryItem], bootstrap: String
  ) {
    self.data = data
    self.images = images
    self.mappedImages = mappedImages
    self.classes = classes
    self.configurations = configurations
    self.checkpoints = checkpoints
    self.conditions = conditions
    self.corruption = corruption
    self.meanCorruptionError = meanCorruptionError
    self.relativeMeanCorruptionError = relativeMeanCorruptionError
    self.meanCorruptionErrorDifference = meanCorruptionErrorDifference
    self.cleanBorderEnergyByClass = cleanBorderEnergyByClass
    self.families = families
    self.gallery = gallery
    self.bootstrap = bootstrap
  }

  // MARK: Markdown

  /// The tables: mCE, per family and severity accuracy and ECE (and differences), heatmap stability
  /// and border energy.
  public func markdown() -> String {
    func cell(_ value: EvaluationReport.Interval?, percent: Bool = false, signed: Bool = false) -> String {
      guard let value else { return "–" }
      let scale = percent ? 100.0 : 1
      let format = signed ? "%+.3f [%+.3f, %+.3f]" : (percent ? "%.1f [%.1f, %.1f]" : "%.3f [%.3f, %.3f]")
      return String(format: format, value.value * scale, value.low * scale, value.high * scale)
    }
    var lines = [
      "Stress test on \(data): \(images) images (\(mappedImages) with heatmaps); configurations "
        + zip(configurations, checkpoints).map { "\($0) (\($1.count) model(s))" }.joined(separator: ", ")
        + "; metrics are means over each configuration's models; \(bootstrap).", "",
      "| configuration | clean accuracy (%) | mCE | relative mCE | mCE difference |", "|---|---|---|---|---|",
    ]
    for (index, name) in configurations.enumerated() {
      lines.append(
        "| \(name) | \(cell(conditions[0].configurations[index].accuracy, percent: true)) | "
          + "\(cell(meanCorruptionError[index])) | \(cell(relativeMeanCorruptionError[index])) | "
          + "\(cell(meanCorruptionErrorDifference[index], signed: true)) |")
    }
    lines += ["", "Corruption error per family (normalised to \(configurations[0])):", ""]
    lines.append("| family | " + configurations.map { "CE \($0) | relative CE \($0)" }.joined(separator: " | ") + " |")
    lines.append("|---|" + String(repeating: "---|---|", count: configurations.count))
    for row in corruption {
      lines.append(
        "| \(row.family) | "
          + configurations.indices.map { "\(cell(row.corruptionError[$0])) | \(cell(row.relativeCorruptionError[$0]))" }
          .joined(separator: " | ") + " |")
    }
    lines += ["", "Accuracy (%), ECE and heatmap stability (Spearman with the clean map) per condition:", ""]
    var header = "| condition |"
    for name in configurations {
      header += " accuracy \(name) | ECE \(name) | stability \(name) |"
    }
    for name in configurations.dropFirst() { header += " accuracy \(name) − \(configurations[0]) |" }
    lines.append(header)
    lines.append("|---|" + String(repeating: "---|", count: configurations.count * 4 - 1))
    for condition in conditions {
      var row = "| \(condition.family) \(condition.severity == 0 ? "" : String(condition.severity)) |"
      for metrics in condition.configurations {
        row += " \(cell(metrics.accuracy, percent: true)) | \(cell(metrics.ece)) | \(cell(metrics.heatmapStability)) |"
      }
      for metrics in condition.configurations.dropFirst() {
        row += " \(cell(metrics.accuracyDifference, signed: true)) |"
      }
      lines.append(row)
    }
    lines += [
      "", "Share of Grad-CAM energy in the outer 10% of the clean images, per true class (a shortcut signal):", "",
    ]
    lines.append("| class | " + configurations.joined(separator: " | ") + " |")
    lines.append("|---|" + String(repeating: "---|", count: configurations.count))
    for (index, name) in classes.enumerated() {
      lines.append("| \(name) | " + cleanBorderEnergyByClass.map { cell($0[index]) }.joined(separator: " | ") + " |")
    }
    return lines.joined(separator: "\n")
  }
}
