import ArgumentParser
import Datasets
import Engine
import Explanations
import Foundation
import Imaging
import Training

/// Heatmaps for a split or a folder, with their faithfulness and localisation metrics; with two
/// models, side-by-side panels and a comparison.
struct ExplainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "explain",
    abstract: "Heatmaps (Grad-CAM and family) for a split or folder, with faithfulness and localisation metrics.",
    discussion: """
      Writes, under --output: overlays/NAME.png (the X-ray at its original size with the heatmap in the
      turbo colormap), maps/NAME.png (the raw map, 16-bit, original size), explanations.csv (one row per
      image: prediction, probabilities, deletion and insertion AUC, ROAD drop, pointing game, energy in
      box), means.csv (each metric's mean) and summary.json (all of it). With --compare, each model gets its own folder, panels/NAME.png
      shows X-ray | first model | second model, and comparison.csv gives the paired differences.

      Deletion/insertion: the explained class's probability as the pixels the map ranks highest are
      replaced by (inserted into) a blurred copy, in --steps steps; area under that curve (deletion:
      lower is better; insertion: higher). ROAD drop: the probability lost when the top --road-fraction
      of pixels is filled in from their neighbours (higher is better). Pointing game and energy in box
      need lesion locations: --boxes (CSV filename,x,y,width,height; the synthetic data's boxes.csv is
      found by itself) or --masks (a folder of PNG masks named like the images).
      """
  )

  @Option(help: "The checkpoint to explain (written by train or calibrate).")
  var checkpoint: String

  @Option(help: "A second checkpoint (say, the OS model) explained on the same images, for side-by-side panels.")
  var compare: String?

  @Option(
    help:
      "What to explain: a split file, a CSV, a folder with one subfolder per class, or a folder of images (unlabeled)."
  )
  var data: String

  @Option(help: "Where to write overlays, maps and tables.")
  var output: String

  @Option(help: "Method: \(CAMMethod.allCases.map(\.rawValue).joined(separator: ", ")).")
  var method: CAMMethod = .gradCAM

  @Option(help: "The layer to explain, as a module path (default: the model's last convolutional block).")
  var layer: String?

  @Option(help: "The class to explain: predicted, label (the true class), or a class name.")
  var target = "predicted"

  @Option(
    help:
      "Explain at most this many images, taken in turn from each class (the first ones of each, in the split's order).")
  var limit: Int?

  @Option(help: "Lesion boxes as CSV (filename,x,y,width,height); default: boxes.csv beside the split, if present.")
  var boxes: String?

  @Option(help: "A folder of lesion masks (PNG, non-zero = lesion) named like the images.")
  var masks: String?

  @Option(help: "Steps of the deletion and insertion curves.")
  var steps = 20

  @Option(help: "Share of pixels ROAD removes and imputes.")
  var roadFraction = 0.2

  @Flag(help: "Skip deletion, insertion and ROAD (they cost about 45 forward passes per image).")
  var noFaithfulness = false

  @Flag(help: "Score the perturbed images in float32 (default: bfloat16 autocast, as evaluate does).")
  var fp32 = false

  @Option(help: "Names of the two models in tables and panels (comma-separated; default: their run folders' names).")
  var names: String?

  @Option(help: "Folder holding the images, when it is not beside the split file or in its images/ subfolder.")
  var images: String?

  @Option(help: "Images per batch.")
  var batchSize = 16

  @Option(help: "libtorch threads.")
  var threads = 2

  func validate() throws {
    guard steps > 0, batchSize > 0, threads > 0 else {
      throw ValidationError("--steps, --batch-size and --threads must be positive")
    }
    guard roadFraction > 0, roadFraction < 1 else { throw ValidationError("--road-fraction must lie between 0 and 1") }
    if let limit, limit <= 0 { throw ValidationError("--limit must be positive") }
  }

  func run() throws {
    Torch.threadCount = threads
    let checkpoints = [checkpoint] + (compare.map { [$0] } ?? [])
    let models = try checkpoints.map { try TrainedModel.load($0) }
    if models.count == 2, models[0].classes != models[1].classes {
      throw ValidationError(
        "the two models have different classes (\(models[0].classes) and \(models[1].classes)); compare models of one task"
      )
    }
    var items = try imageInputs(data, labelMap: models[0].labelMap, imageFolder: images)
    if let limit { items = balancedSelection(items, limit: limit) }
    guard !items.isEmpty else { throw ValidationError("\(data) holds no images to explain") }
    let groundTruth = try loadGroundTruth()
    let modelNames = try displayNames(for: checkpoints)

    var allResults: [[ImageExplanation]] = []
    for (index, trained) in models.enumerated() {
      let folder = models.count == 1 ? output : output + "/" + modelNames[index]
      var settings = ExplanationPipeline.Settings()
      settings.method = method
      settings.layer = layer
      settings.target = try explanationTarget(classes: trained.classes)
      settings.faithfulness = !noFaithfulness
      settings.steps = steps
      settings.roadFraction = roadFraction
      settings.batchSize = batchSize
      settings.mixedPrecisionScoring = !fp32
      let pipeline: ExplanationPipeline
      do {
        pipeline = try ExplanationPipeline(
          model: trained.model, preprocessing: trained.preprocessing, temperature: trained.temperature,
          settings: settings)
      } catch let error as ExplanationError {
        throw ValidationError("\(checkpoints[index]): \(error)")
      }
      let clock = ContinuousClock()
      let start = clock.now
      let results = try pipeline.run(items, groundTruth: groundTruth, writingTo: folder) { done, total in
        let elapsed = (clock.now - start).seconds
        let left = elapsed / Double(done) * Double(total - done)
        progress(
          "\(modelNames[index]): \(done)/\(total) images, \(String(format: "%.1f", Double(done) / elapsed)) images/s, "
            + "\(durationText(left)) left")
      }
      progress(nil)
      try writeTables(results, classes: trained.classes, method: pipeline.explainer.layerName, to: folder)
      let summary = ExplanationSummary(results)
      print("\(modelNames[index]) (\(checkpoints[index])): \(method.rawValue) at \(pipeline.explainer.layerName)")
      print(render(summary))
      print("  wrote \(results.count) overlays and maps, explanations.csv, means.csv and summary.json to \(folder)")
      allResults.append(results)
    }
    if allResults.count == 2 {
      try writePanels(allResults, names: modelNames)
      let comparison = ExplanationComparison(first: allResults[0], second: allResults[1], names: modelNames)
      try comparison.csv.write(toFile: output + "/comparison.csv", atomically: true, encoding: .utf8)
      try writeJSON(comparison, to: output + "/comparison.json")
      print("\nSame \(items.count) images, \(modelNames[1]) − \(modelNames[0]) (95% bootstrap CI over images):")
      print(comparison.render())
      print("  wrote panels/, comparison.csv and comparison.json to \(output)")
    }
  }

  func explanationTarget(classes: [String]) throws -> ExplanationTarget {
    switch target.lowercased() {
    case "predicted": return .predicted
    case "label": return .label
    default:
      guard let index = classes.firstIndex(where: { $0.lowercased() == target.lowercased() }) else {
        throw ValidationError(
          "--target \(target) is neither predicted, label, nor one of the model's classes (\(classes.joined(separator: ", ")))"
        )
      }
      return .fixed(index)
    }
  }

  func loadGroundTruth() throws -> GroundTruth {
    var truth = GroundTruth(maskFolder: masks)
    if let masks, !FileManager.default.fileExists(atPath: masks) {
      throw ValidationError("--masks \(masks) does not exist")
    }
    let besideSplit = (data as NSString).deletingLastPathComponent + "/boxes.csv"
    if let path = boxes ?? (FileManager.default.fileExists(atPath: besideSplit) ? besideSplit : nil) {
      do {
        truth.boxes = try GroundTruth.readBoxes(path)
      } catch let error as ExplanationError {
        throw ValidationError("\(error)")
      }
    }
    return truth
  }

  /// The models' names: --names, or the folders their checkpoints are in.
  func displayNames(for checkpoints: [String]) throws -> [String] {
    if let names {
      let list = names.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
      guard list.count == checkpoints.count, Set(list).count == list.count, !list.contains("") else {
        throw ValidationError("--names needs \(checkpoints.count) different names, comma-separated")
      }
      return list
    }
    let folders = checkpoints.map {
      ((($0 as NSString).standardizingPath as NSString).deletingLastPathComponent as NSString).lastPathComponent
    }
    if Set(folders).count == folders.count, !folders.contains("") { return folders }
    return checkpoints.indices.map { "model-\($0 + 1)" }
  }

  func writeTables(_ results: [ImageExplanation], classes: [String], method layer: String, to folder: String) throws {
    let rows = results.map { $0.csvRow(classes: classes) }
    let csv = ([ImageExplanation.csvHeader(classes: classes)] + rows).joined(separator: "\n") + "\n"
    try csv.write(toFile: folder + "/explanations.csv", atomically: true, encoding: .utf8)
    let means = ExplanationSummary(results)
    let meanRows: [(String, Double?, Int)] = [
      ("deletion_auc", means.deletionAUC, results.filter { $0.deletionAUC != nil }.count),
      ("insertion_auc", means.insertionAUC, results.filter { $0.insertionAUC != nil }.count),
      ("road_drop", means.roadDrop, results.filter { $0.roadDrop != nil }.count),
      ("pointing_hit", means.pointingAccuracy, means.localized), ("energy_in_box", means.energyInBox, means.localized),
    ]
    try
      (["metric,mean,images"]
      + meanRows.compactMap { name, mean, count in mean.map { "\(name),\(String(format: "%.6f", $0)),\(count)" } })
      .joined(separator: "\n").appending("\n").write(toFile: folder + "/means.csv", atomically: true, encoding: .utf8)
    try writeJSON(
      ExplanationFile(method: method.rawValue, layer: layer, classes: classes, images: results),
      to: folder + "/summary.json")
  }

  func render(_ summary: ExplanationSummary) -> String {
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
  func writePanels(_ results: [[ImageExplanation]], names: [String]) throws {
    try FileManager.default.createDirectory(atPath: output + "/panels", withIntermediateDirectories: true)
    for (first, second) in zip(results[0], results[1]) {
      let original = try ImageReader.read(first.path)
      var panels = [(rgb: Heatmap.greyRGB(original), width: original.width, height: original.height)]
      for (index, result) in [first, second].enumerated() {
        // Coloured again from the 16-bit map rather than decoded from the overlay (the reader is greyscale).
        let map = try ImageReader.read(output + "/" + names[index] + "/" + result.map)
        panels.append((Heatmap.overlay(original, map: map), original.width, original.height))
      }
      let panel = Heatmap.sideBySide(panels)
      try ImageWriter.writeRGBPNG(
        panel.rgb, width: panel.width, height: panel.height,
        to: output + "/panels/" + (first.overlay as NSString).lastPathComponent)
    }
  }
}

