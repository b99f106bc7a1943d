import Datasets
import Engine
import Evaluation
import Foundation
import Models

/// A model as a checkpoint describes it: architecture, classes, preprocessing and, once calibrated,
/// its temperature; loaded and in evaluation mode.
public struct TrainedModel {
  public let model: any ImageClassifier
  public let description: CheckpointFile.ModelDescription
  /// The out-of-distribution detector fitted to the model (`orthocxr ood fit`), if any.
  public var outOfDistribution: OutOfDistributionDetector?

  public var architecture: Architecture { description.architecture }
  public var classes: [String] { description.classes }
  public var preprocessing: Preprocessing { description.preprocessing }
  public var labelMap: LabelMap { description.labelMap }
  /// The temperature fitted by calibration (1 when uncalibrated).
  public var temperature: Double { description.temperature ?? 1 }
  public var isCalibrated: Bool { description.temperature != nil }

  /// Loads a checkpoint of orthocxr train or calibrate, or a plain state dict with `facts` for what it
  /// does not say (architecture, label map, image size, channels).
  public static func load(_ path: String, facts: CheckpointFile.ModelFacts = .init()) throws -> TrainedModel {
    let (state, description, detector) = try CheckpointFile.readModel(path, facts: facts)
    // Strict loading replaces every parameter and buffer, so none is drawn at random first.
    let model = try Initializer.withoutDrawing {
      try description.architecture.make(
        classCount: description.classes.count, inputChannels: description.preprocessing.channels)
    }
    do {
      try model.loadStateDict(state, strict: true)
    } catch {
      throw CheckpointError(path: path, reason: "cannot be loaded: \(error)")
    }
    model.eval()
    return TrainedModel(model: model, description: description, outOfDistribution: detector)
  }

  /// Logits and every OOD score of a batch of preprocessed images (one forward pass), with the
  /// detector's verdict per image; nil verdicts when the model has no detector.
  public func logitsAndAssessments(_ batch: Tensor, mixedPrecision: Bool = true) throws -> (
    logits: [[Double]], assessments: [OutOfDistributionAssessment?]
  ) {
    let device = model.device
    let (logits, features) = try noGrad {
      let (logits, features) = try Autocast.run(if: mixedPrecision, on: device) { try model.logitsAndFeatures(batch) }
      return (logits, features)
    }
    let rows = try Predictor.rows(logits)
    guard let detector = outOfDistribution else { return (rows, rows.map { _ in nil }) }
    return (rows, zip(rows, try Predictor.rows(features)).map { detector.assess(logits: $0, features: $1) })
  }
}
