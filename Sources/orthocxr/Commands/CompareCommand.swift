import ArgumentParser
import Foundation
import Pipelines
import RunFiles

/// Compares two configurations over several seeds, from the runs' per-image test predictions.
struct CompareCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "compare",
    abstract: "Compare two configurations over seeds: mean ± std, paired differences with CIs, McNemar.",
    discussion: """
      Each run folder must hold test-predictions.csv (orthocxr train --test, or evaluate --predictions)
      for the same test images. Runs are paired in the order given (seed 0 with seed 0, ...). Prints a
      Markdown table; scripts/experiment_baseline_vs_os.sh shows the whole procedure.
      """
  )

  @Option(parsing: .upToNextOption, help: "Run folders of the baseline, one per seed.")
  var baseline: [String]

  @Option(
    parsing: .upToNextOption, help: "Run folders of the candidate (for example OS), one per seed, in the same order.")
  var candidate: [String]

  @Option(help: "Names for the two, comma-separated.")
  var names = "baseline,candidate"

  @Option(help: "Bootstrap resamples.")
  var bootstrap = 1_000

  @Option(help: "Seed of the bootstrap.")
  var seed: UInt64 = 0

  func run() throws {
    let parts = names.split(separator: ",").map(String.init)
    guard parts.count == 2 else { throw ValidationError("--names takes two names separated by a comma") }
    let report = try userFacing {
      try ComparisonPipeline.compare(
        baseline: baseline.map(RunFolder.init), candidate: candidate.map(RunFolder.init), names: (parts[0], parts[1]),
        resamples: bootstrap, seed: seed)
    }
    print(report.render())
  }
}
