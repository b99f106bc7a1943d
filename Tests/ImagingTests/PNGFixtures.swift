import Foundation
import Randomness

/// Small PNGs of every kind the fast greyscale decoder takes (grey and grey + alpha, 8 and 16 bits,
/// each row filter, runs of four and of 32 Paeth rows, widths 1 to 100, several IDAT chunks, tRNS) and of kinds it
/// must hand to libpng (interlaced, palette, RGB, 4-bit grey, a bad CRC, data after the image stream,
/// a short stream, an unknown filter), written here rather than kept in the repository. The image
/// stream is zlib with stored (uncompressed) deflate blocks, so no compressor is needed: the filters,
/// the chunks and the checks are what these files exercise; real compressed streams come from the
/// X-rays of ../shared/data and from the fuzzer.
enum PNGFixtures {
  /// (name, file): names starting "fallback-" are the ones the fast path must decline.
  static func all() -> [(name: String, data: Data)] {
    var random = SplitMix64(seed: 7)
    var files: [(String, Data)] = []
    for (colourType, channels) in [(0, 1), (4, 2)] {
      for bitDepth in [8, 16] {
        let pixelBytes = channels * bitDepth / 8
        for (width, height) in [(1, 5), (2, 4), (3, 9), (4, 8), (5, 7), (17, 13), (64, 33), (5, 40), (31, 64), (100, 35)] {
          let rows = samples(width: width, height: height, bitDepth: bitDepth, channels: channels, &random)
          for pattern in ["each", "paeth", "mixed"] {
            let filters: [UInt8] =
              switch pattern {
              case "each": (0..<height).map { UInt8($0 % 5) }
              case "paeth": [UInt8](repeating: 4, count: height)
              default: (0..<height).map { _ in [4, 4, 4, 0, 1, 2, 3][Int(random.next() % 7)] }
              }
            let body = filtered(rows, pixelBytes: pixelBytes, filters: filters)
            files.append(
              (
                "grey\(channels)-\(bitDepth)bit-\(width)x\(height)-\(pattern).png",
                png(width: width, height: height, bitDepth: bitDepth, colourType: colourType, body: body)
              ))
          }
        }
      }
    }
    let rows = samples(width: 40, height: 30, bitDepth: 8, channels: 1, &random)
    let body = filtered(rows, pixelBytes: 1, filters: [UInt8](repeating: 4, count: 30))
    files.append(
      ("grey-8bit-three-idat.png", png(width: 40, height: 30, bitDepth: 8, colourType: 0, body: body, pieces: 3)))
    files.append(
      (
        "grey-8bit-trns.png",
        png(width: 40, height: 30, bitDepth: 8, colourType: 0, body: body, before: [("tRNS", [0, 16])])
      ))
    files.append(
      (
        "fallback-interlaced.png",
        png(width: 40, height: 30, bitDepth: 8, colourType: 0, body: interlaced(rows), interlaced: true)
      ))
    files.append(
      ("fallback-bad-crc.png", png(width: 40, height: 30, bitDepth: 8, colourType: 0, body: body, badCRC: true)))
    files.append(
      (
        "fallback-extra-data.png",
        png(width: 40, height: 30, bitDepth: 8, colourType: 0, body: body, trailing: [0, 1, 2])
      ))
    files.append(
      (
        "fallback-short-stream.png",
        png(width: 40, height: 30, bitDepth: 8, colourType: 0, body: Array(body.dropLast(50)))
      ))
    files.append(
      ("fallback-bad-filter.png", png(width: 40, height: 30, bitDepth: 8, colourType: 0, body: [7] + body.dropFirst())))
    let rgb = samples(width: 20, height: 10, bitDepth: 8, channels: 3, &random)
    files.append(
      (
        "fallback-rgb.png",
        png(
          width: 20, height: 10, bitDepth: 8, colourType: 2,
          body: filtered(rgb, pixelBytes: 3, filters: [UInt8](repeating: 4, count: 10)))
      ))
    let indices = samples(width: 20, height: 10, bitDepth: 8, channels: 1, &random).map { $0.map { $0 % 16 } }
    files.append(
      (
        "fallback-palette.png",
        png(
          width: 20, height: 10, bitDepth: 8, colourType: 3,
          body: filtered(indices, pixelBytes: 1, filters: [UInt8](repeating: 1, count: 10)),
          before: [("PLTE", (0..<48).map { UInt8($0 * 5) })])
      ))
    let nibbles = samples(width: 20, height: 10, bitDepth: 8, channels: 1, &random).map { row in
      (0..<10).map { (row[2 * $0] >> 4) << 4 | row[2 * $0 + 1] >> 4 }
    }
    files.append(
      (
        "fallback-4bit.png",
        png(
          width: 20, height: 10, bitDepth: 4, colourType: 0,
          body: filtered(nibbles, pixelBytes: 1, filters: [UInt8](repeating: 2, count: 10)))
      ))
    return files
  }

