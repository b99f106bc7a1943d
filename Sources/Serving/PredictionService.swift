import Datasets
import Engine
import Evaluation
import Explanations
import Foundation
import Imaging
import Models
import Training

/// One model answering predictions with dynamic batching: requests that arrive together are gathered
/// (up to `maxBatch`, waiting at most `maxWait` after the first) and run as one forward pass — one
/// batched class-activation pass per heatmap method — on a thread of its own, so libtorch's blocking
/// calls never hold the server's event loops. Each request gets its own answer, the same as alone.
///
/// Float32 throughout: a request's answer must not depend on which others share its batch.
public final class PredictionService: @unchecked Sendable {
  // @unchecked: the queue and counters are guarded by `condition`; the model is used only by the
  // worker thread.

  /// What one image gets.
  public struct Answer: Sendable {
    public var classIndex: Int
    public var probabilities: [Double]
    /// The heatmap over the X-ray (RGB PNG at the image's size), when one was asked for.
    public var overlayPNG: Data?
    /// The class activation map itself, 16-bit grey PNG at the image's size.
    public var mapPNG: Data?
    /// The same map as an image (for DICOM results).
    public var map: GrayImage?
    /// How many requests shared the forward pass.
    public var batchSize: Int
    /// The model's out-of-distribution verdict, when it has a detector.
    public var outOfDistribution: OutOfDistributionAssessment?
  }

  public enum ServiceError: Error, CustomStringConvertible, Equatable {
    /// The queue holds `limit` requests already.
    case queueFull(limit: Int)
    case shuttingDown

    public var description: String {
      switch self {
      case .queueFull(let limit): "the server is busy (\(limit) requests waiting); try again shortly"
      case .shuttingDown: "the server is shutting down"
      }
    }
  }

  public let trained: TrainedModel
  public let maxBatch: Int
  public let maxWait: Duration
  public let queueLimit: Int

  private struct Pending {
    let image: GrayImage
    let heatmap: CAMMethod?
    let enqueued: ContinuousClock.Instant
    let reply: @Sendable (Result<Answer, any Error>) -> Void
  }

  private let condition = NSCondition()
  private var queue: [Pending] = []
  private var stopping = false
  private var stopped = false
  private var batchSizes: [Int] = []
  private let explainer: CAMExplainer
  /// The model folded and fused for inference (a ResNet on CPU): predictions, and heatmaps of its
  /// last stage through the explainer (see `CAMExplainer.init(classifier:layer:prepared:)`).
  private let prepared: PreparedClassifier?

  /// Loads the checkpoint and starts the worker thread, which runs until `shutdown()`.
  public init(
    checkpoint: String, maxBatch: Int = 16, maxWait: Duration = .milliseconds(10), queueLimit: Int = 256,
    threads: Int = 2, device: Device = .cpu
  ) throws {
    Torch.threadCount = threads
    CPUMemoryCache.enableForLoops()
    trained = try TrainedModel.load(checkpoint)
    try trained.model.place(on: device)
    trained.model.eval()
    prepared = device == .cpu ? try PreparedClassifier.prepare(trained.model) : nil
    explainer = try CAMExplainer(classifier: trained.model, prepared: prepared)
    self.maxBatch = max(1, maxBatch)
    self.maxWait = maxWait
    self.queueLimit = max(1, queueLimit)
    // The worker keeps the service alive until `shutdown()`: call it when done.
    let thread = Thread { self.work() }
    thread.name = "orthocxr-predictions"
    thread.start()
  }

  /// Requests waiting for a forward pass.
  public var queueDepth: Int { condition.withLock { queue.count } }

  /// The sizes of the batches run since the last call (for metrics), and forgets them.
  public func takeBatchSizes() -> [Int] {
    condition.withLock {
      defer { batchSizes.removeAll() }
      return batchSizes
    }
  }

  /// The model's answer for one image (already decoded), with a heatmap when `heatmap` names a method.
  public func predict(_ image: GrayImage, heatmap: CAMMethod? = nil) async throws -> Answer {
    try await withCheckedThrowingContinuation { continuation in
      do {
        try enqueue(image, heatmap: heatmap) { continuation.resume(with: $0) }
      } catch {
        continuation.resume(throwing: error)
      }
    }
  }

