import ArgumentParser
import Engine
import Foundation
import Models

/// Benchmarks: the engine (model training and inference) and the data pipeline.
struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Measure speed: model training and inference, the data pipeline, or heatmaps (use a release build).",
    subcommands: [ModelBench.self, DataBench.self, GradCAMBench.self, AllReduceBench.self],
    defaultSubcommand: ModelBench.self
  )
}

/// Measures training and inference throughput of a model on random inputs: the engine's benchmark.
struct ModelBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "model",
    abstract: "Measure training and inference images per second (use a release build).",
    discussion: """
      Times full training steps (forward, cross-entropy, backward, SGD with momentum or AdamW) and inference
      forward passes under no-grad, on random images, after warm-up steps that are not counted; for a
      ResNet also the prepared model that serve runs (BatchNorm folded into the convolutions, oneDNN's
      fused convolution + ReLU and + residual, weights reordered once), in the same precision.
      `--precision both` measures float32 and then bfloat16 autocast with channels-last weights and
      inputs. Compare with scripts/bench_pytorch.py, which runs the same steps in PyTorch.
      """
  )

  enum Precision: String, ExpressibleByArgument, CaseIterable {
    case fp32, bf16, both
  }

  @Option(help: "Architecture: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")).")
  var model: Architecture = .resnet18

  @Option(help: "Images per batch.")
  var batchSize = 32

  @Option(help: "Image height and width in pixels.")
  var imageSize = 224

  @Option(help: "Input channels (3 to compare with torchvision's ImageNet models, 1 for greyscale).")
  var channels = 3

  @Option(help: "Number of classes of the classifier.")
  var classes = 3

  @Option(help: "libtorch threads.")
  var threads = 2

  @Option(help: "Timed steps per measurement.")
  var steps = 5

  @Option(help: "Untimed warm-up steps before each measurement.")
  var warmup = 2

  @Option(help: "fp32, bf16 (autocast + channels-last) or both.")
  var precision: Precision = .both

  enum OptimizerChoice: String, ExpressibleByArgument, CaseIterable {
    case sgd, adamw
  }

  @Option(
    help: """
      The training step's optimizer: sgd (momentum 0.9, learning rate 0.01) or adamw (learning rate 1e-3, \
      weight decay 1e-4, the experiments' setting).
      """)
  var optimizer: OptimizerChoice = .sgd

  @Flag(help: "Measure training only.")
  var trainingOnly = false

  @Flag(help: "Measure inference only.")
  var inferenceOnly = false

  @Option(help: deviceHelp)
  var device: Device = .cpu

  func validate() throws {
    guard batchSize > 0, imageSize >= 32, steps > 0, warmup >= 0, threads > 0, channels > 0, classes > 1 else {
      throw ValidationError(
        "--batch-size, --steps and --threads must be positive, --image-size at least 32, --classes at least 2")
    }
    guard !(trainingOnly && inferenceOnly) else {
      throw ValidationError("--training-only and --inference-only exclude each other")
    }
  }

  func run() throws {
    Torch.threadCount = threads
    try userFacing { try Torch.makeAvailable(device) }
    Torch.seed(0)
    CPUMemoryCache.enableForLoops()
    #if DEBUG
      print("warning: this is a debug build; build with -c release for meaningful numbers")
    #endif
    print(
      "\(model.rawValue), \(imageSize)x\(imageSize), \(channels) channel(s), batch \(batchSize), \(threads) threads, \(device), libtorch \(Torch.version)"
    )
    let precisions: [Precision] = precision == .both ? [.fp32, .bf16] : [precision]
    for precision in precisions {
      let mixed = precision == .bf16
      let label = mixed ? "bf16 autocast + channels-last" : "fp32"
      let network = try model.make(classCount: classes, inputChannels: channels)
      try network.move(to: device)
      let format: MemoryFormat = mixed ? .channelsLast : .contiguous
      try network.setMemoryFormat(format)
      let images = try Tensor.randn([batchSize, channels, imageSize, imageSize], device: device).contiguous(format)
      let labels = try Tensor.randint(0..<classes, shape: [batchSize], device: device)

      if !inferenceOnly {
        network.train()
        let optimizer: any Optimizer =
          switch self.optimizer {
          case .sgd: try SGD(parameters: network.parameters(), learningRate: 0.01, momentum: 0.9)
          case .adamw: Adam.adamW(parameters: network.parameters(), learningRate: 1e-3, weightDecay: 1e-4)
          }
        let rate = try imagesPerSecond(
          "train  \(label)", batchSize: batchSize, steps: steps, warmup: warmup, device: device
        ) {
          try optimizer.clearGradients()
          let loss = try Autocast.run(if: mixed, on: device) {
            try Functional.crossEntropy(logits: network(images), targets: labels)
          }
          try loss.backward()
          try optimizer.step()
        }
        report("train", label, rate)
      }
      if !trainingOnly {
        network.eval()
        let rate = try imagesPerSecond(
          "infer  \(label)", batchSize: batchSize, steps: steps, warmup: warmup, device: device
        ) {
          _ = try noGrad { try Autocast.run(if: mixed, on: device) { try network(images) } }
        }
        report("inference", label, rate)
        // The prepared model: BatchNorm folded, oneDNN's fused convolutions with weights reordered
        // once (PreparedClassifier), in the same precision.
        if let prepared = try PreparedClassifier.prepare(network, dtype: mixed ? .bfloat16 : .float32) {
          let preparedLabel =
            (mixed ? "bf16" : "fp32") + (prepared.isFused ? " prepared (folded + fused)" : " prepared (folded)")
          let rate = try imagesPerSecond(
            "infer  \(preparedLabel)", batchSize: batchSize, steps: steps, warmup: warmup, device: device
          ) {
            _ = try prepared(images)
          }
          report("inference", preparedLabel, rate)
        }
      }
    }
  }

  private func report(_ mode: String, _ label: String, _ rate: Double) {
    let padded = { (text: String, width: Int) in
      text.padding(toLength: max(width, text.count), withPad: " ", startingAt: 0)
    }
    print(padded(mode, 11) + padded(label, 32) + String(format: "%9.1f images/s", rate))
  }
}

/// Images per second over `steps` timed calls of `step` (each a batch of `batchSize` images), after
/// `warmup` untimed ones, with a progress line on a terminal. Shared by the benchmarks. On a GPU the
/// steps only queue work, so the clock starts and stops after waiting for the device.
func imagesPerSecond(
  _ label: String, batchSize: Int, steps: Int, warmup: Int, device: Device = .cpu, _ step: () throws -> Void
) throws -> Double {
  for index in 0..<warmup {
    try step()
    progress("\(label): warm-up \(index + 1)/\(warmup)")
  }
  try Torch.synchronize(device)
  let clock = ContinuousClock()
  let start = clock.now
  for index in 0..<steps {
    try step()
    progress("\(label): step \(index + 1)/\(steps)")
  }
  try Torch.synchronize(device)
  let elapsed = clock.now - start
  progress(nil)
  return Double(steps * batchSize) / elapsed.seconds
}
