import Foundation
import TestSupport
import Testing

@testable import Datasets

@Suite struct SourceTests {
  @Test func splitFileResolvesImagesAndKeepsFields() throws {
    let folder = try syntheticDataset()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let entries = try DatasetSource.splitFile(folder + "/train.txt")
    #expect(entries.count == 6)
    #expect(
      entries[0]
        == DatasetEntry(
          patientID: "synthetic-000000", path: folder + "/images/synthetic-000000.png", label: "COVID-19",
          origin: "synthetic"))
    #expect(entries.allSatisfy { FileManager.default.fileExists(atPath: $0.path) })
  }

  @Test func malformedSplitFileNamesTheLine() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    try "p1 a.png normal\n\np2 b.png\n".write(toFile: folder + "/bad.txt", atomically: true, encoding: .utf8)
    let error = #expect(throws: DatasetError.self) { try DatasetSource.splitFile(folder + "/bad.txt") }
    #expect(error?.line == 3)
    #expect(error?.description.contains("bad.txt:3") == true)
    #expect(throws: DatasetError.self) { try DatasetSource.splitFile(folder + "/absent.txt") }
  }

  @Test func folderPerClassAndCSV() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    for label in ["COVID-19", "normal"] {
      try FileManager.default.createDirectory(atPath: "\(folder)/tree/\(label)", withIntermediateDirectories: true)
      for index in 0..<2 { try Data([0]).write(to: URL(fileURLWithPath: "\(folder)/tree/\(label)/\(index).png")) }
    }
    try Data().write(to: URL(fileURLWithPath: "\(folder)/tree/normal/notes.txt"))
    let tree = try DatasetSource.load(folder + "/tree")
    #expect(tree.map(\.label) == ["COVID-19", "COVID-19", "normal", "normal"])
    #expect(tree[0].path == "\(folder)/tree/COVID-19/0.png")

    try "image,diagnosis,subject\nx/1.png,normal,P7\n\"x/2, odd.png\",COVID-19,P8\n"
      .write(toFile: folder + "/labels.csv", atomically: true, encoding: .utf8)
    let rows = try DatasetSource.csv(
      folder + "/labels.csv", columns: .init(path: "image", label: "diagnosis", patient: "subject"))
    #expect(
      rows == [
        DatasetEntry(patientID: "P7", path: folder + "/x/1.png", label: "normal"),
        DatasetEntry(patientID: "P8", path: folder + "/x/2, odd.png", label: "COVID-19"),
      ])
    let error = #expect(throws: DatasetError.self) { try DatasetSource.csv(folder + "/labels.csv") }
    #expect(error?.reason.contains("no column \"path\"") == true)
  }

  @Test func labelMapsKeepMergeOrDrop() throws {
    let entries = ["COVID-19", "normal", "pneumonia", "positive"].map {
      DatasetEntry(patientID: $0, path: $0, label: $0)
    }
    let twoClass = try LabelMap.covidVersusNormal.apply(to: entries)
    #expect(twoClass.map(\.classIndex) == [0, 1, 0])
    #expect(twoClass.map(\.entry.label) == ["COVID-19", "normal", "positive"])
    #expect(try LabelMap.covidVersusNonCovid.apply(to: entries).map(\.classIndex) == [0, 1, 1, 0])
    #expect(throws: DatasetError.self) { try LabelMap.threeClass.apply(to: entries) }  // "positive" is unknown

    let custom = try LabelMap.parse("covid-19=sick, normal=well, pneumonia=sick, other=drop")
    #expect(custom.classes == ["sick", "well"])
    #expect(try custom.classIndex(for: "Pneumonia") == 0)
    #expect(try custom.classIndex(for: "other") == nil)
    #expect(throws: DatasetError.self) { try LabelMap.parse("covid-19=sick") }
    #expect(throws: DatasetError.self) { try LabelMap.parse("nonsense") }
  }
}

@Suite(SharedData.required) struct RealSplitTests {
  @Test func covidRadiographyMiniSplitsLoad() throws {
    let train = try DatasetSource.splitFile(SharedData.path("covid-radiography/mini_train.txt"))
    #expect(train.count == 144)
    #expect(
      Dictionary(grouping: train, by: \.label).mapValues(\.count) == ["COVID-19": 48, "normal": 48, "pneumonia": 48])
    #expect(train.allSatisfy { FileManager.default.fileExists(atPath: $0.path) })
  }
}
