import CResampling
import Engine
import Foundation
import Randomness
import Testing

@testable import Datasets
@testable import Imaging

@Suite struct AugmentationTests {
  @Test func sameSeedSameImageAndDefaultsAreGentle() {
    let image = SyntheticChestXRay.generate(size: 64, finding: .covid, seed: 1).image
    var always = Augmentation()
    always.affineProbability = 1
    always.intensityProbability = 1
    #expect(always.apply(image, seed: 42) == always.apply(image, seed: 42))
    #expect(always.apply(image, seed: 42) != always.apply(image, seed: 43))
    #expect(Augmentation.none.apply(image, seed: 42) == image)
    // With p = 0.5 per transform, some samples come through untouched.
    let untouched = (0..<40).filter { Augmentation().apply(image, seed: UInt64($0)) == image }.count
    #expect(untouched > 3 && untouched < 25, "\(untouched) of 40 untouched")
  }

  /// The lane-wise brightness and contrast against the written-out definition, on a size that leaves
  /// a remainder after the lanes of eight.
  @Test func intensityIsContrastAboutTheMeanThenBrightnessClamped() {
    let image = SyntheticChestXRay.generate(size: 37, finding: .covid, seed: 3).image
    for (brightness, contrast) in [(0.08, 1.1), (-0.1, 0.9), (0.6, 1.5)] as [(Float, Float)] {
      var adjusted = image.pixels
      Augmentation().adjustIntensity(&adjusted, brightness: brightness, contrast: contrast)
      let mean = image.pixels.map(Double.init).reduce(0, +) / Double(image.pixels.count)
      let expected = image.pixels.map {
        min(max((Double($0) - mean) * Double(contrast) + mean + Double(brightness), 0), 1)
      }
      let worst = zip(adjusted, expected).map { abs(Double($0) - $1) }.max() ?? 1
      #expect(worst < 1e-5, "differs by \(worst) at brightness \(brightness), contrast \(contrast)")
    }
    #expect(image.pixels.count % 8 != 0)
  }

  /// The affine warp against its written-out definition (bilinear sampling of the inverse map, edges
  /// replicated), on sizes with and without a remainder after the lanes of eight, and the vector path
  /// of CResampling against its plain path, which must agree exactly.
  @Test(arguments: [(37, 29), (64, 64), (9, 40)])
  func affineIsBilinearSamplingOfTheInverseMap(size: (width: Int, height: Int)) {
    let (width, height) = size
    var random = SplitMix64(seed: 5)
    let pixels = (0..<(width * height)).map { _ in Float(random.uniform(0, 1)) }
    let image = GrayImage(width: width, height: height, pixels: pixels)
    for (angle, scale, shiftX, shiftY) in [(0.15, 0.9, 3.5, -2.25), (-0.17, 1.15, -6.0, 4.0), (0.02, 1.0, 0.0, 0.0)] {
      let warped = Augmentation().affine(image, angle: angle, scale: scale, shiftX: shiftX, shiftY: shiftY)
      var worst = 0.0
      for y in 0..<height {
        for x in 0..<width {
          let (cx, cy) = (Double(width) / 2, Double(height) / 2)
          let dx = Double(x) + 0.5 - cx - shiftX
          let dy = Double(y) + 0.5 - cy - shiftY
          let (c, s) = (cos(angle) / scale, sin(angle) / scale)
          let px = min(max(c * dx + s * dy + cx - 0.5, 0), Double(width - 1))
          let py = min(max(-s * dx + c * dy + cy - 0.5, 0), Double(height - 1))
          let (x0, y0) = (Int(px), Int(py))
          let (x1, y1) = (min(x0 + 1, width - 1), min(y0 + 1, height - 1))
          let (fx, fy) = (px - Double(x0), py - Double(y0))
          func at(_ x: Int, _ y: Int) -> Double { Double(pixels[y * width + x]) }
          let top = at(x0, y0) + (at(x1, y0) - at(x0, y0)) * fx
          let bottom = at(x0, y1) + (at(x1, y1) - at(x0, y1)) * fx
          worst = max(worst, abs(Double(warped[x, y]) - (top + (bottom - top) * fy)))
        }
      }
      #expect(worst < 1e-4, "differs from the definition by \(worst) (angle \(angle), scale \(scale))")

      var plain = [Float](repeating: -1, count: width * height)
      let (c, s) = (Float(cos(angle) / scale), Float(sin(angle) / scale))
      let (dx0, dy0) = (0.5 - Float(width) / 2 - Float(shiftX), 0.5 - Float(height) / 2 - Float(shiftY))
      let originX = c * dx0 + s * dy0 + Float(width) / 2 - 0.5
      let originY = -s * dx0 + c * dy0 + Float(height) / 2 - 0.5
      crs_affine_bilinear_plain(pixels, &plain, Int32(width), Int32(height), originX, originY, c, -s, s, c)
      #expect(plain == warped.pixels, "the vector path (AVX2: \(crs_uses_avx2() == 1)) differs from the plain one")
    }
  }

