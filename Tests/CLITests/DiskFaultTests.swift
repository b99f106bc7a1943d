import Digests
import Foundation
import TestSupport
import Testing

/// A small tmpfs made by the test (root and mount(8) needed; the suite is skipped, saying so,
/// without them).
enum TemporaryMount {
  static func run(_ arguments: [String]) -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return -1 }
    process.waitUntilExit()
    return process.terminationStatus
  }

  /// A fresh mount point holding an empty tmpfs of `size` ("200m"), or nil when mounting fails.
  static func make(size: String, readOnly: Bool = false) -> String? {
    let path = NSTemporaryDirectory() + "orthocxr-mount-" + UUID().uuidString
    guard (try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)) != nil else {
      return nil
    }
    let options = "size=\(size)" + (readOnly ? ",ro" : "")
    guard run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", path]) == 0 else {
      try? FileManager.default.removeItem(atPath: path)
      return nil
    }
    return path
  }

  static func remove(_ path: String) {
    _ = run(["umount", path])
    try? FileManager.default.removeItem(atPath: path)
  }

  static let available: Bool = {
    guard let path = make(size: "1m") else { return false }
    remove(path)
    return true
  }()
}

/// Whether a checkpoint's tensor bytes match the SHA-256 it was written with.
func checkpointMatchesItsHash(_ path: String) throws -> Bool {
  let data = try Data(contentsOf: URL(fileURLWithPath: path))
  let headerSize = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
  let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + headerSize))) as? [String: Any]
  let written = (header?["__metadata__"] as? [String: String])?["orthocxr.sha256"]
  return written != nil && SHA256.hex(data.subdata(in: (8 + headerSize)..<data.count)) == written
}

@Suite(
  SharedData.required, .enabled(if: TemporaryMount.available, "needs root and mount(8) to make a small tmpfs"),
  .serialized)
struct DiskFaultTests {
  func train(_ output: String, epochs: Int) throws -> Orthocxr.Result {
    let data = SharedData.path("covid-radiography")
    return try Orthocxr.run([
      "train", "--train", data + "/mini_train.txt", "--val", data + "/mini_test.txt", "--image-size", "32",
      "--epochs", "\(epochs)", "--output", output,
    ])
  }

  /// 200 MB hold the first checkpoint (134 MB: ResNet-18 and AdamW's state) but not the second: the
  /// run stops with an error status naming the file it could not write and the one that is intact, which
  /// still matches its hash, and no temporary file is left behind.
  @Test func aFullDiskStopsTrainingAndKeepsTheLastCheckpoint() throws {
    let mount = try #require(TemporaryMount.make(size: "200m"))
    defer { TemporaryMount.remove(mount) }
    let result = try train(mount + "/run", epochs: 2)
    #expect(result.status != 0)
    #expect(result.output.contains("best.safetensors cannot be written"), "\(result.output)")
    #expect(result.output.contains("last.safetensors is intact: make room and continue with --resume"))
    #expect(try checkpointMatchesItsHash(mount + "/run/last.safetensors"))
    let left = try FileManager.default.contentsOfDirectory(atPath: mount + "/run").filter { $0.contains("partial") }
    #expect(left.isEmpty, "\(left)")
  }

  @Test func aReadOnlyOutputFolderIsNamed() throws {
    let mount = try #require(TemporaryMount.make(size: "1m", readOnly: true))
    defer { TemporaryMount.remove(mount) }
    let result = try train(mount + "/run", epochs: 1)
    #expect(result.status != 0)
    #expect(result.output.contains("\(mount)/run cannot be created (Read-only file system)"), "\(result.output)")
  }
}
