import Digests
import Foundation
import Serving
import TestSupport
import Testing

/// `orthocxr serve` killed with SIGKILL between requests and while one is in flight: the audit log
/// stays sound, every request that got a 200 has its row, and a restarted server goes on writing to it.
@Suite(SharedData.required, .serialized) struct ServeFaultTests {
  /// Starts the server and returns once it listens (its log says so).
  func start(checkpoint: String, audit: String, port: Int) throws -> Process {
    let executable = try #require(Orthocxr.executable)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = [
      "serve", "--checkpoint", checkpoint, "--port", String(port), "--audit", audit, "--threads", "1",
    ]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    var seen = ""
    while !seen.contains("Server started and listening") {
      let data = pipe.fileHandleForReading.availableData
      try #require(!data.isEmpty, "the server ended before listening: \(seen)")
      seen += String(decoding: data, as: UTF8.self)
    }
    // Keep draining its output so that it never blocks on a full pipe.
    pipe.fileHandleForReading.readabilityHandler = { _ = $0.availableData }
    return process
  }

  func post(_ path: String, port: Int) throws -> CurlPost {
    try CurlPost(file: path, to: "http://127.0.0.1:\(port)/v1/predictions")
  }

  @Test func aKilledServerLosesNoAnsweredRequestAndRestarts() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    // A model to serve: one epoch at 32 px on the mini split, calibrated.
    let trained = try Orthocxr.run([
      "train", "--train", SharedData.path("covid-radiography/mini_train.txt"), "--val",
      SharedData.path("covid-radiography/mini_test.txt"), "--test", SharedData.path("covid-radiography/mini_test.txt"),
      "--epochs", "1", "--image-size", "32", "--batch-size", "16", "--output", folder + "/run",
    ])
    try #require(trained.status == 0, "\(trained.output)")
    let checkpoint = folder + "/run/best-calibrated.safetensors"
    let audit = folder + "/audit.sqlite"
    let images = try String(contentsOfFile: SharedData.path("covid-radiography/mini_test.txt"), encoding: .utf8)
      .split(separator: "\n").map { SharedData.path("covid-radiography/images/" + $0.split(separator: " ")[1]) }
    let port = 20_000 + Int(getpid() % 20_000)

    let server = try start(checkpoint: checkpoint, audit: audit, port: port)
    var answered: [String] = []
    for image in images.prefix(8) where try post(image, port: port).status() == 200 { answered.append(image) }
    #expect(answered.count == 8)
    let inFlight = try post(images[8], port: port)
    kill(server.processIdentifier, SIGKILL)
    server.waitUntilExit()
    if inFlight.status() == 200 { answered.append(images[8]) }

    let log = try AuditLog(path: audit)
    #expect(try log.integrityCheck() == "ok")
    let recorded = Set(try log.records(limit: 1000).compactMap(\.inputSHA256))
    for image in answered {
      let digest = SHA256.hex(try Data(contentsOf: URL(fileURLWithPath: image)))
      #expect(recorded.contains(digest), "\(image) got a 200 but has no audit row")
    }

    let restarted = try start(checkpoint: checkpoint, audit: audit, port: port)
    #expect(try post(images[9], port: port).status() == 200)
    let after = try AuditLog(path: audit).records(limit: 1000)
    #expect(after.count >= answered.count + 1, "the restarted server appends to the same log")
    // SIGTERM: a graceful stop, status 0.
    kill(restarted.processIdentifier, SIGTERM)
    restarted.waitUntilExit()
    #expect(restarted.terminationReason == .exit && restarted.terminationStatus == 0)
  }
}
