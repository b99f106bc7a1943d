import ArgumentParser
import Foundation
import Pipelines

/// The README's main command: the whole pipeline on synthetic chest X-rays (or the user's data).
/// It grows with the project: the OS loss, calibration, Grad-CAM and the report join it as they land.
struct DemoCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "demo",
    abstract: "Run the demo on built-in synthetic chest X-rays (no data of your own needed).",
    discussion: """
      Writes synthetic chest X-rays (COVID-19, normal, pneumonia, with lesion boxes) and COVIDx
      split files, checks the dataset, trains a baseline ResNet-18 and one with the Orthogonal
      Spheres loss, calibrates both on the validation split, evaluates them on the test split with
      bootstrap intervals, explains test images with Grad-CAM (overlays, faithfulness and
      localisation metrics, side-by-side panels), and writes HTML reports: one per run and one
      comparing the two (OUTPUT/comparison.html).

      With --data PATH/train.txt it does the same on real X-rays: PATH/test.txt is the test split and
      PATH/val.txt the validation split; without a val.txt, a fifth of the training patients (per class)
      is held out for validation, and the demo says so.
      """
  )

  @Option(help: "A training split file of your own (its test.txt beside it is used for evaluation).")
  var data: String?

  @Option(help: "Label map: three-class, covid-vs-normal, covid-vs-noncovid, or label=class,…")
  var labelMap = "three-class"

  @Option(help: "Training epochs.")
  var epochs = 6

  @Option(help: "Network input side in pixels.")
  var imageSize = 128

  @Option(help: "Images per batch.")
  var batchSize = 16

  @Option(help: "Synthetic images per class in the training split.")
  var perClass = 48

  @Option(help: "libtorch threads.")
  var threads = 2

  @Option(help: "Folder for the demo's outputs.")
  var output = "runs/demo"

  @Option(help: "Random seed.")
  var seed: UInt64 = 0

  @Option(help: "λ of the OS model (the baseline has λ = 0).")
  var lambda = 0.01

  @Option(help: "Test images to explain with Grad-CAM.")
  var explain = 24

  func validate() throws {
    guard epochs > 0, imageSize >= 32, batchSize > 0, perClass > 0, threads > 0, explain >= 0 else {
      throw ValidationError(
        "--epochs, --batch-size, --per-class and --threads must be positive, --image-size at least 32")
    }
  }

  @OptionGroup var imageLimits: ImageLimitOptions

  func run() throws {
    imageLimits.apply()
    var demo = DemoPipeline.Settings()
    demo.data = data
    demo.labelMap = labelMap
    demo.epochs = epochs
    demo.imageSize = imageSize
    demo.batchSize = batchSize
    demo.perClass = perClass
    demo.threads = threads
    demo.output = output
    demo.seed = seed
    demo.lambda = lambda
    demo.explain = explain
    try userFacing { try DemoPipeline.run(demo, output: terminal) }
  }
}
