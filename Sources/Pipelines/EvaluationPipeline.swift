import Engine
import Evaluation
import Foundation
import RunFiles
import Training

/// A checkpoint's metrics on a split, with bootstrap intervals, and its per-image predictions.
public enum EvaluationPipeline {
  public struct Result {
    /// With the checkpoint's temperature (unless asked for the uncalibrated model).
    public var report: EvaluationReport
    public var predictions: [PredictionsFile.Row]
    public var classes: [String]
    let split: SplitPredictions
    let temperature: Double
    let resamples: Int
    let seed: UInt64

    /// The metrics with T = 1: the same report when the temperature is 1, computed (a bootstrap) only
    /// when asked for otherwise.
    public func uncalibrated() -> EvaluationReport {
      guard temperature != 1 else { return report }
      return EvaluationReport.compute(
        logits: split.logits, labels: split.labels, classes: classes, temperature: 1, resamples: resamples, seed: seed,
        detector: split.detectorScores)
    }

    /// Writes the files that were asked for: metrics JSON, uncalibrated metrics JSON, predictions CSV.
    public func write(metrics: String?, uncalibratedMetrics: String?, predictions path: String?) throws {
      if let metrics { try JSONFile.write(report, to: metrics) }
      if let uncalibratedMetrics { try JSONFile.write(uncalibrated(), to: uncalibratedMetrics) }
      if let path { try PredictionsFile.write(predictions, classes: classes, to: path) }
    }
  }

  public static func evaluate(
    checkpoint: String, on split: String, loader: LoaderSettings, resamples: Int = 1_000, seed: UInt64 = 0,
    ignoreTemperature: Bool = false, facts: CheckpointFile.ModelFacts = .init()
  ) throws -> Result {
    Torch.threadCount = loader.threads
    CPUMemoryCache.enableForLoops()
    let trained = try TrainedModel.load(checkpoint, facts: facts)
    let predictions = try SplitPredictions(
      model: trained,
      loader: loader.evaluationLoader(
        split, labelMap: trained.labelMap, preprocessing: trained.preprocessing, seed: seed))
    return evaluate(
      predictions, classes: trained.classes, temperature: ignoreTemperature ? 1 : trained.temperature,
      resamples: resamples, seed: seed)
  }

  static func evaluate(
    _ predictions: SplitPredictions, classes: [String], temperature: Double, resamples: Int, seed: UInt64
  ) -> Result {
    Result(
      report: EvaluationReport.compute(
        logits: predictions.logits, labels: predictions.labels, classes: classes, temperature: temperature,
        resamples: resamples, seed: seed, detector: predictions.detectorScores),
      predictions: predictions.rows(temperature: temperature), classes: classes, split: predictions,
      temperature: temperature, resamples: resamples, seed: seed)
  }
}
