import ArgumentParser
import Datasets
import Engine
import Foundation

/// Measures the data pipeline: decode, resize, augment and batch a split, cold and from the cache.
struct DataBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "data",
    abstract: "Measure images per second of decode + resize + augmentation over a split.",
    discussion: """
      Runs two epochs of the training loader over the split: the first decodes every file (cold),
      the second reads the resized images from the in-memory cache. Augmentation is the training
      default. Compare with scripts/bench_torchvision_loader.py (PIL and torchvision's DataLoader).
      """
  )

  @Argument(help: "A split file, class folder or CSV file.")
  var split: String

  @Option(help: "Network input side in pixels.")
  var imageSize = 224

  @Option(help: "Images per batch.")
  var batchSize = 32

  @Option(help: "Loader worker threads.")
  var workers = 2

  @Option(help: "Stop each epoch after this many images (0: the whole split).")
  var limit = 0

  func run() throws {
    Torch.threadCount = 1
    CPUMemoryCache.enableForLoops()  // as in training: each batch's tensor reuses an earlier one's memory
    var entries = try LabelMap.threeClass.apply(to: DatasetSource.load(split))
    if limit > 0 { entries = Array(entries.prefix(limit)) }
    var options = DataLoader.Options()
    options.batchSize = batchSize
    options.workers = workers
    let loader = DataLoader(
      entries: entries, classCount: 3, preprocessing: Preprocessing(size: imageSize), augmentation: Augmentation(),
      options: options, cache: ImageCache())
    print(
      "\(entries.count) images from \(split), \(imageSize)x\(imageSize), \(workers) worker threads, batch \(batchSize)")
    for (epoch, label) in ["cold (decode + resize + augment)", "cached (augment only)"].enumerated() {
      let clock = ContinuousClock()
      let start = clock.now
      var count = 0
      let batches = loader.epoch(epoch)
      while let batch = try batches.next() {
        count += batch.indices.count
        progress("\(label): \(count)/\(entries.count)")
      }
      progress(nil)
      let seconds = (clock.now - start) / .seconds(1)
      print(
        label.padding(toLength: 34, withPad: " ", startingAt: 0)
          + String(format: "%8.1f images/s", Double(count) / seconds))
    }
  }
}
