import ArgumentParser
import Datasets
import Foundation
import Imaging

/// Checking and making datasets.
struct DatasetCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "dataset",
    abstract: "Check a dataset, or write a synthetic one.",
    subcommands: [Check.self, Synthesize.self]
  )

  struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Validate split files, class folders or CSV files; exit 1 when something is wrong.",
      discussion: """
        Reports missing and unreadable images (naming each file and the reason), duplicate images
        (same pixels), labels the label map does not know, patients that appear in more than one
        split, and the number of images per class in each split. Exit status: 0 clean, 1 problems
        found, 2 the description itself cannot be read.

        Example: orthocxr dataset check data/train.txt data/val.txt data/test.txt --label-map three-class
        """
    )

    @Argument(help: "Split files (patient_id filename label [source]), class folders or .csv files.")
    var splits: [String]

    @Option(help: "Folder holding the images, when it is not beside the split file or in its images/ subfolder.")
    var images: String?

    @Option(
      help: ArgumentHelp(
        "Label map: covid-vs-normal, covid-vs-noncovid, three-class, or label=class,…,label=drop.",
        discussion: "Without one, the COVIDx labels (COVID-19, normal, pneumonia, positive, negative) are expected."))
    var labelMap: String?

    @Flag(help: "Only check that files exist; do not decode them (faster, finds no duplicates).")
    var noDecode = false

    @Option(help: "Threads for decoding.")
    var threads = 2

    @OptionGroup var imageLimits: ImageLimitOptions

    func run() throws {
      imageLimits.apply()
      let map = try labelMap.map(LabelMap.parse)
      var loaded: [(name: String, entries: [DatasetEntry])] = []
      for path in splits {
        do {
          loaded.append(((path as NSString).lastPathComponent, try DatasetSource.load(path, imageFolder: images)))
        } catch let error as DatasetError {
          FileHandle.standardError.write(Data("error: \(error)\n".utf8))
          throw ExitCode(2)
        }
      }
      let total = loaded.reduce(0) { $0 + $1.entries.count }
      print("checking \(total) images in \(loaded.count) split(s)\(noDecode ? "" : ", decoding each")")
      let report = DatasetChecker.check(
        splits: loaded, labelMap: map, decodeImages: !noDecode, threads: threads,
        progress: { done, total in
          if done % 200 == 0 || done == total { progress("\(done)/\(total) images checked") }
        })
      progress(nil)
      print(report.render())
      if !report.isClean { throw ExitCode.failure }
    }
  }

  struct Synthesize: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Write synthetic chest X-rays with lesion boxes, COVIDx split files and boxes.csv.",
      discussion: """
        Each split gets --per-class images of each class (COVID-19: bilateral peripheral hazy
        opacities; pneumonia: one dense consolidation; normal: none). boxes.csv lists every lesion
        box in pixels. The same seed writes the same images.
        """
    )

    @Option(help: "Folder to write into (created if needed).")
    var output: String

    @Option(help: "Images per class in the training split.")
    var perClass = 100

    @Option(help: "Images per class in each of the validation and test splits.")
    var evaluationPerClass = 30

    @Option(help: "Image side in pixels.")
    var size = 256

    @Option(help: "Random seed.")
    var seed: UInt64 = 0

    func run() throws {
      let files = try SyntheticChestXRay.writeDataset(
        to: output, counts: [("train", perClass), ("val", evaluationPerClass), ("test", evaluationPerClass)],
        size: size, seed: seed,
        progress: { done, total in if done % 50 == 0 || done == total { progress("\(done)/\(total) images") } })
      progress(nil)
      print("wrote \(files.joined(separator: ", ")) and \(output)/boxes.csv")
    }
  }
}
