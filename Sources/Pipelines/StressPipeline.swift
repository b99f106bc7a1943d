import Datasets
import Engine
import Evaluation
import Explanations
import Foundation
import Imaging
import RunFiles
import Training

/// Robustness under acquisition shift: every test image under each perturbation family and
/// severity (`Perturbation`), through one or more configurations of models (a configuration: one
/// checkpoint, or one per seed), with metrics, corruption errors, heatmap stability and the border
/// shortcut signal, each with bootstrap intervals over the images.
public enum StressPipeline {
  public struct Settings: Sendable {
    public var families: [Perturbation.Family] = Perturbation.Family.allCases
    public var severities: [Int] = [1, 2, 3, 4, 5]
    /// At most this many images of the split, taken in turn from each class (nil: all).
    public var limit: Int?
    /// Images whose Grad-CAM maps are compared under every perturbation (the first of the selection,
    /// in turn from each class).
    public var heatmapImages = 24
    public var seed: UInt64 = 0
    public var resamples = 200
    public var batchSize = 16
    public var threads = 2
    /// The folder holding the split's images, when not beside the split file.
    public var imageFolder: String?

    public init() {}
  }

  /// A configuration: its name and its checkpoints (one per seed).
  public struct ModelGroup: Sendable {
    public var name: String
    public var checkpoints: [String]

    public init(name: String, checkpoints: [String]) {
      self.name = name
      self.checkpoints = checkpoints
    }

