import Foundation
import RunFiles
import Training

/// What the server says about its model (GET /v1/model and the page): the architecture and classes,
/// the calibration, and, when the checkpoint sits in its run folder, the training data, the settings
/// and the test metrics with their intervals. Built once at start.
public struct ModelCard: Sendable {
  /// The card as JSON (an object).
  public let json: Data
  /// Short: "resnet18, 3 classes, 224 px, calibrated (T = 1.23)".
  public let summary: String

  public static let intendedUse =
    "Research on chest X-ray classifiers. Not a medical device and not for diagnosis: every answer needs a clinician's reading."

  public init(checkpoint: String, trained: TrainedModel, checkpointSHA256: String) throws {
    let folder = RunFolder((checkpoint as NSString).deletingLastPathComponent)
    var card: [String: Any] = [
      "id": "\(trained.architecture.rawValue)-\(checkpointSHA256.prefix(12))",
      "checkpoint": (checkpoint as NSString).lastPathComponent,
      "checkpointSHA256": checkpointSHA256,
      "architecture": trained.architecture.rawValue,
      "classes": trained.classes,
      "imageSize": trained.preprocessing.size,
      "channels": trained.preprocessing.channels,
      "calibrated": trained.isCalibrated,
      "temperature": trained.temperature,
      "intendedUse": Self.intendedUse,
    ]
    if let detector = trained.outOfDistribution {
      card["outOfDistribution"] = [
        "method": detector.method.rawValue, "threshold": detector.thresholds[detector.method] ?? 0,
        "acceptance": detector.acceptance, "fittedOn": detector.provenance,
      ]
    }
    if let date = (try? FileManager.default.attributesOfItem(atPath: checkpoint))?[.modificationDate] as? Date {
      card["date"] = ISO8601DateFormatter().string(from: date)
    }
    if let settings = try? folder.readSettings() {
      card["training"] = [
        "train": settings.train as Any, "val": settings.val as Any, "test": settings.test as Any,
        "labelMap": settings.labelMap, "epochs": settings.training.epochs, "lambda": settings.training.lambda,
        "osVariant": "\(settings.training.osVariant)", "seed": settings.training.seed,
      ]
    }
    for (key, path) in [
      ("testMetrics", folder.testMetrics), ("testMetricsUncalibrated", folder.uncalibratedTestMetrics),
    ] {
      if let data = FileManager.default.contents(atPath: path),
        let object = try? JSONSerialization.jsonObject(with: data)
      {
        card[key] = object
      }
    }
    json = try JSONSerialization.data(withJSONObject: card, options: [.sortedKeys, .withoutEscapingSlashes])
    summary =
      "\(trained.architecture.rawValue), \(trained.classes.count) classes (\(trained.classes.joined(separator: ", "))), "
      + "\(trained.preprocessing.size) px, "
      + (trained.isCalibrated ? String(format: "calibrated (T = %.3f)", trained.temperature) : "not calibrated")
  }
}
