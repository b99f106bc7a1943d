import Engine
import Foundation
import Imaging
import Randomness

/// What training does with an image that cannot be read.
public enum BadImagePolicy: String, Sendable, CaseIterable {
  /// Stop with the reader's error, which names the file and the reason.
  case fail
  /// Leave the image out of its batch, log it once, and count it in the run's summary.
  case skip
}

/// A batch ready for the network.
public struct Batch: @unchecked Sendable {
  /// N × C × H × W, float32 or bfloat16, contiguous or channels-last as the loader was asked.
  public let images: Tensor
  /// N class indices (int64).
  public let labels: Tensor
  /// The positions in the loader's entries of the images in this batch.
  public let indices: [Int]
  /// With a sharded loader, the images of this step over all ranks (the single-process batch);
  /// otherwise `indices.count`.
  public var globalCount: Int

  public init(images: Tensor, labels: Tensor, indices: [Int], globalCount: Int? = nil) {
    self.images = images
    self.labels = labels
    self.indices = indices
    self.globalCount = globalCount ?? indices.count
  }
}

/// This process's part of the data when several processes train together: every rank walks the same
/// per-epoch order in the same global batches, and takes its own contiguous slice of each, so that
/// the union of one step's slices is the batch one process would use.
public struct Shard: Equatable, Sendable {
  public var rank: Int
  public var count: Int
  /// Training: every rank must take the same number of steps, so a global batch too small to give
  /// each rank an image is left out. Evaluation: nothing is left out, and a rank may have fewer batches.
  public var evenSteps: Bool

  public init(rank: Int, count: Int, evenSteps: Bool) {
    precondition(count >= 1 && (0..<count).contains(rank), "rank \(rank) of \(count)")
    self.rank = rank
    self.count = count
    self.evenSteps = evenSteps
  }

  /// This rank's slice of a global batch: contiguous, sizes differing by at most one.
  public func slice(_ batch: [Int]) -> [Int] {
    Array(batch[(rank * batch.count / count)..<((rank + 1) * batch.count / count)])
  }
}

/// Decoded and resized images kept in memory across epochs, up to a byte budget.
public final class ImageCache: @unchecked Sendable {
  private let lock = NSLock()
  private var images: [String: GrayImage] = [:]
  private var bytes = 0
  public let capacityBytes: Int

  public init(capacityBytes: Int = 4 << 30) { self.capacityBytes = capacityBytes }

  func image(for path: String) -> GrayImage? { lock.withLock { images[path] } }

  func store(_ image: GrayImage, for path: String) {
    lock.withLock {
      let size = image.pixels.count * MemoryLayout<Float>.size
      guard images[path] == nil, bytes + size <= capacityBytes else { return }
      images[path] = image
      bytes += size
    }
  }

  public var count: Int { lock.withLock { images.count } }
}

/// Turns labeled entries into batches: worker threads decode, resize and augment ahead of the
/// trainer, at most `prefetchBatches` ahead, and hand batches over in a fixed order, so that an epoch
/// with a given seed is the same whatever the threads' timing.
public final class DataLoader: @unchecked Sendable {
  public struct Options: Sendable {
    public var batchSize = 32
    /// Reshuffle every epoch (training); keep the listed order otherwise.
    public var shuffle = true
    /// Draw each epoch's images with replacement, each class equally likely (for imbalanced data).
    public var classBalanced = false
    /// Leave out a last batch smaller than `batchSize`.
    public var dropLast = false
    /// Leave out a last batch with fewer images than this. Training sets 2: BatchNorm cannot
    /// normalise a batch of one image where a feature map is 1×1 (PyTorch refuses such a batch; here
    /// its running variance would become NaN).
    public var minimumBatch = 1
    public var workers = 2
    public var prefetchBatches = 4
    public var seed: UInt64 = 0
    public var dtype: DType = .float32
    public var memoryFormat: MemoryFormat = .contiguous
    public var badImages: BadImagePolicy = .fail
    /// Where batches are delivered. For a GPU, workers assemble each batch in pinned host memory and
    /// `next()` queues its copy without waiting (PyTorch's pin_memory and non_blocking); the device
    /// must have been made available (`Torch.makeAvailable`).
    public var device: Device = .cpu
    /// With several training processes, this one's part of every batch (`batchSize` is then the
    /// global batch).
    public var shard: Shard?

    public init() {}
  }

  public let entries: [LabeledEntry]
  public let preprocessing: Preprocessing
  /// nil: no augmentation (evaluation).
  public let augmentation: Augmentation?
  public let options: Options
  public let cache: ImageCache?
  public let classCount: Int

