// One libFuzzer harness for the Swift parsers; ORTHOCXR_FUZZ_TARGET picks the parser. Each input is
// written to a file and read through the same public call the program uses on a user's file, so the
// whole path (reading, decoding text, parsing, checking) is exercised. A thrown error is the expected
// answer to a bad input; a crash, a trap (an index out of range, an overflow) or a hang is a finding.
import Datasets
import Engine
import Explanations
import Foundation
import RunFiles

/// A parser, by the file extension its input is given and the call that reads a file of it.
typealias Target = (extension: String, parse: @Sendable (String) throws -> Void)

/// The parsers, by the name `scripts/fuzz` uses.
let targets: [String: Target] = [
  "split-file": ("txt", { _ = try DatasetSource.splitFile($0, imageFolder: "/nonexistent") }),
  "dataset-csv": ("csv", { _ = try DatasetSource.csv($0, imageFolder: "/nonexistent") }),
  "label-map": ("txt", { _ = try LabelMap.parse(try text(of: $0)) }),
  "experiment-yaml": ("yaml", { _ = try ExperimentSettings.load(file: $0) }),
  "sweep-yaml": ("yaml", { _ = try SweepPlan.load(file: $0, output: "/nonexistent") }),
  "safetensors": ("safetensors", { _ = try Safetensors.read(from: $0, verifying: true) }),
  "pth": ("pth", { _ = try Checkpoint.readPickled(from: $0) }),
  "boxes-csv": ("csv", { _ = try GroundTruth.readBoxes($0) }),
]

func text(of path: String) throws -> String {
  String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
}

let target: Target = {
  let name = ProcessInfo.processInfo.environment["ORTHOCXR_FUZZ_TARGET"] ?? ""
  guard let target = targets[name] else {
    FileHandle.standardError.write(
      Data("ParserFuzzer: set ORTHOCXR_FUZZ_TARGET to one of \(targets.keys.sorted().joined(separator: ", "))\n".utf8))
    exit(2)
  }
  return target
}()

/// Where each input is written: memory-backed where /dev/shm exists, one file per process.
let inputPath: String = {
  let folder = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
  let path = "\(folder)/orthocxr-fuzz-\(getpid()).\(target.extension)"
  atexit { unlink(inputPath) }
  return path
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
  let data = Data(bytes: bytes, count: count)
  guard FileManager.default.createFile(atPath: inputPath, contents: data) else {
    fatalError("ParserFuzzer: cannot write \(inputPath)")
  }
  _ = try? target.parse(inputPath)
  return 0
}
