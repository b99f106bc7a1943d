import CTorch
import Foundation

/// The caching allocator for CPU tensors: freed blocks of 256 KiB or more are kept (up to a limit)
/// and handed out again, the CPU counterpart of CUDA's caching allocator.
///
/// Without it every large tensor is a fresh `mmap` from the C library, so a training loop, which frees
/// and allocates the same activations every step, faults in and zeroes gigabytes of pages per step
/// (16% of a ResNet-18 step at batch 32 and 224 px was the kernel's page-fault path on a 2-core EPYC).
/// The cache holds what a loop frees and gives it back to the next step; resident memory then stays
/// at the loop's peak between steps instead of dropping.
///
/// Commands that run loops call `enableForLoops()`; `ORTHOCXR_CPU_MEMORY_CACHE_MIB` sets the limit
/// (0 turns the cache off).
public enum CPUMemoryCache {
  /// What the cache holds and has done.
  public struct Statistics: Equatable, Sendable {
    /// Bytes kept for reuse now.
    public var cachedBytes: Int
    /// Large allocations served from the cache since the process started (while enabled).
    public var reused: Int
    /// Large allocations that found nothing to reuse (while enabled).
    public var fresh: Int
  }

  /// Keeps freed blocks, at most `limitBytes` of them, from now on.
  public static func enable(limitBytes: Int) { ct_cpu_memory_cache_enable(Int64(max(0, limitBytes))) }

  /// Stops keeping blocks and gives back those kept.
  public static func disable() { ct_cpu_memory_cache_disable() }

  /// Gives back the blocks kept (for example between training and a phase with other shapes); the
  /// cache stays enabled.
  public static func release() { ct_cpu_memory_cache_release() }

  public static var statistics: Statistics {
    var cached: Int64 = 0
    var reused: Int64 = 0
    var fresh: Int64 = 0
    ct_cpu_memory_cache_statistics(&cached, &reused, &fresh)
    return Statistics(cachedBytes: Int(cached), reused: Int(reused), fresh: Int(fresh))
  }

  /// The limit used when the environment does not set one: a quarter of the machine's memory, at
  /// most 8 GiB (training ResNet-18 at batch 32 and 224 px in float32 peaks at 1.4 GB with the cache,
  /// 1.6 GB without: reusing blocks also spares the C library's fragmentation), shared out among
  /// `processesOnThisMachine` (`launch` sets LOCAL_WORLD_SIZE), so that eight ranks on one machine
  /// cannot keep eight quarters of it.
  public static func defaultLimitBytes(processesOnThisMachine: Int = 1) -> Int {
    let pages = sysconf(Int32(_SC_PHYS_PAGES))
    let pageSize = sysconf(Int32(_SC_PAGESIZE))
    guard pages > 0, pageSize > 0 else { return 2 << 30 }
    return min(8 << 30, pages * pageSize / 4 / max(1, processesOnThisMachine))
  }

  /// Enables the cache with the limit from `ORTHOCXR_CPU_MEMORY_CACHE_MIB` (0: leave it off) or
  /// `defaultLimitBytes(processesOnThisMachine:)` of LOCAL_WORLD_SIZE. For commands that repeat the
  /// same work (training, evaluation loops, serving, benchmarks); a one-shot command gains nothing.
  /// - Returns: whether the cache is on.
  @discardableResult
  public static func enableForLoops(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
    let processes = environment["LOCAL_WORLD_SIZE"].flatMap { Int($0) } ?? 1
    var limit = defaultLimitBytes(processesOnThisMachine: processes)
    if let text = environment["ORTHOCXR_CPU_MEMORY_CACHE_MIB"] {
      if let mebibytes = Int(text), mebibytes >= 0 {
        limit = mebibytes << 20
      } else {
        FileHandle.standardError.write(
          Data(
            ("warning: ORTHOCXR_CPU_MEMORY_CACHE_MIB=\(text) is not a whole number of MiB (0 turns the cache off); "
              + "using the default limit of \(limit >> 20) MiB\n").utf8))
      }
    }
    guard limit > 0 else {
      disable()
      return false
    }
    enable(limitBytes: limit)
    return true
  }
}
