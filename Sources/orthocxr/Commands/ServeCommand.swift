import ArgumentParser
import Engine
import Foundation
import Hummingbird
import Serving

/// `orthocxr serve`: one model behind an HTTP API and a web page.
struct ServeCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "serve",
    abstract: "Serve a model over HTTP: a JSON API, a web page, dynamic batching, limits and an audit log.",
    discussion: """
      POST /v1/predictions with a PNG, JPEG or DICOM body (raw, or multipart/form-data) answers the
      class, the calibrated probabilities and, with ?heatmap=gradcam (gradcam++, hirescam, layercam,
      scorecam), the heatmap over the X-ray as a PNG (add &map=true for the 16-bit map). GET / is a
      page for people; GET /v1/model the model card; /healthz, /readyz, /metrics (Prometheus) for
      machines; GET /v1/audit?since=SECONDS the audit log. docs/openapi.yaml documents the API.

      DICOMweb: POST /dicomweb/studies (STOW-RS, multipart/related; type="application/dicom")
      classifies each chest radiograph (CR, DX, greyscale SC) and stores its result under --results:
      JSON at GET /v1/results/ID, a Structured Report at /v1/results/ID/sr and a Secondary Capture
      with the heatmap at /v1/results/ID/sc, both in the image's own study. Other instances are
      listed as failed with the reason.

      Safe by default: binds 127.0.0.1; another address needs --token-file (clients send
      Authorization: Bearer TOKEN). Bodies over --max-body-mib get 413, anything but PNG/JPEG/DICOM
      (recognised by content) 415, an image that does not decode 422, a body slower than
      --body-timeout 408, a full queue 503 with Retry-After; an idle connection is closed. Ctrl-C or SIGTERM stops accepting, answers what is queued, and exits.
      """
  )

  @Option(help: "The checkpoint to serve (best-calibrated.safetensors for calibrated probabilities).")
  var checkpoint: String

  @Option(help: "Address to bind (127.0.0.1: this machine only).")
  var host = "127.0.0.1"

  @Option(help: "Port.")
  var port = 8080

  @Option(help: "A file holding the bearer token clients must send (required beyond 127.0.0.1).")
  var tokenFile: String?

  @Option(help: "Most requests in one forward pass.")
  var maxBatch = 16

  @Option(help: "Longest wait, in milliseconds, for more requests to join a batch.")
  var maxWaitMs = 10

  @Option(help: "Requests allowed to wait; beyond, 503.")
  var queueLimit = 256

  @Option(help: "Largest body in MiB; beyond, 413.")
  var maxBodyMib = 32

  @Option(help: "SQLite file of the audit log (one row per request; no pixels).")
  var audit: String?

  @Option(help: "Folder for the results of DICOM instances received over STOW-RS (JSON, SR, SC).")
  var results = "orthocxr-results"

  @Option(help: "Seconds after which a connection that sends nothing is closed.")
  var idleTimeout = 30

  @Option(help: "Seconds within which a request's whole body must arrive; beyond, 408.")
  var bodyTimeout = 60

  @Flag(help: "Answer \"no answer\" (class null) for images the checkpoint's OOD detector flags (orthocxr ood fit).")
  var abstain = false

  @Option(help: "libtorch threads.")
  var threads = 2

  @Option(help: deviceHelp)
  var device: Device = .cpu

  func validate() throws {
    guard maxBatch > 0, maxWaitMs >= 0, queueLimit > 0, maxBodyMib > 0, threads > 0, (1...65535).contains(port) else {
      throw ValidationError(
        "--max-batch, --queue-limit, --max-body-mib and --threads must be positive, --max-wait-ms not negative, --port 1…65535"
      )
    }
  }

  @OptionGroup var imageLimits: ImageLimitOptions

  func run() async throws {
    imageLimits.apply()
    var settings = PredictionServer.Settings()
    settings.host = host
    settings.port = port
    settings.maxBodyBytes = maxBodyMib * 1024 * 1024
    settings.auditPath = audit
    settings.resultsFolder = results
    settings.abstain = abstain
    settings.idleTimeout = .seconds(idleTimeout)
    settings.bodyTimeout = .seconds(bodyTimeout)
    if let tokenFile {
      guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8),
        case let token = text.trimmingCharacters(in: .whitespacesAndNewlines), !token.isEmpty
      else { throw ValidationError("--token-file \(tokenFile) cannot be read or is empty") }
      settings.token = token
    }
    let (service, server) = try userFacing { () -> (PredictionService, PredictionServer) in
      let service = try PredictionService(
        checkpoint: checkpoint, maxBatch: maxBatch, maxWait: .milliseconds(maxWaitMs), queueLimit: queueLimit,
        threads: threads, device: device)
      return (service, try PredictionServer(service: service, checkpoint: checkpoint, settings: settings))
    }
    print("serving \(server.card.summary)")
    print("  page      http://\(host):\(port)/")
    print("  API       POST http://\(host):\(port)/v1/predictions (docs/openapi.yaml)")
    print("  batching  up to \(maxBatch) requests, waiting at most \(maxWaitMs) ms; queue \(queueLimit)")
    print("  DICOMweb  POST http://\(host):\(port)/dicomweb/studies (STOW-RS); results in \(results)")
    if let audit { print("  audit     \(audit)") }
    if settings.token != nil { print("  token     required (Authorization: Bearer …)") }
    try await server.application().runService()
    service.shutdown()
    print("stopped: the queued requests were answered")
  }
}
