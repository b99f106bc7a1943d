import Foundation
import Randomness
import TestSupport
import Testing

@testable import Engine

/// Files written by real `torch.save` and the reference safetensors writer
/// (scripts/make_checkpoint_fixtures.py), kept beside this file.
private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
private func fixture(_ name: String) -> String { fixtures.appendingPathComponent(name).path }

@Suite struct TorchPickleTests {
  @Test func orderedDictStateDictLoadsStrictlyIntoTheMatchingModel() throws {
    let model = Sequential(try Conv2d(1, 2, kernelSize: 3), try BatchNorm2d(2), Flatten(), try Linear(8, 3))
    let report = try model.load(from: fixture("state_dict.pth"), strict: true)
    #expect(report.isComplete)
    let expected = try Safetensors.read(from: fixture("expected.safetensors")).tensors
    for (name, tensor) in model.stateDict() {
      let reference = try #require(expected[name], "\(name)")
      #expect(try tensor.bytes() == reference.bytes(), "\(name)")
    }
    // The fixture ran two training-mode forward passes before saving.
    #expect(try (model.module(at: "1") as! BatchNorm2d).numBatchesTracked.itemInt() == 2)
  }

  @Test func nestedCheckpointGivesEveryTensorWithDottedNames() throws {
    let tensors = try Checkpoint.read(from: fixture("checkpoint.pth"))
    let expected = try Safetensors.read(from: fixture("expected.safetensors")).tensors
    for (name, reference) in expected {
      let flattenedName = name.hasPrefix("extras.") || name.hasPrefix("optimizer.") ? name : "state_dict." + name
      let tensor = try #require(tensors[flattenedName], "\(flattenedName) is missing")
      #expect(tensor.dtype == reference.dtype, "\(flattenedName)")
      #expect(tensor.shape == reference.shape, "\(flattenedName)")
      #expect(try tensor.bytes() == reference.bytes(), "\(flattenedName)")
    }
    // Views sharing one storage come out with their own values.
    #expect(try #require(tensors["extras.transposed"]).toArray(Float.self) == [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11])
    #expect(try #require(tensors["extras.column"]).toArray(Float.self) == [1, 5, 9])
    #expect(try #require(tensors["extras.indices"]).toArray(Int64.self) == [1, -2, 3, 1 << 40])
    // The epoch, the score and the argparse.Namespace are not tensors and are left out.
    #expect(tensors.keys.allSatisfy { !$0.hasPrefix("epoch") && !$0.hasPrefix("args") && !$0.hasPrefix("score") })
    #expect(Set(Checkpoint.unwrapped(tensors.filter { $0.key.hasPrefix("state_dict.") }).keys).contains("0.weight"))
  }

  /// Truncated and corrupted files must give an error naming the file, never a crash or a hang.
  @Test func truncatedAndCorruptedFilesFailCleanly() throws {
    let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: fixture("checkpoint.pth"))))
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let path = folder + "/broken.pth"
    var generator = SplitMix64(seed: 11)
    var failures = 0
    for trial in 0..<60 {
      var bytes = original
      if trial < 30 {
        bytes = Array(bytes.prefix(Int(generator.next() % UInt64(bytes.count))))
      } else {
        for _ in 0..<8 { bytes[Int(generator.next() % UInt64(bytes.count))] = UInt8(generator.next() & 0xFF) }
      }
      try Data(bytes).write(to: URL(fileURLWithPath: path))
      do {
        _ = try Checkpoint.read(from: path)
      } catch let error as CheckpointError {
        #expect(error.path == path)
        failures += 1
      }
    }
    #expect(failures >= 30, "every truncated file is rejected")
  }
}
