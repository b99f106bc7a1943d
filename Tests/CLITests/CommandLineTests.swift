import Foundation
import TestSupport
import Testing

/// Runs the built `orthocxr` (swift build --build-tests builds it beside the tests).
struct Orthocxr {
  static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  static var executable: String? {
    let besideTests = Bundle.main.executableURL?.deletingLastPathComponent().appendingPathComponent("orthocxr").path
    let candidates = [besideTests, repository.appendingPathComponent(".build/debug/orthocxr").path].compactMap { $0 }
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
  }

  struct Result {
    let status: Int32
    let output: String
  }

  /// Runs `orthocxr ARGUMENTS`, returning its exit status and its standard output and error together.
  static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
    let path = try #require(executable, "orthocxr is not built; run swift build --build-tests")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.currentDirectoryURL = repository
    if !environment.isEmpty {
      process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()  // until the process closes it
    process.waitUntilExit()
    return Result(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
  }
}

@Suite struct CommandLineErrorTests {
  /// `--version` names the program's version and libtorch's, and succeeds.
  @Test func versionNamesTheProgramAndLibtorch() throws {
    let result = try Orthocxr.run(["--version"])
    #expect(result.status == 0)
    #expect(result.output.hasPrefix("OrthoCXR ") && result.output.contains(", libtorch 2."))
  }

  @Test func anUnknownOptionFailsAndNamesIt() throws {
    let result = try Orthocxr.run(["train", "--train", "x.txt", "--output", "y", "--epoch", "3"])
    #expect(result.status != 0)
    #expect(result.output.contains("--epoch"))
  }

  @Test func anInvalidValueSaysWhatIsAllowed() throws {
    let result = try Orthocxr.run(["train", "--train", "x.txt", "--output", "y", "--epochs", "0"])
    #expect(result.status != 0)
    #expect(result.output.contains("--epochs must be positive"))
  }

  /// The stress test names a family or severity it does not know, and the ones it does.
  @Test func stressRefusesUnknownFamiliesAndSeverities() throws {
    let family = try Orthocxr.run(["stress", "--checkpoint", "a", "--data", "b", "--families", "blur,fog"])
    #expect(family.status != 0 && family.output.contains("unknown family \"fog\"") && family.output.contains("jpeg"))
    let severity = try Orthocxr.run(["stress", "--checkpoint", "a", "--data", "b", "--severities", "2,7"])
    #expect(severity.status != 0 && severity.output.contains("severities are 1 to 5, not \"7\""))
    let missing = try Orthocxr.run(["stress", "--checkpoint", "/nonexistent/run", "--data", "b"])
    #expect(missing.status != 0 && missing.output.contains("/nonexistent/run does not exist"))
  }

  @Test func aMissingCheckpointIsNamed() throws {
    let result = try Orthocxr.run(["evaluate", "--checkpoint", "/nonexistent/best.safetensors", "--data", "x.txt"])
    #expect(result.status != 0)
    #expect(result.output.contains("/nonexistent/best.safetensors"))
  }

  /// `convert` writes each readable image's display image as a 16-bit PNG at its size, names the
  /// one it cannot read, and exits 1 because of it.
  @Test(SharedData.required) func convertWritesDisplayImagesAndNamesFailures() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let result = try Orthocxr.run([
      "convert", "--output", folder, SharedData.path("dicom/cxr/COVID-100_mono1_12bit.dcm"),
      SharedData.path("dicom/pydicom-test-files/rtplan.dcm"),
    ])
    #expect(result.status == 1, "\(result.output)")
    #expect(result.output.contains("COVID-100_mono1_12bit.dcm: 256x256"))
    #expect(result.output.contains("rtplan.dcm: not converted: DICOM: it holds no pixel data"))
    let png = try Data(contentsOf: URL(fileURLWithPath: folder + "/COVID-100_mono1_12bit.png"))
    #expect(Array(png[16..<25]) == [0, 0, 1, 0, 0, 0, 1, 0, 16], "256 x 256, 16-bit (IHDR)")
  }

