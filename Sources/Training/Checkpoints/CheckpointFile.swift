import Datasets
import Engine
import Evaluation
import Foundation
import Models

/// The layout of OrthoCXR's checkpoints, and its only reader and writer.
///
/// A checkpoint is a safetensors file. A training checkpoint (`last.safetensors`, `best.safetensors`)
/// holds the model's state dict under `model.`, the optimizer's under `optimizer.`, libtorch's random
/// state as `rng_state`, and in its metadata the model's description (architecture, label map,
/// preprocessing) and the training position (`orthocxr.epoch`, …). A model checkpoint
/// (`best-calibrated.safetensors`) is the same without optimizer and random state, plus the fitted
/// temperature. A plain state dict (from `orthocxr checkpoint init` or `convert`, or torchvision's
/// weights as .pth) has no prefixes and no metadata; the facts it lacks come from `ModelFacts`.
public enum CheckpointFile {
  static let modelPrefix = "model."
  static let optimizerPrefix = "optimizer."
  static let randomStateKey = "rng_state"

  /// The metadata keys.
  enum Key {
    static let architecture = "architecture"
    static let classes = "classes"
    static let labelMap = "label_map"
    static let channels = "channels"
    static let imageSize = "image_size"
    static let crop = "crop"
    static let normalization = "normalization"
    static let temperature = "orthocxr.temperature"
    static let epoch = "orthocxr.epoch"
    static let batch = "orthocxr.batch"
    static let step = "orthocxr.step"
    static let staleEpochs = "orthocxr.stale_epochs"
    static let bestScore = "orthocxr.best_score"
    static let bestEpoch = "orthocxr.best_epoch"
  }

  // MARK: Model description

  /// What a checkpoint says about its model: enough to build it and to feed it.
  public struct ModelDescription: Equatable, Sendable {
    public var architecture: Architecture
    /// The label map as the user wrote it (a preset's name or label=class pairs).
    public var labelMapText: String
    public var labelMap: LabelMap
    public var preprocessing: Preprocessing
    /// The temperature fitted by calibration; nil when the model is uncalibrated.
    public var temperature: Double?

    public init(
      architecture: Architecture, labelMapText: String, preprocessing: Preprocessing, temperature: Double? = nil
    ) throws {
      self.architecture = architecture
      self.labelMapText = labelMapText
      self.labelMap = try LabelMap.parse(labelMapText)
      self.preprocessing = preprocessing
      self.temperature = temperature
    }

    public var classes: [String] { labelMap.classes }

    var metadata: [String: String] {
      var info = [
        Key.architecture: architecture.rawValue, Key.classes: classes.joined(separator: ","),
        Key.labelMap: labelMapText, Key.channels: String(preprocessing.channels),
        Key.imageSize: String(preprocessing.size), Key.crop: preprocessing.crop.rawValue,
        Key.normalization: preprocessing.normalization == .imagenet ? "imagenet" : "none",
      ]
      if let temperature { info[Key.temperature] = String(temperature) }
      return info
    }

    /// Parses the metadata strictly: a missing or malformed field is an error naming the file and the
    /// field (and the option that can supply it), never a default. `facts` fill in what is missing.
    static func parse(_ info: [String: String], facts: ModelFacts, path: String) throws -> ModelDescription {
      func field<Value>(_ key: String, given: Value?, option: String, _ parse: (String) -> Value?) throws -> Value {
        if let text = info[key] {
          guard let value = parse(text) else {
            throw CheckpointError(path: path, reason: "has an invalid \"\(key)\" in its metadata: \"\(text)\"")
          }
          return value
        }
        guard let given else {
          throw CheckpointError(
            path: path, reason: "has no \"\(key)\" in its metadata (not written by orthocxr train?); give \(option)")
        }
        return given
      }
      let architecture = try field(
        Key.architecture, given: facts.architecture, option: "--model", Architecture.init(rawValue:))
      let labelMapText = try field(Key.labelMap, given: facts.labelMap, option: "--label-map") { $0 }
      let channels = try field(Key.channels, given: facts.channels, option: "--channels") { Int($0) }
      let size = try field(Key.imageSize, given: facts.imageSize, option: "--image-size") { Int($0) }
      let crop = try field(Key.crop, given: Preprocessing.Crop.centerSquare, option: "") {
        Preprocessing.Crop(rawValue: $0)
      }
      let normalization = try field(Key.normalization, given: Preprocessing.Normalization.imagenet, option: "") {
        ["imagenet": Preprocessing.Normalization.imagenet, "none": Preprocessing.Normalization.none][$0]
      }
      let temperature = try info[Key.temperature].map { text in
        guard let value = Double(text), value > 0, value.isFinite else {
          throw CheckpointError(path: path, reason: "has an invalid temperature \"\(text)\" in its metadata")
        }
        return value
      }
      do {
        return try ModelDescription(
          architecture: architecture, labelMapText: labelMapText,
          preprocessing: Preprocessing(size: size, crop: crop, normalization: normalization, channels: channels),
          temperature: temperature)
      } catch {
        throw CheckpointError(path: path, reason: "has a label map that cannot be read: \(error)")
      }
    }
  }

  /// Facts about a model that a plain state dict does not carry, given on the command line.
  public struct ModelFacts: Equatable, Sendable {
    public var architecture: Architecture?
    public var labelMap: String?
    public var imageSize: Int?
    public var channels: Int?

    public init(architecture: Architecture? = nil, labelMap: String? = nil, imageSize: Int? = nil, channels: Int? = nil)
    {
      self.architecture = architecture
      self.labelMap = labelMap
      self.imageSize = imageSize
      self.channels = channels
    }
  }

  // MARK: Training checkpoints

