import Foundation
import Synchronization
import TestSupport
import Testing

@testable import Datasets
@testable import Imaging
@testable import Pipelines
@testable import RunFiles

/// `orthocxr sweep` as a library call: which runs are trained, skipped or resumed, failures, and the
/// summary's numbers. Most tests train nothing: a stand-in runner writes predictions whose metrics are
/// known.
@Suite(.serialized) struct SweepPipelineTests {
  func plan(in folder: String, extra: String = "") throws -> SweepPlan {
    try SweepPlan.parse(
      yaml: """
        data: {train: t.txt, val: v.txt, test: s.txt, label-map: "covid=COVID-19,normal=normal"}
        grid: {lambda: [0, 0.01]}
        seeds: [0, 1]
        baseline: {lambda: 0}
        output: \(folder)/sweep
        \(extra)
        """, source: "test.yaml")
  }

  /// Writes a finished run: 20 images of two classes; the baseline right on 14, the OS model on
  /// 15 + seed. Every right answer has probability 0.9, every wrong one 0.4.
  static func writeFinishedRun(_ run: SweepPlan.Run) throws {
    try run.folder.writeSettings(run.settings, classes: ["COVID-19", "normal"])
    let right = run.settings.training.lambda == 0 ? 14 : 15 + Int(run.seed)
    let rows = (0..<20).map { index -> PredictionsFile.Row in
      let label = index % 2
      let probability = index < right ? 0.9 : 0.4
      return PredictionsFile.Row(
        path: "/images/\(index).png", label: label,
        probabilities: label == 0 ? [probability, 1 - probability] : [1 - probability, probability])
    }
    try PredictionsFile.write(rows, classes: ["COVID-19", "normal"], to: run.folder.testPredictions)
    try "{}".write(toFile: run.folder.testMetrics, atomically: true, encoding: .utf8)
  }

  @Test func everyRunIsTrainedOnceThenSkippedAndTheSummaryHasTheirNumbers() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let sweep = try plan(in: folder)
    let calls = Mutex<[String]>([])
    let runner: SweepPipeline.Runner = { run, resume in
      #expect(!resume)
      calls.withLock { $0.append(run.folder.path) }
      try Self.writeFinishedRun(run)
    }
    let first = try SweepPipeline.run(sweep, jobs: 2, runner: runner)
    #expect(first.trained == [0, 1, 2, 3] && first.failed.isEmpty && !first.interrupted)
    #expect(calls.withLock { Set($0) } == Set(sweep.runs.map(\.folder.path)) && calls.withLock { $0.count } == 4)
    let again = try SweepPipeline.run(sweep, jobs: 2, runner: runner)
    #expect(again.skipped == [0, 1, 2, 3] && again.trained.isEmpty)
    #expect(calls.withLock { $0.count } == 4, "finished runs are not trained again")

    let summary = try SweepPipeline.summarize(sweep, resamples: 200)
    #expect(summary.rows.map(\.name) == ["lambda-0", "lambda-0.01"])
    let baseline = summary.rows[0]
    let os = summary.rows[1]
    #expect(baseline.metrics["accuracy"] == SweepSummary.Statistic([0.7, 0.7]))
    #expect(abs(os.metrics["accuracy"]!.mean - 0.775) < 1e-12)
    #expect(abs(os.metrics["accuracy"]!.standardDeviation - (0.05 * 0.05 / 2).squareRoot()) < 1e-12)
    #expect(baseline.differences.isEmpty && baseline.reference == nil)
    #expect(os.reference == "lambda-0" && os.pairedSeeds == [0, 1])
    let accuracy = try #require(os.differences["accuracy"])
    #expect(abs(accuracy.value - 0.075) < 1e-12)
    #expect(accuracy.low <= accuracy.value && accuracy.value <= accuracy.high && accuracy.low >= 0)
    #expect(summary.missingRuns.isEmpty)

