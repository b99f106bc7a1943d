import Datasets
import Engine
import Explanations
import Foundation
import RunFiles
import Testing

/// The inputs kept in fuzz/corpus for the Swift parsers (scripts/fuzz's parser targets): seeds made by
/// hand (named `seed-…`) and findings once fixed. Each goes through the call the program uses on a
/// user's file and must come back parsed or refused with the parser's own error naming the file;
/// a finding (any name but `seed-…`) must be refused. A crash or trap fails the whole test run, which
/// is the point: these inputs once crashed it. `scripts/fuzz --replay` runs them under AddressSanitizer.
@Suite struct KeptParserInputTests {
  static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("fuzz/corpus").path

  /// A parser target: reads a file, and tells whether an error is its own, naming the file.
  struct Target: Sendable, CustomStringConvertible {
    let name: String
    let read: @Sendable (String) throws -> Void
    let isOwnError: @Sendable (any Error, String) -> Bool
    var description: String { name }
  }

  static let targets: [Target] = [
    Target(
      name: "split-file", read: { _ = try DatasetSource.splitFile($0, imageFolder: "/nonexistent") },
      isOwnError: { ($0 as? DatasetError)?.path == $1 }),
    Target(
      name: "dataset-csv", read: { _ = try DatasetSource.csv($0, imageFolder: "/nonexistent") },
      isOwnError: { ($0 as? DatasetError)?.path == $1 }),
    Target(
      name: "label-map",
      read: { _ = try LabelMap.parse(String(decoding: try Data(contentsOf: URL(fileURLWithPath: $0)), as: UTF8.self)) },
      isOwnError: { error, _ in (error as? DatasetError)?.path == "label map" }),
    Target(
      name: "experiment-yaml", read: { _ = try ExperimentSettings.load(file: $0) },
      isOwnError: { ($0 as? RunFileError)?.path == $1 }),
    Target(
      name: "sweep-yaml", read: { _ = try SweepPlan.load(file: $0, output: "/nonexistent") },
      isOwnError: { ($0 as? RunFileError)?.path == $1 }),
    Target(
      name: "safetensors", read: { _ = try Safetensors.read(from: $0, verifying: true) },
      isOwnError: { ($0 as? CheckpointError)?.path == $1 }),
    Target(
      name: "pth", read: { _ = try Checkpoint.readPickled(from: $0) },
      isOwnError: { ($0 as? CheckpointError)?.path == $1 }),
    Target(
      name: "boxes-csv", read: { _ = try GroundTruth.readBoxes($0) },
      isOwnError: { error, path in (error as? ExplanationError)?.reason.contains(path) ?? false }),
  ]

  @Test(arguments: targets) func everyKeptInputIsReadOrRefusedByName(_ target: Target) throws {
    let folder = Self.corpus + "/" + target.name
    let names = (try? FileManager.default.contentsOfDirectory(atPath: folder).sorted()) ?? []
    #expect(!names.isEmpty, "fuzz/corpus/\(target.name) holds at least one kept input (a seed)")
    for name in names {
      let path = folder + "/" + name
      do {
        try target.read(path)
        #expect(name.hasPrefix("seed-"), "\(target.name)/\(name) is a kept finding, yet it was accepted")
      } catch {
        #expect(target.isOwnError(error, path), "\(target.name)/\(name): \(error) is not the parser's own error")
      }
    }
  }

  /// The hostile checkpoints whose sizes overflowed Int and trapped before the checked arithmetic:
  /// each is refused for the reason that fits it, not for something earlier.
  @Test(arguments: [
    ("safetensors/shape-product-overflows.safetensors", "does not fit"),
    ("safetensors/end-offset-overflows.safetensors", "does not fit"),
    ("safetensors/element-count-times-size-overflows.safetensors", "does not fit"),
    ("pth/stride-times-size-overflows.pth", "reaches past the end of storage"),
    ("pth/zip64-record-offset-near-int-max.pth", "the zip directory is truncated"),
  ])
  func overflowingCheckpointsAreRefusedForTheirReason(_ file: String, _ reason: String) throws {
    #expect {
      _ = try Checkpoint.read(from: Self.corpus + "/" + file)
    } throws: { error in
      (error as? CheckpointError)?.reason.contains(reason) ?? false
    }
  }
}
