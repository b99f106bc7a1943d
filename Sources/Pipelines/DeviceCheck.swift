import Datasets
import Engine
import Explanations
import Foundation
import Imaging
import Models
import Training

/// Checks that a device computes what the CPU computes: the same model on the same images, logits
/// and class activation maps on both, in float32 with TensorFloat-32 off, compared element by element.
/// A GPU driver, cuDNN or a libtorch build that gets a model wrong shows up here before a run does.
public enum DeviceCheck {
  public struct Result {
    public var device: Device
    public var images: Int
    /// The largest absolute difference of any logit.
    public var logitsDifference: Double
    /// The largest absolute difference of any map pixel, per method (maps are scaled to [0, 1]).
    public var mapDifferences: [(method: CAMMethod, difference: Double)]
    /// Whether CPU and device predict the same class for every image.
    public var samePredictions: Bool

    public func passes(tolerance: Double) -> Bool {
      samePredictions && logitsDifference <= tolerance && mapDifferences.allSatisfy { $0.difference <= tolerance }
    }

    public func render(tolerance: Double) -> String {
      var lines = ["\(images) image(s), cpu against \(device), float32 (TensorFloat-32 off):"]
      lines.append(String(format: "  logits       max |difference| %.2e", logitsDifference))
      for (method, difference) in mapDifferences {
        lines.append(
          "  \(method.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)) "
            + String(format: "max |difference| %.2e", difference))
      }
      lines.append("  predictions  \(samePredictions ? "identical" : "DIFFERENT")")
      lines.append(
        passes(tolerance: tolerance)
          ? String(format: "pass: within %.0e", tolerance) : String(format: "FAIL: beyond %.0e", tolerance))
      return lines.joined(separator: "\n")
    }
  }

  /// Runs `model` (left on the CPU afterwards) on `images` (N, C, H, W, on the CPU) on the CPU and
  /// on `device`, and compares logits and maps of each method.
  public static func compare(
    _ model: any ImageClassifier, images: Tensor, on device: Device, methods: [CAMMethod] = [.gradCAM]
  ) throws -> Result {
    try Torch.makeAvailable(device)
    // PyTorch lets cuDNN convolutions use TensorFloat-32 by default: about 3 decimal digits, which is
    // the error this check looks for. Restored afterwards.
    Torch.allowTensorFloat32(convolutions: false, matrixProducts: false)
    defer { Torch.allowTensorFloat32(convolutions: true, matrixProducts: false) }
    try model.move(to: .cpu)
    try model.setMemoryFormat(.contiguous)
    model.eval()
    let explainer = try CAMExplainer(classifier: model)
    var cpu: [(maps: [Float], logits: [Float], targets: [Int])] = []
    for method in methods {
      let result = try explainer.explain(images, method: method)
      cpu.append((try result.maps.toArray(Float.self), try result.logits.toArray(Float.self), result.targets))
    }
    try model.move(to: device)
    defer { try? model.move(to: .cpu) }
    let onDevice = try images.to(device)
    var logitsDifference = 0.0
    var mapDifferences: [(CAMMethod, Double)] = []
    let predicted = try noGrad { try model(onDevice) }.argmax(dim: 1).toArray(Int64.self).map { Int($0) }
    let samePredictions = cpu.allSatisfy { $0.targets == predicted }
    for (index, method) in methods.enumerated() {
      // The CPU's targets, so that a near tie cannot make the two explain different classes.
      let result = try explainer.explain(onDevice, method: method, targets: cpu[index].targets)
      let logits = try result.logits.toArray(Float.self)
      logitsDifference = max(logitsDifference, largestDifference(cpu[index].logits, logits))
      mapDifferences.append((method, largestDifference(cpu[index].maps, try result.maps.toArray(Float.self))))
    }
    return Result(
      device: device, images: images.shape[0], logitsDifference: logitsDifference, mapDifferences: mapDifferences,
      samePredictions: samePredictions)
  }

