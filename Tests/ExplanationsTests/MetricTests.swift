import Datasets
import Explanations
import Foundation
import Imaging
import TestSupport
import Testing

@Suite struct FaithfulnessTests {
  /// A 2x2 image of ones against a black baseline, scored by its first pixel alone: removing that
  /// pixel first makes the score fall at the first step, removing it last keeps it up until the end.
  let image = GrayImage(width: 2, height: 2, pixels: [1, 1, 1, 1])
  let baseline = GrayImage(width: 2, height: 2, pixels: [0, 0, 0, 0])
  let firstPixel: Faithfulness.Scorer = { images in images.map { Double($0.pixels[0]) } }

  @Test func deletionAndInsertionWhenTheMapIsRight() throws {
    let saliency: [Float] = [1, 0.5, 0.25, 0]
    let deletion = try Faithfulness.deletion(image, saliency: saliency, baseline: baseline, steps: 4, score: firstPixel)
    #expect(deletion.fractions == [0, 0.25, 0.5, 0.75, 1])
    #expect(deletion.scores == [1, 0, 0, 0, 0])
    #expect(abs(deletion.area - 0.125) < 1e-12)
    let insertion = try Faithfulness.insertion(
      image, saliency: saliency, baseline: baseline, steps: 4, score: firstPixel)
    #expect(insertion.scores == [0, 1, 1, 1, 1])
    #expect(abs(insertion.area - 0.875) < 1e-12)
  }

  @Test func deletionAndInsertionWhenTheMapIsWrong() throws {
    let saliency: [Float] = [0, 0.25, 0.5, 1]
    let deletion = try Faithfulness.deletion(image, saliency: saliency, baseline: baseline, steps: 4, score: firstPixel)
    #expect(abs(deletion.area - 0.875) < 1e-12)
    let insertion = try Faithfulness.insertion(
      image, saliency: saliency, baseline: baseline, steps: 4, score: firstPixel)
    #expect(abs(insertion.area - 0.125) < 1e-12)
  }

  @Test func imputationContinuesALinearRampIntoAHole() {
    let size = 16
    let ramp = GrayImage(width: size, height: size, pixels: (0..<(size * size)).map { Float($0 % size) / 15 })
    var removed = [Bool](repeating: false, count: size * size)
    for y in 6..<10 { for x in 6..<10 { removed[y * size + x] = true } }
    let filled = Faithfulness.noisyLinearImputation(ramp, removing: removed, noise: 0)
    let error = zip(filled.pixels, ramp.pixels).map { abs($0 - $1) }.max() ?? 1
    #expect(error < 1e-3)
  }

  @Test func roadMeasuresTheDropWhenTheDecisivePixelsAreImputed() throws {
    // Bright square on black; the score is the square's mean brightness.
    var pixels = [Float](repeating: 0, count: 20 * 20)
    for y in 5..<10 { for x in 5..<10 { pixels[y * 20 + x] = 1 } }
    let image = GrayImage(width: 20, height: 20, pixels: pixels)
    let squareMean: Faithfulness.Scorer = { images in
      images.map { image in
        var sum = 0.0
        for y in 5..<10 { for x in 5..<10 { sum += Double(image.pixels[y * 20 + x]) } }
        return sum / 25
      }
    }
    let onSquare = try Faithfulness.roadConfidenceDrop(
      image, saliency: pixels, fraction: 25.0 / 400, score: squareMean)
    let offSquare = try Faithfulness.roadConfidenceDrop(
      image, saliency: pixels.map { 1 - $0 }, fraction: 25.0 / 400, score: squareMean)
    #expect(onSquare.original == 1)
    #expect(onSquare.drop > 0.5)
    #expect(abs(offSquare.drop) < 1e-9)
  }

  @Test func blurKeepsAConstantImageAndSmoothsAnEdge() {
    let flat = GrayImage(width: 9, height: 9, value: 0.3)
    #expect(Faithfulness.blurred(flat, sigma: 2).pixels.allSatisfy { abs($0 - 0.3) < 1e-6 })
    let edge = GrayImage(width: 9, height: 1, pixels: [0, 0, 0, 0, 1, 1, 1, 1, 1])
    let smooth = Faithfulness.blurred(edge, sigma: 1).pixels
    #expect(smooth[3] > 0.1 && smooth[3] < 0.5 && smooth[4] > 0.5 && smooth[4] < 0.9)
  }
}

@Suite struct LocalizationTests {
  let region = GroundTruthRegion(width: 4, height: 2, boxes: [LesionBox(x: 2, y: 0, width: 2, height: 2)])

