import Foundation
import TestSupport

@testable import Imaging

/// A small synthetic dataset on disk: `perClass` images of each class per split.
func syntheticDataset(perClass: Int = 2, size: Int = 40, splits: [String] = ["train", "test"]) throws -> String {
  let folder = try temporaryFolder()
  try SyntheticChestXRay.writeDataset(to: folder, counts: splits.map { ($0, perClass) }, size: size, seed: 9)
  return folder
}
