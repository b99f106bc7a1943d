import Evaluation
import Foundation
import RunFiles
import TestSupport
import Testing

@testable import Reports

/// Reports are built from the files alone (no libtorch in this target): a run folder written by the
/// RunFiles writers gives a page with its curves and metrics.
@Suite struct ReportTests {
  @Test func aRunFolderWrittenByTheFormatOwnersBecomesAPage() throws {
    let path = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: path) }
    let folder = RunFolder(path + "/os")
    var settings = ExperimentSettings()
    settings.training.lambda = 0.01
    try folder.writeSettings(settings, classes: ["COVID-19", "normal"])
    let log = TrainingLog(path: folder.log)
    try log.append(.start(settings: settings.training))
    for step in 1...3 {
      try log.append(
        .step(
          StepRecord(
            epoch: 0, step: step * 10, loss: 1 / Double(step), crossEntropy: 0.9 / Double(step), os: 0.2,
            learningRate: 0.001)))
    }
    try log.append(
      .epoch(
        EpochRecord(
          epoch: 1, trainingLoss: 0.5, crossEntropy: 0.45, orthogonalSpheres: 0.2, learningRate: 0.001,
          validation: nil, seconds: 3)))
    let logits: [[Double]] = [[2, 0], [0, 2], [1, 0], [0, 1]]
    try JSONFile.write(
      EvaluationReport.compute(
        logits: logits, labels: [0, 1, 1, 1], classes: ["COVID-19", "normal"], resamples: 50,
        detector: .init(method: .mahalanobis, scores: [1, 2, 3, 40], threshold: 10)),
      to: folder.testMetrics)
    let run = try RunArtifacts.load(folder.path)
    #expect(run.epochs.count == 1 && run.steps.count == 3 && run.test?.samples == 4)
    let html = try ReportPages.run(run)
    #expect(html.contains("Orthogonal Spheres term") && html.contains("75.0%"))
    // The risk–coverage chart has both orderings; the flagged image is counted.
    #expect(html.contains("<section id=\"selective\">") && html.contains("mahalanobis OOD score (lowest first)"))
    #expect(html.contains("1 of 4 test images (25.0%) scored above the mahalanobis threshold 10"))
  }

  @Test func aFolderWithoutALogIsRefusedWithAReason() throws {
    let path = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: path) }
    let error = #expect(throws: ReportError.self) { try RunArtifacts.load(path) }
    #expect(error?.description.contains("log.jsonl") == true)
  }
}
