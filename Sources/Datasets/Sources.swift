import CSV
import Foundation

/// The ways users lay out their data.
public enum DatasetSource {
  /// The file extensions taken for images when a folder is listed.
  public static let imageExtensions: Set<String> = ["png", "jpg", "jpeg", "dcm", "dicom"]

  /// The images directly inside `folder` (not in subfolders), sorted by name: unlabeled X-rays to
  /// explain or predict. Empty when there are none.
  public static func images(in folder: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: folder).sorted().filter {
      !$0.hasPrefix(".") && imageExtensions.contains(($0 as NSString).pathExtension.lowercased())
    }.map { folder + "/" + $0 }
  }

  /// A COVIDx split file: one image per line, `patient_id filename label [source]`, separated by
  /// spaces. Labels are COVID-19 / normal / pneumonia (three-class files) or positive / negative
  /// (COVID-19 vs rest). Image names are resolved against `imageFolder` when given, else against the
  /// split file's folder, its `images/` subfolder, or a subfolder named after the split (COVIDx's
  /// `train/` and `test/`), whichever holds the first listed image.
  public static func splitFile(_ path: String, imageFolder: String? = nil) throws -> [DatasetEntry] {
    let text = try readText(path)
    var rows: [(line: Int, fields: [Substring])] = []
    for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
      if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
      let fields = trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" })
      guard fields.count >= 3 else {
        throw DatasetError(
          path: path, line: index + 1, reason: "expected `patient_id filename label [source]`, found \"\(trimmed)\"")
      }
      rows.append((index + 1, fields))
    }
    guard let first = rows.first else { throw DatasetError(path: path, reason: "lists no images") }
    let folder = imageFolder ?? resolveImageFolder(splitFile: path, firstImage: String(first.fields[1]))
    return rows.map { row in
      DatasetEntry(
        patientID: String(row.fields[0]), path: folder + "/" + row.fields[1], label: String(row.fields[2]),
        origin: row.fields.count > 3 ? row.fields[3...].joined(separator: " ") : "")
    }
  }

  static func resolveImageFolder(splitFile: String, firstImage: String) -> String {
    let directory = (splitFile as NSString).deletingLastPathComponent
    let splitName = ((splitFile as NSString).lastPathComponent as NSString).deletingPathExtension
    let base = directory.isEmpty ? "." : directory
    let candidates = [base + "/images", base, base + "/" + splitName]
    return candidates.first { FileManager.default.fileExists(atPath: $0 + "/" + firstImage) } ?? base + "/images"
  }

  /// A folder with one subfolder per class (`root/COVID-19/*.png`, `root/normal/*.jpeg`); the class is
  /// the subfolder's name, the patient id the image's name. Hidden files are skipped.
  public static func folderPerClass(_ root: String) throws -> [DatasetEntry] {
    let manager = FileManager.default
    var isDirectory: ObjCBool = false
    guard manager.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
      throw DatasetError(path: root, reason: "is not a folder")
    }
    var entries: [DatasetEntry] = []
    for label in try manager.contentsOfDirectory(atPath: root).sorted() where !label.hasPrefix(".") {
      let classFolder = root + "/" + label
      guard manager.fileExists(atPath: classFolder, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
      for name in try manager.contentsOfDirectory(atPath: classFolder).sorted()
      where !name.hasPrefix(".") && imageExtensions.contains((name as NSString).pathExtension.lowercased()) {
        entries.append(
          DatasetEntry(
            patientID: (name as NSString).deletingPathExtension, path: classFolder + "/" + name, label: label))
      }
    }
    guard !entries.isEmpty else { throw DatasetError(path: root, reason: "holds no class folders with images") }
    return entries
  }

  /// Which columns of a CSV file hold what.
  public struct CSVColumns: Sendable {
    public var path: String
    public var label: String
    /// nil: the image name serves as the patient id.
    public var patient: String?
    public var separator: Character

    public init(path: String = "path", label: String = "label", patient: String? = nil, separator: Character = ",") {
      self.path = path
      self.label = label
      self.patient = patient
      self.separator = separator
    }
  }

  /// A CSV file with a header row (RFC 4180: quoted fields may hold the separator, quotes and line
  /// breaks); relative image paths are resolved against `imageFolder` or the CSV's folder.
  public static func csv(_ path: String, columns: CSVColumns = CSVColumns(), imageFolder: String? = nil) throws
    -> [DatasetEntry]
  {
    let text = try readText(path)
    guard let separator = columns.separator.unicodeScalars.first, columns.separator.unicodeScalars.count == 1 else {
      throw DatasetError(path: path, reason: "the separator must be one character")
    }
    let reader: CSVReader
    do {
      reader = try CSVReader(string: text, hasHeaderRow: true, trimFields: true, delimiter: separator)
    } catch {
      throw DatasetError(path: path, reason: "is empty or not CSV (\(error))")
    }
    let names = reader.headerRow ?? []
    func column(_ name: String) throws -> Int {
      guard let index = names.firstIndex(of: name) else {
        throw DatasetError(
          path: path, line: 1, reason: "has no column \"\(name)\" (columns: \(names.joined(separator: ", ")))")
      }
      return index
    }
    let pathColumn = try column(columns.path)
    let labelColumn = try column(columns.label)
    let patientColumn = try columns.patient.map(column)
    let base = imageFolder ?? (path as NSString).deletingLastPathComponent
    var entries: [DatasetEntry] = []
    var row = 1
    while let fields = reader.next() {
      row += 1
      if fields.allSatisfy(\.isEmpty) { continue }  // a blank line
      guard fields.count == names.count else {
        throw DatasetError(path: path, line: row, reason: "has \(fields.count) fields, the header \(names.count)")
      }
      let imagePath = fields[pathColumn].hasPrefix("/") ? fields[pathColumn] : base + "/" + fields[pathColumn]
      let patient =
        patientColumn.map { fields[$0] }
        ?? ((fields[pathColumn] as NSString).lastPathComponent as NSString)
        .deletingPathExtension
      entries.append(DatasetEntry(patientID: patient, path: imagePath, label: fields[labelColumn]))
    }
    if let error = reader.error { throw DatasetError(path: path, line: row, reason: "is not valid CSV (\(error))") }
    return entries
  }

  /// Any of the three, by what `path` is: a folder (one subfolder per class), a `.csv` file, or a split file.
  public static func load(_ path: String, imageFolder: String? = nil) throws -> [DatasetEntry] {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
      return try folderPerClass(path)
    }
    if path.lowercased().hasSuffix(".csv") { return try csv(path, imageFolder: imageFolder) }
    return try splitFile(path, imageFolder: imageFolder)
  }

  static func readText(_ path: String) throws -> String {
    guard FileManager.default.fileExists(atPath: path) else { throw DatasetError(path: path, reason: "does not exist") }
    guard let data = FileManager.default.contents(atPath: path) else {
      throw DatasetError(path: path, reason: "cannot be read")
    }
    guard let text = String(data: data, encoding: .utf8) else {
      throw DatasetError(path: path, reason: "is not UTF-8 text")
    }
    return text
  }
}
