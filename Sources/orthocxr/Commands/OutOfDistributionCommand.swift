import ArgumentParser
import Evaluation
import Foundation
import Imaging
import Pipelines
import RunFiles

extension OutOfDistributionMethod: ExpressibleByArgument {}

/// `orthocxr ood`: out-of-distribution scores fitted to a model, and how well they work.
struct OutOfDistributionCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ood",
    abstract: "Out-of-distribution detection: fit scores to a model (ood fit), measure them (ood evaluate).",
    discussion: """
      A classifier answers on anything: a paediatric film, a CT slice, a photo. Three scores say how
      far an image lies from the training data (higher = farther):
        energy       −log Σ exp(logit), from the logits alone;
        mahalanobis  the smallest squared Mahalanobis distance of the penultimate features to a class
                     mean, one covariance shared by the classes (Ledoit–Wolf shrinkage);
        knn          the distance of the L2-normalised features to the k-th nearest of (at most 2,048)
                     normalised training features.
      `ood fit` stores them and a threshold per score in the checkpoint; then evaluate, predict,
      explain and serve report each image's score and flag, and predict --abstain / serve --abstain
      answer "no answer" for flagged images. orthocxr train --test fits them automatically.
      """,
    subcommands: [
      OutOfDistributionFitCommand.self, OutOfDistributionEvaluateCommand.self, OutOfDistributionCompareCommand.self,
    ]
  )
}

struct OutOfDistributionFitCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "fit",
    abstract: "Fit the OOD scores to a checkpoint's features on the training split; thresholds on validation.",
    discussion: """
      Reads the penultimate features and logits of every training image (no augmentation), fits the
      class means and shrunk covariance (Mahalanobis) and keeps up to 2,048 normalised features
      (k-NN); then scores the validation split and sets each score's threshold so that --acceptance
      of its images are accepted. Writes the detector into the checkpoint (or --output).

      Example: orthocxr ood fit --checkpoint runs/os/best-calibrated.safetensors \\
                 --data ../shared/data/covid-radiography/train.txt --val ../shared/data/covid-radiography/val.txt
      """
  )

  @Option(help: "The checkpoint (an OrthoCXR .safetensors: best, or best-calibrated).")
  var checkpoint: String

  @Option(help: "The training split the model was trained on.")
  var data: String

  @Option(help: "The validation split to set the thresholds on.")
  var val: String

  @Option(help: "The share of validation images each threshold accepts.")
  var acceptance = 0.95

  @Option(help: "The score whose flag counts (for --abstain): energy, mahalanobis or knn.")
  var method: OutOfDistributionMethod = .mahalanobis

  @Option(help: "Neighbours of the k-NN score.")
  var neighbours = 10

  @Option(help: "Shrinkage of the Mahalanobis covariance towards a multiple of I, 0–1 (default: Ledoit–Wolf).")
  var shrinkage: Double?

  @Option(help: "Write the checkpoint with its detector here instead of replacing the checkpoint.")
  var output: String?

  @OptionGroup var loader: LoaderOptions
  @OptionGroup var model: ModelFactsOptions
  @OptionGroup var imageLimits: ImageLimitOptions

  func validate() throws {
    guard acceptance > 0, acceptance < 1 else { throw ValidationError("--acceptance must be between 0 and 1") }
    guard neighbours >= 1 else { throw ValidationError("--neighbours must be at least 1") }
    if let shrinkage, !(0...1).contains(shrinkage) { throw ValidationError("--shrinkage must be between 0 and 1") }
  }

  func run() throws {
    imageLimits.apply()
    var settings = OutOfDistributionPipeline.FitSettings()
    settings.acceptance = acceptance
    settings.method = method
    settings.neighbours = neighbours
    settings.shrinkage = shrinkage
    let result = try userFacing {
      try OutOfDistributionPipeline.fit(
        checkpoint: checkpoint, train: data, validation: val, loader: loader.settings, settings: settings,
        destination: output, facts: model.facts, output: terminal)
    }
    print(result.render())
  }
}

struct OutOfDistributionEvaluateCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "evaluate",
    abstract: "How well each OOD score separates the test split from other images: AUROC, FPR at 95% TPR.",
    discussion: """
      In-distribution: --data (the test split). Out of distribution: each --ood NAME=PATH (an image,
      a folder of images or a split file; repeatable), and --synthetic generated non-radiographs
      (noise, gradients, printed text, checkerboards, flat fields). DICOM files whose modality is CR
      or DX are left out of the OOD sets (they may be chest radiographs) and listed.

      AUROC treats OOD images as positives: the probability that an OOD image scores above an
      in-distribution one. FPR at 95% TPR: the share of OOD images accepted by the threshold that
      accepts 95% of the in-distribution images. Both with bootstrap intervals (each set resampled).

      Example: orthocxr ood evaluate --checkpoint runs/os/best-calibrated.safetensors \\
                 --data ../shared/data/covid-radiography/test.txt \\
                 --ood paediatric=../shared/data/kermany-sample \\
                 --ood other-modalities=../shared/data/dicom/pydicom-test-files
      """
  )

  @Option(help: "A checkpoint with a detector (orthocxr ood fit).")
  var checkpoint: String

  @Option(help: "The in-distribution split (the test split).")
  var data: String

  @Option(help: "An out-of-distribution set, NAME=PATH (image, folder or split file). Repeatable.")
  var ood: [String] = []

  @Option(help: "How many generated non-radiographs to add as one more set (0: none).")
  var synthetic = 70

  @Option(help: "Add the split's own images under every stress family at this severity (1–5), a set each.")
  var perturbed: Int?

  @Option(help: "Write the results as JSON here.")
  var output: String?

  @Option(help: "Write the table as Markdown here.")
  var markdown: String?

  @Option(help: "Bootstrap resamples for the 95% intervals.")
  var bootstrap = 1_000

  @Option(help: "Seed of the bootstrap and of the generated images.")
  var seed: UInt64 = 0

  @OptionGroup var loader: LoaderOptions
  @OptionGroup var model: ModelFactsOptions
  @OptionGroup var imageLimits: ImageLimitOptions

  func validate() throws {
    guard synthetic >= 0 else { throw ValidationError("--synthetic must be 0 or more") }
    if let perturbed, !(1...5).contains(perturbed) { throw ValidationError("--perturbed takes a severity, 1 to 5") }
    guard !ood.isEmpty || synthetic > 0 || perturbed != nil else {
      throw ValidationError("name an --ood set, keep --synthetic above 0 or give --perturbed")
    }
    for set in ood where !set.contains("=") || set.hasPrefix("=") || set.hasSuffix("=") {
      throw ValidationError("--ood takes NAME=PATH, not \"\(set)\"")
    }
  }

  func run() throws {
    imageLimits.apply()
    let sets = ood.map { text -> OutOfDistributionPipeline.ImageSet in
      let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
      return OutOfDistributionPipeline.ImageSet(name: parts[0], paths: [parts[1]])
    }
    let result = try userFacing {
      try OutOfDistributionPipeline.benchmark(
        checkpoint: checkpoint, inDistribution: data, sets: sets, synthetic: synthetic,
        perturbations: perturbed.map { severity in
          Perturbation.Family.allCases.map { Perturbation($0, severity: severity) }
        }
          ?? [], loader: loader.settings,
        resamples: bootstrap, seed: seed, facts: model.facts, output: terminal)
    }
    let table = result.markdown()
    print(table)
    if let output { try JSONFile.write(result, to: output) }
    if let markdown { try (table + "\n").write(toFile: markdown, atomically: true, encoding: .utf8) }
  }
}

struct OutOfDistributionCompareCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "compare",
    abstract: "Compare two configurations' OOD benchmarks over seeds (paired by seed and by image).",
    discussion: """
      Reads `ood evaluate --output` files, one per seed of each configuration, all made on the same
      images. For each OOD set and score: AUROC and FPR at 95% TPR as mean ± std over seeds, and the
      paired difference (candidate − baseline, seed i against seed i) with a bootstrap interval that
      resamples the in-distribution and OOD images once for all models.

      Example: orthocxr ood compare --baseline runs/baseline/seed-*/ood.json \\
                 --candidate runs/os/seed-*/ood.json --names baseline,OS
      """
  )

  @Option(parsing: .upToNextOption, help: "The baseline's benchmarks, one per seed.")
  var baseline: [String]

  @Option(parsing: .upToNextOption, help: "The candidate's benchmarks, one per seed, in the same seed order.")
  var candidate: [String]

  @Option(help: "The two names, comma-separated.")
  var names = "baseline,candidate"

  @Option(help: "Write the table as Markdown here.")
  var markdown: String?

  @Option(help: "Bootstrap resamples for the 95% intervals.")
  var bootstrap = 1_000

  @Option(help: "Seed of the bootstrap.")
  var seed: UInt64 = 0

  func validate() throws {
    guard names.split(separator: ",").count == 2 else { throw ValidationError("--names takes two names: A,B") }
  }

  func run() throws {
    let parts = names.split(separator: ",").map(String.init)
    let table = try userFacing {
      let read = { (paths: [String]) in
        try paths.map { try JSONFile.read(OutOfDistributionPipeline.BenchmarkResult.self, from: $0) }
      }
      return try OutOfDistributionPipeline.compare(
        first: read(baseline), second: read(candidate), names: (parts[0], parts[1]), resamples: bootstrap, seed: seed
      ).markdown()
    }
    print(table)
    if let markdown { try (table + "\n").write(toFile: markdown, atomically: true, encoding: .utf8) }
  }
}
