import Digests
import Foundation
import Hummingbird
import Imaging
import NIOCore
import Pipelines

/// Where the server keeps the results of DICOM instances it received (STOW-RS): a folder per result,
/// named by a random id, holding result.json, sr.dcm (Structured Report) and sc.dcm (Secondary
/// Capture). Files are written whole and renamed into place, so a reader never sees half of one.
public struct ResultStore: Sendable {
  public let folder: String

  /// The folder is made with the first result, so a server that never receives DICOM leaves none.
  public init(folder: String) { self.folder = folder }

  /// The kinds of file a result holds, by the name used in URLs.
  public enum File: String, Sendable, CaseIterable {
    case json = "result.json"
    case report = "sr.dcm"
    case capture = "sc.dcm"
  }

  /// A new id: 16 hexadecimal digits.
  static func newID() -> String {
    String((0..<16).map { _ in "0123456789abcdef".randomElement()! })
  }

  /// Whether `id` has the shape of an id (so that it can never name a path outside the folder).
  static func isID(_ id: String) -> Bool {
    id.count == 16 && id.allSatisfy { "0123456789abcdef".contains($0) }
  }

  func save(id: String, json: Data, report: Data, capture: Data) throws {
    let directory = folder + "/" + id
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    // The JSON last: a result whose JSON exists is complete.
    for (file, data) in [(File.report, report), (.capture, capture), (.json, json)] {
      try data.write(to: URL(fileURLWithPath: directory + "/" + file.rawValue), options: .atomic)
    }
  }

  /// A file of a result; nil when there is no such result.
  func load(id: String, file: File) -> Data? {
    guard Self.isID(id), FileManager.default.fileExists(atPath: folder + "/" + id + "/" + File.json.rawValue) else {
      return nil
    }
    return FileManager.default.contents(atPath: folder + "/" + id + "/" + file.rawValue)
  }
}

/// DICOMweb STOW-RS (PS3.18 10.5): `POST /dicomweb/studies` with multipart/related;
/// type="application/dicom". Each instance that is a chest radiograph is classified; its result is
/// stored as JSON, SR and SC and listed in the response's Referenced SOP Sequence with the URL to
/// fetch it; every other instance is listed in the Failed SOP Sequence with a failure reason code and
/// a comment saying why.
extension PredictionServer {
  /// Failure Reason (0008,1197) codes of PS3.18 Table I.2-1 / PS3.4 Annex GG.
  enum FailureReason: Int {
    /// Processing failure: decoded, but not an image this model classifies (modality, frames, colour).
    case processingFailure = 0x0110
    /// Referenced SOP Class not supported: not a radiograph's storage class.
    case sopClassNotSupported = 0x0122
    /// Out of resources: the server is busy or could not store the result.
    case outOfResources = 0xA700
    /// Cannot understand: not DICOM, or it does not decode.
    case cannotUnderstand = 0xC000
  }

  /// One instance's outcome, as an item of the response's sequences.
  struct StoreOutcome {
    var sopClass: String
    var sopInstance: String
    /// The result's id when stored.
    var resultID: String?
    var failure: (reason: FailureReason, comment: String)?
  }

  /// The JSON of a stored result (docs/openapi.yaml's DicomResult).
  struct StoredResult: Codable {
    struct Source: Codable {
      var studyInstanceUID: String
      var seriesInstanceUID: String
      var sopInstanceUID: String
      var sopClassUID: String
    }
    var id: String
    var source: Source
    var `class`: String
    var probabilities: [String: Double]
    var calibrated: Bool
    var temperature: Double
    var model: String
    var structuredReportUID: String
    var secondaryCaptureUID: String
    var structuredReport: String
    var secondaryCapture: String
    var time: String
  }

