import ArgumentParser
import Engine
import Foundation
import Synchronization

/// Measures Gloo's all-reduce between processes of this machine (threads joined over loopback TCP,
/// as `orthocxr launch` joins processes): the cost of averaging a model's gradients once.
struct AllReduceBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "allreduce",
    abstract: "Measure the all-reduce of a gradient-sized buffer between ranks on loopback (Gloo).",
    discussion: """
      Default size: ResNet-18's 11,689,512 parameters × 4 bytes (44.7 MiB), the bytes its gradients
      need each step. Prints the median time per all-reduce and the algorithm bandwidth
      (bytes ÷ time) and bus bandwidth (× 2(k−1)/k, what each link carried).
      """
  )

  @Option(help: "Ranks (threads, each its own Gloo process group member).")
  var ranks = 2

  @Option(help: "Float32 values to reduce (default: ResNet-18's parameter count).")
  var values = 11_689_512

  @Option(help: "Timed all-reduces.")
  var steps = 5

  @Option(help: "libtorch threads per rank.")
  var threads = 1

  func validate() throws {
    guard ranks >= 2, values > 0, steps > 0, threads > 0 else {
      throw ValidationError("--ranks at least 2; --values, --steps and --threads positive")
    }
  }

  func run() throws {
    Torch.threadCount = threads
    let port = try Rendezvous.freeLoopbackPort()
    let times = Mutex<[Double]>([])
    let failures = Mutex<[String]>([])
    let done = DispatchGroup()
    let ranks = ranks
    let (values, steps) = (values, steps)
    for rank in 0..<ranks {
      done.enter()
      Thread {
        defer { done.leave() }
        do {
          let group = try ProcessGroup(Rendezvous(rank: rank, worldSize: ranks, masterPort: port, timeoutSeconds: 60))
          let buffer = try Tensor.ones([values])
          try group.allReduceSum_([buffer])  // warm-up: connections, buffers
          for _ in 0..<steps {
            try group.barrier()
            let start = ContinuousClock.now
            try group.allReduceSum_([buffer])
            if rank == 0 { times.withLock { $0.append((ContinuousClock.now - start).seconds) } }
          }
        } catch {
          failures.withLock { $0.append("rank \(rank): \(error)") }
        }
      }.start()
    }
    done.wait()
    if let failure = failures.withLock({ $0.first }) { throw ValidationError(failure) }
    let sorted = times.withLock { $0.sorted() }
    let median = sorted[sorted.count / 2]
    let bytes = Double(values * 4)
    let busFactor = 2 * Double(ranks - 1) / Double(ranks)
    print(
      String(
        format:
          "%d ranks, %.1f MiB: median %.1f ms per all-reduce, algorithm bandwidth %.2f GB/s, bus bandwidth %.2f GB/s",
        ranks, bytes / 1_048_576, median * 1000, bytes / median / 1e9, bytes * busFactor / median / 1e9))
  }
}
