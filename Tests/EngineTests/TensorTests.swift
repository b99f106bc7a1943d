import CTorch
import Testing

@testable import Engine

@Suite struct TensorTests {
  @Test func creationAndConversionBackToSwift() throws {
    let t = try Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
    #expect(t.shape == [2, 3])
    #expect(t.dtype == .float32)
    #expect(try t.toArray(Float.self) == [1, 2, 3, 4, 5, 6])
    #expect(try Tensor.zeros([2, 2]).toArray(Float.self) == [0, 0, 0, 0])
    #expect(try Tensor.ones([3], dtype: .int64).toArray(Int64.self) == [1, 1, 1])
    #expect(try Tensor.arange(0, 5, dtype: .int64).toArray(Int64.self) == [0, 1, 2, 3, 4])
    #expect(try Tensor.eye(2).toArray(Float.self) == [1, 0, 0, 1])
    #expect(try Tensor.full([2], value: 7, dtype: .uint8).toArray(UInt8.self) == [7, 7])
    #expect(try Tensor([true, false]).dtype == .bool)
    #expect(try Tensor.randn([4, 5]).shape == [4, 5])
    #expect(try Tensor.randint(0..<3, shape: [100]).toArray(Int64.self).allSatisfy { (0..<3).contains($0) })
    #expect(try Tensor.randperm(5).toArray(Int64.self).sorted() == [0, 1, 2, 3, 4])
  }

  @Test func bfloat16RoundTripsThroughFloat() throws {
    let t = try Tensor([1.5, -2, 0.25] as [Float]).to(.bfloat16)
    #expect(t.dtype == .bfloat16)
    #expect(try t.toArray(Float.self) == [1.5, -2, 0.25])
  }

  @Test func wrongValueCountThrows() throws {
    #expect(throws: TorchError.self) { try Tensor([1, 2, 3] as [Float], shape: [2, 2]) }
  }

  @Test func shapeMismatchThrowsWithLibtorchsMessage() throws {
    let error = #expect(throws: TorchError.self) { try Tensor.ones([2, 3]) + Tensor.ones([4, 5]) }
    #expect(error?.message.contains("size of tensor a (3) must match the size of tensor b (5)") == true)
    #expect(throws: TorchError.self) { try Tensor.ones([2, 3]).matmul(Tensor.ones([2, 3])) }
    #expect(throws: TorchError.self) { try Tensor.ones([6]).reshaped([4, 2]) }
  }

  @Test func arithmeticBroadcasts() throws {
    let a = try Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
    let b = try Tensor([10, 20, 30] as [Float])
    #expect(try (a + b).toArray(Float.self) == [11, 22, 33, 14, 25, 36])
    #expect(try (a * 2 - 1).toArray(Float.self) == [1, 3, 5, 7, 9, 11])
    #expect(try (1 - a).toArray(Float.self) == [0, -1, -2, -3, -4, -5])
    #expect(try (a / b).toArray(Float.self)[0] == 0.1)
    #expect(try a.matmul(a.transposed()).toArray(Float.self) == [14, 32, 32, 77])
  }

  @Test func reductionsAndSoftmax() throws {
    let a = try Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
    #expect(try a.sum().item() == 21)
    #expect(try a.sum(dims: [1]).toArray(Float.self) == [6, 15])
    #expect(try a.mean(dims: [0]).toArray(Float.self) == [2.5, 3.5, 4.5])
    #expect(try a.max().item() == 6)
    #expect(try a.argmax(dim: 1).toArray(Int64.self) == [2, 2])
    let (values, indices) = try a.min(dim: 0)
    #expect(try values.toArray(Float.self) == [1, 2, 3])
    #expect(try indices.toArray(Int64.self) == [0, 0, 0])
    let probabilities = try a.softmax(dim: 1).toArray(Float.self)
    #expect(Swift.abs(probabilities[0] + probabilities[1] + probabilities[2] - 1) < 1e-6)
    #expect(try Swift.abs(a.logSoftmax(dim: 1).exp().sum().item() - 2) < 1e-5)
  }

  @Test func comparisons() throws {
    let a = try Tensor([1, 5, 3] as [Float])
    let b = try Tensor([2, 5, 1] as [Float])
    #expect(try a.less(b).toArray(Bool.self) == [true, false, false])
    #expect(try a.equal(b).toArray(Bool.self) == [false, true, false])
    #expect(try a.greaterOrEqual(b).toArray(Bool.self) == [false, true, true])
    #expect(try a.greater(2).toArray(Bool.self) == [false, true, true])
    #expect(try a.isFinite().toArray(Bool.self) == [true, true, true])
  }

  @Test func indexingSlicingAndJoining() throws {
    let t = try Tensor.arange(0, 12).reshaped([3, 4])
    #expect(try t[1].toArray(Float.self) == [4, 5, 6, 7])
    #expect(try t[-1, 0].item() == 8)
    #expect(try t[0..<2].shape == [2, 4])
    #expect(try t[.all, .range(1..<4, step: 2)].toArray(Float.self) == [1, 3, 5, 7, 9, 11])
    #expect(try t[.newAxis].shape == [1, 3, 4])
    #expect(try t.permuted([1, 0]).shape == [4, 3])
    #expect(try Tensor.cat([t, t], dim: 1).shape == [3, 8])
    #expect(try Tensor.stack([t, t, t], dim: 0).shape == [3, 3, 4])
    #expect(try t.flattened().shape == [12])
    #expect(try t.unsqueezed(dim: 1).squeezed(dim: 1).shape == [3, 4])
    #expect(try Tensor([0, 2] as [Int64]).oneHot(classCount: 3).toArray(Int64.self) == [1, 0, 0, 0, 0, 1])
  }

