import Foundation

/// A run folder: where `orthocxr train` (and every pipeline that writes a run) puts each file. The
/// only place that knows the files' names; each file's format has one writer and one reader, named
/// beside its path here.
public struct RunFolder: Sendable, Equatable {
  public let path: String

  public init(_ path: String) { self.path = path }

  /// The resolved settings as YAML (`ExperimentSettings.yaml` / `RunFolder.readSettings`); run it again
  /// with `orthocxr train --config`.
  public var settingsYAML: String { file("config.yaml") }
  /// The resolved settings and the task's classes as JSON (`RunConfiguration`).
  public var settingsJSON: String { file("config.json") }
  /// The training log, one JSON event per line (`TrainingLog`).
  public var log: String { file("log.jsonl") }
  /// The training summary (`TrainingSummary`).
  public var trainingSummary: String { file("metrics.json") }
  /// Checkpoints (`CheckpointFile` in Training): the last epoch's, the best by validation, and the
  /// best with its fitted temperature.
  public var lastCheckpoint: String { file("last.safetensors") }
  /// The last checkpoint before `lastCheckpoint`: resumed from when the last one is missing or damaged.
  public var previousCheckpoint: String { file("last.previous.safetensors") }
  public var bestCheckpoint: String { file("best.safetensors") }
  public var calibratedCheckpoint: String { file("best-calibrated.safetensors") }
  /// Test metrics with and without the temperature (`EvaluationReport`).
  public var testMetrics: String { file("test-metrics.json") }
  public var uncalibratedTestMetrics: String { file("test-metrics-uncalibrated.json") }
  /// Per-image test predictions (`PredictionsFile`).
  public var testPredictions: String { file("test-predictions.csv") }
  /// The run's HTML report.
  public var report: String { file("report.html") }
  /// The images a run with `train-fraction` trained on: a heading line, then one image per line
  /// (path, a tab, its label).
  public var trainingSubset: String { file("train-subset.txt") }

  /// The folder's name, for tables and charts.
  public var name: String { (path as NSString).lastPathComponent }

  /// A seed's run inside a multi-seed experiment folder.
  public func seed(_ seed: UInt64) -> RunFolder { RunFolder(file("seed-\(seed)")) }

  public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

  public func create() throws {
    do {
      try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
      throw RunFolderError(path: path, reason: "cannot be created (\(Self.shortReason(error)))")
    }
  }

  /// The words of a file-system error without Foundation's wrapping: "Read-only file system".
  static func shortReason(_ error: any Error) -> String {
    let underlying = ((error as NSError).userInfo[NSUnderlyingErrorKey] as? any Error) ?? error
    let bridged = underlying as NSError
    return bridged.domain == NSPOSIXErrorDomain
      ? String(cString: strerror(Int32(bridged.code))) : bridged.localizedDescription
  }

  /// Claims the folder for one writer: a second `orthocxr train` writing into it (`--output` twice,
  /// or a resumed run while the first still runs) would interleave checkpoints and logs. The claim
  /// is an flock(2) on `.lock`, released when the returned object goes (or the process ends, however
  /// it ends: a killed run leaves no stale lock).
  public func claim() throws -> RunFolderClaim {
    try create()
    let lockPath = file(".lock")
    let descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else {
      throw RunFolderError(path: path, reason: "cannot be locked (\(String(cString: strerror(errno))))")
    }
    guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
      let holder = (try? String(contentsOfFile: lockPath, encoding: .utf8))?.trimmingCharacters(
        in: .whitespacesAndNewlines)
      close(descriptor)
      throw RunFolderError(
        path: path,
        reason: "is in use by another run" + (holder.map { $0.isEmpty ? "" : " (process \($0))" } ?? "")
          + ": wait for it to finish, stop it, or choose another --output")
    }
    let pid = "\(getpid())\n"
    _ = ftruncate(descriptor, 0)
    _ = pid.withCString { write(descriptor, $0, strlen($0)) }
    return RunFolderClaim(descriptor: descriptor)
  }

  public var exists: Bool {
    var isDirectory: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
  }

  // MARK: Settings

  /// Writes config.yaml (re-runnable) and config.json (with the task's classes).
  public func writeSettings(_ settings: ExperimentSettings, classes: [String]) throws {
    try create()
    try settings.yaml().write(toFile: settingsYAML, atomically: true, encoding: .utf8)
    try JSONFile.write(RunConfiguration(settings: settings, classes: classes), to: settingsJSON)
  }

  /// Writes train-subset.txt.
  public func writeTrainingSubset(_ images: [(path: String, label: String)], heading: String) throws {
    let text = (["# " + heading] + images.map { "\($0.path)\t\($0.label)" }).joined(separator: "\n") + "\n"
    do {
      try text.write(toFile: trainingSubset, atomically: true, encoding: .utf8)
    } catch {
      throw RunFolderError(path: trainingSubset, reason: "cannot be written (\(Self.shortReason(error)))")
    }
  }

  public func readSettings() throws -> ExperimentSettings { try ExperimentSettings.load(file: settingsYAML) }

  public func readConfiguration() throws -> RunConfiguration {
    try JSONFile.read(RunConfiguration.self, from: settingsJSON)
  }

  // MARK: Metrics

  public func writeTrainingSummary(_ summary: TrainingSummary) throws {
    try JSONFile.write(summary, to: trainingSummary)
  }
  public func readTrainingSummary() throws -> TrainingSummary {
    try JSONFile.read(TrainingSummary.self, from: trainingSummary)
  }
}

