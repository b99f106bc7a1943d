import DistributedTestSupport
import Foundation
import TestSupport
import Testing

@testable import Datasets
@testable import Engine
@testable import Imaging
import RunFiles
@testable import Training

@Suite(.serialized) struct DataParallelTests {
  /// With --bad-images skip, a rank whose whole slice of a step is unreadable has no batch while the
  /// others have one: every rank stops with an error that says so, instead of waiting for ever.
  @Test func ranksWithAndWithoutABatchStopTogetherSayingWhy() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    try SyntheticChestXRay.writeDataset(to: folder, counts: [("train", 2)], size: 64, seed: 4)  // 6 images
    let entries = try LabelMap.threeClass.apply(to: DatasetSource.splitFile(folder + "/train.txt"))
    func loader(rank: Int) -> DataLoader {
      var options = DataLoader.Options()
      options.batchSize = 6
      options.workers = 1
      options.seed = 3
      options.badImages = .skip
      options.shard = Shard(rank: rank, count: 2, evenSteps: true)
      return DataLoader(entries: entries, classCount: 3, preprocessing: Preprocessing(size: 32), options: options)
    }
    // Rank 1's three images of the only step, unreadable.
    for index in loader(rank: 1).plannedBatches(epoch: 0)[0] {
      try Data("not an image".utf8).write(to: URL(fileURLWithPath: entries[index].entry.path))
    }
    var settings = TrainingSettings()
    settings.epochs = 1
    settings.warmupEpochs = 0
    let models = [TinyClassifier(classes: 3), TinyClassifier(classes: 3)]
    let outcomes = try inGroup(of: 2) { group -> String in
      let trainer = try Trainer(
        model: models[group.rank], settings: settings, trainLoader: loader(rank: group.rank), validationLoader: nil,
        folder: RunFolder(folder + "/run"), dataParallel: try DataParallel(model: models[group.rank], group: group))
      do {
        _ = try trainer.run()
        return "finished"
      } catch {
        return "\(error)"
      }
    }
    for outcome in outcomes {
      #expect(outcome.contains("1 of 2 processes had images"), "\(outcome)")
      #expect(outcome.contains("--bad-images"))
    }
  }
}
