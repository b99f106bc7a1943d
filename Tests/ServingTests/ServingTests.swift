import Digests
import Foundation
import Hummingbird
import HummingbirdTesting
import Imaging
import Pipelines
import RunFiles
import TestSupport
import Testing

@testable import Evaluation
@testable import Serving
@testable import Training

/// A calibrated ResNet-18 trained for one epoch at 32 px on synthetic X-rays, made once for the suite
/// and removed when the test process exits (its run folder holds 300 MB of checkpoints, which every
/// test run had left in the temporary folder).
enum ServedModel {
  static let folder: String = {
    let folder = NSTemporaryDirectory() + "orthocxr-serving-" + UUID().uuidString
    try! FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    atexit { try? FileManager.default.removeItem(atPath: ServedModel.folder) }
    try! SyntheticChestXRay.writeDataset(
      to: folder, counts: [("train", 4), ("val", 2), ("test", 2)], size: 64, seed: 3)
    var settings = ExperimentSettings()
    settings.imageSize = 32
    settings.batchSize = 4
    settings.workers = 1
    settings.train = folder + "/train.txt"
    settings.val = folder + "/val.txt"
    settings.test = folder + "/test.txt"
    settings.output = folder + "/run"
    settings.training.epochs = 1
    settings.training.warmupEpochs = 0
    _ = try! TrainingPipeline.train(settings, hooks: .init())
    return folder
  }()
  static var checkpoint: String { folder + "/run/best-calibrated.safetensors" }

  /// The served checkpoint with every OOD threshold set to `threshold` (−10³⁰⁰ flags everything).
  static func writeCheckpoint(threshold: Double, to path: String) throws {
    var detector = try #require(try TrainedModel.load(checkpoint).outOfDistribution)
    for method in OutOfDistributionMethod.allCases { detector.thresholds[method] = threshold }
    try CheckpointFile.writeDetector(detector, into: checkpoint, destination: path)
  }

  /// A synthetic X-ray as PNG bytes (different seeds give different images).
  static func png(seed: UInt64, size: Int = 96) throws -> Data {
    let image = SyntheticChestXRay.generate(size: size, finding: .covid, seed: seed).image
    return try ImageWriter.encode(
      image.pixels.map { UInt8(max(0, min(255, $0 * 255))) }, width: size, height: size, channels: 1, bitDepth: 8)
  }
}

func server(
  maxBatch: Int = 8, maxWait: Duration = .milliseconds(5), queueLimit: Int = 64,
  configure: (inout PredictionServer.Settings) -> Void = { _ in }
) throws -> PredictionServer {
  var settings = PredictionServer.Settings()
  configure(&settings)
  let service = try PredictionService(
    checkpoint: ServedModel.checkpoint, maxBatch: maxBatch, maxWait: maxWait, queueLimit: queueLimit, threads: 1)
  do {
    return try PredictionServer(service: service, checkpoint: ServedModel.checkpoint, settings: settings)
  } catch {
    service.shutdown()
    throw error
  }
}