/// config.json: the resolved settings and the classes they gave.
public struct RunConfiguration: Codable, Equatable, Sendable {
  public var settings: ExperimentSettings
  public var classes: [String]

  public init(settings: ExperimentSettings, classes: [String]) {
    self.settings = settings
    self.classes = classes
  }
}

/// A file of a run or an explanation folder that is missing or does not hold what it should.
public struct RunFileError: Error, CustomStringConvertible, Equatable {
  public let path: String
  public let reason: String

  public init(path: String, reason: String) {
    self.path = path
    self.reason = reason
  }

  public var description: String { "\(path): \(reason)" }
}

/// JSON files: pretty, sorted keys, written atomically; read strictly, naming the file and the field.
public enum JSONFile {
  public static func write<Value: Encodable>(_ value: Value, to path: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(value).write(to: URL(fileURLWithPath: path), options: .atomic)
  }

  public static func read<Value: Decodable>(_ type: Value.Type, from path: String) throws -> Value {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw RunFileError(path: path, reason: "does not exist or cannot be read")
    }
    do {
      return try JSONDecoder().decode(type, from: data)
    } catch let error as DecodingError {
      throw RunFileError(path: path, reason: DecodingProblem.describe(error))
    } catch {
      throw RunFileError(path: path, reason: "is not valid JSON: \(error)")
    }
  }
}

/// A decoding error in words: which field, and what was wrong with it.
enum DecodingProblem {
  static func describe(_ error: DecodingError) -> String {
    func path(_ codingPath: [any CodingKey]) -> String {
      codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
    switch error {
    case .keyNotFound(let key, let context):
      let parent = path(context.codingPath)
      return "has no field \"\((parent.isEmpty ? "" : parent + ".") + key.stringValue)\""
    case .typeMismatch(_, let context), .valueNotFound(_, let context):
      return "the field \"\(path(context.codingPath))\" is not what it should be: \(context.debugDescription)"
    case .dataCorrupted(let context):
      return context.codingPath.isEmpty
        ? "is not valid: \(context.debugDescription)"
        : "the field \"\(path(context.codingPath))\" is not valid: \(context.debugDescription)"
    @unknown default:
      return "cannot be decoded: \(error)"
    }
  }
}

/// A run folder claimed by this process (`RunFolder.claim`); the claim ends with this object.
public final class RunFolderClaim: @unchecked Sendable {
  // @unchecked: the descriptor is only closed, once, by deinit.
  private let descriptor: Int32

  init(descriptor: Int32) { self.descriptor = descriptor }

  deinit { close(descriptor) }
}

/// A run folder that cannot be used, naming it and the reason.
public struct RunFolderError: Error, CustomStringConvertible {
  public let path: String
  public let reason: String
  public init(path: String, reason: String) {
    self.path = path
    self.reason = reason
  }
  public var description: String { "\(path) \(reason)" }
}