  @Test func dicomResultsNeedHeatmaps() throws {
    let result = try Orthocxr.run([
      "predict", "--checkpoint", "c.safetensors", "x.dcm", "--dicom-out", "d", "--no-heatmaps",
    ])
    #expect(result.status != 0)
    #expect(result.output.contains("drop --no-heatmaps"))
  }

  @Test func aMissingSplitIsNamed() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let result = try Orthocxr.run(["train", "--train", folder + "/absent.txt", "--output", folder + "/run"])
    #expect(result.status != 0)
    #expect(result.output.contains("absent.txt") && result.output.contains("does not exist"))
  }

  @Test func anUnreadableConfigurationSaysWhy() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    try "model: [unclosed\n".write(toFile: folder + "/broken.yaml", atomically: true, encoding: .utf8)
    let broken = try Orthocxr.run(["train", "--config", folder + "/broken.yaml"])
    #expect(broken.status != 0)
    #expect(broken.output.contains("broken.yaml") && broken.output.contains("not valid YAML"))

    try "model: {architecture: resnet18}\n".write(toFile: folder + "/unknown.yaml", atomically: true, encoding: .utf8)
    let unknown = try Orthocxr.run(["train", "--config", folder + "/unknown.yaml", "--train", "x", "--output", "y"])
    #expect(unknown.status != 0)
    #expect(unknown.output.contains("unknown.yaml") && unknown.output.contains("unknown setting \"architecture\""))

    let missing = try Orthocxr.run(["train", "--config", folder + "/absent.yaml"])
    #expect(missing.status != 0)
    #expect(missing.output.contains("absent.yaml") && missing.output.contains("does not exist"))
  }
}

/// The whole pipeline on the mini split: train (1 epoch, baseline and OS), calibrate and evaluate
/// (train --test), explain both, and the reports.
@Suite(SharedData.required) struct EndToEndTests {
  @Test func trainEvaluateExplainAndReportOnTheMiniSplit() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let data = SharedData.path("covid-radiography")
    try
      "model: {image-size: 64}\ndata: {train: \(data)/mini_train.txt, val: \(data)/mini_test.txt}\nschedule: {epochs: 3}\n"
      .write(toFile: folder + "/experiment.yaml", atomically: true, encoding: .utf8)
    for (name, lambda) in [("baseline", "0"), ("os", "0.01")] {
      // The configuration says 3 epochs; the command line overrides it with 1.
      let train = try Orthocxr.run([
        "train", "--config", folder + "/experiment.yaml", "--epochs", "1", "--lambda", lambda, "--test",
        data + "/mini_test.txt", "--output", folder + "/" + name,
      ])
      #expect(train.status == 0, "\(train.output)")
      let resolved = try String(contentsOfFile: folder + "/\(name)/config.yaml", encoding: .utf8)
      #expect(resolved.contains("epochs: 1") && resolved.contains("image-size: 64"))
      for file in [
        "best-calibrated.safetensors", "test-metrics.json", "test-metrics-uncalibrated.json", "test-predictions.csv",
      ] {
        #expect(FileManager.default.fileExists(atPath: "\(folder)/\(name)/\(file)"), "\(file) missing")
      }
    }
    let explain = try Orthocxr.run([
      "explain", "--checkpoint", folder + "/baseline/best-calibrated.safetensors", "--compare",
      folder + "/os/best-calibrated.safetensors", "--data", data + "/mini_test.txt", "--limit", "6", "--steps", "4",
      "--output", folder + "/explanations",
    ])
    #expect(explain.status == 0, "\(explain.output)")
    let csv = try String(contentsOfFile: folder + "/explanations/baseline/explanations.csv", encoding: .utf8)
    #expect(csv.split(separator: "\n").count == 7)  // a header and six images
    // --limit takes the images in turn from each class, though the split lists them class by class.
    let labels = Set(csv.split(separator: "\n").dropFirst().map { $0.split(separator: ",")[1] })
    #expect(labels.count == 3, "the six images come from \(labels.sorted()) only")
    #expect(FileManager.default.fileExists(atPath: folder + "/explanations/comparison.csv"))
    let means = try String(contentsOfFile: folder + "/explanations/os/means.csv", encoding: .utf8)
    #expect(means.hasPrefix("metric,mean,images\ndeletion_auc,") && means.contains("road_drop,"))

