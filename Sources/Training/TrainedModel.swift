import Datasets
import Engine
import Foundation
import Models

/// A model as a checkpoint describes it: architecture, classes, preprocessing and, once calibrated,
/// its temperature. Checkpoints written by the trainer carry these in their metadata.
public struct TrainedModel {
  public let model: any ImageClassifier
  public let architecture: Architecture
  public let classes: [String]
  public let preprocessing: Preprocessing
  public let labelMap: LabelMap
  /// The temperature fitted by `orthocxr calibrate` (1 when uncalibrated).
  public let temperature: Double
  public let metadata: [String: String]

  /// The metadata to store in checkpoints for a model trained with these settings.
  public static func metadata(
    architecture: Architecture, labelMap: LabelMap, labelMapText: String, preprocessing: Preprocessing
  ) -> [String: String] {
    [
      "architecture": architecture.rawValue, "classes": labelMap.classes.joined(separator: ","),
      "label_map": labelMapText, "channels": String(preprocessing.channels), "image_size": String(preprocessing.size),
      "crop": preprocessing.crop.rawValue,
      "normalization": preprocessing.normalization == .imagenet ? "imagenet" : "none",
    ]
  }

  /// Loads a trainer checkpoint (or any safetensors file with the same metadata).
  public static func load(_ path: String) throws -> TrainedModel {
    let (tensors, info) = try Safetensors.read(from: path)
    func field(_ key: String) throws -> String {
      guard let value = info[key] else {
        throw CheckpointError(
          path: path, reason: "has no \"\(key)\" in its metadata; was it written by orthocxr train?")
      }
      return value
    }
    guard let architecture = Architecture(rawValue: try field("architecture")) else {
      throw CheckpointError(path: path, reason: "names an unknown architecture \"\(info["architecture"] ?? "")\"")
    }
    let labelMap = try LabelMap.parse(try field("label_map"))
    let channels = Int(try field("channels")) ?? 1
    let preprocessing = Preprocessing(
      size: Int(try field("image_size")) ?? 224,
      crop: Preprocessing.Crop(rawValue: info["crop"] ?? "center") ?? .centerSquare,
      normalization: info["normalization"] == "none" ? .none : .imagenet, channels: channels)
    let model = try architecture.make(classCount: labelMap.classes.count, inputChannels: channels)
    let state =
      tensors.keys.contains { $0.hasPrefix("model.") }
      ? Dictionary(
        uniqueKeysWithValues: tensors.filter { $0.key.hasPrefix("model.") }.map {
          (String($0.key.dropFirst(6)), $0.value)
        })
      : tensors
    do {
      try model.loadStateDict(state, strict: true)
    } catch {
      throw CheckpointError(path: path, reason: "cannot be loaded: \(error)")
    }
    model.eval()
    return TrainedModel(
      model: model, architecture: architecture, classes: labelMap.classes, preprocessing: preprocessing,
      labelMap: labelMap, temperature: Double(info["orthocxr.temperature"] ?? "") ?? 1, metadata: info)
  }
}
