import Foundation
import Imaging
import RunFiles

/// Where the lesion is, as a pixel mask over the original image: from boxes or a mask image.
public struct GroundTruthRegion: Sendable, Equatable {
  public let width: Int
  public let height: Int
  /// Row-major, true inside the lesion.
  public let inside: [Bool]

  public init(width: Int, height: Int, inside: [Bool]) {
    precondition(inside.count == width * height)
    self.width = width
    self.height = height
    self.inside = inside
  }

  /// The union of `boxes` (clipped to the image).
  public init(width: Int, height: Int, boxes: [LesionBox]) {
    var inside = [Bool](repeating: false, count: width * height)
    for box in boxes {
      for y in max(box.y, 0)..<min(box.y + box.height, height) {
        for x in max(box.x, 0)..<min(box.x + box.width, width) { inside[y * width + x] = true }
      }
    }
    self.init(width: width, height: height, inside: inside)
  }

  public var isEmpty: Bool { !inside.contains(true) }
}

/// A rectangle in original-image pixels.
public struct LesionBox: Sendable, Equatable {
  public var x: Int
  public var y: Int
  public var width: Int
  public var height: Int

  public init(x: Int, y: Int, width: Int, height: Int) {
    self.x = x
    self.y = y
    self.width = width
    self.height = height
  }
}

/// Localisation metrics: does the heatmap fall on the lesion? Both take the map at the original
/// image's size (as `Heatmap.toOriginalSize` gives it).
public enum Localization {
  /// The pointing game (Zhang et al. 2018): a hit when the map's maximum lies inside the region
  /// (the first maximum in row-major order when several pixels share it).
  public static func pointingGameHit(map: [Float], region: GroundTruthRegion) -> Bool {
    precondition(map.count == region.inside.count)
    guard let best = map.indices.max(by: { map[$0] < map[$1] || (map[$0] == map[$1] && $0 > $1) }) else {
      return false
    }
    return region.inside[best]
  }

  /// The share of the map's total value that lies inside the region (the energy-based pointing game
  /// of Score-CAM): 1 when all of it does; 0 for an all-zero map.
  public static func energyInside(map: [Float], region: GroundTruthRegion) -> Double {
    precondition(map.count == region.inside.count)
    var inside = 0.0
    var total = 0.0
    for index in map.indices {
      total += Double(map[index])
      if region.inside[index] { inside += Double(map[index]) }
    }
    return total > 0 ? inside / total : 0
  }
}

/// Lesion locations a user (or the synthetic generator) supplies: a CSV of boxes
/// (`filename,x,y,width,height`, other columns such as `label` ignored; several rows per image for
/// several boxes) and/or a folder of mask images named like the X-rays (any non-zero pixel is lesion).
public struct GroundTruth: Sendable {
  public var boxes: [String: [LesionBox]] = [:]
  public var maskFolder: String?

  public init(boxes: [String: [LesionBox]] = [:], maskFolder: String? = nil) {
    self.boxes = boxes
    self.maskFolder = maskFolder
  }

  /// Reads a boxes CSV. Files are matched by name (the last path component).
  public static func readBoxes(_ path: String) throws -> [String: [LesionBox]] {
    let table: (header: [String], rows: [[String]])
    do {
      table = try CSVTable.read(path)
    } catch let error as RunFileError {
      throw ExplanationError("\(error); give a CSV with the columns filename,x,y,width,height")
    }
    let header = table.header.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
    let required = ["filename", "x", "y", "width", "height"]
    let columns = required.map { header.firstIndex(of: $0) }
    guard columns.allSatisfy({ $0 != nil }) else {
      let missing = zip(required, columns).filter { $0.1 == nil }.map(\.0)
      throw ExplanationError(
        "\(path): the header lacks \(missing.joined(separator: ", ")); expected filename,x,y,width,height")
    }
    var boxes: [String: [LesionBox]] = [:]
    for (number, fields) in table.rows.enumerated() {
      let values = columns.map { fields[$0!].trimmingCharacters(in: .whitespaces) }
      guard let x = Int(values[1]), let y = Int(values[2]), let width = Int(values[3]), let height = Int(values[4]),
        width > 0, height > 0
      else {
        throw ExplanationError(
          "\(path):\(number + 2): expected a file name and four whole numbers, got \"\(fields.joined(separator: ","))\""
        )
      }
      boxes[(values[0] as NSString).lastPathComponent, default: []].append(
        LesionBox(x: x, y: y, width: width, height: height))
    }
    return boxes
  }

  /// The region of the image at `imagePath` (of the given size), or nil when none is known.
  public func region(for imagePath: String, width: Int, height: Int) throws -> GroundTruthRegion? {
    let name = (imagePath as NSString).lastPathComponent
    if let maskFolder {
      let stem = (name as NSString).deletingPathExtension
      let candidates = [name, stem + ".png"].map { maskFolder + "/" + $0 }
      if let maskPath = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) {
        let mask = try ImageReader.read(maskPath)
        guard mask.width == width, mask.height == height else {
          throw ExplanationError(
            "\(maskPath): the mask is \(mask.width)x\(mask.height) but its X-ray is \(width)x\(height); masks must match"
          )
        }
        return GroundTruthRegion(width: width, height: height, inside: mask.pixels.map { $0 > 0 })
      }
    }
    guard let boxes = boxes[name], !boxes.isEmpty else { return nil }
    return GroundTruthRegion(width: width, height: height, boxes: boxes)
  }
}
