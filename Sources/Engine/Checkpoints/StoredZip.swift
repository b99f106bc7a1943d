import Foundation

/// Reads the entries of a zip archive whose members are stored without compression: the container
/// that `torch.save` writes (since PyTorch 1.6). Zip64 sizes and offsets are understood.
struct StoredZip {
  let data: Data
  /// Entry name → byte range of its contents within `data`.
  let entries: [String: Range<Int>]

  struct Failure: Error, CustomStringConvertible {
    let description: String
  }

  init(_ data: Data) throws {
    self.data = data
    let base = data.startIndex
    func integer(_ offset: Int, _ size: Int) throws -> Int {
      guard offset >= 0, offset <= data.count - size else {
        throw Failure(description: "the zip directory is truncated")
      }
      var value = 0
      for index in 0..<size { value |= Int(data[base + offset + index]) << (8 * index) }
      return value
    }

    // The end-of-central-directory record sits in the last 64 KiB + 22 bytes.
    var endRecord: Int?
    var position = data.count - 22
    while position >= Swift.max(0, data.count - 65_557) {
      if try integer(position, 4) == 0x0605_4B50 {
        endRecord = position
        break
      }
      position -= 1
    }
    guard let endRecord else { throw Failure(description: "it is not a zip archive (no end-of-directory record)") }
    var entryCount = try integer(endRecord + 10, 2)
    var directoryOffset = try integer(endRecord + 16, 4)
    if entryCount == 0xFFFF || directoryOffset == 0xFFFF_FFFF {
      // Zip64: a locator just before the record points at the zip64 end record.
      let locator = endRecord - 20
      guard try integer(locator, 4) == 0x0706_4B50 else { throw Failure(description: "the zip64 locator is missing") }
      let zip64Record = try integer(locator + 8, 8)
      guard try integer(zip64Record, 4) == 0x0606_4B50 else {
        throw Failure(description: "the zip64 record is missing")
      }
      entryCount = try integer(zip64Record + 32, 8)
      directoryOffset = try integer(zip64Record + 48, 8)
    }
    // Each directory entry takes at least 46 bytes: a larger count (or a negative one, from a 64-bit
    // field with its top bit set) cannot be true.
    guard entryCount >= 0, entryCount <= data.count / 46 else {
      throw Failure(description: "the zip directory claims \(entryCount) entries")
    }

    var entries: [String: Range<Int>] = [:]
    var offset = directoryOffset
    for _ in 0..<entryCount {
      guard try integer(offset, 4) == 0x0201_4B50 else { throw Failure(description: "the zip directory is corrupt") }
      let method = try integer(offset + 10, 2)
      var size = try integer(offset + 20, 4)
      let nameLength = try integer(offset + 28, 2)
      let extraLength = try integer(offset + 30, 2)
      let commentLength = try integer(offset + 32, 2)
      var localHeader = try integer(offset + 42, 4)
      guard offset + 46 + nameLength <= data.count else { throw Failure(description: "the zip directory is truncated") }
      let name = String(decoding: data[(base + offset + 46)..<(base + offset + 46 + nameLength)], as: UTF8.self)
      // Zip64 extra field: the 64-bit values appear in order for the fields that read 0xFFFFFFFF.
      var extra = offset + 46 + nameLength
      let extraEnd = extra + extraLength
      while extra + 4 <= extraEnd {
        let id = try integer(extra, 2)
        let length = try integer(extra + 2, 2)
        if id == 0x0001 {
          var field = extra + 4
          if try integer(offset + 24, 4) == 0xFFFF_FFFF { field += 8 }  // uncompressed size
          if size == 0xFFFF_FFFF {
            size = try integer(field, 8)
            field += 8
          }
          if localHeader == 0xFFFF_FFFF { localHeader = try integer(field, 8) }
        }
        extra += 4 + length
      }
      guard size >= 0, size <= data.count, localHeader >= 0, localHeader <= data.count else {
        throw Failure(description: "entry \(name) claims a size or position beyond the file")
      }
      guard method == 0 else {
        throw Failure(
          description: "entry \(name) is compressed (method \(method)); torch.save stores entries uncompressed")
      }
      guard try integer(localHeader, 4) == 0x0403_4B50 else {
        throw Failure(description: "the local header of \(name) is corrupt")
      }
      let start = localHeader + 30 + (try integer(localHeader + 26, 2)) + (try integer(localHeader + 28, 2))
      guard start + size <= data.count else {
        throw Failure(description: "entry \(name) runs past the end of the file")
      }
      entries[name] = start..<(start + size)
      offset += 46 + nameLength + extraLength + commentLength
    }
    self.entries = entries
  }

  func contents(of name: String) -> Data? {
    entries[name].map { data[(data.startIndex + $0.lowerBound)..<(data.startIndex + $0.upperBound)] }
  }
}
