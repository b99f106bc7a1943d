import ArgumentParser
import Datasets
import Engine
import Foundation
import Synchronization

/// How images are read and batched; shared by train, evaluate and calibrate.
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

  func validate() throws {
    guard batchSize > 0, workers > 0, threads > 0 else {
      throw ValidationError("--batch-size, --workers and --threads must be positive")
    }
  }

  func loaderOptions(seed: UInt64, shuffle: Bool) -> DataLoader.Options {
    var options = DataLoader.Options()
    options.batchSize = batchSize
    options.workers = workers
    options.seed = seed
    options.shuffle = shuffle
    options.badImages = badImages
    options.memoryFormat = .channelsLast
    return options
  }

  /// The labeled entries of a split under a label map, with a clear error for an unreadable split.
  func entries(_ path: String, labelMap: LabelMap) throws -> [LabeledEntry] {
    do {
      return try labelMap.apply(to: DatasetSource.load(path, imageFolder: images))
    } catch let error as DatasetError {
      throw ValidationError("\(error)")
    }
  }
}

extension BadImagePolicy: ExpressibleByArgument {}

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

/// "3m12s", "1h04m".
func durationText(_ seconds: Double) -> String {
  guard seconds.isFinite, seconds >= 0 else { return "?" }
  let total = Int(seconds)
  if total >= 3600 { return String(format: "%dh%02dm", total / 3600, total % 3600 / 60) }
  if total >= 60 { return String(format: "%dm%02ds", total / 60, total % 60) }
  return "\(total)s"
}

func writeJSON<Value: Encodable>(_ value: Value, to path: String) throws {
  let encoder = JSONEncoder()
  encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
  try encoder.encode(value).write(to: URL(fileURLWithPath: path), options: .atomic)
}

/// Writes a one-line progress message to standard error on a terminal, or clears it (nil).
func progress(_ message: String?) {
  guard isatty(STDERR_FILENO) != 0 else { return }
  let line = message.map { "\r\u{1B}[2K\($0)" } ?? "\r\u{1B}[2K"
  FileHandle.standardError.write(Data(line.utf8))
}
