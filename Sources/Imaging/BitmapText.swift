/// Text burnt into images with a built-in 5 × 7 pixel font (capitals, digits and common punctuation;
/// lower case is drawn as capitals, anything else as "?"): no font files, the same pixels on every
/// machine. Used for the "research use" line of DICOM secondary captures.
public enum BitmapText {
  /// Seven rows of five bits per glyph, the leftmost pixel in bit 4.
  static let glyphs: [Character: [UInt8]] = {
    let rows: [Character: String] = [
      "A": "01110 10001 10001 11111 10001 10001 10001", "B": "11110 10001 10001 11110 10001 10001 11110",
      "C": "01110 10001 10000 10000 10000 10001 01110", "D": "11110 10001 10001 10001 10001 10001 11110",
      "E": "11111 10000 10000 11110 10000 10000 11111", "F": "11111 10000 10000 11110 10000 10000 10000",
      "G": "01110 10001 10000 10111 10001 10001 01111", "H": "10001 10001 10001 11111 10001 10001 10001",
      "I": "01110 00100 00100 00100 00100 00100 01110", "J": "00111 00010 00010 00010 00010 10010 01100",
      "K": "10001 10010 10100 11000 10100 10010 10001", "L": "10000 10000 10000 10000 10000 10000 11111",
      "M": "10001 11011 10101 10101 10001 10001 10001", "N": "10001 10001 11001 10101 10011 10001 10001",
      "O": "01110 10001 10001 10001 10001 10001 01110", "P": "11110 10001 10001 11110 10000 10000 10000",
      "Q": "01110 10001 10001 10001 10101 10010 01101", "R": "11110 10001 10001 11110 10100 10010 10001",
      "S": "01111 10000 10000 01110 00001 00001 11110", "T": "11111 00100 00100 00100 00100 00100 00100",
      "U": "10001 10001 10001 10001 10001 10001 01110", "V": "10001 10001 10001 10001 10001 01010 00100",
      "W": "10001 10001 10001 10101 10101 10101 01010", "X": "10001 10001 01010 00100 01010 10001 10001",
      "Y": "10001 10001 10001 01010 00100 00100 00100", "Z": "11111 00001 00010 00100 01000 10000 11111",
      "0": "01110 10001 10011 10101 11001 10001 01110", "1": "00100 01100 00100 00100 00100 00100 01110",
      "2": "01110 10001 00001 00010 00100 01000 11111", "3": "11111 00010 00100 00010 00001 10001 01110",
      "4": "00010 00110 01010 10010 11111 00010 00010", "5": "11111 10000 11110 00001 00001 10001 01110",
      "6": "00110 01000 10000 11110 10001 10001 01110", "7": "11111 00001 00010 00100 01000 01000 01000",
      "8": "01110 10001 10001 01110 10001 10001 01110", "9": "01110 10001 10001 01111 00001 00010 01100",
      " ": "00000 00000 00000 00000 00000 00000 00000", "-": "00000 00000 00000 11111 00000 00000 00000",
      ".": "00000 00000 00000 00000 00000 01100 01100", ":": "00000 01100 01100 00000 01100 01100 00000",
      "%": "11000 11001 00010 00100 01000 10011 00011", "=": "00000 00000 11111 00000 11111 00000 00000",
      "(": "00010 00100 01000 01000 01000 00100 00010", ")": "01000 00100 00010 00010 00010 00100 01000",
      "/": "00000 00001 00010 00100 01000 10000 00000", ",": "00000 00000 00000 00000 01100 00100 01000",
      "_": "00000 00000 00000 00000 00000 00000 11111", "+": "00000 00100 00100 11111 00100 00100 00000",
      "'": "01100 00100 01000 00000 00000 00000 00000", "?": "01110 10001 00001 00010 00100 00000 00100",
    ]
    return rows.mapValues { $0.split(separator: " ").map { UInt8($0, radix: 2)! } }
  }()

  /// Glyph cells are 6 × 8 font pixels: the glyph and one pixel of spacing right and below.
  public static let cellWidth = 6
  public static let cellHeight = 8

  /// The width in image pixels of `text` drawn at `scale`.
  public static func width(of text: String, scale: Int) -> Int { text.count * cellWidth * scale }

  static func glyph(_ character: Character) -> [UInt8] {
    glyphs[character] ?? glyphs[Character(character.uppercased())] ?? glyphs["?"]!
  }

  /// Draws `text` into interleaved RGB bytes of an image `width` pixels wide, its top-left corner at
  /// (x, y), each font pixel a `scale` × `scale` square; pixels outside the image are skipped.
  public static func draw(
    _ text: String, into rgb: inout [UInt8], width: Int, x: Int, y: Int, scale: Int,
    color: (UInt8, UInt8, UInt8) = (255, 255, 255)
  ) {
    let height = rgb.count / (3 * width)
    for (index, character) in text.enumerated() {
      let rows = glyph(character)
      let left = x + index * cellWidth * scale
      for (row, bits) in rows.enumerated() {
        for column in 0..<5 where bits & (1 << (4 - column)) != 0 {
          for dy in 0..<scale {
            for dx in 0..<scale {
              let (px, py) = (left + column * scale + dx, y + row * scale + dy)
              guard px >= 0, px < width, py >= 0, py < height else { continue }
              let offset = (py * width + px) * 3
              (rgb[offset], rgb[offset + 1], rgb[offset + 2]) = color
            }
          }
        }
      }
    }
  }

  /// Fills a rectangle (clipped to the image) with one colour: the band behind a line of text.
  public static func fill(
    _ rgb: inout [UInt8], width: Int, x: Int, y: Int, boxWidth: Int, boxHeight: Int, color: (UInt8, UInt8, UInt8)
  ) {
    let height = rgb.count / (3 * width)
    let (top, bottom) = (max(y, 0), min(y + boxHeight, height))
    let (left, right) = (max(x, 0), min(x + boxWidth, width))
    guard top < bottom, left < right else { return }
    for py in top..<bottom {
      for px in left..<right {
        let offset = (py * width + px) * 3
        (rgb[offset], rgb[offset + 1], rgb[offset + 2]) = color
      }
    }
  }
}