    /// A checkpoint file, a run folder (its best-calibrated.safetensors) or a folder of seed-*
    /// run folders (one checkpoint per seed), named after the folder.
    public static func resolve(_ path: String, name: String? = nil) throws -> ModelGroup {
      var isFolder: ObjCBool = false
      guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
        throw CheckpointError(path: path, reason: "does not exist")
      }
      let label = name ?? ((path as NSString).standardizingPath as NSString).lastPathComponent
      guard isFolder.boolValue else { return ModelGroup(name: label, checkpoints: [path]) }
      let run = RunFolder(path)
      if FileManager.default.fileExists(atPath: run.calibratedCheckpoint) {
        return ModelGroup(name: label, checkpoints: [run.calibratedCheckpoint])
      }
      let seeds = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasPrefix("seed-") }
        .sorted { (Int($0.dropFirst(5)) ?? 0) < (Int($1.dropFirst(5)) ?? 0) }
        .map { RunFolder(path + "/" + $0).calibratedCheckpoint }
        .filter { FileManager.default.fileExists(atPath: $0) }
      guard !seeds.isEmpty else {
        throw CheckpointError(
          path: path, reason: "holds neither best-calibrated.safetensors nor seed-*/best-calibrated.safetensors")
      }
      return ModelGroup(name: label, checkpoints: seeds)
    }
  }

  /// Runs the stress test and, with `output`, writes stress.json, stress.md, the gallery images and
  /// stress.html there.
  public static func run(
    groups: [ModelGroup], data: String, settings: Settings = Settings(), output: String? = nil,
    facts: CheckpointFile.ModelFacts = .init(), say: PipelineOutput = .silent
  ) throws -> StressResult {
    guard !groups.isEmpty, groups.allSatisfy({ !$0.checkpoints.isEmpty }) else {
      throw SettingsProblem("name at least one checkpoint")
    }
    guard settings.severities.allSatisfy({ (1...5).contains($0) }), !settings.severities.isEmpty else {
      throw SettingsProblem("severities are 1 to 5")
    }
    Torch.threadCount = settings.threads
    CPUMemoryCache.enableForLoops()
    let models = try groups.map { group in try group.checkpoints.map { try TrainedModel.load($0, facts: facts) } }
    let reference = models[0][0]
    for (group, trained) in zip(groups, models) {
      for (checkpoint, model) in zip(group.checkpoints, trained) where model.classes != reference.classes {
        throw CheckpointError(
          path: checkpoint, reason: "has classes \(model.classes), not \(reference.classes) like the first model")
      }
    }
    let all = try imageInputs(data, labelMap: reference.labelMap, imageFolder: settings.imageFolder)
    guard all.allSatisfy({ $0.label != nil }) else {
      throw DatasetError(path: data, reason: "has images without labels: the stress test needs the true classes")
    }
    let items = settings.limit.map { balancedSelection(all, limit: $0) } ?? all
    guard !items.isEmpty else { throw DatasetError(path: data, reason: "holds no images") }
    let labels = items.map { $0.label! }
    let mapped = Set(
      balancedSelection(items.enumerated().map { ("\($0.offset)", $0.element.label) }, limit: settings.heatmapImages)
        .compactMap { Int($0.path) })
    let conditions =
      [Perturbation(.blur, severity: 0)]
      + settings.families.flatMap { family in settings.severities.map { Perturbation(family, severity: $0) } }
    let flat = models.flatMap { $0 }
    let explainers = try flat.map { try CAMExplainer(classifier: $0.model) }
    // probabilities[model][condition][image]
    var probabilities = [[[[Double]]]](
      repeating: [[[Double]]](repeating: [], count: conditions.count), count: flat.count)
    // Per model and condition, per mapped image (in order): stability and border energy.
    var stability = [[[Double?]]](repeating: [[Double?]](repeating: [], count: conditions.count), count: flat.count)
    var border = stability
    var mappedLabels: [Int] = []
    var gallery: [StressResult.GalleryItem] = []
    let galleryFolder = output.map { $0 + "/gallery" }
    let gallerySeverity = settings.severities.contains(3) ? 3 : settings.severities.max()!
    if let galleryFolder {
      try FileManager.default.createDirectory(atPath: galleryFolder, withIntermediateDirectories: true)
    }
    let clock = ContinuousClock()
    let started = clock.now
    var start = 0
    while start < items.count {
      let chunk = Array(start..<min(start + settings.batchSize, items.count))
      let originals = try chunk.map { try ImageReader.read(items[$0].path) }
      let mappedInChunk = chunk.enumerated().filter { mapped.contains($0.element) }.map(\.offset)
      mappedLabels += mappedInChunk.map { labels[chunk[$0]] }
      // Each model's clean maps at the original size, for moving them as a geometric change moves the image.
      var cleanMaps = [[GrayImage]](repeating: [], count: flat.count)
      // And as the model made them, for the families that move no pixel.
      var cleanNetworkMaps = [[[Float]]](repeating: [], count: flat.count)
      for (conditionIndex, perturbation) in conditions.enumerated() {
        let perturbed = try zip(chunk, originals).map { index, image in
          try perturbation.apply(to: image, seed: imageSeed(settings.seed, index))
        }
        for (modelIndex, trained) in flat.enumerated() {
          let preprocessing = trained.preprocessing
          let inputs = perturbed.map { preprocessing.resize($0) }
          let batch = try preprocessing.batch(inputs, on: trained.model.device)
          let logits = try Predictor.rows(
            try noGrad { try Autocast.run(on: trained.model.device) { try trained.model(batch) } })
          probabilities[modelIndex][conditionIndex] += softmax(logits, temperature: trained.temperature)
          guard !mappedInChunk.isEmpty else { continue }
          let subset = try preprocessing.batch(mappedInChunk.map { inputs[$0] }, on: trained.model.device)
          let maps = try explainers[modelIndex].explain(subset, method: .gradCAM)
          for (position, offset) in mappedInChunk.enumerated() {
            let map = try maps.map(at: position)
            let size = preprocessing.size
            if conditionIndex == 0 {
              cleanNetworkMaps[modelIndex].append(map)
              cleanMaps[modelIndex].append(
                Heatmap.toOriginalSize(
                  GrayImage(width: size, height: size, pixels: map), width: originals[offset].width,
                  height: originals[offset].height, crop: preprocessing.crop))
            }
            // Geometric families move the clean map as they moved the image (through the image's own
            // size, where the perturbation acted); the others compare with the clean map as it is.
            let expected =
              perturbation.family.isGeometric && perturbation.severity > 0
              ? preprocessing.resize(
                try perturbation.applyGeometry(
                  to: cleanMaps[modelIndex][position], seed: imageSeed(settings.seed, chunk[offset]))
              ).pixels
              : cleanNetworkMaps[modelIndex][position]
            stability[modelIndex][conditionIndex].append(Robustness.spearman(expected, map))
            border[modelIndex][conditionIndex].append(Robustness.borderEnergy(map, width: size, height: size))
            // The gallery: the first mapped image, clean and at `gallerySeverity`.
            if let galleryFolder, start == 0, position == 0,
              perturbation.severity == 0 || perturbation.severity == gallerySeverity
            {
              let name = perturbation.severity == 0 ? "clean" : perturbation.family.rawValue
              let modelName = galleryModelName(modelIndex, groups: groups)
              if let modelName {
                if modelIndex == 0 {
                  try ImageWriter.writePNG(inputs[offset], to: "\(galleryFolder)/\(name).png")
                  gallery.append(.init(condition: perturbation.description, image: "gallery/\(name).png", maps: [:]))
                }
                let mapFile = "gallery/\(name)-\(fileSafe(modelName)).png"
                try ImageWriter.writePNG(
                  GrayImage(width: size, height: size, pixels: map), to: output! + "/" + mapFile, bitDepth: 16)
                gallery[gallery.count - 1].maps[modelName] = mapFile
              }
            }
          }
        }
      }
      start += chunk.count
      let elapsed = (clock.now - started) / .seconds(1)
      say.progress(
        "\(start)/\(items.count) images × \(conditions.count) conditions × \(flat.count) model(s), "
          + "\(durationText(elapsed / Double(start) * Double(items.count - start))) left")
    }
    say.progress("bootstrap…")
    defer { say.progress(nil) }
    let result = StressResult.compute(
      groups: groups, classes: reference.classes, conditions: conditions, labels: labels, probabilities: probabilities,
      stability: stability, border: border, mappedLabels: mappedLabels, data: data, settings: settings,
      gallery: gallery)
    if let output {
      try JSONFile.write(result, to: output + "/stress.json")
      try (result.markdown() + "\n").write(toFile: output + "/stress.md", atomically: true, encoding: .utf8)
    }
    return result
  }

  /// The seed of an image's perturbations: the same image gets the same noise in every model.
  static func imageSeed(_ seed: UInt64, _ index: Int) -> UInt64 { seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(index) }

  /// Gallery maps are made for the first model of each configuration.
  static func galleryModelName(_ modelIndex: Int, groups: [ModelGroup]) -> String? {
    var first = 0
    for group in groups {
      if modelIndex == first { return group.name }
      first += group.checkpoints.count
    }
    return nil
  }

  static func fileSafe(_ name: String) -> String {
    String(name.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" })
  }
}

