import Evaluation
import Explanations
import Foundation
import Training

/// What a run folder holds, as the report needs it: configuration, training log, test metrics.
public struct RunArtifacts {
  public var name: String
  public var folder: String
  /// config.yaml as written (config.json when there is no YAML).
  public var configuration: String?
  public var epochs: [EpochRecord]
  /// Logged training steps: global step, total loss, cross-entropy, OS term.
  public var steps: [(step: Int, loss: Double, crossEntropy: Double, os: Double)]
  /// Test metrics with the fitted temperature (test-metrics.json) and without it
  /// (test-metrics-uncalibrated.json), when the run was evaluated.
  public var test: EvaluationReport?
  public var testUncalibrated: EvaluationReport?

  public static func load(_ folder: String, name: String? = nil) throws -> RunArtifacts {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
      throw ReportError("\(folder) is not a run folder (made by orthocxr train or demo)")
    }
    func text(_ file: String) -> String? {
      FileManager.default.contents(atPath: folder + "/" + file).flatMap { String(data: $0, encoding: .utf8) }
    }
    func report(_ file: String) throws -> EvaluationReport? {
      guard let data = FileManager.default.contents(atPath: folder + "/" + file) else { return nil }
      do {
        return try JSONDecoder().decode(EvaluationReport.self, from: data)
      } catch {
        throw ReportError("\(folder)/\(file) is not an orthocxr evaluation report: \(error)")
      }
    }
    guard let log = text("log.jsonl") else {
      throw ReportError("\(folder) has no log.jsonl; is it a run folder made by orthocxr train?")
    }
    var epochs: [EpochRecord] = []
    var steps: [(Int, Double, Double, Double)] = []
    let decoder = JSONDecoder()
    for line in log.split(separator: "\n") {
      guard let data = line.data(using: .utf8),
        let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
        let event = object["event"] as? String
      else { continue }
      if event == "start" { (epochs, steps) = ([], []) }  // a resumed run logs again from its checkpoint
      if event == "epoch", let record = object["record"],
        let recordData = try? JSONSerialization.data(withJSONObject: record),
        let decoded = try? decoder.decode(EpochRecord.self, from: recordData)
      {
        epochs.removeAll { $0.epoch >= decoded.epoch }
        epochs.append(decoded)
      }
      if event == "step", let step = object["step"] as? Int, let loss = object["loss"] as? Double {
        steps.removeAll { $0.0 >= step }
        steps.append((step, loss, object["cross_entropy"] as? Double ?? .nan, object["os"] as? Double ?? .nan))
      }
    }
    return RunArtifacts(
      name: name ?? (folder as NSString).lastPathComponent, folder: folder,
      configuration: text("config.yaml") ?? text("config.json"), epochs: epochs, steps: steps,
      test: try report("test-metrics.json"), testUncalibrated: try report("test-metrics-uncalibrated.json"))
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

  public static func load(_ folder: String) throws -> ExplanationArtifacts {
    let decoder = JSONDecoder()
    func model(_ subfolder: String, name: String) throws -> Model {
      let path = subfolder + "/summary.json"
      guard let data = FileManager.default.contents(atPath: path) else {
        throw ReportError("\(subfolder) holds no summary.json; make it with orthocxr explain")
      }
      return Model(name: name, folder: subfolder, file: try decoder.decode(ExplanationFile.self, from: data))
    }
    if FileManager.default.fileExists(atPath: folder + "/summary.json") {
      return ExplanationArtifacts(models: [try model(folder, name: (folder as NSString).lastPathComponent)])
    }
    guard let data = FileManager.default.contents(atPath: folder + "/comparison.json") else {
      throw ReportError("\(folder) holds neither summary.json nor comparison.json; make it with orthocxr explain")
    }
    let comparison = try decoder.decode(ExplanationComparison.self, from: data)
    return ExplanationArtifacts(
      models: try comparison.names.map { try model(folder + "/" + $0, name: $0) }, comparison: comparison)
  }
}

public struct ReportError: Error, CustomStringConvertible {
  public let description: String
  public init(_ description: String) { self.description = description }
}