  private let skippedLock = NSLock()
  private var skippedFiles: [String: ImageError] = [:]

  public init(
    entries: [LabeledEntry], classCount: Int, preprocessing: Preprocessing, augmentation: Augmentation? = nil,
    options: Options = Options(), cache: ImageCache? = nil
  ) {
    self.entries = entries
    self.classCount = classCount
    self.preprocessing = preprocessing
    self.augmentation = augmentation
    self.options = options
    self.cache = cache
  }

  /// The images skipped so far under the `skip` policy, with the reasons.
  public var skipped: [ImageError] { skippedLock.withLock { skippedFiles.values.sorted { $0.path < $1.path } } }

  /// The order in which epoch `epoch` visits the entries.
  public func order(epoch: Int) -> [Int] {
    var random = SplitMix64(seed: sampleSeed(options.seed, epoch: epoch, sample: -1))
    if options.classBalanced {
      let byClass = Dictionary(grouping: entries.indices, by: { entries[$0].classIndex }).values.map(Array.init)
      return (0..<entries.count).map { _ in
        let members = byClass[Int(random.next() % UInt64(byClass.count))]
        return members[Int(random.next() % UInt64(members.count))]
      }
    }
    var order = Array(entries.indices)
    if options.shuffle {
      for index in stride(from: order.count - 1, to: 0, by: -1) {
        order.swapAt(index, Int(random.next() % UInt64(index + 1)))
      }
    }
    return order
  }

  /// The entries of each batch of epoch `epoch`, as this loader (and shard) will yield them.
  public func plannedBatches(epoch: Int) -> [[Int]] { plannedBatchesAndGlobalCounts(epoch: epoch).batches }

  func plannedBatchesAndGlobalCounts(epoch: Int) -> (batches: [[Int]], globalCounts: [Int]) {
    let order = order(epoch: epoch)
    let size = options.batchSize
    var batches = stride(from: 0, to: order.count, by: size).map {
      Array(order[$0..<Swift.min($0 + size, order.count)])
    }
    if options.dropLast, let last = batches.last, last.count < size { batches.removeLast() }
    if let last = batches.last, last.count < options.minimumBatch { batches.removeLast() }
    guard let shard = options.shard, shard.count > 1 else { return (batches, batches.map(\.count)) }
    if shard.evenSteps { batches.removeAll { $0.count < shard.count } }
    let kept = batches.filter { !shard.slice($0).isEmpty }
    return (kept.map(shard.slice), kept.map(\.count))
  }

  /// The batches of one epoch, produced by worker threads. `firstBatch` skips the batches before it,
  /// to resume an interrupted epoch exactly where it stopped.
  public func epoch(_ epoch: Int, startingAt firstBatch: Int = 0) -> Epoch {
    Epoch(loader: self, epoch: epoch, firstBatch: firstBatch)
  }

  /// The image of one entry as the network sees it before normalisation: cached resize, then
  /// augmentation with the sample's own seed.
  func prepare(_ index: Int, epoch: Int) throws -> GrayImage {
    let path = entries[index].entry.path
    let resized: GrayImage
    if let cached = cache?.image(for: path) {
      resized = cached
    } else {
      resized = preprocessing.resize(try ImageReader.read(path))
      cache?.store(resized, for: path)
    }
    return augmentation?.apply(resized, seed: sampleSeed(options.seed, epoch: epoch, sample: index)) ?? resized
  }

  func makeBatch(_ indices: [Int], epoch: Int) throws -> Batch? {
    let side = preprocessing.size
    let sampleSize = preprocessing.channels * side * side
    // Each sample is normalised straight into its slot of the batch's tensor: no zero-filled buffer
    // to copy from, and with CPUMemoryCache on, a tensor whose pages were faulted in by an earlier batch.
    var images = try Tensor.empty([indices.count, preprocessing.channels, side, side])
    var kept: [Int] = []
    try images.withUnsafeMutableElements(of: Float.self) { buffer in
      for index in indices {
        do {
          let image = try prepare(index, epoch: epoch)
          let start = kept.count * sampleSize
          preprocessing.writeNormalized(
            image, into: UnsafeMutableBufferPointer(rebasing: buffer[start..<(start + sampleSize)]))
          kept.append(index)
        } catch let error as ImageError where options.badImages == .skip {
          let isNew = skippedLock.withLock { () -> Bool in
            defer { skippedFiles[error.path] = error }
            return skippedFiles[error.path] == nil
          }
          if isNew { FileHandle.standardError.write(Data("skipping \(error)\n".utf8)) }
        }
      }
    }
    guard !kept.isEmpty else { return nil }
    if kept.count < indices.count { images = try images.slice(dim: 0, 0..<kept.count) }
    if options.dtype != .float32 { images = try images.to(options.dtype) }
    if options.memoryFormat != .contiguous { images = try images.contiguous(options.memoryFormat) }
    var labels = try Tensor(kept.map { Int64(entries[$0].classIndex) })
    if options.device != .cpu {
      images = try images.pinned()
      labels = try labels.pinned()
    }
    return Batch(images: images, labels: labels, indices: kept)
  }

