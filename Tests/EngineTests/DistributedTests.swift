import DistributedTestSupport
import Foundation
import Testing

@testable import Engine

@Suite(.serialized) struct DistributedTests {
  @Test func allReduceSumsAndBroadcastCopiesRankZeros() throws {
    let results = try inGroup(of: 2) { group -> ([Float], [Float]) in
      let a = try Tensor([Float(group.rank + 1), 10])
      let b = try Tensor([Float(group.rank)], shape: [1, 1])
      try group.allReduceSum_([a, b])
      let c = try Tensor([Float(group.rank + 5)])
      try group.broadcast_([c], from: 0)
      try group.barrier()
      return (try a.toArray(Float.self) + b.toArray(Float.self), try c.toArray(Float.self))
    }
    for (sums, broadcast) in results {
      #expect(sums == [3, 20, 1])
      #expect(broadcast == [5])
    }
    #expect(try inGroup(of: 2) { try $0.anyRank($0.rank == 1) } == [true, true])
    #expect(try inGroup(of: 2) { try $0.anyRank(false) } == [false, false])
  }

  /// Two ranks, each on half of every batch, end with the weights one process reaches on the whole
  /// batch: the Reducer averages the gradients during backward.
  @Test func twoRanksOnHalfBatchesMatchOneProcessOnWholeBatches() throws {
    func model() throws -> Sequential { try seededClassifier(seed: 3, hidden: 8) }
    Torch.seed(11)
    let inputs = try Tensor.randn([8, 4])
    let targets = try Tensor([Int64(0), 1, 2, 0, 1, 2, 2, 1])
    func train(_ network: Sequential, rows: Range<Int>, reducer: GradientReducer?) throws -> [Float] {
      try trainWithSGD(
        network, inputs: inputs.slice(dim: 0, rows), targets: targets.slice(dim: 0, rows), learningRate: 0.1,
        steps: 20, reducer: reducer)
      return try network.parameters().flatMap { try $0.toArray(Float.self) }
    }
    let single = try train(try model(), rows: 0..<8, reducer: nil)
    let networks = [try model(), try model()]
    let ranks = try inGroup(of: 2) { group in
      let network = networks[group.rank]
      let reducer = try GradientReducer(parameters: network.parameters(), group: group)
      return try train(network, rows: (group.rank * 4)..<(group.rank * 4 + 4), reducer: reducer)
    }
    for weights in ranks {
      #expect(weights.count == single.count)
      let largest = zip(weights, single).map { abs($0 - $1) }.max() ?? .infinity
      #expect(largest < 1e-5, "largest difference \(largest)")
    }
    #expect(ranks[0] == ranks[1], "the ranks hold the same weights")
  }

