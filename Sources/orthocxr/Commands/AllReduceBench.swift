import ArgumentParser
import Engine
import Foundation
import Synchronization

/// Measures the all-reduce between processes of this machine (threads joined over loopback TCP, as
/// `orthocxr launch` joins processes): the cost of averaging a model's gradients once, on the CPU
/// through Gloo, or on CUDA through Gloo (host memory) or NCCL (GPU to GPU).
struct AllReduceBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "allreduce",
    abstract: "Measure the all-reduce of a gradient-sized buffer between ranks on loopback (Gloo or NCCL).",
    discussion: """
      Default size: ResNet-18's 11,689,512 parameters × 4 bytes (44.7 MiB), the bytes its gradients
      need each step. Prints the median time per all-reduce and the algorithm bandwidth
      (bytes ÷ time) and bus bandwidth (× 2(k−1)/k, what each link carried).

      --device cuda puts rank r's buffer on GPU r (modulo the GPUs there are) and --backend says what
      carries it: gloo (through host memory; ranks may share a GPU) or nccl (a GPU per rank). One rank
      measures the floor: what the group's machinery costs when there is nobody to talk to.
      """
  )

  @Option(help: "Ranks (threads, each its own process group member).")
  var ranks = 2

  @Option(help: "Where the buffers live: cpu, or cuda (rank r on GPU r).")
  var device: Device = .cpu

  @Option(help: "What carries CUDA buffers: gloo or nccl (CPU buffers: always gloo).")
  var backend: BackendRequest = .gloo

  @Option(help: "Float32 values to reduce (default: ResNet-18's parameter count).")
  var values = 11_689_512

  @Option(help: "Timed all-reduces.")
  var steps = 5

  @Option(help: "libtorch threads per rank.")
  var threads = 1

  func validate() throws {
    guard ranks >= 1, values > 0, steps > 0, threads > 0 else {
      throw ValidationError("--ranks, --values, --steps and --threads must be positive")
    }
    guard backend != .auto else { throw ValidationError("--backend: name gloo or nccl") }
    guard backend == .gloo || device != .cpu else {
      throw ValidationError("--backend nccl carries CUDA buffers: add --device cuda")
    }
  }

  func run() throws {
    Torch.threadCount = threads
    if device != .cpu { try userFacing { try Torch.makeAvailable(.cuda(0)) } }
    let cudaBackend =
      device == .cpu
      ? ProcessGroup.CUDABackend.gloo
      : try userFacing {
        try ProcessGroup.CUDABackend.choose(
          backend, onCUDA: true, rendezvous: Rendezvous(rank: 0, worldSize: self.ranks, localWorldSize: self.ranks),
          gpuCount: Torch.cudaDeviceCount, ncclUnavailability: ProcessGroup.ncclUnavailability
        ).backend
      }
    let gpuCount = max(Torch.cudaDeviceCount, 1)
    let onCUDA = device != .cpu
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
          let group = try ProcessGroup(
            Rendezvous(rank: rank, worldSize: ranks, masterPort: port, timeoutSeconds: 60), cudaBackend: cudaBackend)
          let place: Device = onCUDA ? .cuda(rank % gpuCount) : .cpu
          let buffer = try Tensor.ones([values], device: place)
          try group.allReduceSum_([buffer])  // warm-up: connections, buffers, NCCL's communicator
          try Torch.synchronize(place)
          for _ in 0..<steps {
            try group.barrier()
            let start = ContinuousClock.now
            try group.allReduceSum_([buffer])
            try Torch.synchronize(place)  // NCCL's wait only orders the GPU's stream
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
    let carrier = onCUDA ? "CUDA through \(cudaBackend.rawValue)" : "CPU through gloo"
    print(
      "\(ranks) rank(s), \(carrier), "
        + String(
          format: "%.1f MiB: median %.2f ms per all-reduce, algorithm bandwidth %.2f GB/s, bus bandwidth %.2f GB/s",
          bytes / 1_048_576, median * 1000, bytes / median / 1e9, bytes * busFactor / median / 1e9))
  }
}
