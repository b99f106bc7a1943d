import Foundation
import Hummingbird
import HummingbirdTesting
import Imaging
import TestSupport
import Testing

@testable import Serving

/// A multipart/related body of DICOM parts (and any extra raw parts), as a STOW-RS client sends it.
func stowBody(_ parts: [Data], boundary: String = "orthocxr-boundary-1") -> Data {
  var body = Data()
  for part in parts {
    body += Data("--\(boundary)\r\nContent-Type: application/dicom\r\n\r\n".utf8) + part + Data("\r\n".utf8)
  }
  return body + Data("--\(boundary)--\r\n".utf8)
}

let stowType = "multipart/related; type=\"application/dicom\"; boundary=orthocxr-boundary-1"

private func sequence(_ response: [String: Any], _ tag: String) -> [[String: Any]] {
  ((response[tag] as? [String: Any])?["Value"] as? [[String: Any]]) ?? []
}

private func first(_ item: [String: Any], _ tag: String) -> Any? {
  ((item[tag] as? [String: Any])?["Value"] as? [Any])?.first
}

@Suite(SharedData.required, .serialized) struct DicomWebTests {
  /// The CXR fixtures, a CT slice and a part that is not DICOM: each radiograph stored with its
  /// result, SR and SC retrievable; the other two failed with a reason; 202 for the mixture.
  @Test func stowStoresRadiographsAndRefusesTheRestWithReasons() async throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let served = try server {
      $0.resultsFolder = folder + "/results"
      $0.auditPath = folder + "/audit.sqlite"
    }
    defer { served.service.shutdown() }
    let fixtures = try FileManager.default.contentsOfDirectory(atPath: SharedData.path("dicom/cxr"))
      .filter { $0.hasSuffix(".dcm") }.sorted()
    #expect(fixtures.count == 12)
    let radiographs = try fixtures.map {
      try Data(contentsOf: URL(fileURLWithPath: SharedData.path("dicom/cxr/" + $0)))
    }
    let ct = try Data(contentsOf: URL(fileURLWithPath: SharedData.path("dicom/pydicom-test-files/CT_small.dcm")))
    let body = stowBody(radiographs + [ct, Data("plain text, not DICOM".utf8)])

    try await served.application().test(.router) { client in
      let resultURLs = try await client.execute(
        uri: "/dicomweb/studies", method: .post, headers: [.contentType: stowType], body: ByteBuffer(bytes: body)
      ) { response in
        #expect(response.status == .accepted, "some stored, some failed")
        #expect(response.headers[.contentType] == "application/dicom+json")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
        let stored = sequence(json, "00081199")
        let failed = sequence(json, "00081198")
        #expect(stored.count == 12 && failed.count == 2)
        let expectedUIDs = try radiographs.map {
          try DicomDecoding.decodeWithAttributes($0, path: "fixture").attributes.sopInstanceUID
        }
        #expect(stored.compactMap { first($0, "00081155") as? String } == expectedUIDs, "in the order sent")
        #expect(first(failed[0], "00081150") as? String == "1.2.840.10008.5.1.4.1.1.2")
        #expect(first(failed[0], "00081197") as? Int == 0x0122, "SOP class not supported")
        #expect((first(failed[0], "00000902") as? String)?.contains("CT Image") == true)
        #expect(first(failed[1], "00081197") as? Int == 0xC000, "cannot understand")
        return stored.compactMap { first($0, "00081190") as? String }
      }
      #expect(resultURLs.count == 12)
      let path = try #require(resultURLs.first.flatMap { URL(string: $0)?.path })
      try await client.execute(uri: path, method: .get) { response in
        #expect(response.status == .ok)
        let result = try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
        #expect(served.service.trained.classes.contains(result["class"] as? String ?? ""))
        #expect((result["source"] as? [String: String])?["sopInstanceUID"] != nil)
      }
      for (suffix, sopClass) in [("sr", "1.2.840.10008.5.1.4.1.1.88.33"), ("sc", "1.2.840.10008.5.1.4.1.1.7")] {
        try await client.execute(uri: path + "/" + suffix, method: .get) { response in
          #expect(response.status == .ok && response.headers[.contentType] == "application/dicom")
          let dataset = try DicomResults.json(of: Data(buffer: response.body))
          #expect(first(dataset, "00080016") as? String == sopClass)
          let source = try DicomDecoding.decodeWithAttributes(radiographs[0], path: "fixture").attributes
          #expect(first(dataset, "0020000D") as? String == source.studyInstanceUID, "in the source's study")
        }
      }
      for missing in ["/v1/results/0123456789abcdef", "/v1/results/..%2F..%2Fetc", "/v1/results/x/sr"] {
        try await client.execute(uri: missing, method: .get) { #expect($0.status == .notFound, "\(missing)") }
      }
    }
    // Every instance is in the audit log: 12 stored with their class, 2 refused with the reason.
    let records = try AuditLog(path: folder + "/audit.sqlite").records()
    #expect(records.filter { $0.outcome.hasPrefix("stored as result") && $0.predictedClass != nil }.count == 12)
    #expect(records.filter { $0.outcome.hasPrefix("STOW-RS refused") }.count == 2)
  }

