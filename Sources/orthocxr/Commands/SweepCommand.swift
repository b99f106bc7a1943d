import ArgumentParser
import Foundation
import Pipelines
import RunFiles

/// Runs a grid of training runs from one experiment file and tabulates them.
struct SweepCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sweep",
    abstract: "Train every combination of a grid of settings over seeds, then summarise against a baseline.",
    discussion: """
      The file is an experiment file (keys: the options of `orthocxr train`) with a grid: section
      mapping settings to lists of values, seeds:, output: (the sweep's folder) and optionally
      baseline: (the combination the others are compared with, such as {lambda: 0}):

        grid: {lambda: [0, 0.003, 0.01], no-augmentation: [false, true]}
        seeds: [0, 1]
        baseline: {lambda: 0}
        output: runs/sweep

      grid: can also be a list of such mappings; each entry's combinations are run (their union),
      for grids that are not one product. Every combination and seed is a normal run folder,
      OUTPUT/NAME/seed-N (NAME spells the settings that vary), trained by `orthocxr train` in a
      process of its own, its output in train.out beside its checkpoints. Finished runs are skipped
      and cut-off ones resumed, so running the same command again continues a sweep. --jobs N trains
      N runs at a time with the threads split between them.

      At the end (and with --summary-only) OUTPUT/summary.{md,csv,json,html} hold each combination's
      test metrics (mean ± std over seeds) and its paired differences from the baseline with the same
      other settings, with bootstrap intervals over test images, as `orthocxr compare` computes them.
      Give the runs a test split (test: in the file) for the summary.

      Example: orthocxr sweep --config experiments/sweep-screen.yaml --jobs 2
      """
  )

  @Option(help: "The sweep's experiment file (YAML with grid:, seeds:, baseline:, output:).")
  var config: String

  @Option(help: "Runs trained at a time (default 1).")
  var jobs = 1

  @Option(help: "libtorch threads in all, split between the jobs (default: the machine's cores).")
  var threads: Int?

  @Option(help: "The sweep's folder (overrides output: in the file).")
  var output: String?

  @Flag(help: "List the runs, their state and what each is compared with; train nothing.")
  var dryRun = false

  @Flag(help: "Write the summary of the runs finished so far; train nothing.")
  var summaryOnly = false

  @Option(help: "Bootstrap resamples of the differences' intervals (default 1000).")
  var resamples = 1_000

  func validate() throws {
    guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
    guard (threads ?? 1) >= 1 else { throw ValidationError("--threads must be at least 1") }
    guard resamples >= 100 else { throw ValidationError("--resamples must be at least 100") }
  }

  func run() throws {
    let plan = try userFacing { try SweepPlan.load(file: config, output: output) }
    if dryRun {
      try userFacing { try printPlan(plan) }
      return
    }
    if !summaryOnly {
      installInterruptHandler()
      let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
      let share = max(1, (threads ?? ProcessInfo.processInfo.activeProcessorCount) / jobs)
      let jobs = jobs
      let outcome = try userFacing {
        try SweepPipeline.run(
          plan, jobs: jobs,
          runner: { run, resume in
            try Self.train(run, resume: resume, executable: executable, threads: share, jobs: jobs)
          }, stopRequested: { interruptRequested.load(ordering: .relaxed) }, output: terminal)
      }
      if outcome.interrupted {
        print("interrupted: run the same command again to continue the sweep (finished runs are kept)")
        throw ExitCode(130)
      }
      for (index, reason) in outcome.failed {
        print("failed: \(plan.runs[index].folder.path): \(reason)")
      }
    }
    let comparisons = plan.references.compactMap { $0 }.count
    print(
      "summarising \(plan.combinations.count) combinations"
        + (comparisons > 0 ? " (\(comparisons) comparisons, \(resamples) bootstrap resamples each)…" : "…"))
    let summary = try userFacing { try SweepPipeline.summarize(plan, resamples: resamples) }
    let paths = try userFacing { try SweepPipeline.write(summary, to: plan.summaryFolder) }
    print("\n" + summary.markdown(comparisons: false))
    print("wrote \(paths.joined(separator: ", "))")
    if !summary.missingRuns.isEmpty {
      print("\(summary.missingRuns.count) run(s) not finished; run the sweep again to train them")
      throw ExitCode(1)
    }
  }

  func printPlan(_ plan: SweepPlan) throws {
    print(
      "\(plan.combinations.count) combinations × \(plan.seeds.count) seeds = \(plan.runs.count) runs → \(plan.output)/")
    for (index, combination) in plan.combinations.enumerated() {
      let reference =
        plan.references[index].map { "compared with \(plan.combinations[$0].name)" }
        ?? (plan.baseline.isEmpty ? "" : "a baseline")
      print("  \(combination.name)  (\(combination.values.map(\.description).joined(separator: ", ")))  \(reference)")
      for run in plan.runs where run.combination == index {
        print("    seed \(run.seed): \(try SweepPipeline.state(of: run))")
      }
    }
  }

  /// Trains one run in a child `orthocxr train` process, its output in RUN/train.out. Ctrl-C reaches
  /// the child from the terminal; a SIGINT sent to the sweep alone is passed on.
  static func train(_ run: SweepPlan.Run, resume: Bool, executable: URL, threads: Int, jobs: Int) throws {
    try run.folder.create()
    var settings = run.settings
    settings.threads = threads
    settings.workers = max(1, settings.workers / jobs)
    try settings.yaml().write(toFile: run.folder.settingsYAML, atomically: true, encoding: .utf8)
    let logPath = run.folder.file("train.out")
    if !resume || !FileManager.default.fileExists(atPath: logPath) {
      _ = FileManager.default.createFile(atPath: logPath, contents: nil)
    }
    guard let log = FileHandle(forWritingAtPath: logPath) else {
      throw RunFolderError(path: logPath, reason: "cannot be written")
    }
    defer { try? log.close() }
    if resume { log.seekToEndOfFile() }
    let process = Process()
    process.executableURL = executable
    process.arguments = ["train", "--config", run.folder.settingsYAML] + (resume ? ["--resume"] : [])
    process.standardOutput = log
    process.standardError = log
    let ended = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in ended.signal() }
    try process.run()
    var passedOn = false
    while ended.wait(timeout: .now() + 0.5) == .timedOut {
      if !passedOn && interruptRequested.load(ordering: .relaxed) {
        kill(process.processIdentifier, SIGINT)
        passedOn = true
      }
    }
    guard process.terminationReason == .exit, process.terminationStatus == 0 else {
      let lastLine =
        (try? String(contentsOfFile: logPath, encoding: .utf8))?.split(separator: "\n").last.map(String.init) ?? ""
      let how =
        process.terminationReason == .uncaughtSignal
        ? "was killed by signal \(process.terminationStatus)" : "exited with status \(process.terminationStatus)"
      throw RunFolderError(path: run.folder.path, reason: "\(how): \(lastLine) (all of it in \(logPath))")
    }
  }
}