  /// One pass over the data. Call `next()` until it returns nil; dropping the epoch early stops its
  /// workers.
  public final class Epoch: @unchecked Sendable {
    private let pipeline: Pipeline

    init(loader: DataLoader, epoch: Int, firstBatch: Int) {
      var (batches, globalCounts) = loader.plannedBatchesAndGlobalCounts(epoch: epoch)
      let skipped = Swift.min(Swift.max(firstBatch, 0), batches.count)
      batches.removeFirst(skipped)
      pipeline = Pipeline(
        loader: loader, epoch: epoch, batches: batches, globalCounts: Array(globalCounts.dropFirst(skipped)))
      // The workers hold the pipeline, not the epoch, so that releasing the epoch stops them.
      for worker in 0..<Swift.max(1, loader.options.workers) {
        let thread = Thread { [pipeline] in
          // libtorch's OpenMP gives every thread that enters a parallel region a team of its own:
          // worker threads that make batch tensors would each spin up threads competing with the
          // trainer's. One intra-op thread per worker keeps the cores for training.
          Torch.threadCount = 1
          pipeline.work()
        }
        thread.name = "orthocxr-loader-\(worker)"
        thread.start()
      }
    }

    public var batchCount: Int { pipeline.batches.count }

    /// The next batch in order, nil at the end of the epoch. Throws the first unreadable image's
    /// error under the `fail` policy.
    public func next() throws -> Batch? {
      guard let batch = try pipeline.next() else { return nil }
      let device = pipeline.loader.options.device
      guard device != .cpu else { return batch }
      return Batch(
        images: try batch.images.to(device, nonBlocking: true), labels: try batch.labels.to(device, nonBlocking: true),
        indices: batch.indices, globalCount: batch.globalCount)
    }

    /// Stops the workers (also done when the epoch is released).
    public func stop() { pipeline.stop() }

    deinit { pipeline.stop() }
  }

  /// The state that an epoch's workers and its consumer share, guarded by one condition variable.
  final class Pipeline: @unchecked Sendable {
    let loader: DataLoader
    let number: Int
    let batches: [[Int]]
    private let condition = NSCondition()
    private var results: [Int: Result<Batch?, Error>] = [:]
    private var nextToClaim = 0
    private var nextToDeliver = 0
    private var stopped = false

    /// The size of each batch over all ranks (its own size without a shard).
    let globalCounts: [Int]

    init(loader: DataLoader, epoch: Int, batches: [[Int]], globalCounts: [Int]) {
      self.loader = loader
      number = epoch
      self.batches = batches
      self.globalCounts = globalCounts
    }

    func work() {
      while true {
        condition.lock()
        // Stay at most `prefetchBatches` ahead of the consumer.
        while !stopped && nextToClaim < batches.count
          && nextToClaim - nextToDeliver >= Swift.max(1, loader.options.prefetchBatches)
        {
          condition.wait()
        }
        guard !stopped, nextToClaim < batches.count else {
          condition.unlock()
          return
        }
        let claimed = nextToClaim
        nextToClaim += 1
        condition.unlock()

        let result = Result { try loader.makeBatch(batches[claimed], epoch: number) }
        condition.lock()
        results[claimed] = result
        condition.broadcast()
        condition.unlock()
      }
    }

    func next() throws -> Batch? {
      condition.lock()
      defer { condition.unlock() }
      while nextToDeliver < batches.count {
        while results[nextToDeliver] == nil && !stopped { condition.wait() }
        guard let result = results.removeValue(forKey: nextToDeliver) else { return nil }
        nextToDeliver += 1
        condition.broadcast()
        switch result {
        case .success(var batch?):
          batch.globalCount = globalCounts[nextToDeliver - 1]
          return batch
        case .success(nil): continue  // every image of the batch was skipped
        case .failure(let error):
          stopped = true
          condition.broadcast()
          throw error
        }
      }
      return nil
    }

    func stop() {
      condition.lock()
      stopped = true
      condition.broadcast()
      condition.unlock()
    }
  }
}
