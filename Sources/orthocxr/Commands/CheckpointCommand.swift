import ArgumentParser
import Engine
import Foundation
import Models

/// Tools for the weights a user brings or exports: list, convert, create, and run them.
struct CheckpointCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "checkpoint",
    abstract: "Inspect, convert, create and run model checkpoints (.safetensors, .pth).",
    subcommands: [Inspect.self, Convert.self, Initialize.self, Run.self]
  )

  /// The model a checkpoint is for.
  struct ModelOptions: ParsableArguments {
    @Option(help: "Architecture: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")).")
    var model: Architecture = .resnet18

    @Option(help: "Number of classes.")
    var classes = 3

    @Option(help: "Input channels: 1 for greyscale X-rays, 3 for ImageNet weights.")
    var channels = 1

    func make() throws -> any ImageClassifier {
      try model.make(classCount: classes, inputChannels: channels)
    }
  }

  struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "List a checkpoint's tensors; with --model, check that it loads into that model.")

    @Argument(help: "A .safetensors, .pth or .pt file.")
    var path: String

    @Option(help: "Check loading into this architecture (with --classes and --channels).")
    var model: Architecture?

    @Option(help: "Number of classes of the model to check against.")
    var classes = 3

    @Option(help: "Input channels of the model to check against.")
    var channels = 1

    func run() throws {
      let tensors = Checkpoint.unwrapped(try Checkpoint.read(from: path))
      var total = 0
      for name in tensors.keys.sorted() {
        let tensor = tensors[name]!
        total += tensor.elementCount
        print("\(name)  \(tensor.dtype)  \(tensor.shape)")
      }
      print("\(tensors.count) tensors, \(total) values")
      if let model {
        let network = try model.make(classCount: classes, inputChannels: channels)
        let report = try network.loadStateDict(tensors, strict: false)
        if report.isComplete {
          print("loads into \(model.rawValue) (\(classes) classes, \(channels) channels) with every key matched")
        } else {
          print("missing keys: \(report.missingKeys.joined(separator: ", "))")
          print("unexpected keys: \(report.unexpectedKeys.joined(separator: ", "))")
          throw ExitCode(2)
        }
      }
    }
  }

  struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Convert between .pth (torch.save) and .safetensors, by the files' extensions.")

    @Argument(help: "The checkpoint to read.")
    var input: String

    @Argument(help: "The checkpoint to write.")
    var output: String

    func run() throws {
      let tensors = Checkpoint.unwrapped(try Checkpoint.read(from: input))
      try Checkpoint.write(tensors, to: output)
      print("wrote \(tensors.count) tensors to \(output)")
    }
  }

  struct Initialize: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "init", abstract: "Write a freshly initialised model's weights.")

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Seed of the initialisation.")
    var seed: UInt64 = 0

    @Argument(help: "The checkpoint to write (.safetensors or .pth).")
    var output: String

    func run() throws {
      Torch.seed(seed)
      try modelOptions.make().save(to: output)
      print("wrote \(modelOptions.model.rawValue) to \(output)")
    }
  }

  struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Run a model in evaluation mode on the tensor \"input\" of a file; write \"logits\".",
      discussion: "Used by scripts/check_torchvision_interop.py to compare logits with torchvision.")

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "The weights to load (strictly).")
    var weights: String

    @Option(help: "A .safetensors file holding an NCHW float32 tensor named \"input\".")
    var input: String

    @Option(help: "Where to write the logits (.safetensors, tensor \"logits\").")
    var output: String

    @Flag(help: "Run under bf16 autocast with channels-last weights and input.")
    var bf16 = false

    func run() throws {
      let network = try modelOptions.make()
      try network.load(from: weights, strict: true)
      network.eval()
      guard let images = try Safetensors.read(from: input).tensors["input"] else {
        throw ValidationError("\(input) holds no tensor named \"input\"")
      }
      if bf16 { try network.setMemoryFormat(.channelsLast) }
      let logits = try noGrad {
        try Autocast.run(if: bf16) { try network(bf16 ? images.contiguous(.channelsLast) : images) }.to(.float32)
      }
      try Safetensors.write(["logits": logits], to: output)
    }
  }
}
