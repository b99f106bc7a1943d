import Datasets
import Engine
import Evaluation
import Foundation
import RunFiles
import Training

/// Temperature scaling on a validation split: fit T, report calibration before and after, and write
/// the calibrated model.
public enum CalibrationPipeline {
  public struct Result {
    public var temperature: Double
    public var images: Int
    public var before: EvaluationReport
    public var after: EvaluationReport
    public var destination: String

    /// The fitted temperature and NLL, ECE, Brier and accuracy before and after, as a table.
    public func render() -> String {
      var lines = [
        String(format: "fitted temperature T = %.4f on %d images", temperature, images),
        "          NLL      ECE      Brier    accuracy",
      ]
      for (name, report) in [("before", before), ("after ", after)] {
        lines.append(
          "  " + name
            + String(
              format: "  %.4f   %.4f   %.4f   %.1f%%", report.nll, report.ece.value, report.brier,
              report.accuracy.value * 100))
      }
      return lines.joined(separator: "\n")
    }
  }

  /// Fits a temperature for `checkpoint` on `split` and writes the calibrated model to `destination`
  /// (default: NAME-calibrated.safetensors beside the checkpoint).
  public static func calibrate(
    checkpoint: String, on split: String, loader: LoaderSettings, destination: String? = nil,
    facts: CheckpointFile.ModelFacts = .init()
  ) throws -> Result {
    Torch.threadCount = loader.threads
    let trained = try TrainedModel.load(checkpoint, facts: facts)
    let predictions = try SplitPredictions(
      model: trained,
      loader: loader.evaluationLoader(split, labelMap: trained.labelMap, preprocessing: trained.preprocessing))
    return try calibrate(
      checkpoint: checkpoint, predictions: predictions, classes: trained.classes, destination: destination)
  }

  /// The same from logits already computed.
  static func calibrate(
    checkpoint: String, predictions: SplitPredictions, classes: [String], destination: String?, resamples: Int = 200
  ) throws -> Result {
    let temperature = TemperatureScaling.fit(logits: predictions.logits, labels: predictions.labels)
    let before = EvaluationReport.compute(
      logits: predictions.logits, labels: predictions.labels, classes: classes, temperature: 1, resamples: resamples)
    let after = EvaluationReport.compute(
      logits: predictions.logits, labels: predictions.labels, classes: classes, temperature: temperature,
      resamples: resamples)
    let destination = destination ?? ((checkpoint as NSString).deletingPathExtension + "-calibrated.safetensors")
    try CheckpointFile.writeCalibrated(from: checkpoint, temperature: temperature, to: destination)
    return Result(
      temperature: temperature, images: predictions.labels.count, before: before, after: after,
      destination: destination)
  }
}

/// A checkpoint's metrics on a split, with bootstrap intervals, and its per-image predictions.
public enum EvaluationPipeline {
  public struct Result {
    /// With the checkpoint's temperature (unless asked for the uncalibrated model).
    public var report: EvaluationReport
    /// With T = 1.
    public var uncalibrated: EvaluationReport
    public var predictions: [PredictionsFile.Row]
    public var classes: [String]

    /// Writes the files that were asked for: metrics JSON, uncalibrated metrics JSON, predictions CSV.
    public func write(metrics: String?, uncalibratedMetrics: String?, predictions path: String?) throws {
      if let metrics { try JSONFile.write(report, to: metrics) }
      if let uncalibratedMetrics { try JSONFile.write(uncalibrated, to: uncalibratedMetrics) }
      if let path { try PredictionsFile.write(predictions, classes: classes, to: path) }
    }
  }

  public static func evaluate(
    checkpoint: String, on split: String, loader: LoaderSettings, resamples: Int = 1_000, seed: UInt64 = 0,
    ignoreTemperature: Bool = false, facts: CheckpointFile.ModelFacts = .init()
  ) throws -> Result {
    Torch.threadCount = loader.threads
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
        resamples: resamples, seed: seed),
      uncalibrated: EvaluationReport.compute(
        logits: predictions.logits, labels: predictions.labels, classes: classes, temperature: 1, resamples: resamples,
        seed: seed),
      predictions: predictions.rows(temperature: temperature), classes: classes)
  }
}
