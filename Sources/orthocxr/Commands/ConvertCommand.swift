import ArgumentParser
import Foundation
import Imaging

/// `orthocxr convert`: what OrthoCXR sees in a file — its display image as a 16-bit grey PNG.
struct ConvertCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "convert",
    abstract: "Write each image's display image (what the models see) as a 16-bit grey PNG.",
    discussion: """
      DICOM files go through the modality LUT, the VOI transform and MONOCHROME1 inversion (see the
      README's "Reading X-rays"); colour becomes grey. Use it to check a file's decoding, or to compare
      it with another reader (scripts/compare-dicom-with-pydicom). A file that cannot be read is named
      with the reason and the others go on; the exit status is 1 when any failed.

      Example: orthocxr convert --output decoded/ study/*.dcm
      """
  )

  @Argument(help: "Images (PNG, JPEG, DICOM).")
  var images: [String]

  @Option(help: "Folder for NAME.png (created).")
  var output: String

  @OptionGroup var imageLimits: ImageLimitOptions

  func run() throws {
    imageLimits.apply()
    try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
    var failed = 0
    for path in images {
      let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
      do {
        let image = try ImageReader.read(path)
        try ImageWriter.writePNG(image, to: output + "/" + name + ".png", bitDepth: 16)
        print("\(path): \(image.width)x\(image.height) → \(output)/\(name).png")
      } catch let error as ImageError {
        print("\(path): not converted: \(error.reason)")
        failed += 1
      }
    }
    if failed > 0 { throw ExitCode(1) }
  }
}
