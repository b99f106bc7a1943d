import ArgumentParser
import Foundation
import Pipelines
import RunFiles

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
    let parts = names.split(separator: ",").map(String.init)
    let size = try userFacing {
      if let runFolder {
        return try ReportPipeline.runReport(RunFolder(runFolder), explanations: explanations, to: output)
      }
      return try ReportPipeline.comparisonReport(
        baseline: baseline.map(RunFolder.init), candidate: candidate.map(RunFolder.init), names: (parts[0], parts[1]),
        explanations: explanations, to: output)
    }
    print("wrote \(output) (\(size / 1024) KiB)")
  }
}
