import Foundation
import Testing

@testable import Imaging

enum SharedData {
  static let root: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/data").path
  static var isAvailable: Bool { FileManager.default.fileExists(atPath: root + "/README.md") }
  static func path(_ relative: String) -> String { root + "/" + relative }
  static let required = Testing.ConditionTrait.enabled(
    if: isAvailable, "needs ../shared/data (real chest X-rays) beside the repository; it is absent")
}

func temporaryFolder() throws -> String {
  let path = NSTemporaryDirectory() + "orthocxr-datasets-" + UUID().uuidString
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}

/// A small synthetic dataset on disk: `perClass` images of each class per split.
func syntheticDataset(perClass: Int = 2, size: Int = 40, splits: [String] = ["train", "test"]) throws -> String {
  let folder = try temporaryFolder()
  try SyntheticChestXRay.writeDataset(to: folder, counts: splits.map { ($0, perClass) }, size: size, seed: 9)
  return folder
}
