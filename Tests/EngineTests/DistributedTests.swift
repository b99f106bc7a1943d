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
    func model() throws -> Sequential {
      Torch.seed(3)
      return Sequential(try Linear(4, 8), ReLU(), try Linear(8, 3))
    }
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
  }
}
