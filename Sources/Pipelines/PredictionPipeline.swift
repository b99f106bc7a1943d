import Datasets
import Engine
import Explanations
import Foundation
import Imaging
import RunFiles
import Training

/// Classifies X-rays one by one: class, calibrated probabilities and, when asked, where the model
/// looked.
public enum PredictionPipeline {
  public struct Prediction: Encodable {
    public var path: String
    public var prediction: String
    public var probabilities: [String: Double]
    /// The overlay written, when heatmaps were asked for.
    public var heatmap: String?
  }

  public struct Result {
    public var model: TrainedModel
    public var predictions: [Prediction]
    /// The same as rows of a predictions file (no labels).
    public var rows: [PredictionsFile.Row]
  }

  /// Heatmaps: the method and the folder for NAME.png overlays and maps/NAME.png.
  public struct Heatmaps {
    public var folder: String
    public var method: CAMMethod

    public init(folder: String, method: CAMMethod = .gradCAM) {
      self.folder = folder
      self.method = method
    }
  }

  /// `heatmaps` nil: a forward pass only, no class activation maps.
  public static func predict(
    checkpoint: String, images: [String], heatmaps: Heatmaps?, threads: Int = 2, batchSize: Int = 16,
    device: Device = .cpu, facts: CheckpointFile.ModelFacts = .init(), output say: PipelineOutput = .silent
  ) throws -> Result {
    Torch.threadCount = threads
    let trained = try TrainedModel.load(checkpoint, facts: facts)
    try trained.model.place(on: device)
    var items: [(path: String, label: Int?)] = []
    for path in images {
      items += try imageInputs(path, labelMap: trained.labelMap, imageFolder: nil).map { ($0.path, nil) }
    }
    guard !items.isEmpty else {
      throw DatasetError(path: images.joined(separator: ", "), reason: "holds no images")
    }
    var rows: [PredictionsFile.Row] = []
    var overlays: [String?] = []
    if let heatmaps {
      var settings = ExplanationPipeline.Settings()
      settings.method = heatmaps.method
      settings.faithfulness = false
      settings.batchSize = batchSize
      let pipeline = try ExplanationPipeline(
        model: trained.model, preprocessing: trained.preprocessing, temperature: trained.temperature,
        settings: settings)
      let results = try pipeline.run(items, writingTo: heatmaps.folder) { done, total in
        say.progress("\(done)/\(total) images")
      }
      rows = results.map { PredictionsFile.Row(path: $0.path, label: nil, probabilities: $0.probabilities) }
      overlays = results.map { heatmaps.folder + "/" + $0.overlay }
    } else {
      rows = try classify(items.map(\.path), with: trained, batchSize: batchSize) { done, total in
        say.progress("\(done)/\(total) images")
      }
      overlays = Array(repeating: nil, count: rows.count)
    }
    say.progress(nil)
    let predictions = zip(rows, overlays).map { row, overlay in
      Prediction(
        path: row.path, prediction: trained.classes[row.predicted],
        probabilities: Dictionary(uniqueKeysWithValues: zip(trained.classes, row.probabilities)), heatmap: overlay)
    }
    return Result(model: trained, predictions: predictions, rows: rows)
  }

  /// Class probabilities (at the model's temperature) of each image: read, preprocess, one forward
  /// pass per batch.
  static func classify(
    _ paths: [String], with trained: TrainedModel, batchSize: Int, progress: (Int, Int) -> Void
  ) throws -> [PredictionsFile.Row] {
    let preprocessing = trained.preprocessing
    let device = trained.model.device
    var rows: [PredictionsFile.Row] = []
    var start = 0
    while start < paths.count {
      let chunk = Array(paths[start..<min(start + batchSize, paths.count)])
      let batch = try preprocessing.batch(chunk.map { preprocessing.resize(try ImageReader.read($0)) }, on: device)
      let logits = try noGrad { try Autocast.run(on: device) { try trained.model(batch) }.to(.float32) }
      let probabilities = try (logits / trained.temperature).softmax(dim: 1).to(.float64).toArray(Double.self)
      let classes = trained.classes.count
      for (index, path) in chunk.enumerated() {
        rows.append(
          PredictionsFile.Row(
            path: path, label: nil, probabilities: Array(probabilities[(index * classes)..<((index + 1) * classes)])))
      }
      start += chunk.count
      progress(start, paths.count)
    }
    return rows
  }
}