  private func enqueue(
    _ image: GrayImage, heatmap: CAMMethod?, reply: @escaping @Sendable (Result<Answer, any Error>) -> Void
  ) throws {
    condition.lock()
    defer { condition.unlock() }
    guard !stopping else { throw ServiceError.shuttingDown }
    guard queue.count < queueLimit else { throw ServiceError.queueFull(limit: queueLimit) }
    queue.append(Pending(image: image, heatmap: heatmap, enqueued: .now, reply: reply))
    condition.broadcast()
  }

  /// Finishes the queued requests, then stops the worker. Returns when it has stopped.
  public func shutdown() {
    condition.lock()
    stopping = true
    condition.broadcast()
    while !stopped { condition.wait() }
    condition.unlock()
  }

  // MARK: The worker

  private func work() {
    while let batch = nextBatch() {
      for method in Set(batch.map { $0.heatmap.map(\.rawValue) ?? "" }) {
        let group = batch.filter { ($0.heatmap?.rawValue ?? "") == method }
        let answers: Result<[Answer], any Error> = Result { try run(group, method: CAMMethod(rawValue: method)) }
        for (index, pending) in group.enumerated() {
          pending.reply(answers.map { $0[index] })
        }
      }
    }
    condition.withLock {
      stopped = true
      condition.broadcast()
    }
  }

  /// Waits for a first request, then for more until the batch is full or the first has waited
  /// `maxWait`; nil once stopping with nothing left.
  private func nextBatch() -> [Pending]? {
    condition.lock()
    defer { condition.unlock() }
    while queue.isEmpty {
      if stopping { return nil }
      condition.wait()
    }
    let deadline = queue[0].enqueued + maxWait
    while queue.count < maxBatch && !stopping {
      let left = deadline - ContinuousClock.now
      guard left > .zero else { break }
      _ = condition.wait(until: Date(timeIntervalSinceNow: left.seconds))
    }
    let batch = Array(queue.prefix(maxBatch))
    queue.removeFirst(batch.count)
    batchSizes.append(batch.count)
    return batch
  }

  private func run(_ group: [Pending], method: CAMMethod?) throws -> [Answer] {
    let preprocessing = trained.preprocessing
    let inputs = group.map { preprocessing.resize($0.image) }
    let batch = try preprocessing.batch(inputs, on: trained.model.device)
    let logits: Tensor
    var features: Tensor?
    var maps: ClassActivationMaps?
    let detector = trained.outOfDistribution
    if let method {
      let result = try explainer.explain(batch, method: method)
      logits = result.logits
      maps = result
      // Through the prepared model the heatmaps' pass gave the penultimate features; through the
      // model itself, one more forward pass does.
      if detector != nil {
        features = try result.features ?? noGrad { try trained.model.penultimateFeatures(batch) }
      }
    } else if detector != nil {
      (logits, features) = try noGrad {
        try prepared?.logitsAndFeatures(batch) ?? trained.model.logitsAndFeatures(batch)
      }
    } else {
      logits = try noGrad { try prepared?(batch) ?? trained.model(batch) }
    }
    let logitRows = try Predictor.rows(logits)
    let featureRows = try features.map { try Predictor.rows($0) }
    let probabilities = try (logits.to(.float64) / trained.temperature).softmax(dim: 1).toArray(Double.self)
    let classes = trained.classes.count
    return try group.enumerated().map { index, pending in
      let row = Array(probabilities[(index * classes)..<((index + 1) * classes)])
      var answer = Answer(
        classIndex: row.indices.max { row[$0] < row[$1] } ?? 0, probabilities: row, overlayPNG: nil, mapPNG: nil,
        batchSize: group.count)
      if let detector, let featureRows {
        answer.outOfDistribution = detector.assess(logits: logitRows[index], features: featureRows[index])
      }
      if let maps {
        let networkMap = GrayImage(
          width: preprocessing.size, height: preprocessing.size, pixels: try maps.map(at: index))
        let full = Heatmap.toOriginalSize(
          networkMap, width: pending.image.width, height: pending.image.height, crop: preprocessing.crop)
        answer.overlayPNG = try ImageWriter.encode(
          Heatmap.overlay(pending.image, map: full, opacity: 0.5), width: full.width, height: full.height,
          channels: 3, bitDepth: 8)
        answer.map = full
        answer.mapPNG = try ImageWriter.encode(
          full.pixels.map { UInt16(max(0, min(1, $0)) * 65535) }, width: full.width, height: full.height, channels: 1,
          bitDepth: 16)
      }
      return answer
    }
  }
}

extension Duration {
  var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
