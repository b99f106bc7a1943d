import Evaluation
import Foundation
import TestSupport
import Testing

@testable import RunFiles

@Suite struct PredictionsFileTests {
  /// A class name or path holding a comma, a quote or a newline comes back as it was written.
  @Test func awkwardNamesRoundTrip() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let classes = ["COVID-19, confirmed", "say \"normal\"", "pneu\nmonia"]
    let rows = [
      PredictionsFile.Row(path: "x/a, b.png", label: 1, probabilities: [0.1, 0.7, 0.2]),
      PredictionsFile.Row(path: "y/\"quoted\"\nname.png", label: 2, probabilities: [0.25, 0.25, 0.5]),
    ]
    try PredictionsFile.write(rows, classes: classes, to: folder + "/p.csv")
    let (readClasses, readRows) = try PredictionsFile.read(folder + "/p.csv")
    #expect(readClasses == classes)
    #expect(readRows == rows)
    #expect(throws: RunFileError.self) { try PredictionsFile.readRun(RunFolder(folder + "/none")) }
  }

  @Test func aRowWithTooFewFieldsIsNamedByLine() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    try "path,label,prediction,p_a,p_b\n\"x\",a,a,0.5,0.5\n\"y\",a,a,0.5\n".write(
      toFile: folder + "/p.csv", atomically: true, encoding: .utf8)
    let error = #expect(throws: RunFileError.self) { try PredictionsFile.read(folder + "/p.csv") }
    #expect(error?.path.hasSuffix("p.csv:3") == true)
  }
}

@Suite struct TrainingLogTests {
  @Test func eventsRoundTripAndAResumedRunReplacesWhatItRepeats() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let log = TrainingLog(path: folder + "/log.jsonl")
    func epoch(_ number: Int, loss: Double) -> EpochRecord {
      EpochRecord(
        epoch: number, trainingLoss: loss, crossEntropy: loss, orthogonalSpheres: nil, learningRate: 0.1,
        validation: nil, seconds: 1)
    }
    let events: [TrainingLogEvent] = [
      .start(settings: TrainingSettings()),
      .step(StepRecord(epoch: 0, step: 10, loss: 1, crossEntropy: 0.9, os: 0.1, learningRate: 0.1)),
      .epoch(epoch(1, loss: 1)), .epoch(epoch(2, loss: 0.8)), .interrupted(epoch: 2, batch: 3, step: 23),
      .epoch(epoch(2, loss: 0.7)), .earlyStop(epoch: 2, bestEpoch: 1), .finished(bestEpoch: 1),
      .stopped(reason: "non-finite loss", epoch: 2, step: 24),
    ]
    for event in events { try log.append(event) }
    #expect(try log.read() == events)
    let history = try log.history()
    #expect(history.epochs.map(\.trainingLoss) == [1, 0.7])
    #expect(history.steps.count == 1)
    // The keys other tools read.
    let text = try String(contentsOfFile: log.path, encoding: .utf8)
    #expect(text.contains("\"cross_entropy\":0.9") && text.contains("\"event\":\"early stop\""))
  }

  @Test func anUnfinishedLastLineIsIgnoredButABrokenLineIsNamed() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let log = TrainingLog(path: folder + "/log.jsonl")
    try log.append(.finished(bestEpoch: 1))
    let handle = try #require(FileHandle(forWritingAtPath: log.path))
    try handle.seekToEnd()
    try handle.write(contentsOf: Data("{\"event\":\"epo".utf8))
    try handle.close()
    #expect(try log.read() == [.finished(bestEpoch: 1)])
    try "{\"event\":\"finished\"}\n{\"event\":\"finished\",\"best_epoch\":1}\n".write(
      toFile: log.path, atomically: true, encoding: .utf8)
    let error = #expect(throws: RunFileError.self) { try log.read() }
    #expect(error?.path.hasSuffix("log.jsonl:1") == true && error?.reason.contains("best_epoch") == true)
  }
}