  func storeInstances(_ request: Request, context: ServingContext) async throws -> Response {
    let started = ContinuousClock.now
    let client = context.remoteAddress?.ipAddress ?? "unknown"
    /// A refusal of the whole request: one audit row (each instance of an accepted one has its own).
    func finish(_ response: Response, outcome: String) throws -> Response {
      let seconds = (ContinuousClock.now - started).seconds
      metrics.recordRequest(status: Int(response.status.code), seconds: seconds)
      var record = auditRecord(client: client, format: "dicom", outcome: outcome)
      record.status = Int(response.status.code)
      record.latencyMilliseconds = seconds * 1000
      try audit?.append(record)
      return response
    }
    if let denied = authorize(request) { return try finish(denied, outcome: "unauthorized") }
    guard let results else {
      return try finish(
        problem(.notFound, "this server keeps no DICOM results: start it with --results DIR to accept STOW-RS"),
        outcome: "no results folder")
    }
    let contentType = request.headers[.contentType] ?? ""
    let parameters = Multipart.parameters(of: contentType)
    guard contentType.lowercased().hasPrefix("multipart/related"),
      (parameters["type"] ?? "application/dicom").lowercased() == "application/dicom"
    else {
      return try finish(
        problem(.unsupportedMediaType, "STOW-RS takes multipart/related; type=\"application/dicom\" bodies"),
        outcome: "unsupported media type")
    }
    let body: ByteBuffer
    switch await receiveBody(request) {
    case .complete(let buffer): body = buffer
    case .tooLarge:
      return try finish(
        problem(.contentTooLarge, "the body is larger than the limit of \(settings.maxBodyBytes) bytes"),
        outcome: "body too large")
    case .tooSlow:
      return try finish(
        problem(.requestTimeout, "the body did not arrive within \(settings.bodyTimeout.components.seconds) s"),
        outcome: "body too slow")
    }
    guard let parts = Multipart.parts(in: Data(buffer: body), contentType: contentType), !parts.isEmpty else {
      return try finish(
        problem(.badRequest, "the multipart/related body holds no parts (check its boundary)"), outcome: "bad multipart"
      )
    }
    let base = request.head.authority.map { "http://\($0)" } ?? ""
    // Instances run concurrently so that the service batches them; the response keeps their order.
    let outcomes = try await withThrowingTaskGroup(of: (Int, StoreOutcome).self) { group in
      for (index, part) in parts.enumerated() {
        group.addTask { (index, try await self.store(part, in: results, started: started, client: client)) }
      }
      var outcomes = [StoreOutcome?](repeating: nil, count: parts.count)
      for try await (index, outcome) in group { outcomes[index] = outcome }
      return outcomes.compactMap { $0 }
    }
    let stored = outcomes.filter { $0.failure == nil }
    // PS3.18 10.5.3: 200 all stored, 202 some failed, 409 none stored.
    let status: HTTPResponse.Status =
      stored.count == outcomes.count ? .ok : stored.isEmpty ? .conflict : .accepted
    let response = Response(
      status: status, headers: [.contentType: "application/dicom+json"],
      body: .init(byteBuffer: ByteBuffer(bytes: Self.storeResponse(outcomes, base: base))))
    metrics.recordRequest(status: Int(status.code), seconds: (ContinuousClock.now - started).seconds)
    return response
  }

