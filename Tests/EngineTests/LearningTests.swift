import Foundation
import Randomness
import Testing

@testable import Engine

/// Noisy 12x12 images of three kinds (horizontal stripes, vertical stripes, a checkerboard) at a
/// random phase: a task a small CNN can only solve by learning its filters.
func stripeImages(count: Int, seed: UInt64) throws -> (images: Tensor, labels: Tensor) {
  var generator = SplitMix64(seed: seed)
  var pixels: [Float] = []
  var labels: [Int64] = []
  for _ in 0..<count {
    let label = Int(generator.next() % 3)
    let phase = Int(generator.next() % 2)
    for row in 0..<12 {
      for column in 0..<12 {
        let on: Bool
        switch label {
        case 0: on = (row + phase) % 2 == 0
        case 1: on = (column + phase) % 2 == 0
        default: on = (row + column + phase) % 2 == 0
        }
        let noise = Float(generator.next() % 1000) / 1000 - 0.5
        pixels.append((on ? 1 : 0) + 0.6 * noise)
      }
    }
    labels.append(Int64(label))
  }
  return (try Tensor(pixels, shape: [count, 1, 12, 12]), try Tensor(labels))
}

/// The resident memory of this process, from /proc (Linux).
func residentBytes() throws -> Int {
  let statm = try String(contentsOfFile: "/proc/self/statm", encoding: .utf8)
  let pages = Int(statm.split(separator: " ")[1]) ?? 0
  return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

@Suite(.serialized) struct LearningTests {
  @Test func smallCNNLearnsASyntheticTask() throws {
    Torch.seed(7)
    let model = Sequential(
      try Conv2d(1, 8, kernelSize: 3, padding: 1), try BatchNorm2d(8), ReLU(),
      try Conv2d(8, 8, kernelSize: 3, padding: 1), try BatchNorm2d(8), ReLU(),
      AdaptiveAvgPool2d(), Flatten(), try Linear(8, 3))
    let optimizer = Adam(parameters: model.parameters(), learningRate: 0.02)
    let (trainImages, trainLabels) = try stripeImages(count: 512, seed: 1)
    let (testImages, testLabels) = try stripeImages(count: 300, seed: 2)

    func accuracy() throws -> Double {
      model.eval()
      defer { model.train() }
      let predictions = try noGrad { try model(testImages).argmax(dim: 1) }
      return try predictions.equal(testLabels).to(.float32).mean().item()
    }
    let before = try accuracy()
    for epoch in 0..<6 {
      for start in stride(from: 0, to: 512, by: 32) {
        let images = try trainImages[start..<(start + 32)]
        let labels = try trainLabels[start..<(start + 32)]
        try optimizer.clearGradients()
        let loss = try Functional.crossEntropy(logits: model(images), targets: labels)
        try loss.backward()
        try optimizer.step()
        #expect(try loss.isFinite().toArray(Bool.self) == [true], "epoch \(epoch)")
      }
    }
    let after = try accuracy()
    #expect(before < 0.6, "an untrained network is near chance (\(before))")
    #expect(after > 0.95, "the trained network has learned the task (\(after))")
  }

  /// Native memory is released as Swift values go: 10,000 training steps must not grow the
  /// process. Every tensor here holds at least 32 KiB, so leaking even one per step would add
  /// about 300 MiB.
  @Test func tenThousandTrainingStepsDoNotGrowMemory() throws {
    Torch.seed(3)
    let model = Sequential(try Linear(128, 128), ReLU(), try Linear(128, 64))
    let optimizer = try SGD(parameters: model.parameters(), learningRate: 1e-3, momentum: 0.9)
    let inputs = try Tensor.randn([64, 128])
    let targets = try Tensor.randn([64, 64])
    func train(steps: Int) throws {
      for _ in 0..<steps {
        try optimizer.clearGradients()
        let loss = try Functional.meanSquaredError(model(inputs), targets)
        try loss.backward()
        try optimizer.step()
      }
    }
    try train(steps: 1_000)  // allocator pools and optimizer state settle first
    let settled = try residentBytes()
    try train(steps: 9_000)
    let growth = try residentBytes() - settled
    #expect(growth < 32 << 20, "resident memory grew by \(growth >> 20) MiB over 9,000 steps")
  }
}