  @Test func identityAffineKeepsTheImage() {
    let image = SyntheticChestXRay.generate(size: 32, finding: .normal, seed: 2).image
    let same = Augmentation().affine(image, angle: 0, scale: 1, shiftX: 0, shiftY: 0)
    #expect(zip(same.pixels, image.pixels).allSatisfy { abs($0 - $1) < 1e-6 })
  }
}

@Suite struct LoaderTests {
  func loader(_ folder: String, options: DataLoader.Options, augmentation: Augmentation? = Augmentation()) throws
    -> DataLoader
  {
    let entries = try LabelMap.threeClass.apply(to: DatasetSource.splitFile(folder + "/train.txt"))
    return DataLoader(
      entries: entries, classCount: 3, preprocessing: Preprocessing(size: 32), augmentation: augmentation,
      options: options, cache: ImageCache())
  }

  @Test func eachSampleExactlyOncePerEpochInBatchesOfTheRightShape() throws {
    let folder = try syntheticDataset(perClass: 5)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    var options = DataLoader.Options()
    options.batchSize = 4
    options.workers = 3
    let data = try loader(folder, options: options)
    for epoch in 0..<2 {
      var seen: [Int] = []
      let batches = data.epoch(epoch)
      while let batch = try batches.next() {
        #expect(batch.images.shape == [batch.indices.count, 1, 32, 32])
        #expect(try batch.labels.toArray(Int64.self) == batch.indices.map { Int64(data.entries[$0].classIndex) })
        seen += batch.indices
      }
      #expect(seen.sorted() == Array(0..<15), "epoch \(epoch)")
    }
    #expect(data.order(epoch: 0) != data.order(epoch: 1), "reshuffled every epoch")
  }

  /// Sharded for training, every step's slices together are the single-process batch, every rank
  /// takes the same number of steps, and a batch too small for every rank is left out; sharded for
  /// evaluation, every image is seen exactly once.
  @Test func shardsOfAStepMakeTheSingleProcessBatch() throws {
    let folder = try syntheticDataset(perClass: 5)  // 15 images: batches of 4, 4, 4, 3
    defer { try? FileManager.default.removeItem(atPath: folder) }
    var options = DataLoader.Options()
    options.batchSize = 4
    options.workers = 1
    let single = try loader(folder, options: options).plannedBatches(epoch: 1)
    for (count, expectedSteps) in [(2, 4), (3, 4), (4, 3)] {
      let ranks = try (0..<count).map { rank -> DataLoader in
        var sharded = options
        sharded.shard = Shard(rank: rank, count: count, evenSteps: true)
        return try loader(folder, options: sharded)
      }
      let plans = ranks.map { $0.plannedBatches(epoch: 1) }
      #expect(plans.allSatisfy { $0.count == expectedSteps }, "\(count) ranks")
      for step in 0..<expectedSteps {
        #expect(plans.flatMap { $0[step] } == single[step], "\(count) ranks, step \(step)")
      }
      // What the loader yields: the slices, each marked with its step's global size.
      let batch = try #require(try ranks[count - 1].epoch(1).next())
      #expect(batch.globalCount == 4 && batch.indices == plans[count - 1][0])
    }
    var seen: [Int] = []
    for rank in 0..<4 {
      var sharded = options
      sharded.shard = Shard(rank: rank, count: 4, evenSteps: false)
      seen += try loader(folder, options: sharded).plannedBatches(epoch: 0).flatMap { $0 }
    }
    #expect(seen.sorted() == Array(0..<15), "evaluation shards leave nothing out")
  }

