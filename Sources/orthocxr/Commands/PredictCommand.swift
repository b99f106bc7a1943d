import ArgumentParser
import Engine
import Explanations
import Foundation
import Training

/// Classifies X-rays one by one: class, calibrated probabilities, and where the model looked.
struct PredictCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "predict",
    abstract: "Classify X-rays (PNG, JPEG, DICOM): class, calibrated probabilities and a heatmap per image.",
    discussion: """
      Probabilities use the checkpoint's temperature when it was calibrated (orthocxr calibrate), and
      say so. Heatmaps (Grad-CAM of the predicted class, at the original image size) go to
      --heatmaps: NAME.png overlays and maps/NAME.png 16-bit maps.

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

  @Option(help: "Also write the predictions as CSV here.")
  var csv: String?

  @Flag(help: "Print JSON instead of a table.")
  var json = false

  @Option(help: "libtorch threads.")
  var threads = 2

  func validate() throws {
    guard !images.isEmpty else { throw ValidationError("name at least one image or folder") }
    guard threads > 0 else { throw ValidationError("--threads must be positive") }
  }

  func run() throws {
    Torch.threadCount = threads
    let trained = try TrainedModel.load(checkpoint)
    var items: [(path: String, label: Int?)] = []
    for path in images {
      items += try imageInputs(path, labelMap: trained.labelMap, imageFolder: nil).map { ($0.path, nil) }
    }
    guard !items.isEmpty else { throw ValidationError("no images found in \(images.joined(separator: ", "))") }
    var settings = ExplanationPipeline.Settings()
    settings.method = method
    settings.faithfulness = false
    let pipeline = try ExplanationPipeline(
      model: trained.model, preprocessing: trained.preprocessing, temperature: trained.temperature, settings: settings)
    let folder = noHeatmaps ? NSTemporaryDirectory() + "orthocxr-predict-\(UUID().uuidString)" : heatmaps
    defer { if noHeatmaps { try? FileManager.default.removeItem(atPath: folder) } }
    let results = try pipeline.run(items, writingTo: folder) { done, total in progress("\(done)/\(total) images") }
    progress(nil)
    let calibration =
      trained.temperature == 1
      ? "uncalibrated (run orthocxr calibrate for calibrated probabilities)"
      : String(format: "calibrated, T = %.3f", trained.temperature)
    if json {
      struct Prediction: Encodable {
        let path: String
        let prediction: String
        let probabilities: [String: Double]
        let heatmap: String?
      }
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
      let predictions = results.map {
        Prediction(
          path: $0.path, prediction: trained.classes[$0.predicted],
          probabilities: Dictionary(uniqueKeysWithValues: zip(trained.classes, $0.probabilities)),
          heatmap: noHeatmaps ? nil : folder + "/" + $0.overlay)
      }
      print(String(decoding: try encoder.encode(predictions), as: UTF8.self))
    } else {
      print("\(checkpoint): \(trained.classes.joined(separator: ", ")); probabilities \(calibration)")
      for result in results {
        let probabilities = zip(trained.classes, result.probabilities).map { String(format: "%@ %.3f", $0.0, $0.1) }
        print(
          "\(result.path): \(trained.classes[result.predicted])  (\(probabilities.joined(separator: ", ")))"
            + (noHeatmaps ? "" : "  heatmap \(folder)/\(result.overlay)"))
      }
    }
    if let csv {
      try writePredictionsWithoutLabels(results, classes: trained.classes, to: csv)
    }
  }

  func writePredictionsWithoutLabels(_ results: [ImageExplanation], classes: [String], to file: String) throws {
    var text = "path,prediction," + classes.map { "p_\($0)" }.joined(separator: ",") + "\n"
    for result in results {
      text +=
        "\"\(result.path.replacingOccurrences(of: "\"", with: "\"\""))\",\(classes[result.predicted]),"
        + result.probabilities.map { String(format: "%.6f", $0) }.joined(separator: ",") + "\n"
    }
    try text.write(toFile: file, atomically: true, encoding: .utf8)
  }
}
