import Foundation
import Testing

@testable import Datasets

@Suite struct DatasetCheckTests {
  @Test func cleanSplitsPass() throws {
    let folder = try syntheticDataset()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let report = DatasetChecker.check(splits: [
      ("train", try DatasetSource.splitFile(folder + "/train.txt")),
      ("test", try DatasetSource.splitFile(folder + "/test.txt")),
    ])
    #expect(report.isClean, "\(report.render())")
    #expect(report.classCounts[0].counts == ["COVID-19": 2, "normal": 2, "pneumonia": 2])
  }

  @Test func plantedProblemsAreAllFound() throws {
    let folder = try syntheticDataset()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let images = folder + "/images/"
    // A duplicate (same pixels, other name), a corrupt file, a missing file, an unknown label, and a
    // patient in both splits.
    try FileManager.default.copyItem(atPath: images + "synthetic-000001.png", toPath: images + "copy.png")
    try Data("not an image".utf8).write(to: URL(fileURLWithPath: images + "corrupt.png"))
    var train = try DatasetSource.splitFile(folder + "/train.txt")
    train.append(DatasetEntry(patientID: "dup", path: images + "copy.png", label: "normal"))
    train.append(DatasetEntry(patientID: "bad", path: images + "corrupt.png", label: "normal"))
    train.append(DatasetEntry(patientID: "gone", path: images + "absent.png", label: "normal"))
    train.append(DatasetEntry(patientID: "odd", path: images + "synthetic-000002.png", label: "tuberculosis"))
    var test = try DatasetSource.splitFile(folder + "/test.txt")
    test.append(DatasetEntry(patientID: "synthetic-000000", path: images + "synthetic-000008.png", label: "normal"))

    let report = DatasetChecker.check(splits: [("train", train), ("test", test)])
    #expect(!report.isClean)
    #expect(report.problems(of: .missingFile).count == 1)
    #expect(report.problems(of: .unreadableFile).count == 1)
    #expect(report.problems(of: .unreadableFile).first?.message.contains("corrupt.png") == true)
    #expect(report.problems(of: .unknownLabel).map(\.message) == ["train: \"tuberculosis\" (1 images)"])
    #expect(report.problems(of: .patientInSeveralSplits).map(\.message) == ["synthetic-000000 in test and train"])
    // copy.png duplicates 000001, and "odd" and the test entry re-list 000002 and 000008.
    let duplicates = report.problems(of: .duplicateImage).map(\.message)
    #expect(duplicates.contains { $0.contains("copy.png") && $0.contains("synthetic-000001.png") })
    #expect(duplicates.count == 3)
    let rendered = report.render()
    #expect(rendered.contains("1 × missing file"))
    #expect(rendered.contains("3 × duplicate image"))
  }

  /// A split name longer than the columns keeps its whole name and stays apart from its count.
  @Test func longSplitNamesStayWholeAndApart() {
    var report = DatasetReport()
    report.classCounts = [
      ("covid-radiography-mini_train.txt", ["COVID-19": 12, "normal": 3]), ("test.txt", ["COVID-19": 1]),
    ]
    let lines = report.render().split(separator: "\n").map(String.init)
    let row = try? #require(lines.first { $0.contains("mini_train") })
    #expect(row?.contains("covid-radiography-mini_train.txt  12") == true, "\(lines)")
    // The columns line up: each count starts where its header does.
    let header = lines[1]
    let headerColumn = header.range(of: "normal").map { header.distance(from: header.startIndex, to: $0.lowerBound) }
    let countColumn = row.flatMap { $0.range(of: " 3 ") }.map {
      row!.distance(from: row!.startIndex, to: $0.lowerBound) + 1
    }
    #expect(headerColumn != nil && headerColumn == countColumn, "\(lines)")
  }
}