    let paths = try SweepPipeline.write(summary, to: sweep.summaryFolder)
    #expect(paths.allSatisfy { FileManager.default.fileExists(atPath: $0) })
    let table = try CSVTable.read(paths[1])
    #expect(table.header.contains("Δ accuracy") && table.rows.count == 2)
    #expect(table.rows[1][table.header.firstIndex(of: "accuracy mean")!] == "0.775000")
    let markdown = try String(contentsOfFile: paths[2], encoding: .utf8)
    #expect(markdown.contains("| lambda-0.01 | 2 | 0.7750 ± 0.0354"))
    #expect(markdown.contains("### lambda-0.01 vs lambda-0"))
    let html = try String(contentsOfFile: paths[3], encoding: .utf8)
    #expect(html.contains("Δ accuracy") && html.contains("lambda-0.01 vs lambda-0"))
    let decoded = try JSONFile.read(SweepSummary.self, from: paths[0])
    #expect(decoded.rows[1].differences["accuracy"] == accuracy)
  }

  @Test func cutOffRunsResumeFailuresAreReportedAndAChangedFileIsRefused() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let sweep = try plan(in: folder)
    // Run 1 was cut off: a checkpoint and no predictions.
    try sweep.runs[1].folder.create()
    FileManager.default.createFile(atPath: sweep.runs[1].folder.lastCheckpoint, contents: Data([1]))
    #expect(try SweepPipeline.state(of: sweep.runs[1]) == .resumable)
    #expect(try SweepPipeline.state(of: sweep.runs[0]) == .new)
    let resumed = Mutex<[Int]>([])
    let outcome = try SweepPipeline.run(
      sweep, jobs: 1,
      runner: { run, resume in
        if resume { resumed.withLock { $0.append(Int(run.seed)) } }
        if run.combination == 1 && run.seed == 1 { throw RunFolderError(path: run.folder.path, reason: "broke") }
        try Self.writeFinishedRun(run)
      })
    #expect(resumed.withLock { $0 } == [1])
    #expect(outcome.trained == [0, 1, 2] && outcome.failed.map(\.run) == [3])
    #expect(outcome.failed.first?.reason.contains("broke") == true)
    let summary = try SweepPipeline.summarize(sweep, resamples: 200)
    #expect(summary.missingRuns == [sweep.runs[3].folder.path])
    #expect(summary.rows[1].pairedSeeds == [0], "only the seeds both finished are paired")

    // The same output with other settings: the finished runs are not taken for the new ones.
    let changed = try plan(in: folder, extra: "epochs: 3")
    #expect {
      try SweepPipeline.state(of: changed.runs[0])
    } throws: { "\($0)".contains("holds a run with other settings (epochs 3 here, 10 there)") }
  }

  /// A stop (Ctrl-C) during the first run starts no more runs. The run itself either finishes, or
  /// ends with an error (a child `train` exits with status 130 having saved): then it was stopped, not
  /// broken, and is neither trained nor failed, to resume next time.
  @Test(arguments: [false, true]) func aStopStartsNoMoreRunsAndIsNotAFailure(runEndsWithAnError: Bool) throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let sweep = try plan(in: folder)
    let stop = Atomic<Bool>(false)
    let outcome = try SweepPipeline.run(
      sweep, jobs: 1,
      runner: { run, _ in
        stop.store(true, ordering: .relaxed)
        if runEndsWithAnError { throw RunFolderError(path: run.folder.path, reason: "exited with status 130") }
        try Self.writeFinishedRun(run)
      }, stopRequested: { stop.load(ordering: .relaxed) })
    #expect(outcome.trained == (runEndsWithAnError ? [] : [0]))
    #expect(outcome.failed.isEmpty && outcome.interrupted)
  }

  /// Two real runs through the training pipeline: a 50% subset trained for a fixed number of steps,
  /// baseline and OS, summarised.
  @Test func realRunsOnASubsetAreTrainedAndSummarised() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    try SyntheticChestXRay.writeDataset(to: folder, counts: [("train", 6), ("val", 2), ("test", 3)], size: 64, seed: 1)
    let sweep = try SweepPlan.parse(
      yaml: """
        model: {image-size: 32}
        data: {train: \(folder)/train.txt, val: \(folder)/val.txt, test: \(folder)/test.txt, train-fraction: 0.5}
        schedule: {steps: 3, warmup-epochs: 0}
        machine: {workers: 1}
        training: {batch-size: 4}
        grid: {lambda: [0, 0.1]}
        baseline: {lambda: 0}
        output: \(folder)/sweep
        """, source: "test.yaml")
    let detectorImages = Mutex<[Int]>([])
    let outcome = try SweepPipeline.run(
      sweep, jobs: 1,
      runner: { run, resume in
        let trained = try TrainingPipeline.train(run.settings, resume: resume)
        detectorImages.withLock { $0.append(trained.outOfDistribution?.trainingImages ?? 0) }
      })
    #expect(outcome.trained == [0, 1] && outcome.failed.isEmpty)
    #expect(detectorImages.withLock { $0 } == [9, 9], "the OOD detector learns the subset the model trained on")
    let subset = try String(contentsOfFile: sweep.runs[0].folder.trainingSubset, encoding: .utf8)
    #expect(subset.split(separator: "\n").count == 1 + 9, "a heading and half of the 18 images")
    #expect(try String(contentsOfFile: sweep.runs[1].folder.trainingSubset, encoding: .utf8) == subset)
    let summary = try SweepPipeline.summarize(sweep, resamples: 100)
    #expect(summary.rows[1].differences["accuracy"] != nil && summary.rows[0].metrics["accuracy"] != nil)
    #expect(summary.rows[0].metrics["ECE before calibration"] != nil)
  }
}
