import Datasets
import Engine
import Evaluation
import Explanations
import Foundation
import Imaging
import RunFiles
import Training

/// Heatmaps of one model, or of two on the same images, written as an explanation folder: overlays,
/// maps, explanations.csv, means.csv and summary.json per model; with two, panels/ (X-ray | first |
/// second) and the paired comparison.
public enum ExplanationStudy {
  public struct Request {
    /// One or two checkpoints.
    public var checkpoints: [String]
    /// Names of the models in tables and panels (default: their run folders' names).
    public var names: [String]?
    /// A split, a CSV, a class folder, a folder of images, or one image.
    public var data: String
    public var output: String
    public var settings = ExplanationPipeline.Settings()
    /// The class to explain: "predicted", "label", or a class name.
    public var target = "predicted"
    public var limit: Int?
    /// Lesion boxes (CSV); default: boxes.csv beside the split, if there is one.
    public var boxes: String?
    public var masks: String?
    public var images: String?
    public var threads = 2
    /// Where the models run.
    public var device: Device = .cpu
    public var facts = CheckpointFile.ModelFacts()

    public init(checkpoints: [String], data: String, output: String) {
      self.checkpoints = checkpoints
      self.data = data
      self.output = output
    }
  }

  public struct Result {
    public var names: [String]
    public var files: [ExplanationFile]
    public var comparison: ExplanationComparison?
  }

  public static func run(_ request: Request, output say: PipelineOutput = .silent) throws -> Result {
    Torch.threadCount = request.threads
    CPUMemoryCache.enableForLoops()
    guard (1...2).contains(request.checkpoints.count) else {
      throw ExplanationError("explain one model, or two to compare")
    }
    let models = try request.checkpoints.map { try TrainedModel.load($0, facts: request.facts) }
    for trained in models { try trained.model.place(on: request.device) }
    if models.count == 2, models[0].classes != models[1].classes {
      throw ExplanationError(
        "the two models have different classes (\(models[0].classes) and \(models[1].classes)); compare models of one task"
      )
    }
    var items = try imageInputs(request.data, labelMap: models[0].labelMap, imageFolder: request.images)
    if let limit = request.limit { items = balancedSelection(items, limit: limit) }
    guard !items.isEmpty else { throw ExplanationError("\(request.data) holds no images to explain") }
    let groundTruth = try loadGroundTruth(request)
    let names = try displayNames(request)
    let root = ExplanationFolder(request.output)

    var files: [ExplanationFile] = []
    for (index, trained) in models.enumerated() {
      let folder = models.count == 1 ? root : root.model(names[index])
      var settings = request.settings
      settings.target = try target(request.target, classes: trained.classes)
      let pipeline: ExplanationPipeline
      do {
        pipeline = try ExplanationPipeline(
          model: trained.model, preprocessing: trained.preprocessing, temperature: trained.temperature,
          settings: settings)
      } catch let error as ExplanationError {
        throw ExplanationError("\(request.checkpoints[index]): \(error)")
      }
      let clock = ContinuousClock()
      let start = clock.now
      var results = try pipeline.run(items, groundTruth: groundTruth, writingTo: folder.path) { done, total in
        let elapsed = (clock.now - start) / .seconds(1)
        let left = elapsed / Double(done) * Double(total - done)
        say.progress(
          "\(names[index]): \(done)/\(total) images, \(String(format: "%.1f", Double(done) / elapsed)) images/s, "
            + "\(durationText(left)) left")
      }
      say.progress(nil)
      if trained.outOfDistribution != nil {
        // The maps do not give the penultimate features: one more forward pass for the OOD scores.
        say.progress("\(names[index]): out-of-distribution scores…")
        let verdicts = try OutOfDistributionPipeline.assessments(
          of: results.map { try ImageReader.read($0.path) }, with: trained)
        for row in results.indices { results[row].outOfDistribution = verdicts[row] }
        say.progress(nil)
        let flagged = verdicts.filter { $0.flagged }.count
        say.message(
          "  \(flagged) of \(verdicts.count) images outside the training distribution (\(verdicts[0].method.rawValue))")
      }
      let file = ExplanationFile(
        method: settings.method.rawValue, layer: pipeline.explainer.layerName, classes: trained.classes,
        images: results)
      try folder.write(file)
      say.message("\(names[index]) (\(request.checkpoints[index])): \(settings.method.rawValue) at \(file.layer)")
      say.message(render(file.means))
      say.message(
        "  wrote \(results.count) overlays and maps, explanations.csv, means.csv and summary.json to \(folder.path)")
      files.append(file)
    }
    var comparison: ExplanationComparison?
    if files.count == 2 {
      try writePanels(files, names: names, root: root)
      let paired = ExplanationComparison(first: files[0].images, second: files[1].images, names: names)
      try root.writeComparison(paired)
      say.message("\nSame \(items.count) images, \(names[1]) − \(names[0]) (95% bootstrap CI over images):")
      say.message(paired.render())
      say.message("  wrote panels/, comparison.csv and comparison.json to \(root.path)")
      comparison = paired
    }
    return Result(names: names, files: files, comparison: comparison)
  }

