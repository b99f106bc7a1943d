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
    CPUMemoryCache.enableForLoops()
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
