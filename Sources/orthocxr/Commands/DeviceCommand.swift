import ArgumentParser
import Datasets
import Engine
import Explanations
import Foundation
import Models
import Pipelines
import Training

/// What devices this machine offers, and whether a GPU computes what the CPU computes.
struct DeviceCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "device",
    abstract: "List the usable devices; with --check, compare a GPU's results with the CPU's.",
    discussion: """
      Without options: the libtorch version, and whether CUDA can be used (if not, what is missing:
      the NVIDIA driver, libtorch's CUDA library, or a library that one needs).

      With --check cuda (or cuda:N): runs one model on the same images on the CPU and on the GPU in
      float32 with TensorFloat-32 off, and compares logits and class activation maps element by
      element. Exits with status 1 when a difference exceeds --tolerance or a prediction differs.
      By default a seeded ResNet-18 on synthetic X-rays; --checkpoint and --images use yours.

      --collectives (with --check) also checks data-parallel training's collectives on the GPU, in
      a group of one, through Gloo and through NCCL: all-reduce, broadcast, the differentiable
      all-reduce of synchronized BatchNorm and its backward pass, synchronized against plain
      BatchNorm. NCCL unavailable (or any difference) fails the check.
      """
  )

  @Option(help: "The device to compare with the CPU: cuda or cuda:N.")
  var check: Device?

  @Option(help: "A checkpoint to check with (default: a seeded ResNet-18 with new weights).")
  var checkpoint: String?

  @Option(help: "Images to check with: a split, a folder or one image (default: synthetic X-rays).")
  var images: String?

  @Option(help: "How many images.")
  var count = 8

  @Option(help: "Network input side for the default model.")
  var imageSize = 224

  @Option(help: "Methods to compare, comma-separated: \(CAMMethod.allCases.map(\.rawValue).joined(separator: ", ")).")
  var methods = "gradcam,gradcam++"

  @Option(help: "Largest allowed absolute difference of a logit or a map pixel.")
  var tolerance = 1e-3

  @Option(help: "libtorch threads.")
  var threads = 2

  @Flag(help: "With --check: also check the collectives of data-parallel training (Gloo and NCCL).")
  var collectives = false

  func validate() throws {
    guard count > 0, imageSize >= 32, threads > 0, tolerance > 0 else {
      throw ValidationError("--count, --threads and --tolerance must be positive, --image-size at least 32")
    }
    if check == .cpu { throw ValidationError("--check compares a GPU with the CPU: give cuda or cuda:N") }
    if collectives && check == nil { throw ValidationError("--collectives goes with --check cuda") }
  }

  func run() throws {
    Torch.threadCount = threads
    print("libtorch \(Torch.version)")
    print("cpu: available, \(threads) thread(s)")
    guard let device = check else {
      do {
        try Torch.makeAvailable(.cuda(0))
        print("cuda: available, \(Torch.cudaDeviceCount) device(s)")
      } catch let error as DeviceError {
        print("cuda: not available. \(error)")
      }
      return
    }
    let chosen = try methods.split(separator: ",").map { name -> CAMMethod in
      guard let method = CAMMethod(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
        throw ValidationError(
          "unknown method \"\(name)\"; use \(CAMMethod.allCases.map(\.rawValue).joined(separator: ", "))")
      }
      return method
    }
    let result = try userFacing { () -> DeviceCheck.Result in
      try Torch.makeAvailable(device)
      print("\(device): available, \(Torch.cudaDeviceCount) CUDA device(s)")
      Torch.seed(0)
      let model: any ImageClassifier
      let preprocessing: Preprocessing
      if let checkpoint {
        let trained = try TrainedModel.load(checkpoint)
        model = trained.model
        preprocessing = trained.preprocessing
      } else {
        preprocessing = Preprocessing(size: imageSize, channels: 1)
        model = try Architecture.resnet18.make(classCount: 3, inputChannels: 1)
      }
      let batch: Tensor
      if let images {
        let paths = try imageInputs(images, labelMap: .threeClass, imageFolder: nil).prefix(count).map(\.path)
        batch = try DeviceCheck.images(Array(paths), preprocessing: preprocessing)
      } else {
        batch = try DeviceCheck.syntheticImages(count: count, preprocessing: preprocessing)
      }
      return try DeviceCheck.compare(model, images: batch, on: device, methods: chosen)
    }
    print(result.render(tolerance: tolerance))
    var passes = result.passes(tolerance: tolerance)
    if collectives {
      for backend in ProcessGroup.CUDABackend.allCases {
        if backend == .nccl, let why = ProcessGroup.ncclUnavailability {
          print("collectives through nccl: FAIL: NCCL is not available: \(why)")
          passes = false
          continue
        }
        let check = try userFacing { try DeviceCheck.collectives(on: device, through: backend) }
        print(check.lines.joined(separator: "\n"))
        passes = passes && check.passes
      }
    }
    if !passes { throw ExitCode(1) }
  }
}
