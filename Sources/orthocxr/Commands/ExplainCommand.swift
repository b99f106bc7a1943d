import ArgumentParser
import Explanations
import Engine
import Foundation
import Pipelines

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

  @Option(help: deviceHelp)
  var device: Device = .cpu

  func validate() throws {
    guard steps > 0, batchSize > 0, threads > 0 else {
      throw ValidationError("--steps, --batch-size and --threads must be positive")
    }
    guard roadFraction > 0, roadFraction < 1 else { throw ValidationError("--road-fraction must lie between 0 and 1") }
    if let limit, limit <= 0 { throw ValidationError("--limit must be positive") }
  }

  @OptionGroup var model: ModelFactsOptions

  @OptionGroup var imageLimits: ImageLimitOptions

  func run() throws {
    imageLimits.apply()
    var request = ExplanationStudy.Request(
      checkpoints: [checkpoint] + (compare.map { [$0] } ?? []), data: data, output: output)
    if let names {
      request.names = names.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    }
    request.settings.method = method
    request.settings.layer = layer
    request.settings.faithfulness = !noFaithfulness
    request.settings.steps = steps
    request.settings.roadFraction = roadFraction
    request.settings.batchSize = batchSize
    request.settings.mixedPrecisionScoring = !fp32
    request.target = target
    request.limit = limit
    request.boxes = boxes
    request.masks = masks
    request.images = images
    request.threads = threads
    request.device = device
    request.facts = model.facts
    _ = try userFacing { try ExplanationStudy.run(request, output: terminal) }
  }
}
