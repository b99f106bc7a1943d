import Foundation

/// One line of log.jsonl.
public enum TrainingLogEvent: Equatable, Sendable {
  /// Training started from scratch with these settings (a resumed run does not log it again).
  case start(settings: TrainingSettings)
  /// A logged optimizer step: its losses and learning rate.
  case step(StepRecord)
  /// An epoch ended.
  case epoch(EpochRecord)
  /// Stopped on request (Ctrl-C); `last.safetensors` holds this position.
  case interrupted(epoch: Int, batch: Int, step: Int)
  /// Stopped by a failure, such as a non-finite loss.
  case stopped(reason: String, epoch: Int, step: Int)
  /// Early stopping: no improvement for `patience` epochs.
  case earlyStop(epoch: Int, bestEpoch: Int)
  case finished(bestEpoch: Int)
}

/// A logged training step.
public struct StepRecord: Codable, Equatable, Sendable {
  public var epoch: Int
  public var step: Int
  public var loss: Double
  public var crossEntropy: Double
  /// The OS term (0 when λ = 0).
  public var os: Double
  public var learningRate: Double

  public init(epoch: Int, step: Int, loss: Double, crossEntropy: Double, os: Double, learningRate: Double) {
    self.epoch = epoch
    self.step = step
    self.loss = loss
    self.crossEntropy = crossEntropy
    self.os = os
    self.learningRate = learningRate
  }

  enum CodingKeys: String, CodingKey {
    case epoch, step, loss, os
    case crossEntropy = "cross_entropy"
    case learningRate = "learning_rate"
  }
}

extension TrainingLogEvent: Codable {
  enum Key: String, CodingKey {
    case event, settings, record, epoch, batch, step, reason, loss, os
    case bestEpoch = "best_epoch"
    case crossEntropy = "cross_entropy"
    case learningRate = "learning_rate"
  }

  /// The value of "event" for each case.
  enum Kind: String, Codable {
    case start, step, epoch, interrupted, stopped, earlyStop = "early stop", finished
  }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: Key.self)
    switch try container.decode(Kind.self, forKey: .event) {
    case .start: self = .start(settings: try container.decode(TrainingSettings.self, forKey: .settings))
    case .step: self = .step(try StepRecord(from: decoder))
    case .epoch: self = .epoch(try container.decode(EpochRecord.self, forKey: .record))
    case .interrupted:
      self = .interrupted(
        epoch: try container.decode(Int.self, forKey: .epoch), batch: try container.decode(Int.self, forKey: .batch),
        step: try container.decode(Int.self, forKey: .step))
    case .stopped:
      self = .stopped(
        reason: try container.decode(String.self, forKey: .reason),
        epoch: try container.decode(Int.self, forKey: .epoch),
        step: try container.decode(Int.self, forKey: .step))
    case .earlyStop:
      self = .earlyStop(
        epoch: try container.decode(Int.self, forKey: .epoch),
        bestEpoch: try container.decode(Int.self, forKey: .bestEpoch))
    case .finished: self = .finished(bestEpoch: try container.decode(Int.self, forKey: .bestEpoch))
    }
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: Key.self)
    switch self {
    case .start(let settings):
      try container.encode(Kind.start, forKey: .event)
      try container.encode(settings, forKey: .settings)
    case .step(let record):
      try container.encode(Kind.step, forKey: .event)
      try container.encode(record.epoch, forKey: .epoch)
      try container.encode(record.step, forKey: .step)
      try container.encode(record.loss, forKey: .loss)
      try container.encode(record.crossEntropy, forKey: .crossEntropy)
      try container.encode(record.os, forKey: .os)
      try container.encode(record.learningRate, forKey: .learningRate)
    case .epoch(let record):
      try container.encode(Kind.epoch, forKey: .event)
      try container.encode(record, forKey: .record)
    case .interrupted(let epoch, let batch, let step):
      try container.encode(Kind.interrupted, forKey: .event)
      try container.encode(epoch, forKey: .epoch)
      try container.encode(batch, forKey: .batch)
      try container.encode(step, forKey: .step)
    case .stopped(let reason, let epoch, let step):
      try container.encode(Kind.stopped, forKey: .event)
      try container.encode(reason, forKey: .reason)
      try container.encode(epoch, forKey: .epoch)
      try container.encode(step, forKey: .step)
    case .earlyStop(let epoch, let bestEpoch):
      try container.encode(Kind.earlyStop, forKey: .event)
      try container.encode(epoch, forKey: .epoch)
      try container.encode(bestEpoch, forKey: .bestEpoch)
    case .finished(let bestEpoch):
      try container.encode(Kind.finished, forKey: .event)
      try container.encode(bestEpoch, forKey: .bestEpoch)
    }
  }
}

/// log.jsonl: the training log, one JSON event per line, appended as training goes.
public struct TrainingLog: Sendable {
  public let path: String

  public init(path: String) { self.path = path }

  /// Starts a new, empty log (a training run from scratch).
  public func reset() throws {
    try? FileManager.default.removeItem(atPath: path)
  }

  public func append(_ event: TrainingLogEvent) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    var line = try encoder.encode(event)
    line.append(0x0A)
    if let handle = FileHandle(forWritingAtPath: path) {
      defer { try? handle.close() }
      try handle.seekToEnd()
      try handle.write(contentsOf: line)
    } else {
      try line.write(to: URL(fileURLWithPath: path))
    }
  }

  /// Every event in the log. A line that does not decode is an error naming the file and the line,
  /// except an unfinished last line (no newline after it), which a process killed mid-write leaves
  /// and which is ignored.
  public func read() throws -> [TrainingLogEvent] {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw RunFileError(path: path, reason: "does not exist; is this a run folder made by orthocxr train?")
    }
    let lines = data.split(separator: 0x0A, omittingEmptySubsequences: false)
    let decoder = JSONDecoder()
    var events: [TrainingLogEvent] = []
    for (index, line) in lines.enumerated() where !line.isEmpty {
      do {
        events.append(try decoder.decode(TrainingLogEvent.self, from: Data(line)))
      } catch {
        if index == lines.count - 1 { break }  // unfinished last line
        let reason = (error as? DecodingError).map(DecodingProblem.describe) ?? "\(error)"
        throw RunFileError(path: "\(path):\(index + 1)", reason: "is not a training log event: \(reason)")
      }
    }
    return events
  }

  /// The epochs and logged steps of the run as it stands: a start event begins anew, and a resumed run's
  /// records replace those it repeats.
  public func history() throws -> TrainingHistory { TrainingHistory(try read()) }
}

/// The training curves a log holds.
public struct TrainingHistory: Equatable, Sendable {
  public var epochs: [EpochRecord] = []
  public var steps: [StepRecord] = []

  public init(_ events: [TrainingLogEvent]) {
    for event in events {
      switch event {
      case .start:
        epochs = []
        steps = []
      case .epoch(let record):
        epochs.removeAll { $0.epoch >= record.epoch }
        epochs.append(record)
      case .step(let record):
        steps.removeAll { $0.step >= record.step }
        steps.append(record)
      default: break
      }
    }
  }
}