  static func target(_ text: String, classes: [String]) throws -> ExplanationTarget {
    switch text.lowercased() {
    case "predicted": return .predicted
    case "label": return .label
    default:
      guard let index = classes.firstIndex(where: { $0.lowercased() == text.lowercased() }) else {
        throw ExplanationError(
          "the target \(text) is neither predicted, label, nor one of the model's classes (\(classes.joined(separator: ", ")))"
        )
      }
      return .fixed(index)
    }
  }

  static func loadGroundTruth(_ request: Request) throws -> GroundTruth {
    var truth = GroundTruth(maskFolder: request.masks)
    if let masks = request.masks, !FileManager.default.fileExists(atPath: masks) {
      throw ExplanationError("the masks folder \(masks) does not exist")
    }
    let besideSplit = (request.data as NSString).deletingLastPathComponent + "/boxes.csv"
    if let path = request.boxes ?? (FileManager.default.fileExists(atPath: besideSplit) ? besideSplit : nil) {
      truth.boxes = try GroundTruth.readBoxes(path)
    }
    return truth
  }

  /// The models' names: as given, or the folders their checkpoints are in.
  static func displayNames(_ request: Request) throws -> [String] {
    let checkpoints = request.checkpoints
    if let names = request.names {
      guard names.count == checkpoints.count, Set(names).count == names.count, !names.contains("") else {
        throw ExplanationError("the models need \(checkpoints.count) different names")
      }
      return names
    }
    let folders = checkpoints.map {
      ((($0 as NSString).standardizingPath as NSString).deletingLastPathComponent as NSString).lastPathComponent
    }
    if Set(folders).count == folders.count, !folders.contains("") { return folders }
    return checkpoints.indices.map { "model-\($0 + 1)" }
  }

  static func render(_ summary: ExplanationSummary) -> String {
    func line(_ name: String, _ value: Double?, _ note: String) -> String? {
      value.map { "  " + name.padding(toLength: 16, withPad: " ", startingAt: 0) + String(format: "%.4f", $0) + note }
    }
    return [
      line("deletion AUC", summary.deletionAUC, "  (lower is better)"),
      line("insertion AUC", summary.insertionAUC, "  (higher is better)"),
      line("ROAD drop", summary.roadDrop, "  (higher is better)"),
      line("pointing game", summary.pointingAccuracy, "  (\(summary.localized) images with lesion boxes)"),
      line("energy in box", summary.energyInBox, ""),
    ].compactMap { $0 }.joined(separator: "\n")
  }

  /// panels/NAME.png: the X-ray, then each model's overlay, at the original size.
  static func writePanels(_ files: [ExplanationFile], names: [String], root: ExplanationFolder) throws {
    try FileManager.default.createDirectory(atPath: root.panels, withIntermediateDirectories: true)
    for (first, second) in zip(files[0].images, files[1].images) {
      let original = try ImageReader.read(first.path)
      var panels = [(rgb: Heatmap.greyRGB(original), width: original.width, height: original.height)]
      for (index, result) in [first, second].enumerated() {
        // Coloured again from the 16-bit map rather than decoded from the overlay (the reader is greyscale).
        let map = try ImageReader.read(root.model(names[index]).file(result.map))
        panels.append((Heatmap.overlay(original, map: map), original.width, original.height))
      }
      let panel = Heatmap.sideBySide(panels)
      try ImageWriter.writeRGBPNG(
        panel.rgb, width: panel.width, height: panel.height,
        to: root.panels + "/" + (first.overlay as NSString).lastPathComponent)
    }
  }
}