@Suite(.serialized) struct ServingTests {
  @Test func healthModelMetricsAndThePage() async throws {
    let served = try server()
    defer { served.service.shutdown() }
    try await served.application().test(.router) { client in
      try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
      try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .ok) }
      try await client.execute(uri: "/v1/model", method: .get) { response in
        let card = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
        #expect(card?["architecture"] as? String == "resnet18")
        #expect(card?["calibrated"] as? Bool == true)
        #expect((card?["intendedUse"] as? String)?.contains("Not a medical device") == true)
        #expect(card?["testMetrics"] != nil, "the run folder's test metrics are on the card")
      }
      try await client.execute(uri: "/", method: .get) { response in
        #expect(String(buffer: response.body).contains("<title>OrthoCXR</title>"))
        #expect(
          !String(buffer: response.body).contains("http://") && !String(buffer: response.body).contains("https://"),
          "no external assets")
      }
      try await client.execute(
        uri: "/v1/predictions", method: .post, body: ByteBuffer(bytes: try ServedModel.png(seed: 1)))
      try await client.execute(uri: "/metrics", method: .get) { response in
        let text = String(buffer: response.body)
        #expect(text.contains("orthocxr_requests_total{status=\"200\"} 1"))
        #expect(text.contains("orthocxr_request_seconds_count 1"))
        #expect(text.contains("orthocxr_batch_size_count 1"))
        #expect(text.contains("orthocxr_queue_depth 0"))
      }
    }
  }

  @Test func aPredictionWithAHeatmapAndItsAuditRow() async throws {
    let audit = NSTemporaryDirectory() + "orthocxr-audit-\(UUID().uuidString).sqlite"
    defer { try? FileManager.default.removeItem(atPath: audit) }
    let served = try server { $0.auditPath = audit }
    defer { served.service.shutdown() }
    let image = try ServedModel.png(seed: 2)
    try await served.application().test(.router) { client in
      try await client.execute(
        uri: "/v1/predictions?heatmap=gradcam&map=true", method: .post, body: ByteBuffer(bytes: image)
      ) { response in
        #expect(response.status == .ok)
        let answer = try JSONDecoder().decode(PredictionServer.Answer.self, from: Data(buffer: response.body))
        #expect(answer.calibrated && answer.inputFormat == "png")
        #expect(abs(answer.probabilities.values.reduce(0, +) - 1) < 1e-9)
        #expect(answer.probabilities[answer.class ?? ""] == answer.probabilities.values.max())
        let overlay = try #require(Data(base64Encoded: answer.heatmap?.overlayPNG ?? ""))
        let decoded = try ImageReader.decode(overlay, path: "overlay")
        #expect(decoded.width == 96 && decoded.height == 96, "the heatmap has the X-ray's size")
        #expect(answer.heatmap?.mapPNG != nil)
      }
      // Errors are audited too.
      try await client.execute(uri: "/v1/predictions", method: .post, body: ByteBuffer(string: "not an image"))
    }
    let records = try AuditLog(path: audit).records()
    #expect(records.count == 2)
    #expect(records[0].status == 200 && records[0].inputSHA256 == SHA256.hex(image) && records[0].predictedClass != nil)
    #expect(
      records[0].checkpointSHA256 == SHA256.hex(try Data(contentsOf: URL(fileURLWithPath: ServedModel.checkpoint))))
    #expect(records[1].status == 415 && records[1].predictedClass == nil)
    #expect(try AuditLog(path: audit).integrityCheck() == "ok")
    // append gives the row back with the id the database gave it: the next one.
    var another = records[1]
    another.id = nil
    #expect(try AuditLog(path: audit).append(another).id == (records[1].id ?? 0) + 1)
  }

  /// Each answer carries the OOD verdict. With --abstain and a detector that flags everything
  /// (threshold −10³⁰⁰), the answer has no class, says it abstained, and the audit row says why; the
  /// same image with a detector that flags nothing (+10³⁰⁰) gets its class. Abstaining needs a detector.
  @Test func abstentionOnFlaggedImages() async throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    for (name, threshold) in [("all", -1e300), ("none", 1e300)] {
      try ServedModel.writeCheckpoint(threshold: threshold, to: folder + "/\(name).safetensors")
    }
    let audit = folder + "/audit.sqlite"
    for (name, abstains) in [("all", true), ("none", false)] {
      let checkpoint = folder + "/\(name).safetensors"
      var settings = PredictionServer.Settings()
      settings.abstain = true
      settings.auditPath = audit
      let service = try PredictionService(checkpoint: checkpoint, threads: 1)
      defer { service.shutdown() }
      let served = try PredictionServer(service: service, checkpoint: checkpoint, settings: settings)
      for query in ["", "?heatmap=gradcam"] {
        try await served.application().test(.router) { client in
          try await client.execute(
            uri: "/v1/predictions" + query, method: .post, body: ByteBuffer(bytes: try ServedModel.png(seed: 4))
          ) { response in
            #expect(response.status == .ok)
            let answer = try JSONDecoder().decode(PredictionServer.Answer.self, from: Data(buffer: response.body))
            let verdict = try #require(answer.outOfDistribution)
            #expect(verdict.flagged == abstains && answer.abstained == abstains && (answer.class == nil) == abstains)
            #expect(verdict.scores.count == 3 && verdict.method == .mahalanobis)
          }
        }
      }
    }
    let records = try AuditLog(path: audit).records()
    #expect(records.count == 4)
    #expect(records.prefix(2).allSatisfy { $0.predictedClass == nil && $0.outcome.hasPrefix("abstained: outside") })
    #expect(records.suffix(2).allSatisfy { $0.predictedClass != nil && $0.outcome == "ok" })
    // Without a detector there is nothing to abstain with: the server does not start.
    let plain = folder + "/plain.safetensors"
    try FileManager.default.copyItem(atPath: ServedModel.folder + "/run/best.safetensors", toPath: plain)
    let service = try PredictionService(checkpoint: plain, threads: 1)
    defer { service.shutdown() }
    var settings = PredictionServer.Settings()
    settings.abstain = true
    #expect(throws: ServingError.self) { try PredictionServer(service: service, checkpoint: plain, settings: settings) }
  }

  @Test func eachErrorHasItsStatusAndAReason() async throws {
    let served = try server { $0.maxBodyBytes = 200_000 }
    defer { served.service.shutdown() }
    let image = try ServedModel.png(seed: 3)
    try await served.application().test(.router) { client in
      func expectError(_ uri: String, _ body: Data, _ status: HTTPResponse.Status, _ words: String) async throws {
        try await client.execute(uri: uri, method: .post, body: ByteBuffer(bytes: body)) { response in
          #expect(response.status == status, "\(uri)")
          let text = String(buffer: response.body)
          #expect(text.contains(words), "\(text)")
          #expect(!text.contains("Swift/") && !text.contains("Fatal"), "no internals leak")
        }
      }
      try await expectError(
        "/v1/predictions", Data("plain text".utf8), .unsupportedMediaType, "not a PNG, JPEG or DICOM")
      try await expectError("/v1/predictions", image.prefix(image.count / 2), .unprocessableContent, "truncated")
      try await expectError("/v1/predictions", Data(count: 300_000), .contentTooLarge, "larger than the limit")
      try await expectError("/v1/predictions?heatmap=magic", image, .badRequest, "heatmap must be one of")
    }
  }

  @Test func aTokenIsRequiredWhenConfiguredAndBeyondLoopback() async throws {
    #expect(throws: ServingError.self) { try server { $0.host = "0.0.0.0" } }
    let served = try server { $0.token = "s3cret" }
    defer { served.service.shutdown() }
    let image = try ServedModel.png(seed: 4)
    try await served.application().test(.router) { client in
      try await client.execute(uri: "/v1/predictions", method: .post, body: ByteBuffer(bytes: image)) {
        #expect($0.status == .unauthorized)
      }
      try await client.execute(
        uri: "/v1/predictions", method: .post, headers: [.authorization: "Bearer wrong"], body: ByteBuffer(bytes: image)
      ) { #expect($0.status == .unauthorized) }
      try await client.execute(
        uri: "/v1/predictions", method: .post, headers: [.authorization: "Bearer s3cret"],
        body: ByteBuffer(bytes: image)
      ) { #expect($0.status == .ok) }
      try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok, "health stays open") }
    }
    #expect(PredictionServer.constantTimeEqual("abc", "abc") && !PredictionServer.constantTimeEqual("abc", "abd"))
    #expect(!PredictionServer.constantTimeEqual("abc", "abcd"))
  }

  /// Concurrent requests share forward passes, and each gets the answer it gets alone.
  @Test func concurrentRequestsAreBatchedAndAnswerAsAlone() async throws {
    let images = try (10..<16).map { try ServedModel.png(seed: UInt64($0)) }
    let alone = try server(maxBatch: 1, maxWait: .zero)
    let single = try await alone.application().test(.router) { client in
      var answers: [PredictionServer.Answer] = []
      for image in images {
        answers.append(
          try await client.execute(uri: "/v1/predictions", method: .post, body: ByteBuffer(bytes: image)) {
            try JSONDecoder().decode(PredictionServer.Answer.self, from: Data(buffer: $0.body))
          })
      }
      return answers
    }
    alone.service.shutdown()
    let batched = try server(maxBatch: 8, maxWait: .milliseconds(500))
    defer { batched.service.shutdown() }
    let together = try await batched.application().test(.router) { client in
      try await withThrowingTaskGroup(of: (Int, PredictionServer.Answer).self) { group in
        for (index, image) in images.enumerated() {
          group.addTask {
            try await client.execute(uri: "/v1/predictions", method: .post, body: ByteBuffer(bytes: image)) {
              (index, try JSONDecoder().decode(PredictionServer.Answer.self, from: Data(buffer: $0.body)))
            }
          }
        }
        return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
      }
    }
    #expect(together.values.contains { $0.batchSize > 1 }, "some requests shared a forward pass")
    for (index, answer) in single.enumerated() {
      let other = try #require(together[index])
      #expect(other.class == answer.class)
      for (name, probability) in answer.probabilities {
        #expect(abs((other.probabilities[name] ?? -1) - probability) < 1e-5, "image \(index), \(name)")
      }
    }
  }

  @Test func aFullQueueAnswers503WithRetryAfter() async throws {
    let served = try server(maxBatch: 4, maxWait: .seconds(2), queueLimit: 1)
    defer { served.service.shutdown() }
    let image = try ServedModel.png(seed: 5)
    try await served.application().test(.router) { client in
      async let first = client.execute(uri: "/v1/predictions", method: .post, body: ByteBuffer(bytes: image)) {
        $0.status
      }
      while served.service.queueDepth == 0 { await Task.yield() }  // the first is waiting for company
      try await client.execute(uri: "/v1/predictions", method: .post, body: ByteBuffer(bytes: image)) { response in
        #expect(response.status == .serviceUnavailable)
        #expect(response.headers[.retryAfter] == "1")
      }
      #expect(try await first == .ok)
    }
  }

  @Test(SharedData.required) func aDicomUploadIsAuditedWithItsUIDs() async throws {
    let audit = NSTemporaryDirectory() + "orthocxr-audit-\(UUID().uuidString).sqlite"
    defer { try? FileManager.default.removeItem(atPath: audit) }
    let served = try server { $0.auditPath = audit }
    defer { served.service.shutdown() }
    let dicom = try Data(contentsOf: URL(fileURLWithPath: SharedData.path("dicom/cxr/COVID-1000_mono2_8bit.dcm")))
    try await served.application().test(.router) { client in
      try await client.execute(uri: "/v1/predictions", method: .post, body: ByteBuffer(bytes: dicom)) { response in
        #expect(response.status == .ok)
        let answer = try JSONDecoder().decode(PredictionServer.Answer.self, from: Data(buffer: response.body))
        #expect(answer.inputFormat == "dicom")
      }
    }
    let record = try #require(try AuditLog(path: audit).records().first)
    let attributes = try DicomDecoding.decodeWithAttributes(dicom, path: "fixture").attributes
    #expect(record.inputFormat == "dicom")
    #expect(record.studyInstanceUID == attributes.studyInstanceUID && record.studyInstanceUID?.isEmpty == false)
    #expect(record.seriesInstanceUID == attributes.seriesInstanceUID)
    #expect(record.sopInstanceUID == attributes.sopInstanceUID)
  }

  @Test func aMultipartUploadIsAccepted() async throws {
    let served = try server()
    defer { served.service.shutdown() }
    let image = try ServedModel.png(seed: 6)
    let body =
      Data("--XYZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x.png\"\r\n".utf8)
      + Data("Content-Type: image/png\r\n\r\n".utf8) + image + Data("\r\n--XYZ--\r\n".utf8)
    try await served.application().test(.router) { client in
      try await client.execute(
        uri: "/v1/predictions", method: .post, headers: [.contentType: "multipart/form-data; boundary=XYZ"],
        body: ByteBuffer(bytes: body)
      ) { #expect($0.status == .ok) }
    }
  }

  /// A client that connects and then sends nothing is disconnected after the idle time-out, and the
  /// server goes on answering others.
  @Test func aStalledClientIsDisconnected() async throws {
    let served = try server { $0.idleTimeout = .seconds(1) }
    defer { served.service.shutdown() }
    let image = try ServedModel.png(seed: 7)
    try await served.application().test(.live) { client in
      let port = try #require(client.port)
      // The test's own bound, 10 s, far above the server's 1 s.
      let socket = try loopbackSocket(port: port, receiveTimeout: 10)
      defer { close(socket) }
      let started = ContinuousClock.now
      var byte: UInt8 = 0
      let received = recv(socket, &byte, 1, 0)  // blocks until the server closes (0) or the bound (-1)
      #expect(received == 0, "the server closed the idle connection")
      #expect(ContinuousClock.now - started < .seconds(8))
      // The server still answers, on a new connection (the test client's own idled out too).
      let file = NSTemporaryDirectory() + "orthocxr-stalled-\(UUID().uuidString).png"
      defer { try? FileManager.default.removeItem(atPath: file) }
      try image.write(to: URL(fileURLWithPath: file))
      #expect(try CurlPost(file: file, to: "http://127.0.0.1:\(port)/v1/predictions").status() == 200)
    }
  }

  /// A client that announces a body and trickles it gets 408 once the body time-out passes.
  @Test func aTricklingBodyGets408() async throws {
    let served = try server {
      $0.bodyTimeout = .seconds(1)
      $0.idleTimeout = .seconds(30)
    }
    defer { served.service.shutdown() }
    try await served.application().test(.live) { client in
      let port = try #require(client.port)
      let socket = try loopbackSocket(port: port, receiveTimeout: 10)  // far above the server's 1 s
      defer { close(socket) }
      let head = "POST /v1/predictions HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n\u{89}PNG"
      _ = head.withCString { send(socket, $0, strlen($0), 0) }
      var reply = [UInt8](repeating: 0, count: 512)
      let count = recv(socket, &reply, reply.count, 0)  // the answer, once the server gives up
      let text = String(decoding: reply.prefix(max(count, 0)), as: UTF8.self)
      #expect(text.hasPrefix("HTTP/1.1 408"), "\(text)")
    }
  }

  /// A PNG that declares 30,000 × 30,000 pixels in 70 bytes (the shape of a decompression bomb, at
  /// the size of the one reported in issue 17) is refused from its header, saying so, and the server
  /// goes on answering.
  @Test func aPNGClaimingAHugeSizeIsRefusedAndServingGoesOn() async throws {
    let bomb = DecompressionBomb.png(width: 30_000, height: 30_000)
    let served = try server()
    defer { served.service.shutdown() }
    try await served.application().test(.router) { client in
      try await client.execute(uri: "/v1/predictions", method: .post, body: ByteBuffer(bytes: bomb)) { response in
        #expect(response.status == .unprocessableContent, "\(String(buffer: response.body))")
        #expect(String(buffer: response.body).contains("declares 30000 x 30000 pixels (900.0 megapixels)"))
      }
      try await client.execute(
        uri: "/v1/predictions", method: .post, body: ByteBuffer(bytes: try ServedModel.png(seed: 8))
      ) { #expect($0.status == .ok) }
    }
  }

  @Test func sha256MatchesTheStandardVectors() {
    #expect(SHA256.hex(Data()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    #expect(SHA256.hex(Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    #expect(
      SHA256.hex(Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
        == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
  }
}

/// Headless Chromium with Selenium (Debian's chromium-driver, PyPI's selenium).
enum Browser {
  static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  static let available: Bool = {
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver") else { return false }
    let probe = Process()
    probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    probe.arguments = ["python3", "-c", "import selenium"]
    probe.standardError = FileHandle.nullDevice
    guard (try? probe.run()) != nil else { return false }
    probe.waitUntilExit()
    return probe.terminationStatus == 0
  }()

  static let required = Testing.ConditionTrait.enabled(
    if: available,
    "needs headless Chromium: apt-get install chromium chromium-driver and pip install selenium (scripts/browser-check.py)"
  )
}

@Suite(Browser.required, SharedData.required, .serialized) struct BrowserTests {
  /// A person's path through the page: choose a real X-ray, see its class, probabilities and heatmap.
  @Test func thePageClassifiesAnUploadedXRayInAHeadlessBrowser() async throws {
    let served = try server()
    defer { served.service.shutdown() }
    let screenshot = NSTemporaryDirectory() + "orthocxr-page-\(UUID().uuidString).png"
    defer { try? FileManager.default.removeItem(atPath: screenshot) }
    let output = try await served.application().test(.live) { client in
      let port = try #require(client.port)
      let process = Process()
      process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
      process.arguments = [
        "python3", Browser.repository.appendingPathComponent("scripts/browser-check.py").path, "--url",
        "http://127.0.0.1:\(port)/", "--image", SharedData.path("covid-radiography/images/COVID-1000.png"),
        "--screenshot", screenshot,
      ]
      let pipe = Pipe()
      process.standardOutput = pipe
      process.standardError = pipe
      try process.run()
      let data = pipe.fileHandleForReading.readDataToEndOfFile()
      process.waitUntilExit()
      return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
    #expect(output.0 == 0, "\(output.1)")
    #expect(output.1.contains("\"overlay\": true"))
    let image = try ImageReader.read(screenshot)
    #expect(image.width == 1280, "a screenshot of the page was saved")
  }
}