  /// Smooth gradients with noise, like a radiograph, and a few hard edges; big-endian samples.
  static func samples(width: Int, height: Int, bitDepth: Int, channels: Int, _ random: inout SplitMix64) -> [[UInt8]] {
    let top = (1 << bitDepth) - 1
    return (0..<height).map { y in
      var row: [UInt8] = []
      for x in 0..<width {
        for channel in 0..<channels {
          var value = Int(Double(top) * (0.5 + 0.4 * Double((x * 7 + y * 3 + channel * 50) % 97) / 97))
          value = max(0, min(top, value + Int(random.next() % UInt64(top / 10 + 1)) - top / 20))
          if (x + y) % 11 == 0 { value = top - value }
          if bitDepth == 16 { row.append(UInt8(value >> 8)) }
          row.append(UInt8(value & 0xFF))
        }
      }
      return row
    }
  }

  /// Each row with its filter applied (PNG's five), the filter byte first.
  static func filtered(_ rows: [[UInt8]], pixelBytes: Int, filters: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    var previous = [UInt8](repeating: 0, count: rows[0].count)
    for (row, filter) in zip(rows, filters) {
      out.append(filter)
      for index in row.indices {
        let a = index >= pixelBytes ? Int(row[index - pixelBytes]) : 0
        let b = Int(previous[index])
        let c = index >= pixelBytes ? Int(previous[index - pixelBytes]) : 0
        let p = a + b - c
        let paeth = abs(p - a) <= abs(p - b) && abs(p - a) <= abs(p - c) ? a : (abs(p - b) <= abs(p - c) ? b : c)
        let predictor = [0, a, b, (a + b) >> 1, paeth][Int(filter)]
        out.append(UInt8(truncatingIfNeeded: Int(row[index]) - predictor))
      }
      previous = row
    }
    return out
  }

  /// Adam7's seven passes over 8-bit grey rows, each pass row unfiltered.
  static func interlaced(_ rows: [[UInt8]]) -> [UInt8] {
    let passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    var out: [UInt8] = []
    for (x0, y0, dx, dy) in passes {
      for y in stride(from: y0, to: rows.count, by: dy) {
        let line = stride(from: x0, to: rows[y].count, by: dx).map { rows[y][$0] }
        if !line.isEmpty { out += [0] + line }
      }
    }
    return out
  }

  static func png(
    width: Int, height: Int, bitDepth: Int, colourType: Int, body: [UInt8], interlaced: Bool = false,
    pieces: Int = 1, badCRC: Bool = false, trailing: [UInt8] = [], before: [(String, [UInt8])] = []
  ) -> Data {
    var header = bigEndian(UInt32(width)) + bigEndian(UInt32(height))
    header += [UInt8(bitDepth), UInt8(colourType), 0, 0, interlaced ? 1 : 0]
    var file: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", header)
    for (kind, payload) in before { file += chunk(kind, payload) }
    file += chunk("tEXt", Array("Comment\u{0}written by PNGFixtures".utf8))
    let stream = zlibStored(body) + trailing
    for index in 0..<pieces {
      let piece = Array(stream[(index * stream.count / pieces)..<((index + 1) * stream.count / pieces)])
      file += chunk("IDAT", piece, spoilCRC: badCRC && index == 0)
    }
    return Data(file + chunk("IEND", []))
  }

  static func chunk(_ kind: String, _ payload: [UInt8], spoilCRC: Bool = false) -> [UInt8] {
    let typed = Array(kind.utf8) + payload
    return bigEndian(UInt32(payload.count)) + typed + bigEndian(crc32(typed) ^ (spoilCRC ? 1 : 0))
  }

  /// A zlib stream of stored deflate blocks (RFC 1950/1951), Adler-32 at the end.
  static func zlibStored(_ bytes: [UInt8]) -> [UInt8] {
    var out: [UInt8] = [0x78, 0x01]
    var start = 0
    repeat {
      let count = min(65_535, bytes.count - start)
      let final: UInt8 = start + count == bytes.count ? 1 : 0
      out += [final, UInt8(count & 0xFF), UInt8(count >> 8), UInt8(~count & 0xFF), UInt8((~count >> 8) & 0xFF)]
      out += bytes[start..<(start + count)]
      start += count
    } while start < bytes.count
    var (a, b): (UInt32, UInt32) = (1, 0)
    for byte in bytes {
      a = (a + UInt32(byte)) % 65_521
      b = (b + a) % 65_521
    }
    return out + bigEndian(b << 16 | a)
  }

  static func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
      crc ^= UInt32(byte)
      for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
  }

  static func bigEndian(_ value: UInt32) -> [UInt8] {
    (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) }
  }
}
