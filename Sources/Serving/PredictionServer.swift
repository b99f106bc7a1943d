import Digests
import Evaluation
import Explanations
import Foundation
import Hummingbird
import Imaging
import Logging
import NIOCore
import Training

/// A request context that knows the client's address (for the audit log).
public struct ServingContext: RequestContext, RemoteAddressRequestContext {
  public var coreContext: CoreRequestContextStorage
  public let remoteAddress: SocketAddress?

  public init(source: ApplicationRequestContextSource) {
    coreContext = .init(source: source)
    remoteAddress = source.channel.remoteAddress
  }
}

/// The HTTP side of `orthocxr serve`: the JSON API (documented in docs/openapi.yaml), the page, the
/// limits and the audit log, around one `PredictionService`.
public struct PredictionServer: Sendable {
  public struct Settings: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Bearer token every /v1 request must carry; required to bind a non-loopback address.
    public var token: String?
    /// Largest accepted body (413 beyond).
    public var maxBodyBytes = 32 * 1024 * 1024
    /// SQLite file of the audit log; nil: no audit log.
    public var auditPath: String?
    /// A connection that sends nothing for this long is closed (a stalled or slowloris client
    /// holds no connection for ever).
    public var idleTimeout: Duration = .seconds(30)
    /// The whole body must arrive within this (a client trickling it a byte at a time gets 408).
    public var bodyTimeout: Duration = .seconds(60)
    /// Folder of the results of DICOM instances received over STOW-RS; nil: STOW-RS is off.
    public var resultsFolder: String?
    /// Answer "no answer" (class null) for images the model's OOD detector flags.
    public var abstain = false

    public init() {}