@Suite struct ExperimentSettingsTests {
  @Test func sectionsAndFlatKeysDecodeAndEveryKeyRoundTrips() throws {
    let settings = try ExperimentSettings.parse(
      yaml: """
        model: {model: resnet34, image-size: 96}
        data: {train: "my data/train: all.txt", label-map: "covid=COVID-19,normal=normal"}
        loss: {lambda: 0.03, os-variant: blocks(4), class-weights: [1, 2.5]}
        schedule: {schedule: step, step-epochs: 2, gamma: 0.5}
        seeds: [0, 1]
        no_augmentation: true
        """, source: "test.yaml")
    #expect(settings.model == "resnet34" && settings.imageSize == 96)
    #expect(settings.train == "my data/train: all.txt")
    #expect(settings.training.osVariant == .blocks(4) && settings.training.lambda == 0.03)
    #expect(settings.training.classWeights == [1, 2.5])
    #expect(settings.training.stepEpochs == 2 && settings.training.gamma == 0.5)
    #expect(settings.seeds == [0, 1] && !settings.augmentation)
    #expect(settings.training.epochs == TrainingSettings().epochs, "a key left out keeps its default")
    // The resolved file reads back as the same settings, paths with spaces and colons included.
    let again = try ExperimentSettings.parse(yaml: try settings.yaml(), source: "resolved.yaml")
    #expect(again == settings)
  }

  @Test func unknownRepeatedAndMistypedSettingsNameTheFile() throws {
    func problem(_ yaml: String) -> String {
      do {
        _ = try ExperimentSettings.parse(yaml: yaml, source: "x.yaml")
        return ""
      } catch { return "\(error)" }
    }
    #expect(problem("model: {architecture: resnet18}").contains("x.yaml: unknown setting \"architecture\""))
    #expect(problem("lambda: 1\nloss: {lambda: 2}").contains("\"lambda\" is set twice"))
    #expect(problem("epochs: many").contains("x.yaml") && problem("epochs: many").contains("epochs"))
    #expect(problem("os-variant: circles").contains("not an OS variant"))
    #expect(problem("model: [unclosed").contains("not valid YAML"))
  }

  /// Yams traps on a base-60 integer that overflows Int (a fuzzing finding): such values are refused
  /// by name, in experiment and sweep files alike, before Yams decodes them. Smaller ones keep their
  /// YAML 1.1 meaning, quoted ones are strings.
  @Test func baseSixtyNumbersTooLargeForIntAreRefusedBeforeYamsOverflows() throws {
    for yaml in [
      "image-size: 1:1:1:1:1:1:1:1:1:1:1:1", "training: {epochs: 9223372036854775807:59}",
      "seeds: [1, 2:30:x:40:40:40:40:40:40:40:40:40]", "image-size: -1_000:1:1:1:1:1:1:1:1:1:1",
    ] {
      #expect {
        _ = try ExperimentSettings.parse(yaml: yaml, source: "x.yaml")
      } throws: { error in
        "\(error)".hasPrefix("x.yaml") && "\(error)".contains("reads as a base-60 number")
      }
    }
    #expect {
      _ = try SweepPlan.parse(yaml: "output: s\ngrid: {image-size: [64, 1:1:1:1:1:1:1:1:1:1:1:1]}", source: "s.yaml")
    } throws: { "\($0)".contains("reads as a base-60 number") }
    #expect(try ExperimentSettings.parse(yaml: "image-size: 2:8", source: "x.yaml").imageSize == 128)
    #expect {
      _ = try ExperimentSettings.parse(yaml: "image-size: \"1:1:1:1:1:1:1:1:1:1:1:1\"", source: "x.yaml")
    } throws: { !"\($0)".contains("base-60") }
    #expect(try ExperimentSettings.parse(yaml: "device: cuda:1", source: "x.yaml").device == "cuda:1")
    #expect(ExperimentSettings.overflowsAsBaseSixty("9:9:9:9:9:9:9:9:9:9:9"))  // 11 parts: 60¹¹ > Int.max
    #expect(!ExperimentSettings.overflowsAsBaseSixty("9:9:9:9:9:9:9:9:9:9"))
    #expect(!ExperimentSettings.overflowsAsBaseSixty("0:9:9:9:9:9:9:9:9:9:9:9"))  // octal to Yams
  }

  /// Deeply nested flow collections overflowed the stack of Yams's loader (a fuzzing finding: a
  /// segmentation fault): more than 512 [ or { in a file, or more than 1 MiB, are refused first.
  @Test func filesThatWouldNestTooDeepAreRefusedBeforeYamsLoadsThem() throws {
    let deep = "image-size: " + String(repeating: "[", count: 6_000)
    #expect {
      _ = try ExperimentSettings.parse(yaml: deep, source: "x.yaml")
    } throws: { "\($0)".contains("opens 6000 collections") }
    #expect {
      _ = try SweepPlan.parse(yaml: "output: s\ngrid: {lambda: [0, 1]}\nnote: " + deep, source: "s.yaml")
    } throws: { "\($0)".contains("s.yaml") && "\($0)".contains("opens 6002 collections") }
    #expect {
      _ = try ExperimentSettings.parse(yaml: String(repeating: "# x\n", count: 300_000), source: "x.yaml")
    } throws: { "\($0)".contains("1200000 bytes") }
    // 512 openings are still read (and judged on their merits).
    let wide = "seeds: [" + (0..<511).map { "[\($0)]" }.joined(separator: ", ") + "]"
    #expect {
      _ = try ExperimentSettings.parse(yaml: wide, source: "x.yaml")
    } throws: { !"\($0)".contains("collections with") }
  }

  @Test func theDeviceIsASettingAndOnlyDeviceNamesPass() throws {
    let settings = try ExperimentSettings.parse(yaml: "machine: {device: cuda:1, threads: 4}", source: "gpu.yaml")
    #expect(settings.device == "cuda:1" && settings.threads == 4)
    try settings.validate()
    #expect(try settings.yaml().contains("device: cuda:1"))
    #expect(ExperimentSettings().device == "cpu")
    for name in ["cpu", "cuda", "cuda:0", "cuda:7"] { #expect(isDeviceName(name), "\(name)") }
    for name in ["gpu", "cuda:", "cuda:-1", "cuda:x", "CPU", ""] { #expect(!isDeviceName(name), "\(name)") }
    var wrong = ExperimentSettings()
    wrong.device = "gpu"
    #expect(throws: SettingsProblem.self) { try wrong.validate() }
  }

  @Test func theDefaultStepScheduleDecaysWithinTheDefaultEpochs() {
    let settings = TrainingSettings()
    #expect(settings.resolvedStepEpochs(plannedEpochs: settings.epochs) < settings.epochs - settings.warmupEpochs)
  }
}

@Suite struct ExplanationFolderTests {
  @Test func tablesRoundTripThroughTheFolder() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let images = [
      ImageExplanation(
        path: "a, b.png", label: 0, predicted: 1, target: 1, probabilities: [0.4, 0.6], overlay: "overlays/a.png",
        map: "maps/a.png", deletionAUC: 0.2, insertionAUC: 0.7, roadDrop: 0.1, pointingHit: true, energyInBox: 0.5)
    ]
    let file = ExplanationFile(method: "gradcam", layer: "layer4", classes: ["x", "y"], images: images)
    try ExplanationFolder(folder).write(file)
    let read = try ExplanationFolder(folder).read()
    #expect(read.images == images && read.classes == ["x", "y"])
    let csv = try String(contentsOfFile: folder + "/explanations.csv", encoding: .utf8)
    #expect(csv.contains("\"a, b.png\",x,y,y,0.400000,0.600000"))
    let means = try String(contentsOfFile: folder + "/means.csv", encoding: .utf8)
    #expect(means.hasPrefix("metric,mean,images\ndeletion_auc,0.200000,1\n"))
  }
}