  @Test func aRankAloneTimesOutNamingTheAddress() throws {
    let port = try Rendezvous.freeLoopbackPort()
    let error = #expect(throws: DistributedError.self) {
      _ = try ProcessGroup(Rendezvous(rank: 1, worldSize: 2, masterPort: port, timeoutSeconds: 2))
    }
    #expect(error?.description.contains("127.0.0.1:\(port)") == true)
    #expect(error?.description.contains("rank 1 of 2") == true)
  }

  @Test func theEnvironmentDescribesTheRendezvous() throws {
    #expect(try Rendezvous.fromEnvironment([:]) == nil)
    #expect(try Rendezvous.fromEnvironment(["WORLD_SIZE": "1"]) == nil)
    let rendezvous = try #require(
      try Rendezvous.fromEnvironment([
        "WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1", "MASTER_ADDR": "10.0.0.2", "MASTER_PORT": "1234",
      ]))
    #expect(rendezvous == Rendezvous(rank: 3, worldSize: 4, localRank: 1, masterAddress: "10.0.0.2", masterPort: 1234))
    #expect(throws: DistributedError.self) { try Rendezvous.fromEnvironment(["WORLD_SIZE": "2"]) }
    #expect(throws: DistributedError.self) { try Rendezvous.fromEnvironment(["WORLD_SIZE": "2", "RANK": "2"]) }
    #expect(throws: DistributedError.self) { try Rendezvous.fromEnvironment(["WORLD_SIZE": "two", "RANK": "0"]) }
    // A group of one when a backend is named (torchrun with one process), and the processes per machine.
    let alone = try #require(
      try Rendezvous.fromEnvironment(
        ["WORLD_SIZE": "1", "RANK": "0", "LOCAL_WORLD_SIZE": "1"], keepingSingleProcess: true))
    #expect(alone == Rendezvous(rank: 0, worldSize: 1, localWorldSize: 1))
    #expect(throws: DistributedError.self) {
      try Rendezvous.fromEnvironment(["WORLD_SIZE": "2", "RANK": "0", "LOCAL_WORLD_SIZE": "-1"])
    }
  }

  /// A group of one is a group: collectives return what they were given, and the reducer averages
  /// over one rank, so training equals training without a group exactly.
  @Test func aGroupOfOneTrainsAsNoGroup() throws {
    func model() throws -> Sequential { try seededClassifier(seed: 5, hidden: 6) }
    Torch.seed(12)
    let inputs = try Tensor.randn([6, 4])
    let targets = try Tensor([Int64(0), 1, 2, 2, 1, 0])
    let alone = try model()
    try trainWithSGD(alone, inputs: inputs, targets: targets, learningRate: 0.1, steps: 10, reducer: nil)
    let grouped = try model()
    let sums = try inGroup(of: 1) { group -> [Float] in
      let values = try Tensor([Float(2), 3])
      try group.allReduceSum_([values])
      let reducer = try GradientReducer(parameters: grouped.parameters(), group: group)
      try trainWithSGD(grouped, inputs: inputs, targets: targets, learningRate: 0.1, steps: 10, reducer: reducer)
      return try values.toArray(Float.self)
    }
    #expect(sums == [[2, 3]])
    let expected = try alone.parameters().flatMap { try $0.toArray(Float.self) }
    #expect(try grouped.parameters().flatMap { try $0.toArray(Float.self) } == expected)
  }

  /// Without the CUDA backend loaded, NCCL is unavailable and says why; a group asked to use it
  /// anyway is refused, naming NCCL, before any rendezvous. (Where an earlier test loaded CUDA, the
  /// reason, if any, is another: the library's.)
  @Test func ncclNeedsTheCUDABackend() throws {
    guard !Torch.isCUDAAvailable else {
      #expect(ProcessGroup.ncclUnavailability?.contains("CUDA backend is not loaded") != true)
      return
    }
    let reason = try #require(ProcessGroup.ncclUnavailability)
    #expect(reason.contains("CUDA backend is not loaded"), "\(reason)")
    let port = try Rendezvous.freeLoopbackPort()
    let error = #expect(throws: DistributedError.self) {
      _ = try ProcessGroup(Rendezvous(rank: 0, worldSize: 1, masterPort: port, timeoutSeconds: 5), cudaBackend: .nccl)
    }
    #expect(error?.description.contains("NCCL is not available") == true, "\(String(describing: error))")
  }

  /// `--backend`: every rank reaches the same choice from what each machine sees, and a request
  /// that cannot work is refused in words that say what to change.
  @Test func theBackendChoiceIsNCCLOnlyWithAGPUPerProcess() throws {
    typealias Backend = ProcessGroup.CUDABackend
    let twoHere = Rendezvous(rank: 1, worldSize: 2, localRank: 1, localWorldSize: 2)
    func choose(
      _ request: BackendRequest, cuda: Bool = true, gpus: Int, nccl: String? = nil, _ at: Rendezvous = twoHere
    )
      throws -> Backend
    {
      try Backend.choose(request, onCUDA: cuda, rendezvous: at, gpuCount: gpus, ncclUnavailability: nccl).backend
    }
    #expect(try choose(.auto, gpus: 2) == .nccl)
    #expect(try choose(.auto, gpus: 8) == .nccl)
    #expect(try choose(.auto, gpus: 1) == .gloo, "two processes would share a GPU")
    #expect(try choose(.auto, cuda: false, gpus: 2) == .gloo)
    #expect(try choose(.auto, gpus: 2, nccl: "no library") == .gloo)
    #expect(try choose(.auto, gpus: 2, Rendezvous(rank: 1, worldSize: 2, localRank: 1)) == .gloo, "unknown per machine")
    #expect(try choose(.gloo, gpus: 2) == .gloo)
    #expect(try choose(.nccl, gpus: 2) == .nccl)
    #expect(try choose(.nccl, gpus: 1, Rendezvous(rank: 0, worldSize: 1, localWorldSize: 1)) == .nccl)
    let shared = #expect(throws: DistributedError.self) { try choose(.nccl, gpus: 1) }
    #expect(shared?.description.contains("2 processes run on this machine with 1 GPU(s)") == true)
    #expect(shared?.description.contains("--backend gloo") == true)
    let noLocalSize = #expect(throws: DistributedError.self) {
      try choose(.nccl, gpus: 1, Rendezvous(rank: 1, worldSize: 2, localRank: 1))
    }
    #expect(noLocalSize?.description.contains("2 processes") == true)
    let onCPU = #expect(throws: DistributedError.self) { try choose(.nccl, cuda: false, gpus: 0) }
    #expect(onCPU?.description.contains("--device cuda") == true)
    let missing = #expect(throws: DistributedError.self) { try choose(.nccl, gpus: 2, nccl: "no library") }
    #expect(missing?.description.contains("no library") == true)
  }
}

/// The small classifier the training tests start from: 4 inputs, `hidden` units, 3 classes, the same
/// weights for the same seed.
func seededClassifier(seed: UInt64, hidden: Int) throws -> Sequential {
  Torch.seed(seed)
  return Sequential(try Linear(4, hidden), ReLU(), try Linear(hidden, 3))
}
