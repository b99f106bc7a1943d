import Foundation
import TestSupport
import Testing

@testable import Engine
@testable import Evaluation
@testable import Imaging
@testable import Pipelines
@testable import Reports
@testable import RunFiles
@testable import Training

@Suite(.serialized) struct StressPipelineTests {
  /// A small stress test of one model, given twice as two configurations: the clean accuracy is the
  /// evaluation's, the first configuration's corruption errors are 1 and the second's are the same
  /// (differences 0), clean heatmaps are perfectly stable, and every file and the page are written.
  @Test func aStressTestOfAModelAgainstItself() throws {
    let experiment = try TinyExperiment()
    defer { experiment.remove() }
    let run = try TrainingPipeline.train(experiment.settings)
    let output = experiment.folder + "/stress"
    var settings = StressPipeline.Settings()
    settings.families = [.blur, .border, .inversion]
    settings.severities = [1, 5]
    settings.heatmapImages = 3
    settings.resamples = 30
    let group = try StressPipeline.ModelGroup.resolve(run.folder.path)
    #expect(group.checkpoints == [run.folder.calibratedCheckpoint] && group.name == "run")
    let result = try StressPipeline.run(
      groups: [group, StressPipeline.ModelGroup(name: "again", checkpoints: group.checkpoints)],
      data: experiment.settings.test!, settings: settings, output: output)
    #expect(result.images == 9 && result.mappedImages == 3 && result.conditions.count == 1 + 3 * 2)
    let evaluation = try EvaluationPipeline.evaluate(
      checkpoint: run.folder.calibratedCheckpoint, on: experiment.settings.test!,
      loader: LoaderSettings(batchSize: 4, workers: 1), resamples: 10)
    let clean = try #require(result.conditions[0].configurations[0].accuracy?.value)
    #expect(abs(clean - evaluation.report.accuracy.value) <= 1.0 / 9 + 1e-9, "the clean condition is evaluation")
    for row in result.corruption {
      #expect(row.corruptionError[0].map { abs($0.value - 1) < 1e-12 } ?? true, "\(row.family)")
      #expect(row.corruptionError[0]?.value == row.corruptionError[1]?.value)
    }
    for condition in result.conditions {
      let difference = condition.configurations[1].accuracyDifference
      #expect(difference?.value == 0 && difference?.low == 0 && difference?.high == 0)
    }
    #expect(result.conditions[0].configurations[0].heatmapStability.map { abs($0.value - 1) < 1e-9 } ?? true)
    // Inverting the image is a different input: accuracy or confidence moves.
    let inverted = try #require(result.conditions.first { $0.family == "inverted-polarity" && $0.severity == 5 })
    #expect(
      inverted.configurations[0].accuracy?.value != clean
        || inverted.configurations[0].ece?.value != result.conditions[0].configurations[0].ece?.value)
    let written = try JSONFile.read(StressResult.self, from: output + "/stress.json")
    #expect(written.conditions.count == result.conditions.count && written.gallery.count == 1 + 3)
    #expect(FileManager.default.fileExists(atPath: output + "/gallery/clean.png"))
    #expect(try String(contentsOfFile: output + "/stress.md", encoding: .utf8).contains("| blur 5 |"))
    let page = try ReportPages.stress(result, folder: output)
    for section in ["summary", "curves", "corruption", "heatmaps", "gallery"] {
      #expect(page.contains("<section id=\"\(section)\">"), "\(section)")
    }
    #expect(page.contains("<svg") && page.contains("data:image/png;base64,") && !page.contains("src=\"http"))
  }

  /// A folder of seed-* runs is one configuration with a checkpoint per seed, in seed order; a
  /// folder with neither is refused by name.
  @Test func configurationsFromFolders() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    for seed in [10, 2] {
      try FileManager.default.createDirectory(atPath: folder + "/os/seed-\(seed)", withIntermediateDirectories: true)
      FileManager.default.createFile(atPath: folder + "/os/seed-\(seed)/best-calibrated.safetensors", contents: Data())
    }
    let group = try StressPipeline.ModelGroup.resolve(folder + "/os")
    #expect(group.name == "os")
    #expect(
      group.checkpoints.map { ($0 as NSString).pathComponents.suffix(2).joined(separator: "/") } == [
        "seed-2/best-calibrated.safetensors", "seed-10/best-calibrated.safetensors",
      ])
    #expect(throws: CheckpointError.self) { try StressPipeline.ModelGroup.resolve(folder) }
  }

  /// On real X-rays (the mini split), a model trained briefly loses accuracy when the image is
  /// framed in black at severity 5 (a fifth of the side on every edge) or its polarity inverted:
  /// both are large changes a chest X-ray classifier is not trained for.
  @Test(SharedData.required) func realXRaysSufferUnderLargeShifts() throws {
    var experiment = try TinyExperiment()
    defer { experiment.remove() }
    let data = SharedData.path("covid-radiography")
    experiment.settings.train = data + "/mini_train.txt"
    experiment.settings.val = data + "/mini_test.txt"
    experiment.settings.test = nil
    experiment.settings.imageSize = 64
    experiment.settings.batchSize = 16
    experiment.settings.training.epochs = 3
    let run = try TrainingPipeline.train(experiment.settings)
    var settings = StressPipeline.Settings()
    settings.families = [.inversion, .border]
    settings.severities = [5]
    settings.heatmapImages = 6
    settings.resamples = 50
    let result = try StressPipeline.run(
      groups: [StressPipeline.ModelGroup(name: "mini", checkpoints: [run.folder.bestCheckpoint])],
      data: data + "/mini_test.txt", settings: settings)
    let clean = try #require(result.conditions[0].configurations[0].accuracy?.value)
    let worst = result.conditions.dropFirst().compactMap { $0.configurations[0].accuracy?.value }.min() ?? 1
    #expect(result.images == 48 && clean > 0.5 && worst < clean, "clean \(clean), worst \(worst)")
  }
}
