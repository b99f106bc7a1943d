import Foundation
import TestSupport
import Testing

@testable import Imaging

@Suite struct SyntheticChestXRayTests {
  @Test func sameSeedSameImageDifferentSeedDifferentImage() {
    let a = SyntheticChestXRay.generate(size: 96, finding: .covid, seed: 5)
    let b = SyntheticChestXRay.generate(size: 96, finding: .covid, seed: 5)
    let c = SyntheticChestXRay.generate(size: 96, finding: .covid, seed: 6)
    #expect(a.image == b.image)
    #expect(a.lesions == b.lesions)
    #expect(a.image != c.image)
  }

  @Test func lesionsMatchTheClass() {
    for seed in 0..<10 as Range<UInt64> {
      #expect(SyntheticChestXRay.generate(size: 64, finding: .normal, seed: seed).lesions.isEmpty)
      #expect((2...4).contains(SyntheticChestXRay.generate(size: 64, finding: .covid, seed: seed).lesions.count))
      #expect(SyntheticChestXRay.generate(size: 64, finding: .pneumonia, seed: seed).lesions.count == 1)
    }
  }

  /// The anatomy is where a chest X-ray has it: lung fields darker than the mediastinum between
  /// them, and a lesion brighter than the same place on a normal image from the same seed.
  @Test func anatomyAndLesionsShowInTheIntensities() {
    let size = 128
    let normal = SyntheticChestXRay.generate(size: size, finding: .normal, seed: 3).image
    func mean(_ image: GrayImage, _ xs: Range<Int>, _ ys: Range<Int>) -> Float {
      let values = ys.flatMap { y in xs.map { image[$0, y] } }
      return values.reduce(0, +) / Float(values.count)
    }
    let leftLung = mean(normal, 34..<46, 50..<70)
    let mediastinum = mean(normal, 60..<68, 50..<70)
    #expect(leftLung + 0.1 < mediastinum, "lungs \(leftLung) are darker than the mediastinum \(mediastinum)")

    let pneumonia = SyntheticChestXRay.generate(size: size, finding: .pneumonia, seed: 3)
    let box = pneumonia.lesions[0]
    let centre = (box.x + box.width / 2 - 2)..<(box.x + box.width / 2 + 2)
    let middle = (box.y + box.height / 2 - 2)..<(box.y + box.height / 2 + 2)
    #expect(mean(pneumonia.image, centre, middle) > mean(normal, centre, middle) + 0.05)
  }

  @Test func writesImagesSplitFilesAndBoxes() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let splits = try SyntheticChestXRay.writeDataset(
      to: folder, counts: [("train", 2), ("test", 1)], size: 48, seed: 1)
    #expect(splits == [folder + "/train.txt", folder + "/test.txt"])
    let train = try String(contentsOfFile: splits[0], encoding: .utf8).split(separator: "\n")
    #expect(train.count == 6)
    #expect(train[0] == "synthetic-000000 synthetic-000000.png COVID-19 synthetic")
    let image = try ImageReader.read(folder + "/images/synthetic-000000.png")
    #expect(image.width == 48)
    let boxes = try String(contentsOfFile: folder + "/boxes.csv", encoding: .utf8).split(separator: "\n")
    #expect(boxes[0] == "filename,label,x,y,width,height")
    #expect(boxes.dropFirst().allSatisfy { !$0.contains(",normal,") })
    #expect(boxes.count > 1)
  }
}
