import Evaluation
import Foundation
import Reports
import RunFiles
import Synchronization

/// Runs a sweep's runs (skipping finished ones, resuming cut-off ones, several at a time) and
/// summarises them (`orthocxr sweep`).
public enum SweepPipeline {
  /// Where a run of the plan stands.
  public enum RunState: Equatable, Sendable {
    /// Test predictions written (or, without a test split, training finished): skipped.
    case finished
    /// A checkpoint is there: the run continues from it (exact resume).
    case resumable
    /// Nothing yet: the run starts.
    case new
  }

  /// Trains one run: `resume` continues it from its last checkpoint. Throws what failed. With
  /// several jobs it is called from several threads at once.
  public typealias Runner = @Sendable (_ run: SweepPlan.Run, _ resume: Bool) throws -> Void

  public struct Outcome: Sendable {
    /// Indices into `plan.runs`.
    public var trained: [Int] = []
    public var skipped: [Int] = []
    public var failed: [(run: Int, reason: String)] = []
    /// Stopped by `stopRequested` before every run was done.
    public var interrupted = false
  }

  /// The settings that say where and how fast a run trains, not what it learns: a finished run
  /// trained with other values of these is still the same run.
  static let machineKeys: Set<String> = ["threads", "workers"]

  /// Where `run` stands. Throws when its folder holds a run with other settings (the sweep file was
  /// changed since): reusing it would mix two experiments in one table.
  public static func state(of run: SweepPlan.Run) throws -> RunState {
    let folder = run.folder
    let manager = FileManager.default
    if manager.fileExists(atPath: folder.settingsYAML) {
      let existing = try folder.readSettings().keyedValues()
      let planned = run.settings.keyedValues()
      let differing = Set(existing.keys).union(planned.keys).subtracting(machineKeys).sorted().filter {
        existing[$0] != planned[$0]
      }
      if !differing.isEmpty {
        let details = differing.prefix(3).map { "\($0) \(planned[$0] ?? "–") here, \(existing[$0] ?? "–") there" }
        throw RunFolderError(
          path: folder.path,
          reason: "holds a run with other settings (\(details.joined(separator: "; "))): the sweep file changed "
            + "since it ran; remove the folder or give the sweep another output")
      }
    }
    if run.settings.test != nil {
      if manager.fileExists(atPath: folder.testPredictions) && manager.fileExists(atPath: folder.testMetrics) {
        return .finished
      }
    } else if let summary = try? folder.readTrainingSummary(), !summary.interrupted {
      return .finished
    }
    return [folder.lastCheckpoint, folder.previousCheckpoint].contains { manager.fileExists(atPath: $0) }
      ? .resumable : .new
  }

  /// Runs every run of `plan` that is not finished, `jobs` at a time, each through `runner`. A failed
  /// run is reported and the others go on; `stopRequested` (Ctrl-C) lets the running ones end and
  /// starts no more.
  public static func run(
    _ plan: SweepPlan, jobs: Int, runner: @escaping Runner, stopRequested: @escaping @Sendable () -> Bool = { false },
    output: PipelineOutput = .silent
  ) throws -> Outcome {
    let states = try plan.runs.map(state(of:))
    var outcome = Outcome()
    outcome.skipped = states.indices.filter { states[$0] == .finished }
    let pending = states.indices.filter { states[$0] != .finished }
    let total = plan.runs.count
    output.message(
      "sweep \(plan.source): \(plan.combinations.count) combinations × \(plan.seeds.count) seeds = \(total) runs; "
        + "\(outcome.skipped.count) finished already, \(pending.filter { states[$0] == .resumable }.count) to resume, "
        + "\(pending.filter { states[$0] == .new }.count) to start; \(jobs) at a time → \(plan.output)/")
    let progress = SweepProgress(total: total, done: outcome.skipped.count, jobs: jobs, say: output.message)
    let results = Mutex<[(run: Int, ending: SweepProgress.Ending)]>([])
    let next = Mutex(0)
    // Each worker takes the next pending run until none is left or a stop is asked for.
    let work: @Sendable () -> Void = {
      while !stopRequested() {
        let position = next.withLock { value -> Int? in
          defer { value += 1 }
          return value < pending.count ? value : nil
        }
        guard let position else { return }
        let index = pending[position]
        let run = plan.runs[index]
        let resume = states[index] == .resumable
        progress.started(run.folder.path + (resume ? " (resuming)" : ""))
        let started = ContinuousClock.now
        var ending = SweepProgress.Ending.trained
        do {
          try runner(run, resume)
        } catch {
          // A run that ends with an error after a stop was asked for was stopped (it saved where it
          // was and resumes next time), not broken.
          ending = stopRequested() ? .stopped : .failed("\(error)")
        }
        results.withLock { $0.append((index, ending)) }
        let metrics = (try? JSONFile.read(EvaluationReport.self, from: run.folder.testMetrics)).map {
          String(format: " · test accuracy %.1f%%, ECE %.4f", $0.accuracy.value * 100, $0.ece.value)
        }
        progress.ended(
          run.folder.path, detail: metrics ?? "", seconds: (ContinuousClock.now - started) / .seconds(1),
          ending: ending, resumed: resume)
      }
    }
    let workers = DispatchGroup()
    for _ in 0..<max(1, min(jobs, pending.count)) { DispatchQueue.global().async(group: workers, execute: work) }
    workers.wait()
    for (index, ending) in results.withLock({ $0 }).sorted(by: { $0.run < $1.run }) {
      switch ending {
      case .trained: outcome.trained.append(index)
      case .failed(let reason): outcome.failed.append((index, reason))
      case .stopped: break
      }
    }
    outcome.interrupted = stopRequested() && outcome.trained.count + outcome.failed.count < pending.count
    return outcome
  }

