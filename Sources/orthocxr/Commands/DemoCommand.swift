import ArgumentParser
import Engine
import Foundation
import Models

/// The README's main command. For now it exercises the engine end to end on generated images; it
/// moves to synthetic chest X-rays, the OS loss, calibration and Grad-CAM as those parts land.
struct DemoCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "demo",
    abstract: "Run the demo on built-in synthetic data (no data of your own needed).",
    discussion: """
      Generates a three-class image task (horizontal stripes, vertical stripes, checkerboard, with
      noise), trains a ResNet-18 on it with bf16 autocast, evaluates it on held-out images, saves
      the model as safetensors, reloads it and checks that the reloaded model gives the same logits.
      """
  )

  @Option(help: "Training steps.")
  var steps = 60

  @Option(help: "Images per batch.")
  var batchSize = 32

  @Option(help: "libtorch threads.")
  var threads = 2

  @Option(help: "Folder for the demo's outputs.")
  var output = "runs/demo"

  @Option(help: "Random seed.")
  var seed: UInt64 = 0

  func run() throws {
    Torch.threadCount = threads
    Torch.seed(seed)
    try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
    print("OrthoCXR demo — libtorch \(Torch.version), \(threads) threads")

    let model = try ResNet(.resnet18, classCount: 3, inputChannels: 1)
    try model.setMemoryFormat(.channelsLast)
    let optimizer = Adam(parameters: model.parameters(), learningRate: 3e-3)
    let schedule = LinearWarmup(warmupSteps: 5, then: CosineDecay(baseRate: 3e-3, totalSteps: steps - 5))
    let test = try PatternTask.batch(count: 240, seed: seed &+ 1_000_000)

    print("training ResNet-18 (1 channel, 3 classes, 32x32 images) for \(steps) steps, bf16 autocast")
    let clock = ContinuousClock()
    let start = clock.now
    for step in 0..<steps {
      let (images, labels) = try PatternTask.batch(count: batchSize, seed: seed &+ UInt64(step))
      optimizer.learningRate = schedule.learningRate(at: step)
      try optimizer.clearGradients()
      let loss = try Autocast.run {
        try Functional.crossEntropy(logits: model(images.contiguous(.channelsLast)), targets: labels)
      }
      try loss.backward()
      try optimizer.step()
      if step % 10 == 0 || step == steps - 1 {
        print(
          String(format: "  step %3d/%d  loss %.4f  lr %.2e", step + 1, steps, try loss.item(), optimizer.learningRate))
      }
    }
    let seconds = (clock.now - start) / .seconds(1)
    print(String(format: "trained in %.1f s (%.0f images/s)", seconds, Double(steps * batchSize) / seconds))

    model.eval()
    let logits = try noGrad { try model(test.images.contiguous(.channelsLast)) }
    let accuracy = try logits.argmax(dim: 1).equal(test.labels).to(.float32).mean().item()
    print(
      String(
        format: "held-out accuracy: %.1f%% on %d images (chance: 33.3%%)", accuracy * 100, test.labels.elementCount))

    let path = output + "/resnet18-demo.safetensors"
    try model.save(to: path, metadata: ["architecture": "resnet18", "classes": "horizontal,vertical,checkerboard"])
    let reloaded = try ResNet(.resnet18, classCount: 3, inputChannels: 1)
    try reloaded.load(from: path)
    try reloaded.setMemoryFormat(.channelsLast)
    reloaded.eval()
    let input = try test.images.contiguous(.channelsLast)
    let difference = try noGrad { try (reloaded(input) - model(input)).abs().max().item() }
    print("saved \(path); the reloaded model's logits differ by \(difference)")
    guard difference == 0 else { throw ValidationError("the reloaded model disagrees with the saved one") }
    guard accuracy > 0.5 else {
      print("the demo model did not learn (accuracy \(accuracy)); something is wrong")
      throw ExitCode.failure
    }
  }
}

/// Noisy 32x32 images of horizontal stripes, vertical stripes or a checkerboard, with random period
/// and phase: a small task that a network solves only by learning its filters.
enum PatternTask {
  static func batch(count: Int, seed: UInt64) throws -> (images: Tensor, labels: Tensor) {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 &+ 1
    func next() -> UInt64 {
      state ^= state << 13
      state ^= state >> 7
      state ^= state << 17
      return state
    }
    var pixels: [Float] = []
    pixels.reserveCapacity(count * 32 * 32)
    var labels: [Int64] = []
    for _ in 0..<count {
      let label = Int(next() % 3)
      let period = 2 + Int(next() % 3)
      let phase = Int(next() % UInt64(period))
      for row in 0..<32 {
        for column in 0..<32 {
          let coordinate = label == 0 ? row : label == 1 ? column : (row / period + column / period) * period
          let on = (coordinate + phase) / period % 2 == 0
          pixels.append((on ? 0.8 : 0.2) + Float(next() % 1000) / 2500 - 0.2)
        }
      }
      labels.append(Int64(label))
    }
    return (try Tensor(pixels, shape: [count, 1, 32, 32]), try Tensor(labels))
  }
}
