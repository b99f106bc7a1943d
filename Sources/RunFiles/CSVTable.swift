import CSV
import Foundation

/// CSV text as RFC 4180 has it (fields holding commas, quotes or newlines are quoted), read and written
/// through CSV.swift. Every CSV file the project writes or reads goes through here or through CSV.swift
/// directly (dataset files, in Datasets).
public enum CSVTable {
  /// The header and rows as CSV text ending in a newline. Columns for which `alwaysQuoted` is true are
  /// quoted even when they need not be (paths, so that a spreadsheet never reads one as a number).
  public static func text(header: [String], rows: [[String]], alwaysQuoted: (Int) -> Bool = { _ in false }) throws
    -> String
  {
    let stream = OutputStream(toMemory: ())
    let writer = try CSVWriter(stream: stream)
    try writer.write(row: header)
    for row in rows { try writer.write(row: row, quotedAtIndex: alwaysQuoted) }
    writer.stream.close()
    guard let data = writer.stream.property(forKey: .dataWrittenToMemoryStreamKey) as? Data else { return "" }
    return String(decoding: data, as: UTF8.self) + "\n"
  }

  public static func write(
    header: [String], rows: [[String]], to path: String, alwaysQuoted: (Int) -> Bool = { _ in false }
  ) throws {
    try text(header: header, rows: rows, alwaysQuoted: alwaysQuoted).write(
      toFile: path, atomically: true, encoding: .utf8)
  }

  /// The header and the rows of CSV text; every row must have as many fields as the header.
  /// `source` names the text in errors (a path).
  public static func parse(_ text: String, source: String) throws -> (header: [String], rows: [[String]]) {
    let reader: CSVReader
    do {
      reader = try CSVReader(string: text, hasHeaderRow: true, trimFields: false)
    } catch {
      throw RunFileError(path: source, reason: "is not valid CSV: \(error)")
    }
    guard let header = reader.headerRow, !header.isEmpty, header != [""] else {
      throw RunFileError(path: source, reason: "is empty: a CSV with a header row was expected")
    }
    var rows: [[String]] = []
    while let row = reader.next() {
      if row == [""] { continue }  // a blank line
      guard row.count == header.count else {
        throw RunFileError(
          path: "\(source):\(rows.count + 2)", reason: "has \(row.count) fields where the header has \(header.count)")
      }
      rows.append(row)
    }
    if let error = reader.error {
      throw RunFileError(path: source, reason: "is not valid CSV: \(error)")
    }
    return (header, rows)
  }

  public static func read(_ path: String) throws -> (header: [String], rows: [[String]]) {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw RunFileError(path: path, reason: "does not exist or cannot be read")
    }
    return try parse(String(decoding: data, as: UTF8.self), source: path)
  }
}