  @Test func channelsLastKeepsValuesAndChangesLayout() throws {
    let t = try Tensor.randn([2, 3, 4, 5])
    let nhwc = try t.contiguous(.channelsLast)
    #expect(nhwc.isContiguous(.channelsLast))
    #expect(!nhwc.isContiguous(.contiguous))
    #expect(nhwc.strides == [60, 1, 15, 3])
    #expect(try nhwc.toArray(Float.self) == t.toArray(Float.self))
  }

  @Test func autogradBackwardGradAndClearing() throws {
    let x = try Tensor([1, 2, 3] as [Float]).requiringGrad()
    #expect(x.grad == nil)
    let y = try (x * x).sum()
    try y.backward()
    #expect(try x.grad?.toArray(Float.self) == [2, 4, 6])
    try (x * 3).sum().backward()
    #expect(try x.grad?.toArray(Float.self) == [5, 7, 9], "gradients accumulate")
    try x.clearGrad()
    #expect(x.grad == nil)
    #expect(try !x.detached().requiresGrad)
  }

  @Test func noGradStopsRecordingAndRestores() throws {
    let x = try Tensor.randn([3]).requiringGrad()
    let inside = try noGrad { try x * 2 }
    #expect(!inside.requiresGrad)
    #expect(isGradEnabled)
    #expect(try (x * 2).requiresGrad)
    struct Failure: Error {}
    #expect(throws: Failure.self) { try noGrad { throw Failure() } }
    #expect(isGradEnabled, "restored after a throw")
  }

  @Test func retainedGradientOfAnIntermediateTensor() throws {
    let x = try Tensor([1, 2] as [Float]).requiringGrad()
    let hidden = try x * 3
    try hidden.retainGrad()
    try (hidden * hidden).sum().backward()
    #expect(try hidden.grad?.toArray(Float.self) == [6, 12])
  }

  @Test func seedingRepeatsRandomNumbers() throws {
    Torch.seed(42)
    let first = try Tensor.randn([5]).toArray(Float.self)
    Torch.seed(42)
    #expect(try Tensor.randn([5]).toArray(Float.self) == first)
  }

  @Test func threadCountCanBeSet() throws {
    let previous = Torch.threadCount
    Torch.threadCount = 1
    #expect(Torch.threadCount == 1)
    Torch.threadCount = previous
  }

  @Test func autocastRunsConvolutionsInBFloat16() throws {
    let conv = try Conv2d(3, 4, kernelSize: 3)
    let input = try Tensor.randn([1, 3, 8, 8])
    let plain = try conv(input)
    let mixed = try Autocast.run(on: .cpu, dtype: .bfloat16) { try conv(input) }
    #expect(plain.dtype == .float32)
    #expect(mixed.dtype == .bfloat16)
    #expect(!Autocast.isEnabled())
    #expect(conv.weight.dtype == .float32, "parameters stay float32")
    let difference = try (mixed.to(.float32) - plain).abs().max().item()
    #expect(difference < 0.1)
  }

  @Test func cudaIsReportedAbsentWithoutAGPU() throws {
    // On machines without a GPU the CPU-only link must say so rather than crash.
    if !Torch.isCUDAAvailable { #expect(Torch.cudaDeviceCount == 0) }
    #expect(Device("cuda:1") == .cuda(1))
    #expect(Device("gpu") == nil)
  }
}

@Suite struct UnsupportedTypeTests {
  /// A libtorch type the enum does not know reads as `.unsupported`, never as float32.
  @Test func anUnknownDTypeIsNotReadAsFloat() throws {
    let real = try Tensor.ones([2])
    let complex = try withExtendedLifetime(real) { try Tensor.make { ct_to_dtype($0, real.handle, 9) } }  // complex64
    #expect(complex.dtype == .unsupported)
    #expect(throws: CheckpointError.self) {
      try Safetensors.write(["c": complex], to: "/tmp/orthocxr-unsupported.safetensors")
    }
  }
}

/// Filling a tensor in place, as the data loader writes each batch.
@Suite struct InPlaceElementTests {
  @Test func writesLandInTheTensorAndWrongRequestsAreRefused() throws {
    let tensor = try Tensor.empty([2, 3])
    try tensor.withUnsafeMutableElements(of: Float.self) { elements in
      #expect(elements.count == 6)
      for index in elements.indices { elements[index] = Float(index) * 1.5 }
    }
    #expect(try tensor.toArray(Float.self) == [0, 1.5, 3, 4.5, 6, 7.5])
    #expect(throws: TorchError.self) { try tensor.withUnsafeMutableElements(of: Int64.self) { _ in } }
    #expect(throws: TorchError.self) {
      try tensor.transposed(0, 1).withUnsafeMutableElements(of: Float.self) { _ in }
    }
  }
}
