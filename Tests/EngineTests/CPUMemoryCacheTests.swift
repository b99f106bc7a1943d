import Testing

@testable import Engine

/// The caching CPU allocator (shim/ctorch_allocator.cpp). Other suites may allocate at the same time,
/// so the checks compare counters that only grow, or use a limit of zero, which nobody can exceed.
@Suite(.serialized) struct CPUMemoryCacheTests {
  /// 5 MB of float32: far above the 256-KiB floor, a size no other test uses.
  let count = 1_234_567

  @Test func freedBlockIsKeptAndHandedOutAgain() throws {
    CPUMemoryCache.enable(limitBytes: 1 << 30)
    defer { CPUMemoryCache.enableForLoops() }  // as the process's environment says
    CPUMemoryCache.release()
    let before = CPUMemoryCache.statistics
    do {
      let filled = try Tensor.full([count], value: 3.0)
      #expect(try filled.sum().item() == 3.0 * Double(count))
    }
    let kept = CPUMemoryCache.statistics
    #expect(kept.cachedBytes >= count * 4)
    #expect(kept.fresh > before.fresh)

    // The same size again comes from the cache, and a dirty block still gives what was asked for.
    let zeros = try Tensor.zeros([count])
    let after = CPUMemoryCache.statistics
    #expect(after.reused > kept.reused)
    #expect(try zeros.sum().item() == 0)
    #expect(try zeros.abs().max().item() == 0)
  }

  @Test func keepsNothingOverItsLimit() throws {
    CPUMemoryCache.enable(limitBytes: 0)
    defer { CPUMemoryCache.enableForLoops() }  // as the process's environment says
    do { _ = try Tensor.ones([count]) }
    #expect(CPUMemoryCache.statistics.cachedBytes == 0)

    CPUMemoryCache.enable(limitBytes: 1 << 30)
    do { _ = try Tensor.ones([count]) }
    #expect(CPUMemoryCache.statistics.cachedBytes > 0)
    CPUMemoryCache.release()
    CPUMemoryCache.enable(limitBytes: 0)
    #expect(CPUMemoryCache.statistics.cachedBytes == 0)
  }

  @Test func environmentSetsTheLimitOrTurnsItOff() throws {
    defer { CPUMemoryCache.enableForLoops() }  // as the process's environment says
    #expect(!CPUMemoryCache.enableForLoops(environment: ["ORTHOCXR_CPU_MEMORY_CACHE_MIB": "0"]))
    do { _ = try Tensor.ones([count]) }
    #expect(CPUMemoryCache.statistics.cachedBytes == 0)

    #expect(CPUMemoryCache.enableForLoops(environment: ["ORTHOCXR_CPU_MEMORY_CACHE_MIB": "2"]))
    do { _ = try Tensor.ones([count]) }  // 5 MB: over a 2-MiB limit, so given back
    #expect(CPUMemoryCache.statistics.cachedBytes <= 2 << 20)

    #expect(CPUMemoryCache.enableForLoops(environment: ["ORTHOCXR_CPU_MEMORY_CACHE_MIB": "lots"]))  // warned, default
    #expect(CPUMemoryCache.enableForLoops(environment: [:]))
    let one = CPUMemoryCache.defaultLimitBytes()
    #expect(one > 0 && one <= 8 << 30)
    // Shared out among the processes on the machine once a quarter of the memory is the bound.
    #expect(CPUMemoryCache.defaultLimitBytes(processesOnThisMachine: 64) <= one)
    #expect(CPUMemoryCache.defaultLimitBytes(processesOnThisMachine: 1 << 20) < one)
  }

  /// Training steps through reused blocks compute exactly what they compute through fresh ones.
  @Test func reusedBlocksChangeNoResult() throws {
    defer { CPUMemoryCache.enableForLoops() }  // as the process's environment says
    func losses() throws -> [Double] {
      Torch.seed(7)
      let conv = try Conv2d(3, 16, kernelSize: 3, padding: 1)
      let norm = try BatchNorm2d(16)
      let optimizer = try SGD(parameters: conv.parameters() + norm.parameters(), learningRate: 0.1, momentum: 0.9)
      let images = try Tensor.randn([8, 3, 64, 64])
      var values: [Double] = []
      for _ in 0..<3 {
        try optimizer.clearGradients()
        let loss = try norm(conv(images)).relu().pow(2).mean()
        try loss.backward()
        try optimizer.step()
        values.append(try loss.item())
      }
      return values
    }
    CPUMemoryCache.disable()
    let plain = try losses()
    CPUMemoryCache.enable(limitBytes: 1 << 30)
    let first = try losses()
    let reusedBefore = CPUMemoryCache.statistics.reused
    let second = try losses()
    #expect(CPUMemoryCache.statistics.reused > reusedBefore)
    #expect(first == plain)
    #expect(second == plain)
  }
}
