import Foundation
import Yams

/// The runs of a sweep: an experiment file with a `grid:` section, expanded into one run per
/// combination of settings and seed (`orthocxr sweep`).
///
/// The file is an experiment file (every key an option of `orthocxr train`, in sections or not) plus
///
///     grid:                      # each setting → the values to try; every combination is run
///       lambda: [0, 0.01]
///       no-augmentation: [false, true]
///     seeds: [0, 1, 2]           # every combination with each seed
///     baseline: {lambda: 0}      # the reference the others are compared with
///     output: runs/sweep         # the sweep's folder
///
/// `grid:` may also be a list of such mappings, for grids that are not one product: each entry's
/// combinations are run (the union), so a baseline need not be crossed with settings that only
/// matter for OS:
///
///     grid:
///       - {lambda: [0]}
///       - {lambda: [0.003, 0.01], os-variant: [batch, feature]}
///
/// Each run is a normal run folder, OUTPUT/NAME/seed-N, NAME spelling the grid settings that vary
/// (`lambda-0.01_os-variant-feature`). A combination is compared with the baseline combination that
/// has the same values of the settings the baseline combinations differ in (with
/// `no-augmentation: [false, true]` in the grid, each OS setting is compared with the baseline of
/// the same augmentation).
public struct SweepPlan: Sendable {
  /// One combination of grid values: the runs of all seeds with these settings.
  public struct Combination: Sendable, Equatable {
    /// The folder name below the sweep's output.
    public var name: String
    /// The grid's settings, in the grid's order: key and value as written.
    public var values: [Setting]
    /// The settings of its runs but for the seed and the run folder.
    public var settings: ExperimentSettings
  }

  /// A setting of a combination: its key (kebab-case) and value (as YAML writes it).
  public struct Setting: Codable, Sendable, Equatable, CustomStringConvertible {
    public var key: String
    public var value: String
    public var description: String { "\(key) \(value)" }
  }

  /// One training run.
  public struct Run: Sendable, Equatable {
    public var combination: Int
    public var seed: UInt64
    public var settings: ExperimentSettings
    public var folder: RunFolder
  }

  /// The experiment file.
  public var source: String
  /// The sweep's folder: runs below it, summaries in it.
  public var output: String
  public var combinations: [Combination]
  public var seeds: [UInt64]
  /// The baseline as the file writes it (empty without one).
  public var baseline: [Setting]
  /// For each combination, the index of the combination it is compared with (nil for the baseline's
  /// own combinations, and for all without a baseline).
  public var references: [Int?]
  /// Every run, combination by combination, seed by seed.
  public var runs: [Run]

  /// The folder of the sweep's summaries.
  public var summaryFolder: RunFolder { RunFolder(output) }

  /// Reads and expands an experiment file with a grid; `output` replaces the file's output:. Errors
  /// name the file and the problem.
  public static func load(file path: String, output: String? = nil) throws -> SweepPlan {
    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
    else {
      throw RunFileError(
        path: path,
        reason: FileManager.default.fileExists(atPath: path)
          ? "the sweep file cannot be read as UTF-8 text" : "the sweep file does not exist")
    }
    return try parse(yaml: text, source: path, output: output)
  }

