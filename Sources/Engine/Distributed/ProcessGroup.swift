import CTorch
import Foundation

/// Where a process stands in a group of training processes, as torchrun and `orthocxr launch` tell
/// it: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT in the environment.
public struct Rendezvous: Equatable, Sendable {
  public var rank: Int
  public var worldSize: Int
  public var localRank: Int
  /// How many processes of the group run on this machine (LOCAL_WORLD_SIZE), when the launcher says.
  public var localWorldSize: Int?
  public var masterAddress: String
  public var masterPort: Int
  /// How long to wait for the whole group to arrive (ORTHOCXR_RENDEZVOUS_TIMEOUT, default 300 s).
  public var timeoutSeconds: Double
  /// How long a collective may wait for the other ranks (ORTHOCXR_COLLECTIVE_TIMEOUT, default 1800 s:
  /// rank 0 calibrates and tests between seeds while the others wait).
  public var collectiveTimeoutSeconds: Double

  public init(
    rank: Int, worldSize: Int, localRank: Int = 0, localWorldSize: Int? = nil, masterAddress: String = "127.0.0.1",
    masterPort: Int = 29500, timeoutSeconds: Double = 300, collectiveTimeoutSeconds: Double = 1800
  ) {
    self.collectiveTimeoutSeconds = collectiveTimeoutSeconds
    self.rank = rank
    self.worldSize = worldSize
    self.localRank = localRank
    self.localWorldSize = localWorldSize
    self.masterAddress = masterAddress
    self.masterPort = masterPort
    self.timeoutSeconds = timeoutSeconds
  }

  /// The rendezvous the environment describes, nil when it describes none (WORLD_SIZE unset, or 1
  /// unless `keepingSingleProcess`: a group of one, as torchrun with one process gives DDP).
  /// Throws when the variables are present but do not make sense, naming the one at fault.
  public static func fromEnvironment(
    _ environment: [String: String] = ProcessInfo.processInfo.environment, keepingSingleProcess: Bool = false
  ) throws -> Rendezvous? {
    guard let sizeText = environment["WORLD_SIZE"] else { return nil }
    func number(_ name: String, default value: Int? = nil) throws -> Int {
      guard let text = environment[name] else {
        if let value { return value }
        throw DistributedError("WORLD_SIZE is set but \(name) is not; a launcher (orthocxr launch, torchrun) sets both")
      }
      guard let number = Int(text), number >= 0 else {
        throw DistributedError("\(name) must be a whole number, not \"\(text)\"")
      }
      return number
    }
    guard let worldSize = Int(sizeText), worldSize >= 1 else {
      throw DistributedError("WORLD_SIZE must be a positive whole number, not \"\(sizeText)\"")
    }
    guard worldSize > 1 || keepingSingleProcess else { return nil }
    let rank = try number("RANK")
    guard rank < worldSize else { throw DistributedError("RANK \(rank) is not below WORLD_SIZE \(worldSize)") }
    let port = try number("MASTER_PORT", default: 29500)
    guard (1...65535).contains(port) else { throw DistributedError("MASTER_PORT must lie in 1…65535, not \(port)") }
    let timeout = environment["ORTHOCXR_RENDEZVOUS_TIMEOUT"].flatMap(Double.init) ?? 300
    let collectiveTimeout = environment["ORTHOCXR_COLLECTIVE_TIMEOUT"].flatMap(Double.init) ?? 1800
    return Rendezvous(
      rank: rank, worldSize: worldSize, localRank: try number("LOCAL_RANK", default: 0),
      localWorldSize: environment["LOCAL_WORLD_SIZE"] == nil ? nil : try number("LOCAL_WORLD_SIZE"),
      masterAddress: environment["MASTER_ADDR"] ?? "127.0.0.1", masterPort: port, timeoutSeconds: timeout,
      collectiveTimeoutSeconds: collectiveTimeout)
  }
}

extension Rendezvous {
  /// A TCP port on loopback that was free a moment ago (bound to port 0, then released): for a
  /// rendezvous on one machine.
  public static func freeLoopbackPort() throws -> Int {
    let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
      pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0
      }
    }
    guard bound else { throw DistributedError("no free port on loopback") }
    return Int(UInt16(bigEndian: address.sin_port))
  }
}

/// A failure to form or use a process group, in words that say what to check.
public struct DistributedError: Error, CustomStringConvertible, Equatable {
  public let description: String
  public init(_ description: String) { self.description = description }
}

/// A group of processes joined through PyTorch's c10d: a TCPStore that rank 0 serves for the
/// rendezvous, Gloo collectives over TCP for CPU tensors, and for CUDA tensors Gloo or NCCL
/// (`CUDABackend`). Collectives block until every rank has called them; every rank must call the
/// same ones in the same order.
public final class ProcessGroup: @unchecked Sendable {
  // @unchecked: the handle is never reassigned; c10d's process group is thread-safe.
  let handle: ct_group
  public let rank: Int
  public let size: Int
  public let cudaBackend: CUDABackend

  /// What carries a group's CUDA tensors.
  public enum CUDABackend: String, Sendable, CaseIterable {
    /// Through host memory over TCP: slower, but several processes may share a GPU.
    case gloo
    /// GPU to GPU (NVLink, PCIe, InfiniBand): each process needs a GPU of its own.
    case nccl
  }

