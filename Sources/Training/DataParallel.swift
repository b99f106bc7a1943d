import Datasets
import Engine
import Models

/// Data-parallel training over a process group, as PyTorch's DistributedDataParallel does it: every
/// rank starts from rank 0's weights, trains on its shard of each batch (`Shard` in the loaders), and
/// PyTorch's Reducer averages the gradients during backward, so every rank takes the same step.
///
/// What differs from one process on the whole batch, and why:
/// - BatchNorm normalises each rank's part of the batch with that part's statistics (local BatchNorm,
///   DDP's default) unless `BatchNorm2d.synchronizedOver` is set (`--sync-batchnorm`); running
///   statistics are rank 0's, copied to every rank before validation and before a checkpoint is
///   written. A network without BatchNorm takes exactly the single-process steps (DistributedTests);
///   ResNet-18 with synchronized BatchNorm takes them within float noise (SynchronizedBatchNormTests).
/// - The OS loss is computed on each rank's part of the batch: its Gram matrix covers the features of
///   that part only.
/// - Only rank 0 writes the log and the checkpoints; every rank reads them to resume.
public struct DataParallel {
  public let group: ProcessGroup
  public let reducer: GradientReducer

  public var rank: Int { group.rank }
  public var size: Int { group.size }
  public var isLeader: Bool { group.rank == 0 }

  /// Copies rank 0's parameters and buffers to every rank and prepares the gradient reducer. Call it
  /// once the model is on its device and any weights are loaded (and after resuming).
  public init(model: any ImageClassifier, group: ProcessGroup, bucketBytes: Int = 25 * 1024 * 1024) throws {
    self.group = group
    try noGrad { try group.broadcast_(model.namedTensors().map(\.tensor), from: 0) }
    reducer = try GradientReducer(parameters: model.parameters(), group: group, bucketBytes: bucketBytes)
  }

  /// The loader shard of this rank: `evenSteps` for training, not for evaluation.
  public func shard(evenSteps: Bool) -> Shard { Shard(rank: rank, count: size, evenSteps: evenSteps) }

  /// Rank 0's buffers (BatchNorm running statistics) on every rank.
  public func synchronizeBuffers(of model: any ImageClassifier) throws {
    let buffers = model.namedTensors().filter { $0.role == .buffer }.map(\.tensor)
    try noGrad { try group.broadcast_(buffers, from: 0) }
  }

  /// Sums of numbers over the group (epoch statistics, flags).
  public func sum(_ values: [Double]) throws -> [Double] {
    let tensor = try Tensor(values)
    try group.allReduceSum_([tensor])
    return try tensor.toArray(Double.self)
  }

  /// Every rank's logits, gathered into the loader's order, from each rank's rows and their entry
  /// indices: the whole split's logits on every rank, as one process would have them. Rows no rank
  /// produced (images skipped as unreadable) are left out.
  public func gather(logits: [[Double]], indices: [Int], entryCount: Int, classCount: Int) throws -> (
    logits: [[Double]], indices: [Int]
  ) {
    var table = [Double](repeating: 0, count: entryCount * (classCount + 1))
    for (row, index) in zip(logits, indices) {
      let base = index * (classCount + 1)
      table[base] = 1  // produced
      for (column, value) in row.enumerated() { table[base + 1 + column] = value }
    }
    let summed = try sum(table)
    var gathered: [[Double]] = []
    var order: [Int] = []
    for index in 0..<entryCount where summed[index * (classCount + 1)] > 0 {
      let base = index * (classCount + 1)
      gathered.append(Array(summed[(base + 1)...(base + classCount)]))
      order.append(index)
    }
    return (gathered, order)
  }
}
