import ArgumentParser
import Foundation
import Yams

/// Experiment files in YAML: every option of `orthocxr train` as a key, optionally grouped in
/// sections for readability (the section names are free), for example
///
///     model: {model: resnet18, image-size: 224, channels: 1}
///     data: {train: data/train.txt, val: data/val.txt, test: data/test.txt, label-map: three-class}
///     loss: {lambda: 0.01, os-variant: batch, label-smoothing: 0}
///     optimizer: {optimizer: adamw, learning-rate: 0.001, weight-decay: 0.0001}
///     schedule: {schedule: cosine, warmup-epochs: 1, epochs: 10}
///     seeds: [0, 1, 2]
///
/// `--config FILE` is expanded into the options it stands for before the command line is parsed;
/// an option given on the command line wins over the file's, which wins over the default.
enum ExperimentConfiguration {
  /// The subcommands that take `--config`.
  static let commands: Set<String> = ["train"]

  /// `arguments` (without the program name) with the options of `--config FILE` put in front, less
  /// those the command line gives itself. `--config` stays, so that the command can show it in --help.
  /// A flag set to true in the file cannot be switched off on the command line (flags have no `--no-`
  /// form); leave such keys out of shared files.
  static func expand(_ arguments: [String]) throws -> [String] {
    guard let command = arguments.first, commands.contains(command) else { return arguments }
    var rest = Array(arguments.dropFirst())
    var configPath: String?
    if let index = rest.firstIndex(where: { $0 == "--config" }) {
      guard index + 1 < rest.count else { throw ValidationError("--config needs a YAML file") }
      configPath = rest[index + 1]
    } else if let token = rest.first(where: { $0.hasPrefix("--config=") }) {
      configPath = String(token.dropFirst("--config=".count))
    }
    guard let configPath else { return arguments }
    let onCommandLine = Set(
      rest.filter { $0.hasPrefix("--") }.map { String($0.dropFirst(2).split(separator: "=").first ?? "") })
    var expanded: [String] = []
    for setting in try settings(fromFile: configPath) where !onCommandLine.contains(setting.key) {
      expanded += setting.arguments
    }
    rest = expanded + rest
    return [command] + rest
  }

  /// The file's settings in order, as option names and the arguments that give them.
  static func settings(fromFile path: String) throws -> [(key: String, arguments: [String])] {
    guard FileManager.default.fileExists(atPath: path) else {
      throw ValidationError("the configuration \(path) does not exist")
    }
    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
      throw ValidationError("the configuration \(path) cannot be read as UTF-8 text")
    }
    let document: Any?
    do {
      document = try Yams.load(yaml: text)
    } catch {
      throw ValidationError("the configuration \(path) is not valid YAML: \(error)")
    }
    guard let root = document as? [String: Any] else {
      throw ValidationError(
        "the configuration \(path) must be a mapping of settings (key: value), not \(document.map { "\(type(of: $0))" } ?? "empty")"
      )
    }
    var settings: [(key: String, arguments: [String])] = []
    var seen: Set<String> = []
    func visit(_ mapping: [String: Any], section: String?) throws {
      for key in mapping.keys.sorted() {
        let name = key.replacingOccurrences(of: "_", with: "-")
        let value = mapping[key]
        if let nested = value as? [String: Any] {
          guard section == nil else {
            throw ValidationError(
              "\(path): section \"\(section!)\" holds another section \"\(key)\"; one level of sections only")
          }
          try visit(nested, section: key)
          continue
        }
        guard name != "config" else { throw ValidationError("\(path): a configuration cannot name another (config:)") }
        guard seen.insert(name).inserted else { throw ValidationError("\(path): \"\(name)\" is set twice") }
        let where_ = section.map { " (in \($0))" } ?? ""
        switch value {
        case nil, is NSNull:
          continue
        case let flag as Bool:
          if flag { settings.append((name, ["--\(name)"])) }
        case let list as [Any]:
          settings.append((name, ["--\(name)", list.map { "\($0)" }.joined(separator: ",")]))
        case let scalar as String:
          settings.append((name, ["--\(name)", scalar]))
        case let number as Int:
          settings.append((name, ["--\(name)", String(number)]))
        case let number as Double:
          settings.append((name, ["--\(name)", String(number)]))
        default:
          throw ValidationError("\(path): \"\(key)\"\(where_) has a value of a kind options cannot take")
        }
      }
    }
    try visit(root, section: nil)
    return settings
  }

  /// Rewrites an unknown-option error so that it names the configuration file when the option came
  /// from there.
  static func explain(_ error: Error, arguments: [String], expanded: [String]) -> Error {
    let message = OrthoCXR.message(for: error)
    guard message.contains("Unknown option"),
      let configIndex = arguments.firstIndex(of: "--config"), configIndex + 1 < arguments.count
    else { return error }
    let fromFile = Set(expanded.filter { $0.hasPrefix("--") && !arguments.contains($0) })
    guard let unknown = fromFile.first(where: { message.contains("'\($0)'") }) else { return error }
    return ValidationError(
      "\(arguments[configIndex + 1]): unknown setting \"\(unknown.dropFirst(2))\"; the keys are the options of "
        + "`orthocxr \(arguments[0]) --help`, without the dashes")
  }
}
