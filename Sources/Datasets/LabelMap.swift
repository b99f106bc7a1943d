/// Turns a source's labels into the task's classes: which labels become which class, and which are
/// dropped. Set in configuration, not code; matching ignores case.
///
///     COVID-19 vs normal:     COVID-19 → COVID-19, normal → normal, pneumonia dropped
///     COVID-19 vs non-COVID:  COVID-19 → COVID-19, normal and pneumonia → non-COVID
///     three classes:          COVID-19, normal, pneumonia
public struct LabelMap: Equatable, Sendable, CustomStringConvertible {
  /// The task's classes in index order (index 0 is the first).
  public let classes: [String]
  /// Lowercased source label → class index, or nil to drop the image.
  let targets: [String: Int?]

  /// `mapping`: source label → class name, or nil to drop it. Every class name must be in `classes`.
  public init(classes: [String], mapping: [String: String?]) throws {
    var targets: [String: Int?] = [:]
    for (label, target) in mapping {
      if let target {
        guard let index = classes.firstIndex(of: target) else {
          throw DatasetError(
            path: "label map", reason: "maps \"\(label)\" to \"\(target)\", which is not one of the classes \(classes)")
        }
        targets[label.lowercased()] = index
      } else {
        targets[label.lowercased()] = .some(nil)
      }
    }
    self.classes = classes
    self.targets = targets
  }

  /// The class index for a source label; nil when the map drops it. Throws for a label it does not know.
  public func classIndex(for label: String) throws -> Int? {
    guard let target = targets[label.lowercased()] else {
      throw DatasetError(
        path: "label map",
        reason: "does not know the label \"\(label)\" (known: \(targets.keys.sorted().joined(separator: ", ")))")
    }
    return target
  }

  public func knows(_ label: String) -> Bool { targets[label.lowercased()] != nil }

  /// COVID-19 vs normal, as in the two-class setting of the OS paper: pneumonia is left out.
  public static let covidVersusNormal = try! LabelMap(
    classes: ["COVID-19", "normal"],
    mapping: ["COVID-19": "COVID-19", "positive": "COVID-19", "normal": "normal", "pneumonia": nil])

  /// COVID-19 vs everything else (COVIDx's positive / negative).
  public static let covidVersusNonCovid = try! LabelMap(
    classes: ["COVID-19", "non-COVID"],
    mapping: [
      "COVID-19": "COVID-19", "positive": "COVID-19", "normal": "non-COVID", "pneumonia": "non-COVID",
      "negative": "non-COVID",
    ])

  /// COVID-19 / normal / pneumonia.
  public static let threeClass = try! LabelMap(
    classes: ["COVID-19", "normal", "pneumonia"],
    mapping: ["COVID-19": "COVID-19", "normal": "normal", "pneumonia": "pneumonia"])

  /// A preset by name: "covid-vs-normal", "covid-vs-noncovid", "three-class"; or a mapping written
  /// `label=class,label=class,label=drop` (classes in order of first appearance).
  public static func parse(_ text: String) throws -> LabelMap {
    switch text {
    case "covid-vs-normal", "two-class": return .covidVersusNormal
    case "covid-vs-noncovid": return .covidVersusNonCovid
    case "three-class": return .threeClass
    default: break
    }
    var classes: [String] = []
    var mapping: [String: String?] = [:]
    for pair in text.split(separator: ",") {
      let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
      guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
        throw DatasetError(path: "label map", reason: "cannot read \"\(pair)\"; write label=class or label=drop")
      }
      if parts[1] == "drop" {
        mapping[parts[0]] = .some(nil)
      } else {
        if !classes.contains(parts[1]) { classes.append(parts[1]) }
        mapping[parts[0]] = parts[1]
      }
    }
    guard classes.count >= 2 else {
      throw DatasetError(path: "label map", reason: "\"\(text)\" names fewer than two classes")
    }
    return try LabelMap(classes: classes, mapping: mapping)
  }

  public var description: String {
    let rules = targets.keys.sorted().map { label in
      "\(label) → \(targets[label]!.map { classes[$0] } ?? "dropped")"
    }
    return "classes \(classes.joined(separator: ", ")); " + rules.joined(separator: ", ")
  }
}

/// An entry with its class index under a label map.
public struct LabeledEntry: Equatable, Hashable, Sendable {
  public var entry: DatasetEntry
  public var classIndex: Int
}

extension LabelMap {
  /// The entries the map keeps, with their class indices. Throws for a label the map does not know.
  public func apply(to entries: [DatasetEntry]) throws -> [LabeledEntry] {
    try entries.compactMap { entry in
      try classIndex(for: entry.label).map { LabeledEntry(entry: entry, classIndex: $0) }
    }
  }
}
