import Foundation
import TestSupport
import Testing

@testable import Engine

@Suite struct CheckpointTests {
  @Test func safetensorsRoundTripIsBitIdentical() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let tensors: [String: Tensor] = [
      "a.float": try Tensor.randn([3, 4]),
      "b.bf16": try Tensor.randn([5]).to(.bfloat16),
      "c.long": try Tensor([1, -2, 3] as [Int64]),
      "d.bool": try Tensor([true, false, true]),
      "e.byte": try Tensor([0, 255] as [UInt8]),
      "f.scalar": try Tensor([Int64(7)], shape: []),
      "g.double": try Tensor.randn([2, 2], dtype: .float64),
    ]
    let path = folder + "/model.safetensors"
    try Safetensors.write(tensors, metadata: ["format": "pt", "model": "test"], to: path)
    let (loaded, metadata) = try Safetensors.read(from: path, verifying: true)
    // The metadata given, and the content hash every OrthoCXR file carries.
    #expect(metadata.filter { $0.key != Safetensors.contentHashKey } == ["format": "pt", "model": "test"])
    #expect(metadata[Safetensors.contentHashKey]?.count == 64)
    #expect(Set(loaded.keys) == Set(tensors.keys))
    for (name, tensor) in tensors {
      let copy = try #require(loaded[name])
      #expect(copy.dtype == tensor.dtype, "\(name)")
      #expect(copy.shape == tensor.shape, "\(name)")
      #expect(try copy.bytes() == tensor.bytes(), "\(name) is bit-identical")
    }
    // The data section starts 8-byte aligned, as the reference writer leaves it.
    let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
    let headerSize = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
    #expect(headerSize % 8 == 0)
  }

  /// A file whose tensor bytes changed after writing is refused by name when verified; the file
  /// it replaced is kept when asked, byte for byte.
  /// Inference reads a training checkpoint's model part only: the tensors left out are not read.
  @Test func onlyTheTensorsAskedForAreRead() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let path = folder + "/training.safetensors"
    try Safetensors.write(
      [
        "model.w": try Tensor([1, 2] as [Float]), "optimizer.w.exp_avg": try Tensor([3, 4] as [Float]),
        "rng_state": try Tensor([5] as [Float]),
      ], metadata: ["k": "v"], to: path)
    let (tensors, metadata) = try Safetensors.read(from: path) { $0.hasPrefix("model.") }
    #expect(Set(tensors.keys) == ["model.w"])
    #expect(try tensors["model.w"]!.toArray(Float.self) == [1, 2])
    #expect(metadata["k"] == "v")
  }

  /// Read tensors are the mapped file's bytes: they outlive the read, stay valid after the file is
  /// replaced (an atomic write renames a new file over it), and writing to one changes neither the
  /// file nor another read of it.
  @Test func readTensorsAreThePrivateMappingOfTheFile() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let path = folder + "/model.safetensors"
    try Safetensors.write(["w": try Tensor([1, 2, 3, 4] as [Float], shape: [2, 2])], to: path)
    let first = try Safetensors.read(from: path).tensors["w"]!
    try first.mul_(10)
    #expect(try first.toArray(Float.self) == [10, 20, 30, 40])
    let second = try Safetensors.read(from: path).tensors["w"]!
    #expect(try second.toArray(Float.self) == [1, 2, 3, 4])
    try Safetensors.write(["w": try Tensor([5, 6, 7, 8] as [Float], shape: [2, 2])], to: path)
    #expect(try second.toArray(Float.self) == [1, 2, 3, 4])
    #expect(try Safetensors.read(from: path).tensors["w"]!.toArray(Float.self) == [5, 6, 7, 8])
    // A folder is refused by name, not mapped.
    #expect(throws: CheckpointError.self) { try Safetensors.read(from: folder) }
    do {
      _ = try Safetensors.read(from: folder)
    } catch let error as CheckpointError {
      #expect(error.description.contains("not a regular file"))
    }
    // A model loads its own copy: changing the read tensor afterwards leaves the model alone.
    let linear = try Linear(2, 2, bias: false)
    try linear.loadStateDict(["weight": second])
    try second.mul_(0)
    #expect(try linear.weight.toArray(Float.self) == [1, 2, 3, 4])
  }

  @Test func aDamagedFileIsRefusedAndThePreviousOneKept() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let (path, previous) = (folder + "/last.safetensors", folder + "/last.previous.safetensors")
    try Safetensors.write(["w": try Tensor([1, 2, 3] as [Float])], to: path, keepingPrevious: previous)
    #expect(!FileManager.default.fileExists(atPath: previous), "nothing to keep the first time")
    let first = try Data(contentsOf: URL(fileURLWithPath: path))
    try Safetensors.write(["w": try Tensor([4, 5, 6] as [Float])], to: path, keepingPrevious: previous)
    #expect(try Data(contentsOf: URL(fileURLWithPath: previous)) == first)

    var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    bytes[bytes.count - 2] ^= 0x01  // one bit of the last float
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    #expect {
      try Safetensors.read(from: path, verifying: true)
    } throws: { error in
      let error = error as? CheckpointError
      return error?.path == path && error?.reason.hasPrefix("is damaged") == true
    }
    #expect(try Safetensors.read(from: path).tensors["w"] != nil, "unverified, the bytes load")
    #expect(try Safetensors.read(from: previous, verifying: true).tensors["w"]?.toArray(Float.self) == [1, 2, 3])
  }

  @Test func strictLoadingRejectsMissingAndUnexpectedKeysNonStrictReportsThem() throws {
    let model = Sequential(try Linear(2, 2), ReLU())
    var state = model.stateDict()
    state["0.bias"] = nil
    state["extra.weight"] = try Tensor.zeros([1])
    let error = #expect(throws: TorchError.self) { try model.loadStateDict(state, strict: true) }
    #expect(error?.message.contains("missing 0.bias") == true)
    #expect(error?.message.contains("unexpected extra.weight") == true)
    let newWeight = try Tensor.ones([2, 2])
    state["0.weight"] = newWeight
    let report = try model.loadStateDict(state, strict: false)
    #expect(report == LoadReport(missingKeys: ["0.bias"], unexpectedKeys: ["extra.weight"]))
    #expect(try (model.module(at: "0") as! Linear).weight.toArray(Float.self) == [1, 1, 1, 1])
  }

  @Test func pickledStateDictsRoundTripThroughLibtorch() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let model = try Linear(3, 2)
    let path = folder + "/linear.pth"
    try model.save(to: path)
    let loaded = try Checkpoint.read(from: path)
    #expect(Set(loaded.keys) == ["weight", "bias"])
    #expect(try #require(loaded["weight"]).bytes() == model.weight.bytes())
  }

  @Test func wrappersAroundStateDictsAreRemoved() throws {
    let tensor = try Tensor.zeros([1])
    let wrapped = ["state_dict.module.fc.weight": tensor, "state_dict.module.fc.bias": tensor]
    #expect(Set(Checkpoint.unwrapped(wrapped).keys) == ["fc.weight", "fc.bias"])
    let plain = ["fc.weight": tensor, "conv1.weight": tensor]
    #expect(Set(Checkpoint.unwrapped(plain).keys) == Set(plain.keys))
  }

  @Test func corruptFilesGiveErrorsThatNameThem() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let cases: [(String, [UInt8])] = [
      ("empty", []),
      ("short", [1, 2, 3]),
      ("huge-header", [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F] + Array("{}".utf8)),
      ("not-json", [4, 0, 0, 0, 0, 0, 0, 0] + Array("abcd".utf8)),
      ("bad-range", [UInt8](headerFile(#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, dataBytes: 8))),
      ("bad-dtype", [UInt8](headerFile(#"{"w":{"dtype":"Q9","shape":[1],"data_offsets":[0,4]}}"#, dataBytes: 4))),
    ]
    for (name, bytes) in cases {
      let path = "\(folder)/\(name).safetensors"
      try Data(bytes).write(to: URL(fileURLWithPath: path))
      let error = #expect(throws: CheckpointError.self, "\(name)") { try Checkpoint.read(from: path) }
      #expect(error?.path == path)
    }
    let garbage = "\(folder)/garbage.pth"
    try Data("not a zip".utf8).write(to: URL(fileURLWithPath: garbage))
    #expect(throws: CheckpointError.self) { try Checkpoint.read(from: garbage) }
    #expect(throws: CheckpointError.self) { try Checkpoint.read(from: "\(folder)/absent.safetensors") }
  }

  private func headerFile(_ json: String, dataBytes: Int) -> Data {
    var data = Data()
    withUnsafeBytes(of: UInt64(json.utf8.count).littleEndian) { data.append(contentsOf: $0) }
    data.append(contentsOf: Array(json.utf8))
    data.append(contentsOf: [UInt8](repeating: 0, count: dataBytes))
    return data
  }
}
