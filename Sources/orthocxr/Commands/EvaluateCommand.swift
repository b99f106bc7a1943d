import ArgumentParser
import Foundation
import Pipelines

/// Evaluates a checkpoint on a split.
struct EvaluateCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "evaluate",
    abstract: "Evaluate a checkpoint on a split: accuracy, per-class metrics, AUC, calibration, with CIs.",
    discussion: """
      Uses the checkpoint's own architecture, classes, label map and preprocessing, and its fitted
      temperature when it was calibrated. Prints the metrics; --output writes them as JSON and
      --predictions writes one row per image (path, label, prediction, probabilities). A plain state
      dict (checkpoint init or convert) needs --model, --label-map, --image-size and --channels.
      """
  )

  @Option(help: "A checkpoint written by orthocxr train (best.safetensors) or orthocxr calibrate.")
  var checkpoint: String

  @Option(help: "The split to evaluate on.")
  var data: String

  @OptionGroup var loader: LoaderOptions
  @OptionGroup var model: ModelFactsOptions

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

  @OptionGroup var imageLimits: ImageLimitOptions

  func run() throws {
    imageLimits.apply()
    let result = try userFacing {
      try EvaluationPipeline.evaluate(
        checkpoint: checkpoint, on: data, loader: loader.settings, resamples: bootstrap, seed: seed,
        ignoreTemperature: uncalibrated, facts: model.facts)
    }
    print("\(checkpoint) on \(data)")
    print(result.report.render())
    try result.write(metrics: output, uncalibratedMetrics: uncalibratedOutput, predictions: predictions)
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

  @OptionGroup var imageLimits: ImageLimitOptions

  func run() throws {
    imageLimits.apply()
    let result = try userFacing {
      try CalibrationPipeline.calibrate(checkpoint: checkpoint, on: data, loader: loader.settings, destination: output)
    }
    print(result.render())
    print("wrote \(result.destination)")
  }
}
