/// What a training process asks for with `--backend`: which library carries CUDA tensors between the
/// processes of a group (CPU tensors always go through Gloo).
public enum BackendRequest: String, Sendable, CaseIterable {
  /// NCCL when training on CUDA with a GPU for each process of this machine and NCCL at hand; else Gloo.
  case auto
  case gloo
  case nccl
}

extension ProcessGroup.CUDABackend {
  /// The backend for `request`, and a sentence saying why, for rank 0 to print. Every rank must come
  /// to the same answer, so `auto` looks only at what every machine of a like-for-like group sees: the
  /// device kind, how many processes run on a machine (LOCAL_WORLD_SIZE), its GPUs, NCCL's presence.
  /// Throws, saying what to change, when `nccl` is asked for and cannot work: NCCL refuses two
  /// processes on one GPU ("Duplicate GPU detected"), so that is checked before NCCL is reached.
  public static func choose(
    _ request: BackendRequest, onCUDA: Bool, rendezvous: Rendezvous, gpuCount: Int, ncclUnavailability: String?
  ) throws -> (backend: Self, reason: String) {
    let processesHere = rendezvous.localWorldSize
    switch request {
    case .gloo:
      return (.gloo, "Gloo, as asked")
    case .nccl:
      guard onCUDA else {
        throw DistributedError(
          "--backend nccl carries CUDA tensors: add --device cuda, or use --backend gloo on the CPU")
      }
      if let ncclUnavailability {
        throw DistributedError("--backend nccl: NCCL is not available: \(ncclUnavailability)")
      }
      let needed = max(processesHere ?? 0, rendezvous.localRank + 1)
      guard needed <= gpuCount else {
        throw DistributedError(
          """
          --backend nccl needs a GPU of its own for each process, and \(needed) processes run on this \
          machine with \(gpuCount) GPU(s) visible: start at most \(gpuCount) per machine, or use \
          --backend gloo (processes may share a GPU; gradients then go through host memory)
          """)
      }
      return (.nccl, "NCCL, as asked")
    case .auto:
      guard onCUDA else { return (.gloo, "Gloo (training on the CPU)") }
      if let ncclUnavailability { return (.gloo, "Gloo: NCCL is not available (\(ncclUnavailability))") }
      guard let processesHere else {
        return (.gloo, "Gloo: LOCAL_WORLD_SIZE is not set, so whether each process has a GPU of its own is unknown")
      }
      guard processesHere <= gpuCount else {
        return (
          .gloo, "Gloo: \(processesHere) processes share \(gpuCount) GPU(s) on this machine, which NCCL does not allow"
        )
      }
      return (.nccl, "NCCL: a GPU for each of the \(processesHere) process(es) on this machine")
    }
  }
}
