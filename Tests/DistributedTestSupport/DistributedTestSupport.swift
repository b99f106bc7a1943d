import Engine
import Foundation
import Synchronization

/// What the ranks' threads share (models built beforehand, results); each thread touches only its own.
public struct Unchecked<Value>: @unchecked Sendable { public let value: Value }

/// Runs `body(rank)` for every rank of a group on its own thread, joined on loopback, and returns
/// what each returned (rank order). Threads, not processes: Gloo and the Reducer do not mind, and the
/// test sees everything.
public func inGroup<Result>(of size: Int, _ body: @escaping (ProcessGroup) throws -> Result) throws -> [Result] {
  let work = Unchecked(value: body)
  let port = try Rendezvous.freeLoopbackPort()
  let results = Mutex<[Int: Unchecked<Swift.Result<Result, any Error>>]>([:])
  let done = DispatchGroup()
  for rank in 0..<size {
    done.enter()
    let thread = Thread {
      defer { done.leave() }
      let outcome = Swift.Result {
        try work.value(try ProcessGroup(Rendezvous(rank: rank, worldSize: size, masterPort: port, timeoutSeconds: 30)))
      }
      results.withLock { $0[rank] = Unchecked(value: outcome) }
    }
    thread.start()
  }
  done.wait()
  return try results.withLock { all in try (0..<size).map { try all[$0]!.value.get() } }
}

/// `steps` steps of SGD with momentum 0.9 on the cross-entropy of `network` on (inputs, targets); with
/// a reducer, each step's gradients are averaged over its group, as DistributedDataParallel does.
public func trainWithSGD(
  _ network: any Module, inputs: Tensor, targets: Tensor, learningRate: Double, steps: Int, reducer: GradientReducer?
) throws {
  let optimizer = try SGD(parameters: network.parameters(), learningRate: learningRate, momentum: 0.9)
  for _ in 0..<steps {
    try optimizer.clearGradients()
    try reducer?.prepareForForward()
    let loss = try Functional.crossEntropy(logits: network(inputs), targets: targets)
    try reducer?.prepareForBackward()
    try loss.backward()
    try optimizer.step()
  }
}
