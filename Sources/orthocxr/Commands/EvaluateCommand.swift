import ArgumentParser
import Datasets
import Engine
import Evaluation
import Foundation
import Training

/// Evaluates a checkpoint on a split.
struct EvaluateCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "evaluate",
    abstract: "Evaluate a checkpoint on a split: accuracy, per-class metrics, AUC, calibration, with CIs.",
    discussion: """
      Uses the checkpoint's own architecture, classes, label map and preprocessing, and its fitted
      temperature when it was calibrated. Prints the metrics; --output writes them as JSON and
      --predictions writes one row per image (path, label, prediction, probabilities).
      """
  )

  @Option(help: "A checkpoint written by orthocxr train (best.safetensors) or orthocxr calibrate.")
  var checkpoint: String

  @Option(help: "The split to evaluate on.")
  var data: String

  @OptionGroup var loader: LoaderOptions

  @Option(help: "Write the metrics as JSON here.")
  var output: String?

  @Option(help: "Write per-image predictions as CSV here.")
  var predictions: String?

  @Option(help: "Also write the metrics without the checkpoint's temperature (T = 1) as JSON here.")
  var uncalibratedOutput: String?

  @Option(help: "Bootstrap resamples for the 95% intervals.")
  var bootstrap = 1_000

  @Option(help: "Seed of the bootstrap.")
  var seed: UInt64 = 0

  @Flag(help: "Ignore the checkpoint's temperature (report the uncalibrated model).")
  var uncalibrated = false

  func run() throws {
    Torch.threadCount = loader.threads
    let trained = try TrainedModel.load(checkpoint)
    let entries = try loader.entries(data, labelMap: trained.labelMap)
    let dataLoader = DataLoader(
      entries: entries, classCount: trained.classes.count, preprocessing: trained.preprocessing,
      options: loader.loaderOptions(seed: seed, shuffle: false))
    try trained.model.setMemoryFormat(.channelsLast)
    let (logits, labels) = try Predictor.logits(of: trained.model, on: dataLoader, mixedPrecision: true)
    let temperature = uncalibrated ? 1 : trained.temperature
    let report = EvaluationReport.compute(
      logits: logits, labels: labels, classes: trained.classes, temperature: temperature, resamples: bootstrap,
      seed: seed)
    print("\(checkpoint) on \(data)")
    print(report.render())
    if let output { try writeJSON(report, to: output) }
    if let uncalibratedOutput {
      try writeJSON(
        EvaluationReport.compute(
          logits: logits, labels: labels, classes: trained.classes, temperature: 1, resamples: bootstrap, seed: seed),
        to: uncalibratedOutput)
    }
    if let predictions {
      let order = dataLoader.order(epoch: 0)
      try writePredictions(
        paths: order.prefix(labels.count).map { entries[$0].entry.path }, labels: labels,
        probabilities: softmax(logits, temperature: temperature), classes: trained.classes, to: predictions)
    }
  }
}

/// Fits a temperature on a validation split and stores it with the model.
struct CalibrateCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "calibrate",
    abstract: "Fit a temperature on a validation split; report calibration before and after; save it with the model.",
    discussion: """
      Temperature scaling divides every logit by one T > 0, fitted by minimising the NLL over log T on
      the split. It changes confidences, never predictions. The calibrated checkpoint (--output) is
      the same model with T in its metadata; evaluate and predict use it.
      """
  )

  @Option(help: "The checkpoint to calibrate.")
  var checkpoint: String

  @Option(help: "The validation split to fit the temperature on (not the test split).")
  var data: String

  @Option(help: "Where to write the calibrated checkpoint (default: NAME-calibrated.safetensors beside it).")
  var output: String?

  @OptionGroup var loader: LoaderOptions

  func run() throws {
    Torch.threadCount = loader.threads
    let trained = try TrainedModel.load(checkpoint)
    let dataLoader = DataLoader(
      entries: try loader.entries(data, labelMap: trained.labelMap), classCount: trained.classes.count,
      preprocessing: trained.preprocessing, options: loader.loaderOptions(seed: 0, shuffle: false))
    try trained.model.setMemoryFormat(.channelsLast)
    let (logits, labels) = try Predictor.logits(of: trained.model, on: dataLoader, mixedPrecision: true)
    let temperature = TemperatureScaling.fit(logits: logits, labels: labels)
    let before = EvaluationReport.compute(
      logits: logits, labels: labels, classes: trained.classes, temperature: 1, resamples: 200)
    let after = EvaluationReport.compute(
      logits: logits, labels: labels, classes: trained.classes, temperature: temperature, resamples: 200)
    print(String(format: "fitted temperature T = %.4f on %d images", temperature, labels.count))
    print("          NLL      ECE      Brier    accuracy")
    for (name, report) in [("before", before), ("after ", after)] {
      print(
        "  " + name
          + String(
            format: "  %.4f   %.4f   %.4f   %.1f%%", report.nll, report.ece.value, report.brier,
            report.accuracy.value * 100))
    }
    let destination = output ?? ((checkpoint as NSString).deletingPathExtension + "-calibrated.safetensors")
    try saveCalibrated(checkpoint, temperature: temperature, to: destination)
    print("wrote \(destination)")
  }
}

/// Per-image predictions as CSV (path, label, prediction, one probability per class): what
/// `orthocxr compare` and the comparison report read.
func writePredictions(paths: [String], labels: [Int], probabilities: [[Double]], classes: [String], to file: String)
  throws
{
  var csv = "path,label,prediction," + classes.map { "p_\($0)" }.joined(separator: ",") + "\n"
  for (row, path) in paths.enumerated() where row < probabilities.count {
    let p = probabilities[row]
    let predicted = p.indices.max { p[$0] < p[$1] } ?? 0
    csv +=
      "\"\(path.replacingOccurrences(of: "\"", with: "\"\""))\",\(classes[labels[row]]),\(classes[predicted]),"
      + p.map { String(format: "%.6f", $0) }.joined(separator: ",") + "\n"
  }
  try csv.write(toFile: file, atomically: true, encoding: .utf8)
}

/// Writes the model of `checkpoint` with `temperature` in its metadata (and without the optimizer
/// and random state: a model, not a training state).
func saveCalibrated(_ checkpoint: String, temperature: Double, to destination: String) throws {
  var (tensors, metadata) = try Safetensors.read(from: checkpoint)
  metadata["orthocxr.temperature"] = String(temperature)
  tensors = tensors.filter { !$0.key.hasPrefix("optimizer.") && $0.key != "rng_state" }
  try Safetensors.write(tensors, metadata: metadata, to: destination)
}
