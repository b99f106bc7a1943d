import Evaluation
import Foundation
import Reports
import RunFiles

/// Baseline vs candidate over seeds, from the runs' test predictions; and the HTML reports.
public enum ComparisonPipeline {
  /// Paired differences with intervals and McNemar's test; runs are paired in the order given.
  public static func compare(
    baseline: [RunFolder], candidate: [RunFolder], names: (String, String), resamples: Int = 1_000, seed: UInt64 = 0
  ) throws -> ComparisonReport {
    try ComparisonReport.compute(
      baseline: baseline.map(PredictionsFile.readRun), candidate: candidate.map(PredictionsFile.readRun), names: names,
      resamples: resamples, seed: seed)
  }
}

public enum ReportPipeline {
  /// Writes the report of one run; returns the size written in bytes.
  @discardableResult
  public static func runReport(_ folder: RunFolder, explanations: String?, to output: String) throws -> Int {
    let gallery = try explanations.map { try ExplanationArtifacts.load($0) }
    return try write(try ReportPages.run(try RunArtifacts.load(folder.path), explanations: gallery), to: output)
  }

  /// Writes the comparison report of baseline vs candidate runs (one per seed each); paired
  /// differences when every run has test predictions.
  @discardableResult
  public static func comparisonReport(
    baseline: [RunFolder], candidate: [RunFolder], names: (String, String), explanations: String?, to output: String
  ) throws -> Int {
    let gallery = try explanations.map { try ExplanationArtifacts.load($0) }
    // "OS" for one run, "OS seed-0" for one of several.
    func load(_ folders: [RunFolder], _ name: String) throws -> [RunArtifacts] {
      try folders.map { try RunArtifacts.load($0.path, name: folders.count == 1 ? name : name + " " + $0.name) }
    }
    let allPredicted = (baseline + candidate).allSatisfy { FileManager.default.fileExists(atPath: $0.testPredictions) }
    let differences =
      allPredicted
      ? try ComparisonPipeline.compare(
        baseline: baseline, candidate: candidate, names: names, resamples: 1_000, seed: 0)
      : nil
    let html = try ReportPages.comparison(
      baseline: try load(baseline, names.0), candidate: try load(candidate, names.1), names: names,
      differences: differences, explanations: gallery)
    return try write(html, to: output)
  }

  static func write(_ html: String, to output: String) throws -> Int {
    let parent = (output as NSString).deletingLastPathComponent
    try FileManager.default.createDirectory(atPath: parent.isEmpty ? "." : parent, withIntermediateDirectories: true)
    try html.write(toFile: output, atomically: true, encoding: .utf8)
    return html.utf8.count
  }
}
