import Datasets
import Engine
import Foundation
import Imaging
import Models
import RunFiles

/// Which class a heatmap explains.
public enum ExplanationTarget: Equatable, Sendable {
  /// The model's prediction (the default).
  case predicted
  /// The image's true class (the prediction for unlabeled images).
  case label
  /// One class, by index.
  case fixed(Int)
}

/// Explains images end to end: read, preprocess, heatmap, overlay at the original size, raw map, and
/// the faithfulness and localisation metrics. What `orthocxr explain` and `predict` run.
public final class ExplanationPipeline {
  public struct Settings: Sendable {
    public var method: CAMMethod = .gradCAM
    /// The layer to explain; nil for the model's last convolutional block.
    public var layer: String?
    public var target: ExplanationTarget = .predicted
    /// Whether to compute deletion, insertion and ROAD (three dozen forward passes per image).
    public var faithfulness = true
    /// Steps of the deletion and insertion curves.
    public var steps = 20
    /// The share of pixels ROAD imputes.
    public var roadFraction = 0.2
    /// The Gaussian blur of the deletion/insertion baseline, as a fraction of the input size
    /// (σ = 8 pixels at 224).
    public var blurFraction = 8.0 / 224
    /// Score the perturbed images in bfloat16 autocast (as `evaluate` does); the maps are float32.
    public var mixedPrecisionScoring = true
    public var batchSize = 16
    /// Weight of the colours in the overlay.
    public var opacity: Float = 0.5

    public init() {}
  }

  public let model: any ImageClassifier
  public let preprocessing: Preprocessing
  public let temperature: Double
  public let settings: Settings
  public let explainer: CAMExplainer
  /// The model prepared for scoring the perturbed images of the faithfulness metrics, in the scoring
  /// precision (a ResNet on CPU; nil otherwise, and the model scores them).
  let scorer: PreparedClassifier?

  public init(model: any ImageClassifier, preprocessing: Preprocessing, temperature: Double = 1, settings: Settings)
    throws
  {
    self.model = model
    self.preprocessing = preprocessing
    self.temperature = temperature
    self.settings = settings
    // Prepared models (BatchNorm folded, oneDNN's fused convolutions; see PreparedClassifier): the
    // maps in float32 through the closed-form gradient of the last stage, the scoring as set.
    // One prepared model when both are float32.
    let onCPU = model.device == .cpu
    let prepared = onCPU ? try PreparedClassifier.prepare(model) : nil
    self.explainer = try CAMExplainer(classifier: model, layer: settings.layer, prepared: prepared)
    self.scorer =
      settings.mixedPrecisionScoring && onCPU ? try PreparedClassifier.prepare(model, dtype: .bfloat16) : prepared
    model.eval()
  }