  /// Classifies one instance and stores its result; any refusal becomes the outcome's failure.
  private func store(_ part: Multipart.Part, in results: ResultStore, started: ContinuousClock.Instant, client: String)
    async throws -> StoreOutcome
  {
    var outcome = StoreOutcome(sopClass: "", sopInstance: "")
    var audited = auditRecord(client: client, input: part.body, format: "dicom", outcome: "stored")
    func fail(_ reason: FailureReason, _ comment: String) throws -> StoreOutcome {
      outcome.failure = (reason, comment)
      audited.status = 409
      audited.outcome = "STOW-RS refused: \(comment)"
      audited.latencyMilliseconds = (ContinuousClock.now - started).seconds * 1000
      try audit?.append(audited)
      return outcome
    }
    let partType = (part.headers["content-type"] ?? "application/dicom").lowercased()
    guard partType.hasPrefix("application/dicom") else {
      return try fail(.cannotUnderstand, "a part of type \(partType), not application/dicom")
    }
    let decoded: (image: GrayImage, attributes: DicomDecoding.Attributes)
    do {
      decoded = try DicomDecoding.decodeWithAttributes(part.body, path: "the instance")
    } catch let error as ImageError {
      return try fail(.cannotUnderstand, error.reason)
    }
    let attributes = decoded.attributes
    (outcome.sopClass, outcome.sopInstance) = (attributes.sopClassUID, attributes.sopInstanceUID)
    audited.studyInstanceUID = attributes.studyInstanceUID
    audited.seriesInstanceUID = attributes.seriesInstanceUID
    audited.sopInstanceUID = attributes.sopInstanceUID
    if let refusal = DicomInputCheck.refusal(attributes) {
      let reason: FailureReason =
        DicomInputCheck.acceptedClasses[attributes.sopClassUID] == nil ? .sopClassNotSupported : .processingFailure
      return try fail(reason, refusal)
    }
    if attributes.sopInstanceUID.isEmpty {
      return try fail(.cannotUnderstand, "it has no SOP Instance UID, so a result cannot reference it")
    }
    let answer: PredictionService.Answer
    do {
      answer = try await service.predict(decoded.image, heatmap: .gradCAM)
    } catch let error as PredictionService.ServiceError {
      return try fail(.outOfResources, error.description)
    }
    guard let map = answer.map else { return try fail(.outOfResources, "no heatmap was made") }
    if settings.abstain, let verdict = answer.outOfDistribution, verdict.flagged {
      return try fail(.processingFailure, "no answer: \(verdict.sentence)")
    }
    let classes = service.trained.classes
    let model = DicomResults.Model(service.trained, checkpointSHA256: checkpointSHA256, heatmapMethod: .gradCAM)
    let written = try DicomResults.make(
      source: part.body, attributes: attributes, image: decoded.image, map: map, probabilities: answer.probabilities,
      model: model)
    let id = ResultStore.newID()
    let probabilities = Dictionary(uniqueKeysWithValues: zip(classes, answer.probabilities))
    let result = StoredResult(
      id: id,
      source: .init(
        studyInstanceUID: written.studyInstanceUID, seriesInstanceUID: attributes.seriesInstanceUID,
        sopInstanceUID: attributes.sopInstanceUID, sopClassUID: attributes.sopClassUID),
      class: classes[answer.classIndex], probabilities: probabilities, calibrated: service.trained.isCalibrated,
      temperature: service.trained.temperature,
      model: modelID, structuredReportUID: written.reportUID, secondaryCaptureUID: written.captureUID,
      structuredReport: "/v1/results/\(id)/sr", secondaryCapture: "/v1/results/\(id)/sc",
      time: ISO8601DateFormatter().string(from: Date()))
    do {
      try results.save(
        id: id, json: try Self.encoder.encode(result), report: written.structuredReport,
        capture: written.secondaryCapture)
    } catch {
      return try fail(.outOfResources, "the result could not be stored: \(error.localizedDescription)")
    }
    outcome.resultID = id
    audited.predictedClass = classes[answer.classIndex]
    audited.probabilities = String(decoding: try Self.encoder.encode(probabilities), as: UTF8.self)
    audited.outcome = "stored as result \(id)"
    audited.latencyMilliseconds = (ContinuousClock.now - started).seconds * 1000
    try audit?.append(audited)
    return outcome
  }

  /// The STOW-RS response in the DICOM JSON model: Referenced SOP Sequence (0008,1199) for stored
  /// instances with their Retrieve URL (0008,1190), Failed SOP Sequence (0008,1198) with Failure
  /// Reason (0008,1197) and an Error Comment (0000,0902) saying why in words.
  static func storeResponse(_ outcomes: [StoreOutcome], base: String) -> Data {
    func ui(_ value: String) -> [String: Any] { value.isEmpty ? ["vr": "UI"] : ["vr": "UI", "Value": [value]] }
    var referenced: [[String: Any]] = []
    var failed: [[String: Any]] = []
    for outcome in outcomes {
      var item: [String: Any] = ["00081150": ui(outcome.sopClass), "00081155": ui(outcome.sopInstance)]
      if let failure = outcome.failure {
        item["00081197"] = ["vr": "US", "Value": [failure.reason.rawValue]]
        item["00000902"] = ["vr": "LO", "Value": [String(failure.comment.prefix(64))]]
        failed.append(item)
      } else if let id = outcome.resultID {
        item["00081190"] = ["vr": "UR", "Value": ["\(base)/v1/results/\(id)"]]
        referenced.append(item)
      }
    }
    var response: [String: Any] = [:]
    if !referenced.isEmpty { response["00081199"] = ["vr": "SQ", "Value": referenced] }
    if !failed.isEmpty { response["00081198"] = ["vr": "SQ", "Value": failed] }
    return (try? JSONSerialization.data(withJSONObject: response, options: [.sortedKeys, .withoutEscapingSlashes]))
      ?? Data("{}".utf8)
  }

  /// GET /v1/results/{id}[/sr|/sc].
  func result(_ request: Request, id: String, file: ResultStore.File) -> Response {
    if let denied = authorize(request) { return denied }
    guard let results else {
      return problem(.notFound, "this server keeps no DICOM results (start it with --results DIR)")
    }
    guard let data = results.load(id: id, file: file) else { return problem(.notFound, "no result \(id)") }
    let type = file == .json ? "application/json" : "application/dicom"
    var headers: HTTPFields = [.contentType: type]
    if file != .json { headers[.contentDisposition] = "attachment; filename=\"\(id)-\(file.rawValue)\"" }
    return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
  }
}
