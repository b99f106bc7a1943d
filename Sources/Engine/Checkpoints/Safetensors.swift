import Digests
import Foundation

/// The safetensors format (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
/// length, a JSON header naming each tensor's dtype, shape and byte range, then the raw bytes.
/// Written and read here in Swift; the files load in Python with `safetensors.torch.load_file`.
public enum Safetensors {
  /// Header sizes beyond this are taken as a corrupt file rather than allocated.
  static let maximumHeaderSize = 100 * 1024 * 1024

  static let dtypeNames: [DType: String] = [
    .float64: "F64", .float32: "F32", .float16: "F16", .bfloat16: "BF16", .int64: "I64", .int32: "I32",
    .int16: "I16", .int8: "I8", .uint8: "U8", .bool: "BOOL",
  ]

  /// The metadata key of the SHA-256 of a file's tensor bytes, checked by `read(from:verifying:)`.
  public static let contentHashKey = "orthocxr.sha256"

  /// Writes `tensors` (names sorted) and string `metadata`, with the SHA-256 of the tensor bytes
  /// (`contentHashKey`), through a temporary file renamed into place, so a crash never leaves a
  /// half-written checkpoint under the final name. With `previous`, a file already at `path` is
  /// first renamed there: a good checkpoint to fall back on if this one is ever found damaged.
  public static func write(
    _ tensors: [String: Tensor], metadata: [String: String] = [:], to path: String,
    keepingPrevious previous: String? = nil
  ) throws {
    var header: [String: Any] = [:]
    var payload: [[UInt8]] = []
    var offset = 0
    for name in tensors.keys.sorted() {
      let tensor = tensors[name]!
      guard let dtypeName = dtypeNames[tensor.dtype] else {
        throw CheckpointError(path: path, reason: "\(name) has dtype \(tensor.dtype), which safetensors cannot hold")
      }
      let bytes = try tensor.bytes()
      header[name] = ["dtype": dtypeName, "shape": tensor.shape, "data_offsets": [offset, offset + bytes.count]]
      payload.append(bytes)
      offset += bytes.count
    }
    var digest = SHA256()
    for bytes in payload { digest.update(bytes) }
    header["__metadata__"] = metadata.merging([contentHashKey: digest.finalize().hex]) { _, hash in hash }
    var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
    // Pad with spaces so the data starts 8-byte aligned, as the reference implementation does.
    json.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8))
    var file = Data(capacity: 8 + json.count + offset)
    withUnsafeBytes(of: UInt64(json.count).littleEndian) { file.append(contentsOf: $0) }
    file.append(json)
    for bytes in payload { file.append(contentsOf: bytes) }
    try writeAtomically(file, to: path, keepingPrevious: previous)
  }

  /// Reads the tensors of a safetensors file whose names `including` accepts (every one by default),
  /// checking the header against the file's size. The file is memory-mapped (`MappedFile`) and the
  /// tensors are its bytes, not copies: a tensor left out is never read from disk, and loading one
  /// into a model is its only copy. Writing to a returned tensor copies the pages written, never the
  /// file. With `verifying`, a file that carries a content hash (`contentHashKey`; OrthoCXR writes
  /// one) must match it, or it is refused as damaged.
  public static func read(
    from path: String, verifying: Bool = false, including: (String) -> Bool = { _ in true }
  ) throws -> (
    tensors: [String: Tensor], metadata: [String: String]
  ) {
    let file = try MappedFile(path: path)
    let data = file.bytes
    guard data.count >= 8 else { throw CheckpointError(path: path, reason: "is too short to be safetensors") }
    let headerSize = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
    guard headerSize > 0, headerSize <= maximumHeaderSize, 8 + headerSize <= data.count else {
      throw CheckpointError(path: path, reason: "has a header length (\(headerSize)) that does not fit the file")
    }
    guard
      let header = try? JSONSerialization.jsonObject(with: Data(data[8..<(8 + headerSize)])) as? [String: Any]
    else { throw CheckpointError(path: path, reason: "has a header that is not a JSON object") }
    let dataStart = 8 + headerSize
    if verifying, let metadata = header["__metadata__"] as? [String: String], let expected = metadata[contentHashKey] {
      var digest = SHA256()
      digest.update(UnsafeRawBufferPointer(rebasing: data[dataStart...]))
      let found = digest.finalize().hex
      guard found == expected else {
        throw CheckpointError(
          path: path,
          reason:
            "is damaged: its tensors' SHA-256 is \(found.prefix(12))…, not the \(expected.prefix(12))… it was written with"
        )
      }
    }
    var tensors: [String: Tensor] = [:]
    var metadata: [String: String] = [:]
    for (name, value) in header {
      if name == "__metadata__" {
        metadata = value as? [String: String] ?? [:]
        continue
      }
      guard let entry = value as? [String: Any], let dtypeName = entry["dtype"] as? String,
        let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2
      else { throw CheckpointError(path: path, reason: "has a malformed entry for \(name)") }
      guard let dtype = dtypeNames.first(where: { $0.value == dtypeName })?.key else {
        throw CheckpointError(path: path, reason: "\(name) has dtype \(dtypeName), which OrthoCXR does not read")
      }
      let (begin, end) = (offsets[0], offsets[1])
      // Checked arithmetic: a hostile header's shape or offsets overflow Int (fuzz/corpus/safetensors).
      guard let byteCount = byteCount(of: shape, elementSize: dtype.byteCount), begin >= 0, begin <= end,
        end <= data.count - dataStart, end - begin == byteCount
      else {
        throw CheckpointError(
          path: path, reason: "\(name) (\(dtypeName) \(shape)) has byte range \(begin)..<\(end) that does not fit")
      }
      guard including(name) else { continue }
      tensors[name] = try file.tensor(at: (dataStart + begin)..<(dataStart + end), shape: shape, dtype: dtype)
    }
    return (tensors, metadata)
  }
}