  public static func parse(yaml text: String, source: String, output outputOverride: String? = nil) throws -> SweepPlan
  {
    func problem(_ reason: String) -> RunFileError { RunFileError(path: source, reason: reason) }
    let root: Node?
    do {
      root = try ExperimentSettings.composeGuarded(yaml: text)
    } catch let error as SettingsProblem {
      throw problem(error.description)
    } catch {
      throw problem("the sweep file is not valid YAML: \(error)")
    }
    guard let mapping = root?.mapping else { throw problem("the sweep file must be a mapping of settings") }
    var base: [(key: Node, value: Node)] = []
    var gridNode: Node?
    var baselineNode: Node?
    for (key, value) in mapping {
      switch key.string.map(Self.kebab) {
      case "grid": gridNode = value
      case "baseline": baselineNode = value
      default: base.append((key, value))
      }
    }
    guard let gridNode else {
      throw problem("a sweep needs a grid: section (setting: [values, ...]); for one run use `orthocxr train --config`")
    }
    let products: [[(String, [Node])]]
    do {
      products = try gridProducts(gridNode)
    } catch let error as SettingsProblem {
      throw problem(error.description)
    }
    var overrides: [[(key: String, value: Node)]] = []
    for product in products {
      var partial: [[(key: String, value: Node)]] = [[]]
      for (key, values) in product {
        partial = partial.flatMap { prefix in values.map { prefix + [(key, $0)] } }
      }
      overrides += partial
    }
    let baseSettings = try settings(base, overrides: [], source: source)
    guard let output = outputOverride ?? baseSettings.output else {
      throw problem("give the sweep's folder: output: (or --output)")
    }
    let seeds = baseSettings.seeds ?? [baseSettings.training.seed]

    // Names spell the settings whose values differ between combinations.
    var keyOrder: [String] = []
    var valuesByKey: [String: Set<String>] = [:]
    for combination in overrides {
      for (key, value) in combination {
        if valuesByKey[key] == nil { keyOrder.append(key) }
        valuesByKey[key, default: []].insert(scalarText(value))
      }
    }
    func name(_ combination: [(key: String, value: Node)], keys: Set<String>) -> String {
      combination.filter { keys.contains($0.key) }.map { "\($0.key)-\(folderSafe(scalarText($0.value)))" }
        .joined(separator: "_")
    }
    var naming = Set(
      keyOrder.filter { key in
        valuesByKey[key]!.count > 1 || overrides.contains { combination in !combination.contains { $0.key == key } }
      })
    // A setting that goes with another (a warm-up set per training fraction) is left out of the names
    // when they stay apart without it, last settings first.
    for key in keyOrder.reversed() where naming.contains(key) {
      let fewer = naming.subtracting([key])
      let names = overrides.map { name($0, keys: fewer) }
      if Set(names).count == names.count { naming = fewer }
    }
    var combinations: [Combination] = []
    for (index, combination) in overrides.enumerated() {
      var resolved: ExperimentSettings
      do {
        resolved = try settings(base, overrides: combination, source: source)
        try resolved.validate()
      } catch let error as SettingsProblem {
        throw problem("combination \(describe(combination)): \(error.description)")
      } catch let error as RunFileError {
        throw problem("combination \(describe(combination)): \(error.reason)")
      }
      resolved.seeds = nil
      resolved.output = nil
      let name = name(combination, keys: naming)
      let values = combination.map { Setting(key: $0.key, value: scalarText($0.value)) }
      if let same = combinations.first(where: { $0.settings == resolved }) {
        throw problem(
          "combinations \(same.values.map(\.description).joined(separator: ", ")) and "
            + "\(values.map(\.description).joined(separator: ", ")) are the same run; remove one")
      }
      if let same = combinations.first(where: { $0.name == name }) {
        throw problem("combinations \(same.name) and \(index) would share a folder name; make their values differ")
      }
      combinations.append(Combination(name: name.isEmpty ? "base" : name, values: values, settings: resolved))
    }

    var baseline: [Setting] = []
    var references = [Int?](repeating: nil, count: combinations.count)
    if let baselineNode {
      guard let pairs = baselineNode.mapping, !pairs.isEmpty else {
        throw problem("baseline: must be a mapping of settings, such as {lambda: 0}")
      }
      let baselineOverrides = pairs.map { (key: kebab($0.key.string ?? ""), value: $0.value) }
      baseline = baselineOverrides.map { Setting(key: $0.key, value: scalarText($0.value)) }
      // A combination is one of the baseline's when giving it the baseline's values changes nothing.
      var isBaseline: [Bool] = []
      for (index, combination) in overrides.enumerated() {
        let merged = combination.filter { key, _ in !baselineOverrides.contains { $0.key == key } } + baselineOverrides
        var settings = try Self.settings(base, overrides: merged, source: source)
        settings.seeds = nil
        settings.output = nil
        isBaseline.append(settings == combinations[index].settings)
      }
      let baselineIndices = combinations.indices.filter { isBaseline[$0] }
      guard !baselineIndices.isEmpty else {
        throw problem(
          "no combination of the grid is the baseline \(baseline.map(\.description).joined(separator: ", "))")
      }
      // The settings the baseline combinations differ in pick each combination's reference.
      let table = combinations.map { $0.settings.keyedValues() }
      let strata = ExperimentSettings.Key.allCases.map(\.rawValue).filter { key in
        Set(baselineIndices.map { table[$0][key] ?? "" }).count > 1
      }
      for index in combinations.indices where !isBaseline[index] {
        references[index] = baselineIndices.first { candidate in
          strata.allSatisfy { table[candidate][$0] == table[index][$0] }
        }
      }
    }

    var runs: [Run] = []
    for (index, combination) in combinations.enumerated() {
      for seed in seeds {
        var settings = combination.settings
        settings.training.seed = seed
        let folder = RunFolder(RunFolder(output).file(combination.name)).seed(seed)
        settings.output = folder.path
        runs.append(Run(combination: index, seed: seed, settings: settings, folder: folder))
      }
    }
    return SweepPlan(
      source: source, output: output, combinations: combinations, seeds: seeds, baseline: baseline,
      references: references, runs: runs)
  }

