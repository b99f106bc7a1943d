import Foundation
import TestSupport
import Testing

@testable import Engine
@testable import Evaluation
@testable import Imaging
@testable import Pipelines
@testable import RunFiles
@testable import Training

@Suite(.serialized) struct OutOfDistributionPipelineTests {
  /// `train --test` fits the detector into best-calibrated.safetensors: it reads back as written,
  /// every threshold accepts at least 95% of the validation images, the test metrics carry the
  /// risk–coverage curves and the flagged count, and the predictions file the OOD columns.
  @Test func trainingFitsADetectorThatReadsBack() throws {
    let experiment = try TinyExperiment()
    defer { experiment.remove() }
    let run = try TrainingPipeline.train(experiment.settings)
    let fit = try #require(run.outOfDistribution)
    let trained = try TrainedModel.load(run.folder.calibratedCheckpoint)
    let detector = try #require(trained.outOfDistribution)
    #expect(detector.thresholds == fit.detector.thresholds && detector.method == .mahalanobis)
    #expect(detector.mahalanobis.means == fit.detector.mahalanobis.means)
    #expect(detector.neighbours == fit.detector.neighbours)
    // The whitening is stored as float32.
    #expect(
      zip(detector.mahalanobis.whitening, fit.detector.mahalanobis.whitening).allSatisfy {
        abs($0 - $1) <= 1e-6 * max(1, abs($1))
      })
    #expect(fit.validationAcceptance.values.allSatisfy { $0 >= 0.95 })
    #expect(fit.trainingImages == 12 && fit.validationImages == 6)
    let report = try #require(run.test?.report)
    #expect(report.selectivePrediction?.count == 2 && report.outOfDistribution?.method == .mahalanobis)
    let (_, rows) = try PredictionsFile.read(run.folder.testPredictions)
    #expect(rows.count == 9 && rows.allSatisfy { $0.outOfDistribution != nil })
    // The model's tensors are unchanged by the detector beside them.
    #expect(try modelTensors(run.folder.calibratedCheckpoint) == modelTensors(run.folder.bestCheckpoint))
  }

  /// The verdicts of one pass over decoded images equal those of the evaluation loader, and
  /// `predict --abstain` gives no class exactly to the flagged images; without a detector it refuses.
  @Test func predictAbstainsOnFlaggedImages() throws {
    let experiment = try TinyExperiment()
    defer { experiment.remove() }
    let run = try TrainingPipeline.train(experiment.settings)
    let noise = experiment.folder + "/noise.png"
    try ImageWriter.writePNG(NonRadiographs.make(count: 1, size: 64).first!.image, to: noise, bitDepth: 8)
    let images = [experiment.folder + "/images", noise]
    let answered = try PredictionPipeline.predict(
      checkpoint: run.folder.calibratedCheckpoint, images: images, heatmaps: nil, abstain: true)
    #expect(answered.predictions.count == 28)
    for prediction in answered.predictions {
      let verdict = try #require(prediction.outOfDistribution)
      #expect(prediction.abstained == verdict.flagged)
      #expect((prediction.prediction == nil) == verdict.flagged)
    }
    let withMaps = try PredictionPipeline.predict(
      checkpoint: run.folder.calibratedCheckpoint, images: images, heatmaps: .init(folder: experiment.folder + "/maps"))
    for (a, b) in zip(answered.predictions, withMaps.predictions) {
      #expect(a.outOfDistribution == b.outOfDistribution, "the same verdict with or without heatmaps")
    }
    #expect(throws: CheckpointError.self) {
      try PredictionPipeline.predict(
        checkpoint: run.folder.bestCheckpoint, images: images, heatmaps: nil, abstain: true)
    }
  }

  /// End to end on real X-rays: a ResNet-18 trained briefly on the mini split; the paediatric
  /// Kermany sample and generated non-radiographs as OOD sets. Even this weak model's features place
  /// the generated images far from any X-ray: the best score separates them (AUROC > 0.8; the k-NN
  /// score gave 0.93 [0.85, 0.97] at 64 px, 2 epochs). Every Kermany image is scored.
  @Test(SharedData.required) func theBenchmarkSeparatesNonRadiographs() throws {
    var experiment = try TinyExperiment()
    defer { experiment.remove() }
    let data = SharedData.path("covid-radiography")
    experiment.settings.train = data + "/mini_train.txt"
    experiment.settings.val = data + "/mini_test.txt"
    experiment.settings.test = data + "/mini_test.txt"
    experiment.settings.imageSize = 64
    experiment.settings.batchSize = 16
    experiment.settings.training.epochs = 2
    let run = try TrainingPipeline.train(experiment.settings)
    let result = try OutOfDistributionPipeline.benchmark(
      checkpoint: run.folder.calibratedCheckpoint, inDistribution: data + "/mini_test.txt",
      sets: [.init(name: "paediatric", paths: [SharedData.path("kermany-sample")])], synthetic: 14,
      perturbations: [Perturbation(.border, severity: 5)], loader: LoaderSettings(workers: 1), resamples: 100)
    #expect(result.inDistributionImages == 48)
    // The thresholds were set on these very images: each accepts at least 95% of them.
    #expect(result.inDistributionFlagged.values.allSatisfy { $0 <= 0.05 })
    let paediatric = try #require(result.sets.first { $0.name == "paediatric" })
    #expect(paediatric.images == 16 && paediatric.leftOut.isEmpty)
    #expect(paediatric.methods.allSatisfy { ($0.auroc?.value ?? -1) >= 0 && ($0.auroc?.value ?? 2) <= 1 })
    let synthetic = try #require(result.sets.first { $0.name == "synthetic non-radiographs" })
    let best = synthetic.methods.compactMap { $0.auroc?.value }.max() ?? 0
    #expect(synthetic.images == 14 && best > 0.8, "AUROC of the best score: \(best)")
    #expect(result.markdown().contains("| paediatric | 16 | mahalanobis |"))
    // The split's own images framed in black are one more set, every image scored.
    let framed = try #require(result.sets.first { $0.name == "border 5 (the split perturbed)" })
    #expect(framed.images == 48 && framed.scores[.mahalanobis]?.count == 48)
  }
}