  /// The collectives of data-parallel training on `device` through `backend`, in a group of one on
  /// loopback (NCCL allows one process per GPU, so one GPU can hold no larger group): all-reduce,
  /// broadcast, the differentiable all-reduce of synchronized BatchNorm with its backward pass (which
  /// runs on autograd's device thread), and a synchronized BatchNorm against the plain one. In a group
  /// of one each must give back what one process computes. Returns the report's lines and whether
  /// every check passed.
  public static func collectives(on device: Device, through backend: ProcessGroup.CUDABackend) throws -> (
    lines: [String], passes: Bool
  ) {
    try Torch.makeAvailable(device)
    let group = try ProcessGroup(
      Rendezvous(rank: 0, worldSize: 1, masterPort: try Rendezvous.freeLoopbackPort(), timeoutSeconds: 30),
      cudaBackend: backend)
    var lines = ["collectives on \(device) through \(backend.rawValue), a group of one:"]
    var passes = true
    func report(_ name: String, _ difference: Double, within tolerance: Double) {
      let ok = difference <= tolerance
      passes = passes && ok
      lines.append(
        "  \(name.padding(toLength: 36, withPad: " ", startingAt: 0)) "
          + String(format: "max |difference| %.2e ", difference) + (ok ? "ok" : "FAIL"))
    }
    Torch.seed(1)
    let values = try Tensor.randn([1000], device: device)
    let expected = try values.toArray(Float.self)
    let summed = try values.clone()
    try group.allReduceSum_([summed])
    report("all-reduce", largestDifference(expected, try summed.toArray(Float.self)), within: 0)
    let copied = try values.clone()
    try group.broadcast_([copied], from: 0)
    report("broadcast", largestDifference(expected, try copied.toArray(Float.self)), within: 0)
    // Differentiable all-reduce: y = Σ x over the group; backward gives each x the sum of the grads.
    let input = try Tensor.randn([4, 3, 5, 5], device: device).requiringGrad()
    let weights = try Tensor.randn([4, 3, 5, 5], device: device)
    try (group.allReducedSum(input) * weights).sum().backward()
    guard let gradient = input.grad else { throw TorchError("no gradient reached the all-reduce's input") }
    report(
      "differentiable all-reduce, backward",
      largestDifference(try weights.toArray(Float.self), try gradient.toArray(Float.self)),
      within: 0)
    // Synchronized BatchNorm (two passes, two differentiable all-reduces) against the plain one.
    let images = try (Tensor.randn([8, 6, 7, 7], device: device) * 3 + 1)
    let outputWeights = try Tensor.randn([8, 6, 7, 7], device: device)
    var outputs: [[Float]] = []
    var gradients: [[Float]] = []
    for synchronized in [false, true] {
      let norm = try BatchNorm2d(6)
      try norm.move(to: device)
      let x = try images.clone().requiringGrad()
      let y = synchronized ? try norm.synchronizedForward(x, over: group) : try norm(x)
      try (y * outputWeights).sum().backward()
      guard let gradient = x.grad else { throw TorchError("no gradient reached the BatchNorm's input") }
      outputs.append(try y.toArray(Float.self))
      gradients.append(try gradient.toArray(Float.self))
    }
    report("synchronized BatchNorm, forward", largestDifference(outputs[0], outputs[1]), within: 1e-4)
    report("synchronized BatchNorm, backward", largestDifference(gradients[0], gradients[1]), within: 1e-4)
    return (lines, passes)
  }

  /// Synthetic chest X-rays (one per finding, in turn) as a normalised batch for `preprocessing`.
  public static func syntheticImages(count: Int, preprocessing: Preprocessing, seed: UInt64 = 0) throws -> Tensor {
    let findings = SyntheticChestXRay.Finding.allCases
    let images = (0..<count).map { index in
      preprocessing.resize(
        SyntheticChestXRay.generate(
          size: preprocessing.size, finding: findings[index % findings.count], seed: seed + UInt64(index)
        ).image)
    }
    return try preprocessing.batch(images)
  }

  /// Images read from files (a split, a folder, single images) as a normalised batch.
  public static func images(_ paths: [String], preprocessing: Preprocessing) throws -> Tensor {
    try preprocessing.batch(paths.map { preprocessing.resize(try ImageReader.read($0)) })
  }

  static func largestDifference(_ first: [Float], _ second: [Float]) -> Double {
    guard first.count == second.count else { return .infinity }
    var largest = 0.0
    for (a, b) in zip(first, second) {
      let difference = Double(abs(a - b))
      if !(difference <= largest) { largest = difference.isNaN ? .infinity : difference }
    }
    return largest
  }
}
