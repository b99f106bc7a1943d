import ArgumentParser
import Datasets
import Engine
import Foundation
import Imaging
import Models
import Pipelines
import RunFiles
import Synchronization
import Training

/// The largest image any reader decodes (`ImageLimits`): every command that reads images takes it.
struct ImageLimitOptions: ParsableArguments {
  @Option(
    help:
      "Largest image read, in megapixels (width x height, times frames); larger ones are refused from their header, before decoding (0: no limit)."
  )
  var maxMegapixels = Double(ImageLimits.defaultMaxPixels) / 1_000_000

  func validate() throws {
    guard maxMegapixels >= 0 else { throw ValidationError("--max-megapixels must not be negative") }
  }

  /// Sets the limit for this process.
  func apply() { ImageLimits.maxPixels = Int(maxMegapixels * 1_000_000) }
}

/// How images are read and batched; shared by evaluate and calibrate.
struct LoaderOptions: ParsableArguments {
  @Option(help: "Folder holding the images, when it is not beside the split file or in its images/ subfolder.")
  var images: String?

  @Option(help: "Images per batch.")
  var batchSize = 32

  @Option(help: "Loader worker threads.")
  var workers = 2

  @Option(help: "What to do with an unreadable image: fail (stop, naming it) or skip (leave it out, count it).")
  var badImages: BadImagePolicy = .fail

  @Option(help: "libtorch threads.")
  var threads = 2

  @Option(help: deviceHelp)
  var device: Device = .cpu

  func validate() throws {
    guard batchSize > 0, workers > 0, threads > 0 else {
      throw ValidationError("--batch-size, --workers and --threads must be positive")
    }
  }

  var settings: LoaderSettings {
    LoaderSettings(
      images: images, batchSize: batchSize, workers: workers, badImages: badImages, threads: threads, device: device)
  }
}

/// What a plain state dict (from `checkpoint init`/`convert` or torchvision) does not say about its
/// model; OrthoCXR checkpoints carry these themselves.
struct ModelFactsOptions: ParsableArguments {
  @Option(name: .customLong("model"), help: "For a plain state dict: its architecture.")
  var architecture: Architecture?

  @Option(name: .customLong("label-map"), help: "For a plain state dict: its classes, as a label map (three-class, …).")
  var labelMap: String?

  @Option(name: .customLong("image-size"), help: "For a plain state dict: the network input side in pixels.")
  var imageSize: Int?

  @Option(name: .customLong("channels"), help: "For a plain state dict: input channels (1 or 3).")
  var channels: Int?

  var facts: CheckpointFile.ModelFacts {
    CheckpointFile.ModelFacts(architecture: architecture, labelMap: labelMap, imageSize: imageSize, channels: channels)
  }
}

extension BadImagePolicy: ExpressibleByArgument {}

extension Device: ExpressibleByArgument {
  public init?(argument: String) { self.init(argument) }
  public var defaultValueDescription: String { description == "cpu" ? "cpu" : description }
}

let deviceHelp = ArgumentHelp(
  "Where the model runs: cpu, cuda or cuda:N (a GPU's number).", valueName: "device")
extension Architecture: ExpressibleByArgument {}

/// Set by SIGINT (Ctrl-C): training finishes the current step, saves, and exits.
let interruptRequested = Atomic<Bool>(false)

func installInterruptHandler() {
  signal(SIGINT) { _ in
    if interruptRequested.load(ordering: .relaxed) { _exit(130) }  // a second Ctrl-C quits at once
    interruptRequested.store(true, ordering: .relaxed)
  }
}

extension Duration {
  /// The duration in seconds, as a Double.
  var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}

/// Writes a one-line progress message to standard error on a terminal, or clears it (nil).
func progress(_ message: String?) {
  guard isatty(STDERR_FILENO) != 0 else { return }
  let line = message.map { "\r\u{1B}[2K\($0)" } ?? "\r\u{1B}[2K"
  FileHandle.standardError.write(Data(line.utf8))
}

/// Prints messages and shows progress on the terminal. Each message is flushed at once: through a pipe
/// (`orthocxr launch`, `| tee`) stdout is block-buffered, and a process that is stopped would lose
/// what it said last.
var terminal: PipelineOutput {
  PipelineOutput(
    message: {
      print($0)
      fflush(nil)  // every C stream: stdout, where print writes
    }, progress: progress)
}

/// Runs a library call, turning the errors a user can fix into a clean message and exit status.
func userFacing<Value>(_ body: () throws -> Value) throws -> Value {
  do {
    return try body()
  } catch let error as CustomStringConvertible & Error where !(error is ValidationError) {
    progress(nil)
    throw ValidationError(error.description)
  }
}