    /// Whether `host` reaches only this machine.
    public var isLoopback: Bool { ["127.0.0.1", "::1", "localhost"].contains(host) }
  }

  public let settings: Settings
  public let service: PredictionService
  public let card: ModelCard
  public let metrics = ServerMetrics()
  public let audit: AuditLog?
  public let results: ResultStore?
  let checkpointSHA256: String

  public init(service: PredictionService, checkpoint: String, settings: Settings) throws {
    guard settings.isLoopback || settings.token != nil else {
      throw ServingError(
        "binding \(settings.host) exposes the model beyond this machine: give a token (--token-file) or bind 127.0.0.1")
    }
    if settings.abstain && service.trained.outOfDistribution == nil {
      throw ServingError(
        "\(checkpoint) has no out-of-distribution detector to abstain with: run orthocxr ood fit first")
    }
    self.service = service
    self.settings = settings
    let checkpointData = try Data(contentsOf: URL(fileURLWithPath: checkpoint))
    checkpointSHA256 = SHA256.hex(checkpointData)
    card = try ModelCard(checkpoint: checkpoint, trained: service.trained, checkpointSHA256: checkpointSHA256)
    audit = try settings.auditPath.map { try AuditLog(path: $0) }
    results = settings.resultsFolder.map { ResultStore(folder: $0) }
  }

  /// An audit row for a request from `client`, with this server's model and the time now; the
  /// caller fills in what the request turns out to be.
  func auditRecord(client: String, input: Data? = nil, format: String? = nil, outcome: String) -> AuditRecord {
    AuditRecord(
      time: Date().timeIntervalSince1970, client: client, inputSHA256: input.map(SHA256.hex), inputFormat: format,
      checkpointSHA256: checkpointSHA256, temperature: service.trained.temperature, predictedClass: nil,
      probabilities: nil, latencyMilliseconds: 0, status: 200, outcome: outcome)
  }

  /// The model in answers: its architecture and the first 12 hex digits of the checkpoint's SHA-256.
  var modelID: String { "\(service.trained.architecture.rawValue)-\(checkpointSHA256.prefix(12))" }

  /// The routes, for the application and for tests.
  public func router() -> Router<ServingContext> {
    let router = Router(context: ServingContext.self)
    router.get("/") { _, _ in
      Response(
        status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
        body: .init(byteBuffer: ByteBuffer(string: WebPage.html)))
    }
    router.get("/healthz") { _, _ in "ok\n" }
    router.get("/readyz") { _, _ in "ready\n" }
    router.get("/metrics") { _, _ in
      metrics.recordBatches(service.takeBatchSizes())
      return Response(
        status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
        body: .init(byteBuffer: ByteBuffer(string: metrics.render(queueDepth: service.queueDepth))))
    }
    router.get("/v1/model") { request, _ in
      if let denied = authorize(request) { return denied }
      return json(card.json)
    }
    router.get("/v1/audit") { request, _ in
      if let denied = authorize(request) { return denied }
      guard let audit else { return problem(.notFound, "this server keeps no audit log (start it with --audit FILE)") }
      let since = request.uri.queryParameters.get("since").flatMap(Double.init) ?? 0
      let limit = min(request.uri.queryParameters.get("limit").flatMap(Int.init) ?? 100, 1000)
      let records = try audit.records(since: since, limit: limit)
      return json(try Self.encoder.encode(["records": records]))
    }
    router.get("/v1/recent") { request, _ in
      if let denied = authorize(request) { return denied }
      let records = try audit?.recent(20) ?? []
      return json(try Self.encoder.encode(["records": records]))
    }
    router.post("/v1/predictions") { request, context in
      try await predict(request, context: context)
    }
    router.post("/dicomweb/studies") { request, context in
      try await storeInstances(request, context: context)
    }
    router.get("/v1/results/:id") { request, context in
      result(request, id: context.parameters.get("id") ?? "", file: .json)
    }
    router.get("/v1/results/:id/sr") { request, context in
      result(request, id: context.parameters.get("id") ?? "", file: .report)
    }
    router.get("/v1/results/:id/sc") { request, context in
      result(request, id: context.parameters.get("id") ?? "", file: .capture)
    }
    return router
  }

  /// The application on the configured address; `run` it (it stops on SIGTERM or Ctrl-C).
  public func application(logger: Logger = Logger(label: "orthocxr.serve")) -> some ApplicationProtocol {
    let idle = TimeAmount.nanoseconds(
      Int64(settings.idleTimeout.components.seconds) * 1_000_000_000
        + settings.idleTimeout.components.attoseconds / 1_000_000_000)
    return Application(
      router: router(), server: .http1(configuration: .init(idleTimeout: idle)),
      configuration: .init(address: .hostname(settings.host, port: settings.port)), logger: logger)
  }

  // MARK: Predictions

  /// The JSON of a prediction (docs/openapi.yaml's Prediction).
  struct Answer: Codable {
    struct Heatmap: Codable {
      var method: String
      var overlayPNG: String
      var mapPNG: String?
    }
    /// nil when the server abstained.
    var `class`: String?
    var probabilities: [String: Double]
    var calibrated: Bool
    var temperature: Double
    var model: String
    var latencyMilliseconds: Double
    var batchSize: Int
    var inputFormat: String
    var heatmap: Heatmap?
    var outOfDistribution: OutOfDistributionAssessment?
    var abstained: Bool
  }

  func predict(_ request: Request, context: ServingContext) async throws -> Response {
    let started = ContinuousClock.now
    var record = auditRecord(client: context.remoteAddress?.ipAddress ?? "unknown", outcome: "ok")
    func finish(_ response: Response, outcome: String = "ok") throws -> Response {
      let seconds = (ContinuousClock.now - started).seconds
      metrics.recordRequest(status: Int(response.status.code), seconds: seconds)
      record.latencyMilliseconds = seconds * 1000
      record.status = Int(response.status.code)
      record.outcome = outcome
      try audit?.append(record)  // before the response leaves
      return response
    }
    if let denied = authorize(request) { return try finish(denied, outcome: "unauthorized") }

    let body: ByteBuffer
    switch await receiveBody(request) {
    case .complete(let buffer): body = buffer
    case .tooLarge:
      let response = problem(
        .contentTooLarge, "the body is larger than the limit of \(settings.maxBodyBytes) bytes")
      return try finish(response, outcome: "body too large")
    case .tooSlow:
      let response = problem(
        .requestTimeout, "the body did not arrive within \(settings.bodyTimeout.components.seconds) s")
      return try finish(response, outcome: "body too slow")
    }
    var data = Data(buffer: body)
    if let type = request.headers[.contentType], type.lowercased().hasPrefix("multipart/form-data") {
      guard let part = Multipart.firstFile(in: data, contentType: type) else {
        return try finish(
          problem(.badRequest, "a multipart body needs one part holding the image"), outcome: "bad multipart")
      }
      data = part
    }
    record.inputSHA256 = SHA256.hex(data)
    guard let format = ImageFormat.detect(data) else {
      return try finish(
        problem(.unsupportedMediaType, "the body is not a PNG, JPEG or DICOM image (recognised by content, not name)"),
        outcome: "unsupported media type")
    }
    record.inputFormat = format.rawValue
    var method: CAMMethod?
    if let name = request.uri.queryParameters.get("heatmap") {
      guard let chosen = CAMMethod(rawValue: name) else {
        let names = CAMMethod.allCases.map(\.rawValue).joined(separator: ", ")
        return try finish(
          problem(.badRequest, "heatmap must be one of \(names), not \"\(name)\""), outcome: "bad heatmap")
      }
      method = chosen
    }
    let includeMap = request.uri.queryParameters.get("map") == "true"
    let image: GrayImage
    do {
      if format == .dicom {
        let decoded = try DicomDecoding.decodeWithAttributes(data, path: "the uploaded DICOM")
        if let refusal = DicomInputCheck.refusal(decoded.attributes) {
          return try finish(
            problem(.unprocessableContent, "not classified: \(refusal)"), outcome: "not a radiograph: \(refusal)")
        }
        image = decoded.image
        let uids = [
          decoded.attributes.studyInstanceUID, decoded.attributes.seriesInstanceUID, decoded.attributes.sopInstanceUID,
        ].map { $0.isEmpty ? nil : $0 }
        (record.studyInstanceUID, record.seriesInstanceUID, record.sopInstanceUID) = (uids[0], uids[1], uids[2])
      } else {
        image = try ImageReader.decode(data, path: "the uploaded \(format)")
      }
    } catch let error as ImageError {
      return try finish(problem(.unprocessableContent, error.reason), outcome: "undecodable: \(error.reason)")
    }
    let answer: PredictionService.Answer
    do {
      answer = try await service.predict(image, heatmap: method)
    } catch let error as PredictionService.ServiceError {
      var response = problem(.serviceUnavailable, error.description)
      response.headers[.retryAfter] = "1"
      return try finish(response, outcome: error.description)
    }
    let classes = service.trained.classes
    let probabilities = Dictionary(uniqueKeysWithValues: zip(classes, answer.probabilities))
    let abstained = settings.abstain && answer.outOfDistribution?.flagged == true
    record.predictedClass = abstained ? nil : classes[answer.classIndex]
    record.probabilities = String(decoding: try Self.encoder.encode(probabilities), as: UTF8.self)
    let reply = Answer(
      class: abstained ? nil : classes[answer.classIndex], probabilities: probabilities,
      calibrated: service.trained.isCalibrated,
      temperature: service.trained.temperature,
      model: modelID,
      latencyMilliseconds: (ContinuousClock.now - started).seconds * 1000, batchSize: answer.batchSize,
      inputFormat: format.rawValue,
      heatmap: method.map { method in
        Answer.Heatmap(
          method: method.rawValue, overlayPNG: answer.overlayPNG?.base64EncodedString() ?? "",
          mapPNG: includeMap ? answer.mapPNG?.base64EncodedString() : nil)
      }, outOfDistribution: answer.outOfDistribution, abstained: abstained)
    let outcome =
      abstained
      ? "abstained: \(answer.outOfDistribution!.sentence)"
      : answer.outOfDistribution.map { $0.flagged ? "ok; \($0.sentence)" : "ok" } ?? "ok"
    return try finish(json(try Self.encoder.encode(reply)), outcome: outcome)
  }

  enum BodyOutcome: Sendable {
    case complete(ByteBuffer)
    case tooLarge
    case tooSlow
  }

  /// The body, up to the size limit and within the time limit: whichever comes first decides.
  func receiveBody(_ request: Request) async -> BodyOutcome {
    let (limit, timeout) = (settings.maxBodyBytes, settings.bodyTimeout)
    return await withTaskGroup(of: BodyOutcome?.self) { group in
      group.addTask {
        do { return .complete(try await request.body.collect(upTo: limit)) } catch { return .tooLarge }
      }
      group.addTask {
        do { try await Task.sleep(for: timeout) } catch { return nil }  // cancelled: the body came first
        return .tooSlow
      }
      var outcome = BodyOutcome.tooSlow
      while let next = await group.next() {
        if let next {
          outcome = next
          break
        }
      }
      group.cancelAll()
      return outcome
    }
  }

  // MARK: Helpers

  static let encoder: JSONEncoder = {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return encoder
  }()

  /// nil when the request may proceed; a 401 when a token is configured and not given.
  func authorize(_ request: Request) -> Response? {
    guard let token = settings.token else { return nil }
    let given = request.headers[.authorization].flatMap { value -> String? in
      value.hasPrefix("Bearer ") ? String(value.dropFirst(7)) : nil
    }
    guard let given, Self.constantTimeEqual(given, token) else {
      var response = problem(.unauthorized, "this server needs a bearer token (Authorization: Bearer …)")
      response.headers[.wwwAuthenticate] = "Bearer"
      return response
    }
    return nil
  }

  /// Compares without stopping at the first difference, so timing says nothing about the token.
  static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
    let (x, y) = (Array(a.utf8), Array(b.utf8))
    var difference = x.count ^ y.count
    for index in 0..<max(x.count, y.count) {
      difference |= Int((index < x.count ? x[index] : 0) ^ (index < y.count ? y[index] : 0))
    }
    return difference == 0
  }

  func json(_ data: Data) -> Response {
    Response(
      status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
  }

  /// An error as JSON: {"error": reason}. Never a stack trace.
  func problem(_ status: HTTPResponse.Status, _ reason: String) -> Response {
    let data = (try? Self.encoder.encode(["error": reason, "status": "\(status.code)"])) ?? Data()
    return Response(
      status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
  }
}

/// A failure to start serving, in words.
public struct ServingError: Error, CustomStringConvertible {
  public let description: String
  public init(_ description: String) { self.description = description }
}

/// Multipart bodies: multipart/form-data (what a browser's form or `curl -F` sends) and
/// multipart/related (DICOMweb STOW-RS), split into parts by the boundary the content type names.
enum Multipart {
  struct Part {
    /// Header names in lower case.
    var headers: [String: String]
    var body: Data
  }

  /// The parameters of a content type ("multipart/related; type=\"application/dicom\"; boundary=x"),
  /// names in lower case, quotes removed.
  static func parameters(of contentType: String) -> [String: String] {
    var result: [String: String] = [:]
    for field in contentType.split(separator: ";").dropFirst() {
      guard let equals = field.firstIndex(of: "=") else { continue }
      let name = field[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
      let value = field[field.index(after: equals)...].trimmingCharacters(in: CharacterSet(charactersIn: "\" "))
      result[name] = value
    }
    return result
  }

  /// Every part of `body`, or nil when the content type names no boundary or the body holds none.
  static func parts(in body: Data, contentType: String) -> [Part]? {
    guard let boundary = parameters(of: contentType)["boundary"], !boundary.isEmpty else { return nil }
    let delimiter = Data(("--" + boundary).utf8)
    let lineBreak = Data("\r\n".utf8)
    let headerEnd = Data("\r\n\r\n".utf8)
    guard var cursor = body.range(of: delimiter)?.upperBound else { return nil }
    var parts: [Part] = []
    // After each delimiter: "--" ends the body; otherwise the rest of the line, headers, a blank line,
    // and the content up to the next CRLF and delimiter.
    while body[cursor...].starts(with: Data("--".utf8)) == false {
      // (A part without headers has its blank line right after the delimiter's line break.)
      guard let lineEnd = body.range(of: lineBreak, in: cursor..<body.endIndex),
        let next = body.range(of: lineBreak + delimiter, in: lineEnd.lowerBound..<body.endIndex),
        let headersEnd = body.range(of: headerEnd, in: lineEnd.lowerBound..<next.upperBound),
        headersEnd.upperBound <= next.lowerBound
      else { return parts.isEmpty ? nil : parts }
      var headers: [String: String] = [:]
      let headerText = String(
        decoding: body[lineEnd.upperBound..<max(headersEnd.lowerBound, lineEnd.upperBound)], as: UTF8.self)
      for line in headerText.components(separatedBy: "\r\n") {
        guard let colon = line.firstIndex(of: ":") else { continue }
        headers[line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()] = line[line.index(after: colon)...]
          .trimmingCharacters(in: .whitespaces)
      }
      parts.append(Part(headers: headers, body: body.subdata(in: headersEnd.upperBound..<next.lowerBound)))
      cursor = next.upperBound
    }
    return parts
  }

  /// The first part's content: the uploaded file of a form.
  static func firstFile(in body: Data, contentType: String) -> Data? {
    parts(in: body, contentType: contentType)?.first?.body
  }
}