  /// Joins the group, waiting up to the rendezvous's time-out for every rank. With `.nccl`, the CUDA
  /// backend must be loaded (`Torch.makeAvailable`) and `ncclUnavailability` nil.
  public init(_ rendezvous: Rendezvous, cudaBackend: CUDABackend = .gloo) throws {
    if cudaBackend == .nccl, let why = Self.ncclUnavailability {
      throw DistributedError("rank \(rendezvous.rank): NCCL is not available: \(why)")
    }
    var out: ct_group?
    let status = ct_group_join(
      &out, rendezvous.masterAddress, Int32(rendezvous.masterPort), Int32(rendezvous.rank),
      Int32(rendezvous.worldSize), rendezvous.timeoutSeconds, rendezvous.collectiveTimeoutSeconds,
      Int32(cudaBackend == .nccl ? CT_GROUP_CUDA_NCCL : CT_GROUP_CUDA_GLOO))
    guard status == 0, let out else {
      let reason = TorchError.last().message.split(separator: "\n").first.map(String.init) ?? ""
      throw DistributedError(
        """
        rank \(rendezvous.rank) of \(rendezvous.worldSize) could not join the group at \
        \(rendezvous.masterAddress):\(rendezvous.masterPort) within \(Int(rendezvous.timeoutSeconds)) s: \(reason). \
        Check that every rank runs, that MASTER_ADDR and MASTER_PORT name rank 0's machine and a free \
        port, and that it can be reached.
        """)
    }
    handle = out
    rank = Int(ct_group_rank(out))
    size = Int(ct_group_size(out))
    self.cudaBackend = cudaBackend
  }

  /// Why NCCL cannot be used in this process, or nil when it can: the CUDA backend must be loaded,
  /// and the shim's NCCL library (built by scripts/build-shim against a libtorch with CUDA) must load.
  public static var ncclUnavailability: String? {
    ct_nccl_available() != 0 ? nil : String(cString: ct_last_error())
  }

  deinit { ct_group_free(handle) }

  /// Sums each tensor over the group, in place.
  public func allReduceSum_(_ tensors: [Tensor]) throws {
    try withHandles(tensors) { ct_group_allreduce_sum(handle, $0, $1) }
  }

  /// The sum of `tensor` over the group, as a new tensor through which gradients flow (each rank's
  /// input gradient is the sum of all ranks' output gradients): for statistics that several ranks
  /// share, as synchronized BatchNorm does.
  public func allReducedSum(_ tensor: Tensor) throws -> Tensor {
    try Tensor.make { ct_group_allreduce_sum_differentiable($0, handle, tensor.handle) }
  }

  /// Replaces every rank's tensors with `root`'s, in place.
  public func broadcast_(_ tensors: [Tensor], from root: Int = 0) throws {
    try withHandles(tensors) { ct_group_broadcast(handle, $0, $1, Int32(root)) }
  }

  /// Returns when every rank has reached it.
  public func barrier() throws { try check(ct_group_barrier(handle)) }

  /// Whether any rank says yes (a sum of 0/1 over the group): how ranks agree to stop together.
  public func anyRank(_ answer: Bool) throws -> Bool {
    let flag = try Tensor([answer ? 1.0 : 0.0])
    try allReduceSum_([flag])
    return try flag.item() > 0
  }

  private func withHandles(_ tensors: [Tensor], _ call: (UnsafePointer<OpaquePointer?>?, Int32) -> Int32) throws {
    let handles: [OpaquePointer?] = tensors.map { $0.handle }
    try withExtendedLifetime(tensors) {
      try handles.withUnsafeBufferPointer { try check(call($0.baseAddress, Int32($0.count))) }
    }
  }
}

/// The gradient averaging of DistributedDataParallel, PyTorch's own C++ Reducer: gradients are
/// grouped in buckets (a 1 MiB first bucket, then about `bucketBytes` each, in the order backward
/// produces them) and each bucket's all-reduce starts as soon as its last gradient is ready, while
/// backward goes on. Every parameter must get a gradient at every step.
public final class GradientReducer {
  let handle: ct_reducer
  public let group: ProcessGroup
  private let parameters: [Tensor]

  public init(parameters: [Tensor], group: ProcessGroup, bucketBytes: Int = 25 * 1024 * 1024) throws {
    self.group = group
    self.parameters = parameters
    var out: ct_reducer?
    let handles: [OpaquePointer?] = parameters.map { $0.handle }
    try withExtendedLifetime(parameters) {
      try handles.withUnsafeBufferPointer {
        try check(ct_reducer_create(&out, group.handle, $0.baseAddress, Int32($0.count), Int64(bucketBytes)))
      }
    }
    guard let out else { throw TorchError("libtorch returned no reducer") }
    handle = out
  }

  deinit { ct_reducer_free(handle) }

  /// Before a forward pass whose gradients are to be averaged.
  public func prepareForForward() throws { try check(ct_reducer_prepare_for_forward(handle)) }

  /// After that forward pass, before backward.
  public func prepareForBackward() throws { try check(ct_reducer_prepare_for_backward(handle)) }
}
