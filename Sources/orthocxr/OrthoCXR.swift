import ArgumentParser
import Engine
import Imaging

@main
struct OrthoCXR: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "orthocxr",
    abstract: "Train, evaluate, calibrate and explain chest X-ray classifiers with the Orthogonal Spheres loss.",
    discussion: """
      OrthoCXR runs on libtorch \(Torch.version) (CPU here; CUDA where a GPU and libtorch_cuda exist).
      Run `orthocxr help <subcommand>` for the options of each subcommand.
      """,
    version: "\(Software.nameAndVersion), libtorch \(Torch.version)",
    subcommands: [
      DemoCommand.self, TrainCommand.self, EvaluateCommand.self, CalibrateCommand.self, ExplainCommand.self,
      PredictCommand.self, CompareCommand.self, ReportCommand.self,
      DatasetCommand.self,
      LaunchCommand.self, BenchCommand.self, DeviceCommand.self,
      CheckpointCommand.self, ServeCommand.self, ConvertCommand.self, OutOfDistributionCommand.self, StressCommand.self,
      SweepCommand.self,
    ]
  )
}