    let report = try Orthocxr.run([
      "report", "--baseline", folder + "/baseline", "--candidate", folder + "/os", "--explanations",
      folder + "/explanations", "--output", folder + "/comparison.html",
    ])
    #expect(report.status == 0, "\(report.output)")
    let html = try String(contentsOfFile: folder + "/comparison.html", encoding: .utf8)
    for section in [
      "configuration", "training", "metrics", "differences", "confusion", "reliability", "selective", "gallery",
    ] {
      #expect(html.contains("<section id=\"\(section)\">"), "the report lacks its \(section) section")
    }
    #expect(html.contains("before scaling") && html.contains("after T ="))  // both reliability diagrams
    #expect(html.contains("<svg") && html.contains("data:image/png;base64,"))
    #expect(!html.contains("src=\"http") && !html.contains("href=\"http"))  // nothing loaded from the network
    #expect(!html.contains("No heatmaps") && !html.contains("No test metrics"))

    let runReport = try Orthocxr.run([
      "report", folder + "/os", "--explanations", folder + "/explanations/os", "--output", folder + "/os/report.html",
    ])
    #expect(runReport.status == 0, "\(runReport.output)")
    let predict = try Orthocxr.run([
      "predict", "--checkpoint", folder + "/os/best-calibrated.safetensors", data + "/images/COVID-100.png",
      "--heatmaps", folder + "/predictions",
    ])
    #expect(predict.status == 0, "\(predict.output)")
    #expect(predict.output.contains("calibrated, T ="))
    #expect(FileManager.default.fileExists(atPath: folder + "/predictions/overlays/COVID-100.png"))
    // A DICOM X-ray gets its result as DICOM too; a CT slice is refused, saying why.
    let dicom = try Orthocxr.run([
      "predict", "--checkpoint", folder + "/os/best-calibrated.safetensors",
      SharedData.path("dicom/cxr/COVID-100_mono1_12bit.dcm"), SharedData.path("dicom/pydicom-test-files/CT_small.dcm"),
      "--heatmaps", folder + "/predictions", "--dicom-out", folder + "/dicom",
    ])
    #expect(dicom.status == 0, "\(dicom.output)")
    #expect(dicom.output.contains("CT_small.dcm: not classified: its SOP class"))
    #expect(dicom.output.contains("(structured report)"))
    for suffix in ["sr", "sc"] {
      #expect(FileManager.default.fileExists(atPath: folder + "/dicom/COVID-100_mono1_12bit-\(suffix).dcm"))
    }

