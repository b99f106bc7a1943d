import ArgumentParser
import Foundation
import Imaging
import Pipelines
import Reports

extension Perturbation.Family: ExpressibleByArgument {}

/// `orthocxr stress`: robustness under acquisition shift and shortcut probes.
struct StressCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "stress",
    abstract: "Robustness under acquisition shift: every test image under 13 perturbation families, severities 1–5.",
    discussion: """
      Each image is perturbed after decoding and before the model's own preprocessing, with a seed
      per image (every model sees the same noise). Families (severity 1 → 5):
      \(Perturbation.Family.allCases.map { "  \($0.rawValue): \($0.explanation)" }.joined(separator: "\n"))

      For each configuration (--checkpoint, then each --compare; a checkpoint, a run folder, or a
      folder of seed-* runs whose models are averaged), family and severity: accuracy, macro-F1, macro
      AUC and ECE (with the model's temperature); the corruption error CE = Σ_s E_s / Σ_s E_s(first
      configuration) and the relative CE (growth over the clean error), their means over the
      families (mCE); on --heatmap-images images, the Spearman correlation of the Grad-CAM map with
      the clean one (moved the same way for rotation, zoom and border) and the share of the map's
      energy in the outer 10% of the image (a shortcut signal). Every number has a 95% bootstrap
      interval over the images; the differences to the first configuration are paired by image.

      Writes OUTPUT/stress.json, stress.md, stress.html (charts and a gallery) and gallery/.

      Example: orthocxr stress --checkpoint runs/baseline --compare runs/os \\
                 --data ../shared/data/covid-radiography/test.txt --limit 300 --output runs/stress
      """
  )

  @Option(help: "The first configuration: a checkpoint, a run folder, or a folder of seed-* run folders.")
  var checkpoint: String

  @Option(help: "More configurations to compare with the first (repeatable).")
  var compare: [String] = []

  @Option(help: "Names of the configurations, comma-separated (default: the folder or file names).")
  var names: String?

  @Option(help: "The labelled split (the test split), or a folder with a subfolder per class.")
  var data: String

  @Option(help: "Folder for stress.json, stress.md, stress.html and the gallery.")
  var output = "stress"

  @Option(help: "The families, comma-separated (default: all).")
  var families: String?

  @Option(help: "The severities, comma-separated, 1–5.")
  var severities = "1,2,3,4,5"

  @Option(help: "At most this many images, taken in turn from each class (default: all).")
  var limit: Int?

  @Option(help: "Images whose Grad-CAM maps are compared under every perturbation.")
  var heatmapImages = 24

  @Option(help: "Bootstrap resamples for the 95% intervals.")
  var bootstrap = 200

  @Option(help: "Seed of the perturbations and the bootstrap.")
  var seed: UInt64 = 0

  @Option(help: "The folder holding the split's images, when not beside the split file.")
  var images: String?

  @Option(help: "libtorch threads.")
  var threads = 2

  @OptionGroup var model: ModelFactsOptions
  @OptionGroup var imageLimits: ImageLimitOptions

  func validate() throws {
    if let limit, limit < 1 { throw ValidationError("--limit must be positive") }
    guard heatmapImages >= 0, bootstrap >= 1, threads > 0 else {
      throw ValidationError("--heatmap-images must not be negative; --bootstrap and --threads must be positive")
    }
    _ = try parsedFamilies()
    _ = try parsedSeverities()
    if let names, names.split(separator: ",").count != 1 + compare.count {
      throw ValidationError("--names needs one name per configuration (\(1 + compare.count))")
    }
  }

  func parsedFamilies() throws -> [Perturbation.Family] {
    guard let families else { return Perturbation.Family.allCases }
    return try families.split(separator: ",").map { name in
      guard let family = Perturbation.Family(rawValue: String(name)) else {
        throw ValidationError(
          "unknown family \"\(name)\"; use \(Perturbation.Family.allCases.map(\.rawValue).joined(separator: ", "))")
      }
      return family
    }
  }

  func parsedSeverities() throws -> [Int] {
    try severities.split(separator: ",").map { text in
      guard let value = Int(text), (1...5).contains(value) else {
        throw ValidationError("severities are 1 to 5, not \"\(text)\"")
      }
      return value
    }
  }

  func run() throws {
    imageLimits.apply()
    var settings = StressPipeline.Settings()
    settings.families = try parsedFamilies()
    settings.severities = try parsedSeverities()
    settings.limit = limit
    settings.heatmapImages = heatmapImages
    settings.resamples = bootstrap
    settings.seed = seed
    settings.threads = threads
    settings.imageFolder = images
    let labels = names?.split(separator: ",").map(String.init)
    let result = try userFacing {
      let groups = try ([checkpoint] + compare).enumerated().map { index, path in
        try StressPipeline.ModelGroup.resolve(path, name: labels?[index])
      }
      try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
      return try StressPipeline.run(
        groups: groups, data: data, settings: settings, output: output, facts: model.facts, say: terminal)
    }
    print(result.markdown())
    let page = try ReportPages.stress(result, folder: output)
    try page.write(toFile: output + "/stress.html", atomically: true, encoding: .utf8)
    print("wrote \(output)/stress.json, stress.md, stress.html")
  }
}