  /// Where a training run is: what a resumed run continues from.
  public struct TrainingPosition: Equatable, Sendable {
    public var epoch = 0
    public var batch = 0
    public var step = 0
    public var bestScore: Double?
    public var bestEpoch: Int?
    public var staleEpochs = 0

    public init() {}

    var metadata: [String: String] {
      var info = [
        Key.epoch: String(epoch), Key.batch: String(batch), Key.step: String(step),
        Key.staleEpochs: String(staleEpochs),
      ]
      if let bestScore { info[Key.bestScore] = String(bestScore) }
      if let bestEpoch { info[Key.bestEpoch] = String(bestEpoch) }
      return info
    }

    static func parse(_ info: [String: String], path: String) throws -> TrainingPosition {
      func integer(_ key: String) throws -> Int {
        guard let text = info[key], let value = Int(text) else {
          throw CheckpointError(path: path, reason: "is not a training checkpoint: \"\(key)\" is missing or invalid")
        }
        return value
      }
      var position = TrainingPosition()
      position.epoch = try integer(Key.epoch)
      position.batch = try integer(Key.batch)
      position.step = try integer(Key.step)
      position.staleEpochs = try integer(Key.staleEpochs)
      position.bestScore = try info[Key.bestScore].map { text in
        guard let value = Double(text) else {
          throw CheckpointError(path: path, reason: "has an invalid \"\(Key.bestScore)\": \"\(text)\"")
        }
        return value
      }
      position.bestEpoch = try info[Key.bestEpoch].map { _ in try integer(Key.bestEpoch) }
      return position
    }
  }

  /// The state a training checkpoint holds.
  public struct TrainingState {
    public var model: [String: Tensor]
    public var optimizer: [String: Tensor]
    public var randomState: Tensor?
    public var position: TrainingPosition
  }

  /// Writes a training checkpoint (atomically: a temporary file renamed), with the content hash
  /// that `readTraining` checks; with `previous`, the file it replaces is kept there.
  public static func writeTraining(
    model: [String: Tensor], optimizer: [String: Tensor], description: ModelDescription?,
    position: TrainingPosition, to path: String, keepingPrevious previous: String? = nil
  ) throws {
    var tensors: [String: Tensor] = [:]
    for (name, tensor) in model { tensors[modelPrefix + name] = tensor }
    for (name, tensor) in optimizer { tensors[optimizerPrefix + name] = tensor }
    tensors[randomStateKey] = try Torch.randomState()
    let info = (description?.metadata ?? [:]).merging(position.metadata) { _, position in position }
    try Safetensors.write(tensors, metadata: info, to: path, keepingPrevious: previous)
  }

  /// A training checkpoint, its content hash verified: a damaged file is refused by name.
  public static func readTraining(_ path: String) throws -> TrainingState {
    let (tensors, info) = try Safetensors.read(from: path, verifying: true)
    let model = part(tensors, prefix: modelPrefix)
    guard !model.isEmpty else {
      throw CheckpointError(path: path, reason: "is not a training checkpoint: it holds no model.* tensors")
    }
    return TrainingState(
      model: model, optimizer: part(tensors, prefix: optimizerPrefix), randomState: tensors[randomStateKey],
      position: try TrainingPosition.parse(info, path: path))
  }

  // MARK: Model checkpoints

  /// The model's state dict of any checkpoint: the `model.` part of an OrthoCXR checkpoint, or a plain
  /// state dict (.safetensors or .pth, with the usual "state_dict"/"module." wrappers removed).
  public static func modelState(_ path: String) throws -> [String: Tensor] {
    try modelState(of: Checkpoint.read(from: path))
  }

  static func modelState(of tensors: [String: Tensor]) -> [String: Tensor] {
    let model = part(tensors, prefix: modelPrefix)
    return model.isEmpty ? Checkpoint.unwrapped(tensors) : model
  }

  /// The model's state dict and description, for inference, and its out-of-distribution detector
  /// when `orthocxr ood fit` gave it one.
  public static func readModel(_ path: String, facts: ModelFacts = ModelFacts()) throws -> (
    state: [String: Tensor], description: ModelDescription, detector: OutOfDistributionDetector?
  ) {
    guard FileManager.default.fileExists(atPath: path) else {
      throw CheckpointError(path: path, reason: "does not exist")
    }
    if path.hasSuffix(".safetensors") {
      // For inference the optimizer state (twice the model's size in a training checkpoint) and the
      // random state stay on disk.
      let (tensors, info) = try Safetensors.read(from: path) {
        !$0.hasPrefix(optimizerPrefix) && $0 != randomStateKey
      }
      return (
        modelState(of: tensors.filter { !$0.key.hasPrefix(detectorPrefix) }),
        try ModelDescription.parse(info, facts: facts, path: path), try detector(in: tensors, info: info, path: path)
      )
    }
    return (try modelState(path), try ModelDescription.parse([:], facts: facts, path: path), nil)
  }

  /// Writes the model of `checkpoint` with `temperature` in its metadata, without the optimizer and the
  /// random state: a model, not a training state.
  public static func writeCalibrated(from checkpoint: String, temperature: Double, to destination: String) throws {
    var (tensors, info) = try Safetensors.read(from: checkpoint)
    info[Key.temperature] = String(temperature)
    tensors = tensors.filter { !$0.key.hasPrefix(optimizerPrefix) && $0.key != randomStateKey }
    try Safetensors.write(tensors, metadata: info, to: destination)
  }

  static func part(_ tensors: [String: Tensor], prefix: String) -> [String: Tensor] {
    Dictionary(
      uniqueKeysWithValues: tensors.filter { $0.key.hasPrefix(prefix) }.map {
        (String($0.key.dropFirst(prefix.count)), $0.value)
      })
  }
}
