/// One image of a dataset, as its source lists it.
public struct DatasetEntry: Equatable, Hashable, Sendable {
  /// The patient the image belongs to (the image name where the source has no patient ids): images of
  /// one patient must not be split between training and test.
  public var patientID: String
  /// The image file, resolved against the source's location.
  public var path: String
  /// The label as the source writes it ("COVID-19", "normal", "positive", ...).
  public var label: String
  /// Where the image came from, when the source says ("kaggle-cxr-db", "synthetic"); may be empty.
  public var origin: String

  public init(patientID: String, path: String, label: String, origin: String = "") {
    self.patientID = patientID
    self.path = path
    self.label = label
    self.origin = origin
  }
}

/// A dataset description that cannot be read, naming the file, the line where known, and the reason.
public struct DatasetError: Error, CustomStringConvertible, Equatable {
  public let path: String
  public let line: Int?
  public let reason: String

  public init(path: String, line: Int? = nil, reason: String) {
    self.path = path
    self.line = line
    self.reason = reason
  }

  public var description: String { line.map { "\(path):\($0): \(reason)" } ?? "\(path): \(reason)" }
}
