import Foundation
import Imaging

/// What `orthocxr dataset check` finds in a set of splits.
public struct DatasetReport: Sendable {
  public enum ProblemKind: String, Sendable, CaseIterable {
    case missingFile = "missing file"
    case unreadableFile = "unreadable file"
    case duplicateImage = "duplicate image"
    case unknownLabel = "unknown label"
    case patientInSeveralSplits = "patient in several splits"
    case emptySplit = "empty split"
  }

  public struct Problem: Sendable, Equatable {
    public let kind: ProblemKind
    public let message: String
  }

  /// Per split, in the order given: its name and the number of images per label.
  public var classCounts: [(split: String, counts: [String: Int])] = []
  public var problems: [Problem] = []

  public var isClean: Bool { problems.isEmpty }

  public func problems(of kind: ProblemKind) -> [Problem] { problems.filter { $0.kind == kind } }

  /// A plain-text report: counts per split and class, then the problems grouped by kind.
  public func render(limitPerKind: Int = 20) -> String {
    var lines: [String] = []
    let labels = Set(classCounts.flatMap { $0.counts.keys }).sorted()
    lines.append("images per class:")
    // Each column as wide as its widest cell (at least 10) and two spaces: long split names stay whole.
    let rows =
      [["split"] + labels + ["total"]]
      + classCounts.map { split, counts in
        [split] + labels.map { String(counts[$0] ?? 0) } + [String(counts.values.reduce(0, +))]
      }
    let widths = rows[0].indices.map { column in max(10, rows.map { $0[column].count }.max() ?? 0) + 2 }
    for row in rows {
      let cells = zip(row, widths).map { cell, width in cell + String(repeating: " ", count: width - cell.count) }
      lines.append("  " + cells.joined().trimmingCharacters(in: .whitespaces))
    }
    if problems.isEmpty {
      lines.append("no problems found")
    } else {
      for kind in ProblemKind.allCases {
        let found = problems(of: kind)
        guard !found.isEmpty else { continue }
        lines.append("\(found.count) × \(kind.rawValue):")
        for problem in found.prefix(limitPerKind) { lines.append("  " + problem.message) }
        if found.count > limitPerKind { lines.append("  … and \(found.count - limitPerKind) more") }
      }
    }
    return lines.joined(separator: "\n")
  }
}

public enum DatasetChecker {
  /// The labels of COVIDx split files, accepted when no label map is given.
  public static let covidxLabels: Set<String> = ["covid-19", "normal", "pneumonia", "positive", "negative"]

  /// Checks the splits. With `decodeImages`, every image is decoded (on `threads` threads) to find
  /// unreadable files and duplicates by pixels; without, only existence is checked.
  public static func check(
    splits: [(name: String, entries: [DatasetEntry])], labelMap: LabelMap? = nil, decodeImages: Bool = true,
    threads: Int = 2, progress: (@Sendable (Int, Int) -> Void)? = nil
  ) -> DatasetReport {
    var report = DatasetReport()
    for (name, entries) in splits {
      report.classCounts.append((name, Dictionary(grouping: entries, by: \.label).mapValues(\.count)))
      if entries.isEmpty { report.problems.append(.init(kind: .emptySplit, message: "\(name) lists no images")) }
      for label in Set(entries.map(\.label)).sorted() {
        let known = labelMap?.knows(label) ?? covidxLabels.contains(label.lowercased())
        if !known {
          let count = entries.filter { $0.label == label }.count
          report.problems.append(.init(kind: .unknownLabel, message: "\(name): \"\(label)\" (\(count) images)"))
        }
      }
    }

    // Patients whose images sit in more than one split leak between training and evaluation.
    var splitsOfPatient: [String: Set<String>] = [:]
    for (name, entries) in splits {
      for entry in entries { splitsOfPatient[entry.patientID, default: []].insert(name) }
    }
    for (patient, names) in splitsOfPatient.sorted(by: { $0.key < $1.key }) where names.count > 1 {
      report.problems.append(
        .init(kind: .patientInSeveralSplits, message: "\(patient) in \(names.sorted().joined(separator: " and "))"))
    }

    // Files: existence, then (optionally) decoding and a fingerprint of the pixels.
    let all = splits.flatMap { split in split.entries.map { (split: split.name, entry: $0) } }
    let fingerprints = ConcurrentResults<Fingerprint>(count: all.count)
    let problems = ConcurrentResults<DatasetReport.Problem>(count: all.count)
    let done = ConcurrentCounter()
    DispatchQueue.concurrentPerform(iterations: Swift.max(1, threads)) { worker in
      for index in stride(from: worker, to: all.count, by: Swift.max(1, threads)) {
        let (split, entry) = all[index]
        if !FileManager.default.fileExists(atPath: entry.path) {
          problems[index] = .init(kind: .missingFile, message: "\(split): \(entry.path)")
        } else if decodeImages {
          do {
            fingerprints[index] = Fingerprint(try ImageReader.read(entry.path))
          } catch {
            problems[index] = .init(kind: .unreadableFile, message: "\(split): \(error)")
          }
        }
        progress?(done.increment(), all.count)
      }
    }
    report.problems += problems.values.compactMap { $0 }
    var firstWithFingerprint: [Fingerprint: Int] = [:]
    for (index, fingerprint) in fingerprints.values.enumerated() {
      guard let fingerprint else { continue }
      if let first = firstWithFingerprint[fingerprint] {
        report.problems.append(
          .init(
            kind: .duplicateImage,
            message:
              "\(all[index].split): \(all[index].entry.path) has the same pixels as \(all[first].split): \(all[first].entry.path)"
          ))
      } else {
        firstWithFingerprint[fingerprint] = index
      }
    }
    return report
  }

  /// The size and two independent 64-bit hashes of an image's 8-bit pixels: equal fingerprints mean
  /// equal pixels, barring a double collision.
  struct Fingerprint: Hashable {
    let width: Int
    let height: Int
    let fnv: UInt64
    let polynomial: UInt64

    init(_ image: GrayImage) {
      width = image.width
      height = image.height
      var fnv: UInt64 = 0xCBF2_9CE4_8422_2325
      var polynomial: UInt64 = 0
      for byte in image.displayBytes {
        fnv = (fnv ^ UInt64(byte)) &* 0x100_0000_01B3
        polynomial = polynomial &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(byte) &+ 1
      }
      self.fnv = fnv
      self.polynomial = polynomial
    }
  }
}

/// Results written by index from several threads.
final class ConcurrentResults<Value>: @unchecked Sendable {
  private let lock = NSLock()
  private var storage: [Value?]

  init(count: Int) { storage = Array(repeating: nil, count: count) }

  subscript(index: Int) -> Value? {
    get { lock.withLock { storage[index] } }
    set { lock.withLock { storage[index] = newValue } }
  }

  var values: [Value?] { lock.withLock { storage } }
}

final class ConcurrentCounter: @unchecked Sendable {
  private let lock = NSLock()
  private var value = 0

  func increment() -> Int {
    lock.withLock {
      value += 1; return value
    }
  }
}