  /// The grid as products: each a list of (setting, values).
  static func gridProducts(_ node: Node) throws -> [[(String, [Node])]] {
    func product(_ node: Node) throws -> [(String, [Node])] {
      guard let pairs = node.mapping, !pairs.isEmpty else {
        throw SettingsProblem(
          "grid: must map settings to lists of values (lambda: [0, 0.01]), or be a list of such mappings")
      }
      return try pairs.map { key, value in
        let name = kebab(key.string ?? "")
        if ["seed", "seeds", "output", "config", "grid", "baseline"].contains(name) {
          throw SettingsProblem(
            "grid: cannot vary \(name)\(name.hasPrefix("seed") ? "; list the seeds in seeds:" : "")")
        }
        let values = value.sequence.map(Array.init) ?? [value]
        guard !values.isEmpty else { throw SettingsProblem("grid: \(name) has no values") }
        guard values.allSatisfy({ $0.scalar != nil }) else {
          throw SettingsProblem("grid: the values of \(name) must be single values (numbers, words, true/false)")
        }
        return (name, values)
      }
    }
    guard let list = node.sequence else { return [try product(node)] }
    guard !list.isEmpty else { throw SettingsProblem("grid: is an empty list") }
    return try list.map(product)
  }

  /// The settings of the file's other keys with `overrides` set at the top level (each replacing the
  /// same key wherever the file has it, in a section or not).
  static func settings(
    _ base: [(key: Node, value: Node)], overrides: [(key: String, value: Node)], source: String
  ) throws -> ExperimentSettings {
    let replaced = Set(overrides.map(\.key))
    var pairs: [(Node, Node)] = []
    for (key, value) in base {
      if let section = value.mapping {
        let kept = section.filter { !replaced.contains(kebab($0.key.string ?? "")) }
        pairs.append((key, Node.mapping(Node.Mapping(kept.map { ($0.key, $0.value) }))))
      } else if !replaced.contains(kebab(key.string ?? "")) {
        pairs.append((key, value))
      }
    }
    pairs += overrides.map { (Node($0.key), $0.value) }
    let text = try Yams.serialize(node: Node.mapping(Node.Mapping(pairs)))
    return try ExperimentSettings.parse(yaml: text, source: source)
  }

  static func kebab(_ key: String) -> String { key.replacingOccurrences(of: "_", with: "-") }

  static func scalarText(_ node: Node) -> String { node.scalar?.string ?? "\(node)" }

  static func describe(_ combination: [(key: String, value: Node)]) -> String {
    combination.map { "\($0.key) \(scalarText($0.value))" }.joined(separator: ", ")
  }

  /// A value as part of a folder name: letters, digits, dots and dashes.
  static func folderSafe(_ text: String) -> String {
    var result = ""
    for character in text {
      if character.isASCII && (character.isLetter || character.isNumber || character == "." || character == "-") {
        result.append(character)
      } else if !result.hasSuffix("-") {
        result.append("-")
      }
    }
    while result.hasSuffix("-") { result.removeLast() }
    return result.isEmpty ? "empty" : result
  }
}
