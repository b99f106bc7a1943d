import Evaluation
import Foundation
import RunFiles

/// What a run folder holds, as the report needs it: configuration, training log, test metrics.
public struct RunArtifacts {
  public var name: String
  public var folder: String
  /// config.yaml as written.
  public var configuration: String?
  public var epochs: [EpochRecord]
  /// Logged training steps: global step, total loss, cross-entropy, OS term.
  public var steps: [StepRecord]
  /// Test metrics with the fitted temperature (test-metrics.json) and without it
  /// (test-metrics-uncalibrated.json), when the run was evaluated.
  public var test: EvaluationReport?
  public var testUncalibrated: EvaluationReport?

  public static func load(_ path: String, name: String? = nil) throws -> RunArtifacts {
    let folder = RunFolder(path)
    guard folder.exists else { throw ReportError("\(path) is not a run folder (made by orthocxr train or demo)") }
    guard FileManager.default.fileExists(atPath: folder.log) else {
      throw ReportError("\(path) has no log.jsonl; is it a run folder made by orthocxr train?")
    }
    func report(_ file: String) throws -> EvaluationReport? {
      guard FileManager.default.fileExists(atPath: file) else { return nil }
      return try JSONFile.read(EvaluationReport.self, from: file)
    }
    let history = try TrainingLog(path: folder.log).history()
    return RunArtifacts(
      name: name ?? folder.name, folder: path,
      configuration: FileManager.default.contents(atPath: folder.settingsYAML).map {
        String(decoding: $0, as: UTF8.self)
      },
      epochs: history.epochs, steps: history.steps, test: try report(folder.testMetrics),
      testUncalibrated: try report(folder.uncalibratedTestMetrics))
  }
}

/// The heatmaps `orthocxr explain` wrote: one model's (summary.json in the folder) or two models'
/// (a subfolder each, and comparison.json).
public struct ExplanationArtifacts {
  public struct Model {
    public var name: String
    public var folder: String
    public var file: ExplanationFile
  }

  public var models: [Model]
  public var comparison: ExplanationComparison?

  public static func load(_ path: String) throws -> ExplanationArtifacts {
    let root = ExplanationFolder(path)
    if FileManager.default.fileExists(atPath: root.summaryJSON) {
      return ExplanationArtifacts(models: [
        Model(name: (path as NSString).lastPathComponent, folder: path, file: try root.read())
      ])
    }
    guard let comparison = try root.readComparison() else {
      throw ReportError("\(path) holds neither summary.json nor comparison.json; make it with orthocxr explain")
    }
    return ExplanationArtifacts(
      models: try comparison.names.map {
        Model(name: $0, folder: root.model($0).path, file: try root.model($0).read())
      },
      comparison: comparison)
  }
}

public struct ReportError: Error, CustomStringConvertible {
  public let description: String
  public init(_ description: String) { self.description = description }
}
