import ArgumentParser
import Evaluation
import Foundation
import Reports

/// Writes the HTML report of a run, or of a comparison of two configurations over seeds.
struct ReportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "report",
    abstract: "Write a self-contained HTML report of a run, or of baseline vs candidate runs over seeds.",
    discussion: """
      A run report holds the configuration, training curves (each loss term and the validation
      metrics), test metrics with bootstrap intervals, the confusion matrix, reliability diagrams
      before and after temperature scaling, and a Grad-CAM gallery of right and wrong predictions per
      class (from an `orthocxr explain` folder). Test sections need a run evaluated with
      `orthocxr train --test SPLIT`.

      A comparison report (--baseline RUNS --candidate RUNS, one run per seed each, such as
      runs/base/seed-* and runs/os/seed-*) adds the paired differences with intervals and McNemar's
      test, and shows both models side by side; give it a two-model explain folder.

      Charts are inline SVG and images inline PNG: the file opens anywhere, offline.
      """
  )

  @Argument(help: "A run folder (made by orthocxr train or demo).")
  var runFolder: String?

  @Option(parsing: .upToNextOption, help: "Baseline run folders, one per seed (for a comparison report).")
  var baseline: [String] = []

  @Option(parsing: .upToNextOption, help: "Candidate run folders (for example OS), one per seed, in the same order.")
  var candidate: [String] = []

  @Option(help: "Names of baseline and candidate, comma-separated.")
  var names = "baseline,OS"

  @Option(help: "An orthocxr explain output folder for the Grad-CAM gallery.")
  var explanations: String?

  @Option(help: "The HTML file to write.")
  var output: String

  func validate() throws {
    let comparing = !baseline.isEmpty || !candidate.isEmpty
    guard (runFolder != nil) != comparing else {
      throw ValidationError("give either one run folder, or --baseline and --candidate run folders")
    }
    if comparing {
      guard !baseline.isEmpty, !candidate.isEmpty else {
        throw ValidationError("a comparison needs both --baseline and --candidate run folders")
      }
      guard names.split(separator: ",").count == 2 else {
        throw ValidationError("--names takes two names, comma-separated")
      }
    }
  }

  func run() throws {
    do {
      let gallery = try explanations.map { try ExplanationArtifacts.load($0) }
      let html: String
      if let runFolder {
        html = try ReportPages.run(try RunArtifacts.load(runFolder), explanations: gallery)
      } else {
        let parts = names.split(separator: ",").map(String.init)
        // "OS" for one run, "OS seed-0" for one of several.
        func load(_ folders: [String], _ name: String) throws -> [RunArtifacts] {
          try folders.map {
            try RunArtifacts.load($0, name: folders.count == 1 ? name : name + " " + ($0 as NSString).lastPathComponent)
          }
        }
        let baselineRuns = try load(baseline, parts[0])
        let candidateRuns = try load(candidate, parts[1])
        html = try ReportPages.comparison(
          baseline: baselineRuns, candidate: candidateRuns, names: (parts[0], parts[1]),
          differences: try differences(names: (parts[0], parts[1])), explanations: gallery)
      }
      try FileManager.default.createDirectory(
        atPath: (output as NSString).deletingLastPathComponent.isEmpty
          ? "." : (output as NSString).deletingLastPathComponent,
        withIntermediateDirectories: true)
      try html.write(toFile: output, atomically: true, encoding: .utf8)
      print("wrote \(output) (\(html.utf8.count / 1024) KiB)")
    } catch let error as ReportError {
      throw ValidationError(error.description)
    }
  }

  /// The paired differences over seeds, when every run has test predictions.
  func differences(names: (String, String)) throws -> ComparisonReport? {
    let files = (baseline + candidate).map { $0 + "/test-predictions.csv" }
    guard files.allSatisfy({ FileManager.default.fileExists(atPath: $0) }) else { return nil }
    let load = { (folder: String) in
      try RunPredictions.read(csv: folder + "/test-predictions.csv", name: (folder as NSString).lastPathComponent)
    }
    do {
      return try ComparisonReport.compute(
        baseline: baseline.map(load), candidate: candidate.map(load), names: names, resamples: 1_000, seed: 0)
    } catch let error as ComparisonError {
      throw ValidationError(error.description)
    }
  }
}