  @Test func sameSeedGivesTheSameBatchesWhateverTheWorkers() throws {
    let folder = try syntheticDataset(perClass: 3)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    func firstBatches(workers: Int, seed: UInt64) throws -> [[Float]] {
      var options = DataLoader.Options()
      options.batchSize = 3
      options.workers = workers
      options.seed = seed
      let epoch = try loader(folder, options: options).epoch(4)
      var batches: [[Float]] = []
      while let batch = try epoch.next() { batches.append(try batch.images.toArray(Float.self)) }
      return batches
    }
    let reference = try firstBatches(workers: 1, seed: 7)
    #expect(try firstBatches(workers: 3, seed: 7) == reference)
    #expect(try firstBatches(workers: 2, seed: 8) != reference)
  }

  @Test func badImagePoliciesFailOrSkip() throws {
    let folder = try syntheticDataset(perClass: 2)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let corrupt = folder + "/images/synthetic-000003.png"
    try Data("corrupt".utf8).write(to: URL(fileURLWithPath: corrupt))

    var options = DataLoader.Options()
    options.batchSize = 2
    options.badImages = .fail
    let failing = try loader(folder, options: options)
    let error = #expect(throws: ImageError.self) {
      let epoch = failing.epoch(0)
      while try epoch.next() != nil {}
    }
    #expect(error?.path == corrupt)

    options.badImages = .skip
    let skipping = try loader(folder, options: options)
    for epoch in 0..<2 {
      var count = 0
      let batches = skipping.epoch(epoch)
      while let batch = try batches.next() { count += batch.indices.count }
      #expect(count == 5, "the corrupt image is left out")
    }
    #expect(skipping.skipped.map(\.path) == [corrupt], "counted once")
  }

  @Test func classBalancedSamplingEvensOutClasses() throws {
    let entries = (0..<90).map { index in
      LabeledEntry(
        entry: DatasetEntry(patientID: "\(index)", path: "\(index)", label: ""), classIndex: index < 80 ? 0 : 1)
    }
    var options = DataLoader.Options()
    options.classBalanced = true
    let data = DataLoader(entries: entries, classCount: 2, preprocessing: Preprocessing(size: 8), options: options)
    let order = data.order(epoch: 0)
    let minority = order.filter { $0 >= 80 }.count
    #expect(order.count == 90)
    #expect(minority > 30 && minority < 60, "\(minority) of 90 from the 10-image class")
  }

  @Test func bfloat16ChannelsLastBatchesAndEarlyRelease() throws {
    let folder = try syntheticDataset(perClass: 4)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    var options = DataLoader.Options()
    options.batchSize = 2
    options.dtype = .bfloat16
    options.memoryFormat = .channelsLast
    options.prefetchBatches = 1
    let data = try loader(folder, options: options)
    do {
      let epoch = data.epoch(0)
      let batch = try #require(try epoch.next())
      #expect(batch.images.dtype == .bfloat16)
      #expect(batch.images.isContiguous(.channelsLast))
    }  // released after one batch: its workers must stop rather than wait forever
    let again = data.epoch(1)
    var count = 0
    while let batch = try again.next() { count += batch.indices.count }
    #expect(count == 12)
    #expect(data.cache?.count == 12)
  }
}