/// Up to `limit` images, taken in turn from each class in the split's order, so that a split sorted
/// by class still gives every class its share. Unlabeled images count as one class.
func balancedSelection(_ items: [(path: String, label: Int?)], limit: Int) -> [(path: String, label: Int?)] {
  guard items.count > limit else { return items }
  var queues: [Int?: [Int]] = [:]
  var order: [Int?] = []
  for (index, item) in items.enumerated() {
    if queues[item.label] == nil { order.append(item.label) }
    queues[item.label, default: []].append(index)
  }
  var chosen: [Int] = []
  var round = 0
  while chosen.count < limit {
    for label in order where chosen.count < limit {
      if let queue = queues[label], round < queue.count { chosen.append(queue[round]) }
    }
    round += 1
  }
  return chosen.sorted().map { items[$0] }
}

/// The images a path names, with class indices where it has labels: one image file, a folder of
/// images (unlabeled), a folder with one subfolder per class, a CSV or a split file.
func imageInputs(_ path: String, labelMap: LabelMap, imageFolder: String?) throws -> [(path: String, label: Int?)] {
  var isDirectory: ObjCBool = false
  guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
    throw ValidationError("\(path) does not exist")
  }
  if !isDirectory.boolValue, DatasetSource.imageExtensions.contains((path as NSString).pathExtension.lowercased()) {
    return [(path, nil)]
  }
  do {
    if isDirectory.boolValue {
      let direct = try DatasetSource.images(in: path)
      if !direct.isEmpty { return direct.map { ($0, nil) } }
    }
    return try labelMap.apply(to: DatasetSource.load(path, imageFolder: imageFolder)).map {
      ($0.entry.path, $0.classIndex)
    }
  } catch let error as DatasetError {
    throw ValidationError("\(error)")
  }
}