  /// `serve --abstain`: a radiograph the detector flags is refused with the reason, and no result
  /// is stored for it.
  @Test func anAbstainingServerStoresNoResultForAFlaggedInstance() async throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let checkpoint = folder + "/flags-everything.safetensors"
    try ServedModel.writeCheckpoint(threshold: -1e300, to: checkpoint)
    var settings = PredictionServer.Settings()
    settings.abstain = true
    settings.resultsFolder = folder + "/results"
    let service = try PredictionService(checkpoint: checkpoint, threads: 1)
    defer { service.shutdown() }
    let served = try PredictionServer(service: service, checkpoint: checkpoint, settings: settings)
    let radiograph = try Data(
      contentsOf: URL(fileURLWithPath: SharedData.path("dicom/cxr/COVID-100_mono1_12bit.dcm")))
    try await served.application().test(.router) { client in
      try await client.execute(
        uri: "/dicomweb/studies", method: .post, headers: [.contentType: stowType],
        body: ByteBuffer(bytes: stowBody([radiograph]))
      ) { response in
        #expect(response.status == .conflict, "nothing stored")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
        let failed = sequence(json, "00081198")
        #expect(failed.count == 1 && sequence(json, "00081199").isEmpty)
        #expect(
          (first(failed[0], "00000902") as? String)?.hasPrefix("no answer: outside the training distribution") == true)
      }
    }
    let stored = (try? FileManager.default.contentsOfDirectory(atPath: folder + "/results")) ?? []
    #expect(stored.isEmpty)
  }

  @Test func nothingStoredIsAConflictAndTheWrongTypeIsRefused() async throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let served = try server { $0.resultsFolder = folder }
    defer { served.service.shutdown() }
    let ct = try Data(contentsOf: URL(fileURLWithPath: SharedData.path("dicom/pydicom-test-files/CT_small.dcm")))
    try await served.application().test(.router) { client in
      try await client.execute(
        uri: "/dicomweb/studies", method: .post, headers: [.contentType: stowType],
        body: ByteBuffer(bytes: stowBody([ct]))
      ) { #expect($0.status == .conflict) }
      try await client.execute(
        uri: "/dicomweb/studies", method: .post, headers: [.contentType: "application/dicom"],
        body: ByteBuffer(bytes: ct)
      ) { #expect($0.status == .unsupportedMediaType) }
      try await client.execute(
        uri: "/dicomweb/studies", method: .post, headers: [.contentType: stowType],
        body: ByteBuffer(string: "no parts here")
      ) { #expect($0.status == .badRequest) }
    }
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty, "nothing was stored")
  }

  /// The plain prediction route refuses DICOM files that are not radiographs too, saying why.
  @Test func aPredictionOfACTSliceIsRefusedWithTheReason() async throws {
    let served = try server()
    defer { served.service.shutdown() }
    let ct = try Data(contentsOf: URL(fileURLWithPath: SharedData.path("dicom/pydicom-test-files/CT_small.dcm")))
    try await served.application().test(.router) { client in
      try await client.execute(uri: "/v1/predictions", method: .post, body: ByteBuffer(bytes: ct)) { response in
        #expect(response.status == .unprocessableContent)
        #expect(String(buffer: response.body).contains("(CT Image) is not a chest radiograph"))
      }
    }
  }

  @Test func withoutAResultsFolderStowSaysHowToTurnItOn() async throws {
    let served = try server()
    defer { served.service.shutdown() }
    try await served.application().test(.router) { client in
      try await client.execute(
        uri: "/dicomweb/studies", method: .post, headers: [.contentType: stowType],
        body: ByteBuffer(bytes: stowBody([Data()]))
      ) { response in
        #expect(response.status == .notFound)
        #expect(String(buffer: response.body).contains("--results"))
      }
    }
  }
}

@Suite struct MultipartTests {
  @Test func partsKeepTheirBytesAndHeaders() throws {
    let binary = Data([0, 13, 10, 45, 45, 255, 13, 10])  // CR LF "--" inside a part is content
    let body =
      Data("preamble\r\n--b\r\nContent-Type: application/dicom\r\nX-Extra: 1\r\n\r\n".utf8) + binary
      + Data("\r\n--b\r\n\r\nsecond\r\n--b--\r\nepilogue".utf8)
    let parts = try #require(Multipart.parts(in: body, contentType: "multipart/related; boundary=\"b\""))
    #expect(parts.count == 2)
    #expect(parts[0].body == binary && parts[0].headers["content-type"] == "application/dicom")
    #expect(parts[0].headers["x-extra"] == "1")
    #expect(parts[1].body == Data("second".utf8) && parts[1].headers.isEmpty)
    #expect(Multipart.parts(in: body, contentType: "multipart/related") == nil, "no boundary")
    #expect(Multipart.parts(in: Data("--b\r\nunterminated".utf8), contentType: "multipart/related; boundary=b") == nil)
  }

  @Test func contentTypeParameters() {
    let parameters = Multipart.parameters(of: "multipart/related; Type=\"application/dicom\"; boundary=abc")
    #expect(parameters == ["type": "application/dicom", "boundary": "abc"])
  }
}
