import Foundation
import TestSupport
import Testing

/// `orthocxr launch`: two training processes on loopback (Gloo), the group's files, and a killed rank.
@Suite(SharedData.required, .serialized) struct LaunchTests {
  static let split = SharedData.path("covid-radiography/mini_train.txt")
  static let validation = SharedData.path("covid-radiography/mini_test.txt")

  func train(_ output: String, extra: [String] = []) -> [String] {
    [
      "launch", "--nproc-per-node", "2", "--master-port", "0", "--", "train", "--train", Self.split, "--val",
      Self.validation, "--epochs", "2", "--image-size", "32", "--batch-size", "16", "--threads", "1", "--workers", "1",
      "--warmup-epochs", "0", "--output", output,
    ] + extra
  }

  @Test func twoProcessesTrainOneModelAndRankZeroWritesTheFolder() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let result = try Orthocxr.run(train(folder + "/run", extra: ["--sync-batchnorm"]))
    #expect(result.status == 0, "\(result.output)")
    #expect(try String(contentsOfFile: folder + "/run/config.yaml", encoding: .utf8).contains("sync-batchnorm: true"))
    #expect(result.output.contains("[rank 0] training resnet18 on 144 images"))
    #expect(result.output.contains("2 processes (batch 16 split between them)"))
    #expect(result.output.contains("[rank 0] epoch 2:"))
    #expect(!result.output.contains("[rank 1] epoch"), "only rank 0 reports epochs")
    #expect(result.output.contains("launch: all 2 process(es) finished"))
    for file in ["best.safetensors", "last.safetensors", "log.jsonl", "metrics.json", "config.yaml"] {
      #expect(FileManager.default.fileExists(atPath: folder + "/run/" + file), "\(file)")
    }
    // One log, written once: two epochs, not four.
    let log = try String(contentsOfFile: folder + "/run/log.jsonl", encoding: .utf8)
    #expect(log.components(separatedBy: "\"epoch\"").count > 1)
    #expect(log.split(separator: "\n").filter { $0.contains("\"event\":\"epoch\"") }.count == 2)
  }

  /// kill -9 of rank 1 in the second epoch: the launcher stops rank 0, exits 1 naming rank 1 and the
  /// signal; --resume continues from the first epoch's checkpoint and finishes.
  @Test func aKilledRankStopsTheGroupAndResumeFinishes() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let killed = try Orthocxr.run(train(folder + "/run"), environment: ["ORTHOCXR_FAULT_KILL": "1:12"])
    #expect(killed.status == 1, "\(killed.output)")
    #expect(killed.output.contains("rank 1 was killed by signal 9"))
    #expect(killed.output.contains("[rank 0] epoch 1:"))
    #expect(!killed.output.contains("epoch 2:"), "rank 1 died in the second epoch (9 steps per epoch)")
    let resumed = try Orthocxr.run(train(folder + "/run", extra: ["--resume"]))
    #expect(resumed.status == 0, "\(resumed.output)")
    #expect(resumed.output.contains("[rank 0] epoch 2:"))
    #expect(FileManager.default.fileExists(atPath: folder + "/run/metrics.json"))
  }

  /// Every rank failing the same way at once (here: NCCL asked for on the CPU) fails the launch:
  /// the last process to end is looked at too.
  @Test func ranksThatAllFailFailTheLaunch() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    for processes in ["1", "2"] {
      var arguments = train(folder + "/run", extra: ["--backend", "nccl"])
      arguments[2] = processes
      let result = try Orthocxr.run(arguments)
      #expect(result.status == 1, "\(result.output)")
      #expect(result.output.contains("--backend nccl carries CUDA tensors: add --device cuda"), "\(result.output)")
      #expect(result.output.contains("exited with status 64"), "\(result.output)")
      #expect(!result.output.contains("finished"), "\(result.output)")
    }
  }

  /// A group of one on the CPU when a backend is named (as torchrun with one process gives DDP).
  @Test func aNamedBackendFormsAGroupOfOne() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    var arguments = train(folder + "/run", extra: ["--backend", "gloo", "--epochs", "1"])
    arguments[2] = "1"
    let result = try Orthocxr.run(arguments)
    #expect(result.status == 0, "\(result.output)")
    #expect(result.output.contains("1 processes (batch 16 split between them)"), "\(result.output)")
  }

  @Test func theCommandAfterTheDashesIsChecked() throws {
    let none = try Orthocxr.run(["launch", "--nproc-per-node", "2"])
    #expect(none.status != 0 && none.output.contains("give the command after --"))
    let other = try Orthocxr.run(["launch", "--nproc-per-node", "2", "--", "evaluate"])
    #expect(other.status != 0 && other.output.contains("only train runs in several processes"))
  }
}