@Suite struct RunFolderTests {
  /// metrics.json: what the training pipeline writes is what a server, a sweep or a report reads.
  @Test func theTrainingSummaryRoundTrips() throws {
    let folder = RunFolder(try temporaryFolder())
    defer { try? FileManager.default.removeItem(atPath: folder.path) }
    try folder.create()
    let summary = TrainingSummary(
      epochs: [
        EpochRecord(
          epoch: 1, trainingLoss: 1.25, crossEntropy: 1.0, orthogonalSpheres: 25, learningRate: 1e-3, validation: nil,
          seconds: 3.5)
      ], bestEpoch: 1, bestScore: 0.75, interrupted: false, stoppedEarly: true, skippedImages: ["a, \"b\".png"])
    try folder.writeTrainingSummary(summary)
    #expect(try folder.readTrainingSummary() == summary)
    #expect(throws: (any Error).self) { try RunFolder(folder.path + "/absent").readTrainingSummary() }
  }
}

@Suite struct RunFolderClaimTests {
  /// A second writer is refused, naming the folder and the process that holds it; once the first
  /// claim ends, the folder can be claimed again.
  @Test func aRunFolderHasOneWriterAtATime() throws {
    let folder = RunFolder(try temporaryFolder() + "/run")
    defer { try? FileManager.default.removeItem(atPath: (folder.path as NSString).deletingLastPathComponent) }
    var first: RunFolderClaim? = try folder.claim()
    #expect {
      try folder.claim()
    } throws: { error in
      let description = "\(error)"
      return description.hasPrefix(folder.path) && description.contains("in use by another run (process \(getpid()))")
    }
    withExtendedLifetime(first) {}
    first = nil
    #expect(throws: Never.self) { _ = try folder.claim() }
  }
}