  /// The summary of the runs that finished: every metric per combination over its seeds, and the
  /// paired differences from each combination's reference over the seeds both finished.
  public static func summarize(_ plan: SweepPlan, resamples: Int = 1_000, seed: UInt64 = 0) throws -> SweepSummary {
    var predictions: [Int: [UInt64: RunPredictions]] = [:]
    var uncalibratedECE: [Int: [UInt64: Double]] = [:]
    var missing: [String] = []
    for run in plan.runs {
      guard FileManager.default.fileExists(atPath: run.folder.testPredictions) else {
        missing.append(run.folder.path)
        continue
      }
      var read = try PredictionsFile.readRun(run.folder)
      read.name = "\(plan.combinations[run.combination].name)/seed-\(run.seed)"
      predictions[run.combination, default: [:]][run.seed] = read
      if let report = try? JSONFile.read(EvaluationReport.self, from: run.folder.uncalibratedTestMetrics) {
        uncalibratedECE[run.combination, default: [:]][run.seed] = report.ece.value
      }
    }
    let bootstrap = "paired 95% percentile intervals, \(resamples) resamples of the test images, seed \(seed)"
    var rows: [SweepSummary.Row] = []
    for (index, combination) in plan.combinations.enumerated() {
      let runs = predictions[index] ?? [:]
      let seeds = plan.seeds.filter { runs[$0] != nil }
      let values = seeds.map { ComparisonReport.metricValues(runs[$0]!) }
      var metrics: [String: SweepSummary.Statistic] = [:]
      for name in SweepSummary.metrics {
        let series =
          name == "ECE before calibration"
          ? seeds.compactMap { uncalibratedECE[index]?[$0] } : values.compactMap { $0[name] }
        if !series.isEmpty { metrics[name] = SweepSummary.Statistic(series) }
      }
      var row = SweepSummary.Row(
        name: combination.name, settings: combination.values, seeds: seeds, reference: nil, pairedSeeds: [],
        metrics: metrics, differences: [:], comparison: nil)
      if let referenceIndex = plan.references[index] {
        let reference = plan.combinations[referenceIndex]
        row.reference = reference.name
        let referenceRuns = predictions[referenceIndex] ?? [:]
        row.pairedSeeds = seeds.filter { referenceRuns[$0] != nil }
        if !row.pairedSeeds.isEmpty {
          let report = try ComparisonReport.compute(
            baseline: row.pairedSeeds.map { referenceRuns[$0]! }, candidate: row.pairedSeeds.map { runs[$0]! },
            names: (reference.name, combination.name), resamples: resamples, seed: seed)
          for line in report.rows {
            row.differences[line.metric] = SweepSummary.Difference(
              value: line.difference.value, low: line.difference.low, high: line.difference.high)
          }
          row.comparison = report.render()
        }
      }
      rows.append(row)
    }
    return SweepSummary(
      source: plan.source, baseline: plan.baseline, rows: rows, bootstrap: bootstrap, missingRuns: missing)
  }

  /// Writes summary.json, summary.csv, summary.md and summary.html into the sweep's folder; returns
  /// their paths.
  @discardableResult
  public static func write(_ summary: SweepSummary, to folder: RunFolder) throws -> [String] {
    try folder.create()
    let paths = ["summary.json", "summary.csv", "summary.md", "summary.html"].map(folder.file)
    try JSONFile.write(summary, to: paths[0])
    try summary.csv().write(toFile: paths[1], atomically: true, encoding: .utf8)
    try summary.markdown().write(toFile: paths[2], atomically: true, encoding: .utf8)
    try ReportPages.sweep(summary).write(toFile: paths[3], atomically: true, encoding: .utf8)
    return paths
  }
}

/// The sweep's progress lines: one when a run starts and one when it ends, with the sweep's count and
/// an estimate of the time left from the runs trained so far.
final class SweepProgress: Sendable {
  private struct State {
    var done: Int
    var trained = 0
    var secondsTrained = 0.0
  }

  private let total: Int
  private let state: Mutex<State>
  private let say: @Sendable (String) -> Void

  private let jobs: Int

  init(total: Int, done: Int, jobs: Int, say: @escaping (String) -> Void) {
    self.total = total
    self.jobs = max(1, jobs)
    state = Mutex(State(done: done))
    // PipelineOutput's closures are not Sendable; the lines are printed one at a time under the lock.
    nonisolated(unsafe) let say = say
    self.say = { say($0) }
  }

  func started(_ name: String) {
    state.withLock { state in
      say("[\(state.done)/\(total) done] started \(name)")
    }
  }

  enum Ending: Sendable {
    case trained
    case failed(String)
    case stopped

  }

  /// `resumed`: the run continued from a checkpoint, so its time says little about a whole run's.
  /// `detail` follows a finished run's time (its test metrics).
  func ended(_ name: String, detail: String = "", seconds: Double, ending: Ending, resumed: Bool) {
    state.withLock { state in
      let outcome: String
      switch ending {
      case .trained:
        state.done += 1
        if !resumed {
          state.trained += 1
          state.secondsTrained += seconds
        }
        outcome = "finished in \(durationText(seconds))\(detail)"
      case .failed(let reason):
        state.done += 1
        outcome = "FAILED: \(reason)"
      case .stopped:
        outcome = "stopped; it resumes when the sweep runs again"
      }
      var line = "[\(state.done)/\(total)] \(name) \(outcome)"
      if state.trained > 0 && state.done < total {
        let perRun = state.secondsTrained / Double(state.trained)
        let left = perRun * Double(total - state.done) / Double(jobs)
        line += " · about \(durationText(left)) left"
      }
      say(line)
    }
  }
}