extension StressResult {
  // MARK: Computing

  /// The statistics of one resample of the images (or of all of them).
  struct Summary {
    var metrics: [[[Double?]]] = []  // [configuration][condition][accuracy, macro-F1, macro AUC, ECE]
    var differences: [[[Double?]]] = []  // [configuration][condition][accuracy, ECE] − first configuration
    var corruption: [[Double?]] = []  // [configuration][family]
    var relative: [[Double?]] = []
    var mean: [Double?] = []
    var relativeMean: [Double?] = []
    var meanDifference: [Double?] = []

    var flat: [Double?] {
      metrics.flatMap { $0.flatMap { $0 } } + differences.flatMap { $0.flatMap { $0 } } + corruption.flatMap { $0 }
        + relative.flatMap { $0 } + mean + relativeMean + meanDifference
    }
  }

  static func compute(
    groups: [StressPipeline.ModelGroup], classes: [String], conditions: [Perturbation], labels: [Int],
    probabilities: [[[[Double]]]], stability: [[[Double?]]], border: [[[Double?]]], mappedLabels: [Int], data: String,
    settings: StressPipeline.Settings, gallery: [GalleryItem]
  ) -> StressResult {
    // Which models belong to which configuration.
    var members: [[Int]] = []
    var next = 0
    for group in groups {
      members.append(Array(next..<(next + group.checkpoints.count)))
      next += group.checkpoints.count
    }
    let families = settings.families.map(\.rawValue)
    let severityCount = settings.severities.count
    func summary(_ indices: [Int]) -> Summary {
      let subsetLabels = indices.map { labels[$0] }
      // Per model and condition: accuracy, macro-F1, macro AUC, ECE.
      let perModel = probabilities.map { byCondition in
        byCondition.map { rows -> [Double?] in
          let subset = indices.map { rows[$0] }
          let report = ClassificationMetrics.evaluate(probabilities: subset, labels: subsetLabels)
          let (confidences, correct) = Calibration.confidences(probabilities: subset, labels: subsetLabels)
          return [
            report.accuracy, report.macroF1, report.macroAUC,
            Calibration.expectedCalibrationError(confidences: confidences, correct: correct),
          ]
        }
      }
      var result = Summary()
      result.metrics = members.map { models in
        conditions.indices.map { condition in
          (0..<4).map { metric in Robustness.mean(models.map { perModel[$0][condition][metric] }) }
        }
      }
      result.differences = result.metrics.dropFirst().map { metrics in
        conditions.indices.map { condition in
          [0, 3].map { metric in
            guard let value = metrics[condition][metric], let base = result.metrics[0][condition][metric] else {
              return nil
            }
            return value - base
          }
        }
      }
      // Errors per configuration, family and severity (condition 0 is clean).
      func errors(_ configuration: Int, family: Int) -> [Double] {
        (0..<severityCount).map { 1 - (result.metrics[configuration][1 + family * severityCount + $0][0] ?? 0) }
      }
      let clean = result.metrics.map { 1 - ($0[0][0] ?? 0) }
      result.corruption = members.indices.map { configuration in
        families.indices.map {
          Robustness.corruptionError(errors: errors(configuration, family: $0), reference: errors(0, family: $0))
        }
      }
      result.relative = members.indices.map { configuration in
        families.indices.map {
          Robustness.relativeCorruptionError(
            errors: errors(configuration, family: $0), clean: clean[configuration], reference: errors(0, family: $0),
            referenceClean: clean[0])
        }
      }
      result.mean = result.corruption.map { Robustness.mean($0) }
      result.relativeMean = result.relative.map { Robustness.mean($0) }
      result.meanDifference = result.mean.dropFirst().map { value in
        guard let value, let base = result.mean[0] else { return nil }
        return value - base
      }
      return result
    }
    let point = summary(Array(labels.indices))
    let bounds = Robustness.bootstrapIntervals(
      count: labels.count, resamples: settings.resamples, seed: settings.seed
    ) { summary($0).flat }
    var position = 0
    func interval(_ value: Double?) -> EvaluationReport.Interval? {
      defer { position += 1 }
      guard let value else { return nil }
      let bound = position < bounds.count ? bounds[position] : nil
      return EvaluationReport.Interval(value: value, low: bound?.low ?? value, high: bound?.high ?? value)
    }
    // Read back in `flat`'s order.
    let metrics = point.metrics.map { $0.map { $0.map { interval($0) } } }
    let differences = point.differences.map { $0.map { $0.map { interval($0) } } }
    let corruption = point.corruption.map { $0.map { interval($0) } }
    let relative = point.relative.map { $0.map { interval($0) } }
    let mean = point.mean.map { interval($0) }
    let relativeMean = point.relativeMean.map { interval($0) }
    let meanDifference = point.meanDifference.map { interval($0) }

    // Heatmap statistics: over the mapped images, means over each configuration's models.
    let mappedCount = mappedLabels.count
    func heatmapSummary(_ indices: [Int]) -> [Double?] {
      var values: [Double?] = []
      for models in members {
        for condition in conditions.indices {
          for series in [stability, border] {
            values.append(
              Robustness.mean(
                models.map { model in Robustness.mean(indices.map { series[model][condition][$0] }) }))
          }
        }
        for classIndex in classes.indices {
          let chosen = indices.filter { mappedLabels[$0] == classIndex }
          values.append(Robustness.mean(models.map { model in Robustness.mean(chosen.map { border[model][0][$0] }) }))
        }
      }
      return values
    }
    let heatmapPoint = mappedCount > 0 ? heatmapSummary(Array(0..<mappedCount)) : []
    let heatmapBounds =
      mappedCount > 0
      ? Robustness.bootstrapIntervals(count: mappedCount, resamples: settings.resamples, seed: settings.seed) {
        heatmapSummary($0)
      } : []
    func heatmapInterval(_ index: Int) -> EvaluationReport.Interval? {
      guard index < heatmapPoint.count, let value = heatmapPoint[index] else { return nil }
      let bound = index < heatmapBounds.count ? heatmapBounds[index] : nil
      return EvaluationReport.Interval(value: value, low: bound?.low ?? value, high: bound?.high ?? value)
    }
    let perConfiguration = conditions.count * 2 + classes.count
    let conditionResults = conditions.enumerated().map { conditionIndex, perturbation in
      Condition(
        family: perturbation.severity == 0 ? "clean" : perturbation.family.rawValue, severity: perturbation.severity,
        configurations: members.indices.map { configuration in
          let base = configuration * perConfiguration + conditionIndex * 2
          return Metrics(
            accuracy: metrics[configuration][conditionIndex][0], macroF1: metrics[configuration][conditionIndex][1],
            macroAUC: metrics[configuration][conditionIndex][2], ece: metrics[configuration][conditionIndex][3],
            heatmapStability: heatmapInterval(base), borderEnergy: heatmapInterval(base + 1),
            accuracyDifference: configuration == 0 ? nil : differences[configuration - 1][conditionIndex][0],
            eceDifference: configuration == 0 ? nil : differences[configuration - 1][conditionIndex][1])
        })
    }
    return StressResult(
      data: data, images: labels.count, mappedImages: mappedCount, classes: classes, configurations: groups.map(\.name),
      checkpoints: groups.map(\.checkpoints), conditions: conditionResults,
      corruption: families.indices.map { family in
        Corruption(
          family: families[family], corruptionError: corruption.map { $0[family] },
          relativeCorruptionError: relative.map { $0[family] })
      },
      meanCorruptionError: mean, relativeMeanCorruptionError: relativeMean,
      meanCorruptionErrorDifference: [nil] + meanDifference,
      cleanBorderEnergyByClass: members.indices.map { configuration in
        classes.indices.map { heatmapInterval(configuration * perConfiguration + conditions.count * 2 + $0) }
      },
      families: Dictionary(uniqueKeysWithValues: settings.families.map { ($0.rawValue, $0.explanation) }),
      gallery: gallery,
      bootstrap: "95% percentile intervals, \(settings.resamples) resamples of the images, seed \(settings.seed)")
  }
}
