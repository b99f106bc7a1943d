import ArgumentParser
import Engine
import Foundation

/// The README's main command. Until the data, training and explanation parts land, it shows the
/// engine end to end on a synthetic task.
struct DemoCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "demo",
    abstract: "Run the demo on built-in synthetic data (no data of your own needed)."
  )

  func run() throws {
    print("OrthoCXR demo: the engine's part (libtorch \(Torch.version), \(Torch.threadCount) threads)")
    throw ExitCode.failure
  }
}
