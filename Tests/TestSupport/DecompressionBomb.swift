import Foundation

/// Files whose header promises far more pixels than they hold: what a reader must refuse from the
/// header alone, before decoding or allocating.
public enum DecompressionBomb {
  /// A valid PNG header (8-bit grey, `width` × `height`) followed by a tiny zlib stream of ten zero
  /// bytes: about 70 bytes in all.
  public static func png(width: UInt32, height: UInt32) -> Data {
    func crc32(_ bytes: [UInt8]) -> UInt32 {
      var crc: UInt32 = 0xFFFF_FFFF
      for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
      }
      return ~crc
    }
    func bigEndian(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) } }
    func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
      let body = Array(type.utf8) + data
      return bigEndian(UInt32(data.count)) + body + bigEndian(crc32(body))
    }
    let header = bigEndian(width) + bigEndian(height) + [8, 0, 0, 0, 0]
    let stream: [UInt8] =
      [0x78, 0x01, 0x01, 0x0A, 0x00, 0xF5, 0xFF] + [UInt8](repeating: 0, count: 10) + bigEndian(0x000A_0001)
    return Data(
      [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", header) + chunk("IDAT", stream)
        + chunk("IEND", []))
  }

  /// `jpeg` with the size in its start-of-frame header replaced: the same small stream, a huge claim.
  public static func jpeg(_ jpeg: Data, width: UInt16, height: UInt16) -> Data? {
    var bytes = [UInt8](jpeg)
    var index = 2
    while index + 9 < bytes.count, bytes[index] == 0xFF {
      let marker = bytes[index + 1]
      let length = Int(bytes[index + 2]) << 8 | Int(bytes[index + 3])
      if (0xC0...0xC2).contains(marker) {  // SOF0, SOF1, SOF2: precision, height, width
        (bytes[index + 5], bytes[index + 6]) = (UInt8(height >> 8), UInt8(height & 0xFF))
        (bytes[index + 7], bytes[index + 8]) = (UInt8(width >> 8), UInt8(width & 0xFF))
        return Data(bytes)
      }
      index += 2 + length
    }
    return nil
  }

  /// An explicit-VR little-endian DICOM file with its Rows and Columns replaced.
  public static func dicom(_ dicom: Data, rows: UInt16, columns: UInt16) -> Data? {
    var bytes = [UInt8](dicom)
    var found = 0
    for (element, value) in [(UInt8(0x10), rows), (UInt8(0x11), columns)] {
      let tag: [UInt8] = [0x28, 0x00, element, 0x00, 0x55, 0x53, 0x02, 0x00]  // (0028,00xx) US, length 2
      guard
        let start = bytes.indices.dropLast(tag.count + 2).first(where: {
          bytes[$0..<($0 + tag.count)].elementsEqual(tag)
        })
      else { continue }
      (bytes[start + 8], bytes[start + 9]) = (UInt8(value & 0xFF), UInt8(value >> 8))
      found += 1
    }
    return found == 2 ? Data(bytes) : nil
  }
}
