import ArgumentParser
import Explanations
import Engine
import Foundation
import Pipelines
import RunFiles

/// Classifies X-rays one by one: class, calibrated probabilities, and where the model looked.
struct PredictCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "predict",
    abstract: "Classify X-rays (PNG, JPEG, DICOM): class, calibrated probabilities and a heatmap per image.",
    discussion: """
      Probabilities use the checkpoint's temperature when it was calibrated (orthocxr calibrate), and
      say so. Heatmaps (Grad-CAM of the predicted class, at the original image size) go to
      --heatmaps: NAME.png overlays and maps/NAME.png 16-bit maps.

      With --dicom-out DIR, each DICOM input also gets its result as DICOM, in the image's own study,
      for a PACS or viewer: DIR/NAME-sr.dcm, a Comprehensive SR (TID 1500: the predicted class as the
      finding, each class's probability, the model and checkpoint hash), and DIR/NAME-sc.dcm, a
      Secondary Capture of the X-ray with the heatmap and a burnt-in "research use only" line. DICOM
      files that are not single-frame greyscale radiographs (CR, DX, SC) are then refused with the
      reason instead of classified. Research results: not for diagnosis.

      When the checkpoint has an out-of-distribution detector (orthocxr ood fit, or train --test),
      each image also gets its OOD score and a flag ("outside the training distribution: score x >
      threshold y"); with --abstain, flagged images get "no answer" instead of a class.

      Example: orthocxr predict --checkpoint runs/os/best-calibrated.safetensors xray1.dcm xray2.png
      """
  )

  @Option(help: "The checkpoint to use (best.safetensors, or a calibrated one).")
  var checkpoint: String

  @Argument(help: "Images, or folders of images.")
  var images: [String]

  @Option(help: "Folder for the heatmaps.")
  var heatmaps = "predictions"

  @Flag(help: "Do not make heatmaps.")
  var noHeatmaps = false

  @Option(help: "Heatmap method: \(CAMMethod.allCases.map(\.rawValue).joined(separator: ", ")).")
  var method: CAMMethod = .gradCAM

  @Option(
    help: "Folder for DICOM results of DICOM inputs: NAME-sr.dcm (Structured Report), NAME-sc.dcm (Secondary Capture).")
  var dicomOut: String?

  @Option(help: "Also write the predictions as CSV here.")
  var csv: String?

  @Flag(help: "Answer \"no answer\" for images the checkpoint's OOD detector flags (needs orthocxr ood fit).")
  var abstain = false

  @Flag(help: "Print JSON instead of a table.")
  var json = false

  @Option(help: "libtorch threads.")
  var threads = 2

  @Option(help: deviceHelp)
  var device: Device = .cpu

  func validate() throws {
    guard !images.isEmpty else { throw ValidationError("name at least one image or folder") }
    guard threads > 0 else { throw ValidationError("--threads must be positive") }
    if dicomOut != nil && noHeatmaps {
      throw ValidationError("--dicom-out writes the heatmap as a secondary capture: drop --no-heatmaps")
    }
  }

  @OptionGroup var model: ModelFactsOptions

  @OptionGroup var imageLimits: ImageLimitOptions

  func run() throws {
    imageLimits.apply()
    let result = try userFacing {
      try PredictionPipeline.predict(
        checkpoint: checkpoint, images: images,
        heatmaps: noHeatmaps ? nil : PredictionPipeline.Heatmaps(folder: heatmaps, method: method), dicomOut: dicomOut,
        abstain: abstain, threads: threads,
        device: device, facts: model.facts, output: terminal)
    }
    let trained = result.model
    let calibration =
      trained.isCalibrated
      ? String(format: "calibrated, T = %.3f", trained.temperature)
      : "uncalibrated (run orthocxr calibrate for calibrated probabilities)"
    if json {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
      print(String(decoding: try encoder.encode(result.predictions), as: UTF8.self))
    } else {
      print("\(checkpoint): \(trained.classes.joined(separator: ", ")); probabilities \(calibration)")
      for (prediction, row) in zip(result.predictions, result.rows) {
        let probabilities = zip(trained.classes, row.probabilities).map { String(format: "%@ %.3f", $0.0, $0.1) }
        print(
          "\(prediction.path): \(prediction.prediction ?? "no answer")  (\(probabilities.joined(separator: ", ")))"
            + (prediction.heatmap.map { "  heatmap \($0)" } ?? ""))
        if let verdict = prediction.outOfDistribution, verdict.flagged || prediction.abstained {
          print("  \(verdict.sentence)")
        }
        if let report = prediction.dicomReport, let capture = prediction.dicomCapture {
          print("  DICOM: \(report) (structured report), \(capture) (secondary capture)")
        }
      }
    }
    if let csv {
      try PredictionsFile.write(result.rows, classes: trained.classes, to: csv)
    }
  }
}
