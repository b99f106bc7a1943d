import Foundation
import GRDB

/// One row per request, written before the response leaves: who asked what, which model answered
/// what, how long it took, or what went wrong. No pixels: the input is known by its SHA-256.
public struct AuditRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
  public static let databaseTableName = "predictions"

  public var id: Int64?
  /// Seconds since 1970, UTC.
  public var time: Double
  public var client: String
  public var inputSHA256: String?
  public var inputFormat: String?
  /// For DICOM inputs: Study, Series and SOP Instance UIDs.
  public var studyInstanceUID: String?
  public var seriesInstanceUID: String?
  public var sopInstanceUID: String?
  public var checkpointSHA256: String
  public var temperature: Double
  public var predictedClass: String?
  /// JSON object: class → probability.
  public var probabilities: String?
  public var latencyMilliseconds: Double
  /// HTTP status.
  public var status: Int
  /// "ok", or the error returned.
  public var outcome: String

  public init(
    time: Double, client: String, inputSHA256: String?, inputFormat: String?, checkpointSHA256: String,
    temperature: Double, predictedClass: String?, probabilities: String?, latencyMilliseconds: Double, status: Int,
    outcome: String
  ) {
    self.time = time
    self.client = client
    self.inputSHA256 = inputSHA256
    self.inputFormat = inputFormat
    self.checkpointSHA256 = checkpointSHA256
    self.temperature = temperature
    self.predictedClass = predictedClass
    self.probabilities = probabilities
    self.latencyMilliseconds = latencyMilliseconds
    self.status = status
    self.outcome = outcome
  }

  public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// The audit log: SQLite in WAL mode through GRDB, so that a reader (the page, /v1/audit) never
/// blocks a writer, and a killed server loses nothing that was answered.
public final class AuditLog: Sendable {
  private let database: DatabasePool

  public init(path: String) throws {
    var configuration = Configuration()
    configuration.busyMode = .timeout(5)
    database = try DatabasePool(path: path, configuration: configuration)
    try database.write { db in
      try db.create(table: AuditRecord.databaseTableName, ifNotExists: true) { table in
        table.autoIncrementedPrimaryKey("id")
        table.column("time", .double).notNull().indexed()
        table.column("client", .text).notNull()
        table.column("inputSHA256", .text)
        table.column("inputFormat", .text)
        table.column("studyInstanceUID", .text)
        table.column("seriesInstanceUID", .text)
        table.column("sopInstanceUID", .text)
        table.column("checkpointSHA256", .text).notNull()
        table.column("temperature", .double).notNull()
        table.column("predictedClass", .text)
        table.column("probabilities", .text)
        table.column("latencyMilliseconds", .double).notNull()
        table.column("status", .integer).notNull()
        table.column("outcome", .text).notNull()
      }
    }
  }

  /// Writes the record and returns it with its id; returns only once it is committed.
  @discardableResult
  public func append(_ record: AuditRecord) throws -> AuditRecord {
    try database.write { db in try record.inserted(db) }
  }

  /// The records after `since` (seconds since 1970), oldest first, at most `limit`.
  public func records(since: Double = 0, limit: Int = 100) throws -> [AuditRecord] {
    try database.read { db in
      try AuditRecord.filter(Column("time") > since).order(Column("time"), Column("id")).limit(limit).fetchAll(db)
    }
  }

  /// The most recent records, newest first.
  public func recent(_ limit: Int = 20) throws -> [AuditRecord] {
    try database.read { db in
      try AuditRecord.order(Column("id").desc).limit(limit).fetchAll(db)
    }
  }

  /// SQLite's own check of the file.
  public func integrityCheck() throws -> String {
    try database.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "" }
  }
}
