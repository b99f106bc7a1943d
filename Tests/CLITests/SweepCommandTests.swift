import Foundation
import TestSupport
import Testing

/// `orthocxr sweep` through the command line: each run in a child `orthocxr train`, a cut-off run
/// resumed on the second call, the summary files, the dry run and a missing file.
@Suite(SharedData.required) struct SweepCommandTests {
  @Test func aSweepTrainsInChildProcessesResumesAndSummarises() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let data = SharedData.path("covid-radiography")
    let file = folder + "/sweep.yaml"
    try """
    model: {image-size: 32}
    data: {train: \(data)/mini_train.txt, val: \(data)/mini_test.txt, test: \(data)/mini_test.txt, train-fraction: 0.5}
    schedule: {steps: 3, warmup-epochs: 0}
    grid: {lambda: [0, 0.01]}
    seeds: [0]
    baseline: {lambda: 0}
    output: \(folder)/sweep
    """.write(toFile: file, atomically: true, encoding: .utf8)

    let dry = try Orthocxr.run(["sweep", "--config", file, "--dry-run"])
    #expect(dry.status == 0, "\(dry.output)")
    #expect(dry.output.contains("2 combinations × 1 seeds = 2 runs") && dry.output.contains("compared with lambda-0"))
    #expect(dry.output.contains("seed 0: new"))

    let first = try Orthocxr.run(["sweep", "--config", file, "--jobs", "2"])
    #expect(first.status == 0, "\(first.output)")
    #expect(first.output.contains("2 to start; 2 at a time"))
    #expect(first.output.contains("finished in") && first.output.contains("· test accuracy"))
    #expect(first.output.contains("| lambda-0.01 | 1 |"))
    for name in ["summary.md", "summary.csv", "summary.json", "summary.html"] {
      #expect(FileManager.default.fileExists(atPath: "\(folder)/sweep/\(name)"), "\(name) missing")
    }
    let log = try String(contentsOfFile: folder + "/sweep/lambda-0.01/seed-0/train.out", encoding: .utf8)
    #expect(log.contains("training resnet18 on 72 images") && log.contains("3 steps"))
    let resolved = try String(contentsOfFile: folder + "/sweep/lambda-0.01/seed-0/config.yaml", encoding: .utf8)
    // Yams writes numbers in exponent form.
    #expect(resolved.contains("lambda: 1e-2") && resolved.contains("train-fraction: 5e-1"), "\(resolved)")

    // A run cut off after training: its checkpoints are there, its predictions are not.
    try FileManager.default.removeItem(atPath: folder + "/sweep/lambda-0/seed-0/test-predictions.csv")
    let second = try Orthocxr.run(["sweep", "--config", file])
    #expect(second.status == 0, "\(second.output)")
    #expect(second.output.contains("1 finished already, 1 to resume, 0 to start"))
    #expect(second.output.contains("lambda-0/seed-0 (resuming)"))
    #expect(FileManager.default.fileExists(atPath: folder + "/sweep/lambda-0/seed-0/test-predictions.csv"))

    let missing = try Orthocxr.run(["sweep", "--config", folder + "/none.yaml"])
    #expect(missing.status != 0 && missing.output.contains("the sweep file does not exist"))
  }
}