  /// Explains `images` (path and optional class index), writing `overlays/NAME.png` and
  /// `maps/NAME.png` (16-bit) under `folder`. `progress` receives (done, total).
  public func run(
    _ images: [(path: String, label: Int?)], groundTruth: GroundTruth = GroundTruth(), writingTo folder: String,
    progress: ((Int, Int) -> Void)? = nil
  ) throws -> [ImageExplanation] {
    for subfolder in ["overlays", "maps"] {
      try FileManager.default.createDirectory(atPath: folder + "/" + subfolder, withIntermediateDirectories: true)
    }
    let names = Self.outputNames(for: images.map(\.path))
    var results: [ImageExplanation] = []
    var start = 0
    while start < images.count {
      let chunk = Array(images[start..<min(start + settings.batchSize, images.count)])
      let originals = try chunk.map { try ImageReader.read($0.path) }
      let inputs = originals.map { preprocessing.resize($0) }
      let batch = try tensor(inputs)
      let firstMaps = try explainer.explain(batch, method: settings.method, targets: nil)
      let predictions = firstMaps.targets
      let targets = zip(chunk, predictions).map { item, predicted -> Int in
        switch settings.target {
        case .predicted: predicted
        case .label: item.label ?? predicted
        case .fixed(let index): index
        }
      }
      let maps =
        targets == predictions ? firstMaps : try explainer.explain(batch, method: settings.method, targets: targets)
      let probabilities = try (maps.logits / temperature).softmax(dim: 1).to(.float64).toArray(Double.self)
      let classCount = maps.logits.shape[1]
      for (offset, item) in chunk.enumerated() {
        let name = names[start + offset]
        let original = originals[offset]
        let networkMap = GrayImage(
          width: preprocessing.size, height: preprocessing.size, pixels: try maps.map(at: offset))
        let fullMap = Heatmap.toOriginalSize(
          networkMap, width: original.width, height: original.height, crop: preprocessing.crop)
        let overlay = "overlays/\(name).png"
        let rawMap = "maps/\(name).png"
        try ImageWriter.writeRGBPNG(
          Heatmap.overlay(original, map: fullMap, opacity: settings.opacity), width: original.width,
          height: original.height, to: folder + "/" + overlay)
        try ImageWriter.writePNG(fullMap, to: folder + "/" + rawMap, bitDepth: 16)
        var result = ImageExplanation(
          path: item.path, label: item.label, predicted: predictions[offset], target: targets[offset],
          probabilities: Array(probabilities[(offset * classCount)..<((offset + 1) * classCount)]), overlay: overlay,
          map: rawMap)
        if settings.faithfulness {
          try measureFaithfulness(of: networkMap, image: inputs[offset], target: targets[offset], into: &result)
        }
        if let region = try groundTruth.region(for: item.path, width: original.width, height: original.height),
          !region.isEmpty
        {
          result.pointingHit = Localization.pointingGameHit(map: fullMap.pixels, region: region)
          result.energyInBox = Localization.energyInside(map: fullMap.pixels, region: region)
        }
        results.append(result)
      }
      start += chunk.count
      progress?(start, images.count)
    }
    return results
  }

  func measureFaithfulness(of map: GrayImage, image: GrayImage, target: Int, into result: inout ImageExplanation)
    throws
  {
    let score: Faithfulness.Scorer = { images in try self.probabilities(of: images, for: target) }
    let baseline = Faithfulness.blurred(image, sigma: settings.blurFraction * Double(preprocessing.size))
    result.deletionAUC =
      try Faithfulness.deletion(image, saliency: map.pixels, baseline: baseline, steps: settings.steps, score: score)
      .area
    result.insertionAUC =
      try Faithfulness.insertion(image, saliency: map.pixels, baseline: baseline, steps: settings.steps, score: score)
      .area
    result.roadDrop =
      try Faithfulness.roadConfidenceDrop(image, saliency: map.pixels, fraction: settings.roadFraction, score: score)
      .drop
  }

  /// The probability of `target` for each network-sized image.
  func probabilities(of images: [GrayImage], for target: Int) throws -> [Double] {
    var scores: [Double] = []
    var start = 0
    while start < images.count {
      let batch = try tensor(Array(images[start..<min(start + settings.batchSize * 2, images.count)]))
      let logits = try noGrad {
        if let scorer { return try scorer(batch) }
        return try Autocast.run(if: settings.mixedPrecisionScoring, on: model.device) { try model(batch) }.to(.float32)
      }
      scores += try (logits / temperature).softmax(dim: 1).select(dim: 1, index: target).to(.float64).toArray(
        Double.self)
      start += batch.shape[0]
    }
    return scores
  }

  /// Network-sized images as one normalised (N, C, size, size) batch, on the model's device.
  func tensor(_ images: [GrayImage]) throws -> Tensor { try preprocessing.batch(images, on: model.device) }

  /// File names for the outputs: each image's name without its extension, made unique with -2, -3…
  public static func outputNames(for paths: [String]) -> [String] {
    var seen: [String: Int] = [:]
    return paths.map { path in
      let stem = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
      let count = (seen[stem] ?? 0) + 1
      seen[stem] = count
      return count == 1 ? stem : "\(stem)-\(count)"
    }
  }
}