/// The bytes a tensor of `shape` takes, or nil for a negative size or a product beyond Int.
func byteCount(of shape: [Int], elementSize: Int) -> Int? {
  var count = elementSize
  for size in shape {
    guard size >= 0 else { return nil }
    let (product, overflow) = count.multipliedReportingOverflow(by: size)
    guard !overflow else { return nil }
    count = product
  }
  return count
}

/// A checkpoint that cannot be read, written or applied, naming the file and the reason.
public struct CheckpointError: Error, CustomStringConvertible {
  public let path: String
  public let reason: String

  public init(path: String, reason: String) {
    self.path = path
    self.reason = reason
  }

  public var description: String { "\(path) \(reason)" }
}

/// A test hook, nil outside the fault tests (which kill the process there): called with "written"
/// after a checkpoint's temporary file is written, and with "previous kept" after the file it
/// replaces has been renamed aside, before the new one is renamed into place.
nonisolated(unsafe) public var checkpointWriteHook: ((String) -> Void)?

/// The suffix of the temporary files checkpoints are written to before being renamed into place.
public let partialCheckpointSuffix = ".partial-"

/// Writes `data` next to `path` and renames it into place (rename(2) replaces atomically); with
/// `previous`, the file already at `path` is renamed there first.
func writeAtomically(_ data: Data, to path: String, keepingPrevious previous: String? = nil) throws {
  let temporary = path + partialCheckpointSuffix + "\(ProcessInfo.processInfo.processIdentifier)"
  do {
    try data.write(to: URL(fileURLWithPath: temporary))
  } catch {
    try? FileManager.default.removeItem(atPath: temporary)
    throw CheckpointError(path: path, reason: "cannot be written (\(error.localizedDescription))")
  }
  checkpointWriteHook?("written")
  if let previous, FileManager.default.fileExists(atPath: path) {
    guard rename(path, previous) == 0 else {
      let reason = String(cString: strerror(errno))
      try? FileManager.default.removeItem(atPath: temporary)
      throw CheckpointError(path: previous, reason: "cannot be written (\(reason))")
    }
    checkpointWriteHook?("previous kept")
  }
  guard rename(temporary, path) == 0 else {
    let reason = String(cString: strerror(errno))
    try? FileManager.default.removeItem(atPath: temporary)
    throw CheckpointError(path: path, reason: "cannot be written (\(reason))")
  }
}