  @Test func pointingGameLooksAtTheMaximum() {
    #expect(Localization.pointingGameHit(map: [0, 0, 0.9, 0, 0, 0, 0, 0], region: region))
    #expect(!Localization.pointingGameHit(map: [0.95, 0, 0.9, 0, 0, 0, 0, 0], region: region))
  }

  @Test func energyInsideIsTheShareOfTheMap() {
    #expect(Localization.energyInside(map: [1, 1, 1, 1, 0, 0, 1, 1], region: region) == 4.0 / 6)
    #expect(Localization.energyInside(map: [Float](repeating: 0, count: 8), region: region) == 0)
  }

  @Test func boxesAreReadFromCSVAndMasksFromImages() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    try "filename,label,x,y,width,height\na.png,COVID-19,1,0,2,1\na.png,COVID-19,0,1,1,1\n".write(
      toFile: folder + "/boxes.csv", atomically: true, encoding: .utf8)
    let boxes = try GroundTruth.readBoxes(folder + "/boxes.csv")
    #expect(boxes["a.png"]?.count == 2)
    try FileManager.default.createDirectory(atPath: folder + "/masks", withIntermediateDirectories: true)
    try ImageWriter.writePNG(GrayImage(width: 3, height: 2, pixels: [0, 0, 1, 0, 0, 0]), to: folder + "/masks/b.png")
    let truth = GroundTruth(boxes: boxes, maskFolder: folder + "/masks")
    #expect(try truth.region(for: "/x/a.png", width: 3, height: 2)?.inside == [false, true, true, true, false, false])
    #expect(
      try truth.region(for: "/y/b.jpeg", width: 3, height: 2)?.inside == [false, false, true, false, false, false])
    #expect(try truth.region(for: "c.png", width: 3, height: 2) == nil)
    var message = ""
    do { _ = try truth.region(for: "b.png", width: 4, height: 4) } catch { message = "\(error)" }
    #expect(message.contains("3x2") && message.contains("4x4"))
  }

  @Test func aBoxesFileWithoutTheColumnsSaysWhichAreMissing() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    try "name,x,y\n".write(toFile: folder + "/b.csv", atomically: true, encoding: .utf8)
    var message = ""
    do { _ = try GroundTruth.readBoxes(folder + "/b.csv") } catch { message = "\(error)" }
    #expect(message.contains("filename") && message.contains("width"))
  }
}

@Suite struct OverlayTests {
  @Test func mapsGoBackToTheOriginalGeometry() {
    let map = GrayImage(width: 8, height: 8, value: 1)
    let placed = Heatmap.toOriginalSize(map, width: 30, height: 20, crop: .centerSquare)
    #expect(placed.width == 30 && placed.height == 20)
    // The centre crop is columns 5..<25: the network never saw the rest.
    #expect(placed[2, 10] == 0 && placed[27, 10] == 0)
    #expect(abs(placed[15, 10] - 1) < 1e-5)
    let stretched = Heatmap.toOriginalSize(map, width: 30, height: 20, crop: .none)
    #expect(stretched.pixels.allSatisfy { abs($0 - 1) < 1e-5 })
  }

  @Test func overlaysAndRawMapsAreWrittenAtTheOriginalSize() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let xray = SyntheticChestXRay.generate(size: 96, finding: .covid, seed: 1).image
    let original = Resize.resized(xray, width: 120, height: 96)
    let map = Heatmap.toOriginalSize(
      GrayImage(width: 32, height: 32, pixels: (0..<1024).map { Float($0) / 1023 }), width: 120, height: 96,
      crop: .centerSquare)
    let rgb = Heatmap.overlay(original, map: map)
    #expect(rgb.count == 120 * 96 * 3)
    try ImageWriter.writeRGBPNG(rgb, width: 120, height: 96, to: folder + "/overlay.png")
    try ImageWriter.writePNG(map, to: folder + "/map.png", bitDepth: 16)
    let overlay = try ImageReader.read(folder + "/overlay.png")
    #expect(overlay.width == 120 && overlay.height == 96)
    let raw = try ImageReader.read(folder + "/map.png")
    #expect(raw.width == 120 && raw.height == 96 && raw.sourceBitDepth == 16)
    #expect(zip(raw.pixels, map.pixels).allSatisfy { abs($0 - $1) < 1e-4 })
  }

  @Test func turboRunsFromBlueThroughGreenToRed() {
    let low = Heatmap.turbo(0.05)
    let middle = Heatmap.turbo(0.5)
    let high = Heatmap.turbo(0.95)
    #expect(low.blue > low.red && low.blue > low.green)
    #expect(middle.green > middle.blue)
    #expect(high.red > high.green && high.red > high.blue)
  }
}