    // Out of distribution: train --test fitted each model's detector; benchmark both on the Kermany
    // sample, compare them, and let predict --abstain decline exactly the flagged films.
    let kermany = SharedData.path("kermany-sample")
    for name in ["baseline", "os"] {
      let benchmark = try Orthocxr.run([
        "ood", "evaluate", "--checkpoint", folder + "/\(name)/best-calibrated.safetensors", "--data",
        data + "/mini_test.txt", "--ood", "paediatric=" + kermany, "--synthetic", "7", "--bootstrap", "50",
        "--output", folder + "/\(name)/ood.json",
      ])
      #expect(benchmark.status == 0, "\(benchmark.output)")
      #expect(benchmark.output.contains("| paediatric | 16 | mahalanobis |"))
    }
    let oodCompare = try Orthocxr.run([
      "ood", "compare", "--baseline", folder + "/baseline/ood.json", "--candidate", folder + "/os/ood.json",
      "--names", "baseline,OS", "--bootstrap", "50",
    ])
    #expect(oodCompare.status == 0 && oodCompare.output.contains("| paediatric | knn |"), "\(oodCompare.output)")
    let abstain = try Orthocxr.run([
      "predict", "--checkpoint", folder + "/os/best-calibrated.safetensors", "--no-heatmaps", "--abstain", "--json",
      kermany,
    ])
    #expect(abstain.status == 0, "\(abstain.output)")
    let answers = try #require(
      try JSONSerialization.jsonObject(with: Data(abstain.output.utf8)) as? [[String: Any]])
    #expect(answers.count == 16)
    for answer in answers {
      let verdict = try #require(answer["outOfDistribution"] as? [String: Any])
      let flagged = try #require(verdict["flagged"] as? Bool)
      #expect(answer["abstained"] as? Bool == flagged && (answer["prediction"] == nil) == flagged)
    }
  }

  @Test func explainingANonSpatialLayerNamesIt() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let data = SharedData.path("covid-radiography")
    let initialize = try Orthocxr.run([
      "train", "--train", data + "/mini_test.txt", "--epochs", "1", "--image-size", "32", "--output", folder + "/run",
    ])
    #expect(initialize.status == 0, "\(initialize.output)")
    let result = try Orthocxr.run([
      "explain", "--checkpoint", folder + "/run/best.safetensors", "--data", data + "/mini_test.txt", "--layer", "fc",
      "--limit", "1", "--output", folder + "/explanations",
    ])
    #expect(result.status != 0)
    #expect(result.output.contains("\"fc\"") && result.output.contains("not spatial"))
  }
}

/// --device on a machine without a GPU: each way CUDA can be missing is named, and nothing runs.
@Suite(CUDADriver.absent) struct MissingDeviceTests {
  @Test func deviceSaysTheDriverIsMissing() throws {
    let result = try Orthocxr.run(["device"])
    #expect(result.status == 0)
    #expect(result.output.contains("cpu: available"))
    #expect(result.output.contains("cuda: not available") && result.output.contains("NVIDIA driver is missing"))
  }

  @Test func trainingOnCUDAWithoutADriverStopsBeforeReadingData() throws {
    let result = try Orthocxr.run([
      "train", "--train", "/nonexistent/train.txt", "--output", "/tmp/x", "--device", "cuda",
    ])
    #expect(result.status != 0)
    #expect(result.output.contains("cuda:0 was asked for") && result.output.contains("libcuda.so.1"))
    #expect(!result.output.contains("/nonexistent/train.txt"))
  }

  @Test func everyCommandThatRunsAModelTakesTheDevice() throws {
    for command in [["evaluate"], ["calibrate"], ["explain"], ["predict"], ["bench", "model"], ["bench", "gradcam"]] {
      let result = try Orthocxr.run(command + ["--help"])
      #expect(result.output.contains("--device"), "\(command.joined(separator: " ")) --help has no --device")
    }
  }

  /// A stand-in libcuda.so.1 with nothing in it: the driver "loads", and the next missing piece is
  /// named (a library libtorch_cuda.so needs, or the GPU).
  @Test func withAStubDriverTheNextMissingPieceIsNamed() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let compiler = Process()
    compiler.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    compiler.arguments = ["cc", "-shared", "-o", folder + "/libcuda.so.1", "-x", "c", "/dev/null"]
    try compiler.run()
    compiler.waitUntilExit()
    try #require(compiler.terminationStatus == 0, "needs a C compiler (cc) to build the stub driver")
    let inherited = ProcessInfo.processInfo.environment["LD_LIBRARY_PATH"].map { ":" + $0 } ?? ""
    let result = try Orthocxr.run(["device"], environment: ["LD_LIBRARY_PATH": folder + inherited])
    #expect(result.status == 0)
    #expect(result.output.contains("cuda: not available"))
    #expect(!result.output.contains("driver is missing"))
    #expect(
      result.output.contains("libtorch's CUDA library could not be loaded")
        || result.output.contains("no GPU is visible") || result.output.contains("has no CUDA library"))
  }

  @Test func anUnknownDeviceIsRefusedWithTheChoices() throws {
    let result = try Orthocxr.run(["bench", "model", "--device", "gpu"])
    #expect(result.status != 0)
    #expect(result.output.contains("gpu"))
  }
}
