import ArgumentParser
import Engine
import Explanations
import Foundation
import Models

/// Measures heatmaps per second: the explanation benchmark, against pytorch-grad-cam.
struct GradCAMBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "gradcam",
    abstract: "Measure class-activation-map images per second (use a release build).",
    discussion: """
      Explains batches of random images for their predicted classes at the model's last
      convolutional block and fetches the maps (at input resolution, scaled to [0, 1]) as arrays, as
      pytorch-grad-cam returns them. Compare with scripts/bench_pytorch_gradcam.py, which times
      pytorch-grad-cam on the same model and inputs.
      """
  )

  @Option(help: "Architecture: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")).")
  var model: Architecture = .resnet18

  @Option(help: "Method: \(CAMMethod.allCases.map(\.rawValue).joined(separator: ", ")).")
  var method: CAMMethod = .gradCAM

  @Option(help: "Images per batch.")
  var batchSize = 32

  @Option(help: "Image height and width in pixels.")
  var imageSize = 224

  @Option(help: "Input channels.")
  var channels = 3

  @Option(help: "libtorch threads.")
  var threads = 2

  @Option(help: "Timed batches.")
  var steps = 5

  @Option(help: "Untimed warm-up batches.")
  var warmup = 1

  @Flag(help: "Run the model in bfloat16 autocast with channels-last (the maps are computed in float32).")
  var bf16 = false

  @Option(help: deviceHelp)
  var device: Device = .cpu

  func validate() throws {
    guard batchSize > 0, imageSize >= 32, steps > 0, warmup >= 0, threads > 0, channels > 0 else {
      throw ValidationError(
        "--batch-size, --steps, --threads and --channels must be positive, --image-size at least 32")
    }
  }

  func run() throws {
    Torch.threadCount = threads
    CPUMemoryCache.enableForLoops()
    try userFacing { try Torch.makeAvailable(device) }
    Torch.seed(0)
    #if DEBUG
      print("warning: this is a debug build; build with -c release for meaningful numbers")
    #endif
    print(
      "\(method.rawValue), \(model.rawValue), \(imageSize)x\(imageSize), \(channels) channel(s), batch \(batchSize), "
        + "\(threads) threads, \(device), \(bf16 ? "bf16 autocast" : "fp32"), libtorch \(Torch.version)")
    let network = try model.make(classCount: 3, inputChannels: channels)
    try network.move(to: device)
    network.eval()
    let format: MemoryFormat = bf16 ? .channelsLast : .contiguous
    try network.setMemoryFormat(format)
    let images = try Tensor.randn([batchSize, channels, imageSize, imageSize], device: device).contiguous(format)
    // As the model is (autograd through the layer), then as serve and explain run it: through the
    // prepared model, with the gradient of the last stage in closed form.
    let prepared = try PreparedClassifier.prepare(network, dtype: bf16 ? .bfloat16 : .float32)
    for (label, explainer) in [
      (method.rawValue, try CAMExplainer(classifier: network)),
      (method.rawValue + " prepared", try prepared.map { try CAMExplainer(classifier: network, prepared: $0) }),
    ] {
      guard let explainer else { continue }
      func step() throws {
        let result = try Autocast.run(if: bf16 && explainer.prepared == nil, on: device) {
          try explainer.explain(images, method: method)
        }
        _ = try result.maps.toArray(Float.self)
      }
      let rate = try imagesPerSecond(label, batchSize: batchSize, steps: steps, warmup: warmup, device: device, step)
      // Three decimals below one image a second (Score-CAM), where two would hide a tenth of the rate.
      print(
        label.padding(toLength: 20, withPad: " ", startingAt: 0)
          + String(format: rate < 1 ? "%9.3f images/s" : "%9.2f images/s", rate))
    }
  }
}

extension CAMMethod: ExpressibleByArgument {}
