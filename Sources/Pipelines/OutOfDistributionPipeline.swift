import Datasets
import Engine
import Evaluation
import Foundation
import Imaging
import RunFiles
import Training

/// Fitting a model's out-of-distribution detector, and measuring how well it tells in-distribution
/// images from others.
public enum OutOfDistributionPipeline {
  // MARK: Fitting

  public struct FitSettings: Sendable {
    /// The share of validation images the thresholds accept.
    public var acceptance = 0.95
    /// The method whose flag counts (predict --abstain, the server).
    public var method: OutOfDistributionMethod = .mahalanobis
    /// Neighbours of the k-NN score.
    public var neighbours = 10
    /// Shrinkage of the Mahalanobis covariance; nil: Ledoit–Wolf.
    public var shrinkage: Double?
    /// The model trained on a subset of the training split (`train-fraction`): the features are
    /// taken from the same subset, drawn with the same seed.
    public var trainingSubset: (fraction: Double, seed: UInt64)?

    public init() {}
  }

  public struct FitResult {
    public var detector: OutOfDistributionDetector
    public var trainingImages: Int
    public var validationImages: Int
    /// Each method's share of validation images accepted (≥ the acceptance asked for).
    public var validationAcceptance: [OutOfDistributionMethod: Double]
    public var destination: String

    public func render() -> String {
      var lines = [
        "out-of-distribution detector fitted on \(trainingImages) training images; thresholds on "
          + "\(validationImages) validation images at \(percent(detector.acceptance)) acceptance",
        String(
          format:
            "  Mahalanobis: %d classes, %d features, Ledoit–Wolf shrinkage %.3f; k-NN: k = %d of %d stored features",
          detector.mahalanobis.means.count, detector.mahalanobis.dimension, detector.mahalanobis.shrinkage,
          detector.neighbours.k, detector.neighbours.bank.count),
      ]
      for method in OutOfDistributionMethod.allCases {
        lines.append(
          "  \(method.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)) threshold "
            + OutOfDistributionAssessment.format(detector.thresholds[method] ?? .nan)
            + "  (accepts \(percent(validationAcceptance[method] ?? 0)) of validation)"
            + (method == detector.method ? "  ← flags" : ""))
      }
      lines.append("wrote \(destination)")
      return lines.joined(separator: "\n")
    }
  }

  /// Fits energy, Mahalanobis and k-NN scores to `checkpoint`'s features on `train`, sets each
  /// threshold on `validation`, and stores the detector in `destination` (default: the checkpoint).
  public static func fit(
    checkpoint: String, train: String, validation: String, loader: LoaderSettings,
    settings: FitSettings = FitSettings(),
    destination: String? = nil, facts: CheckpointFile.ModelFacts = .init(), output say: PipelineOutput = .silent
  ) throws -> FitResult {
    guard settings.acceptance > 0, settings.acceptance < 1 else {
      throw OutOfDistributionError("the acceptance must be between 0 and 1 (0.95 accepts 95% of validation images)")
    }
    Torch.threadCount = loader.threads
    CPUMemoryCache.enableForLoops()
    var trained = try TrainedModel.load(checkpoint, facts: facts)
    trained.outOfDistribution = nil
    say.progress("features of \(train)…")
    var trainEntries = try loader.entries(train, labelMap: trained.labelMap)
    if let subset = settings.trainingSubset {
      trainEntries = TrainingSubset.draw(trainEntries, fraction: subset.fraction, seed: subset.seed)
    }
    let training = try SplitPredictions(
      model: trained,
      loader: loader.evaluationLoader(
        trainEntries, classCount: trained.classes.count, preprocessing: trained.preprocessing),
      features: true)
    say.progress("features of \(validation)…")
    let held = try SplitPredictions(
      model: trained,
      loader: loader.evaluationLoader(validation, labelMap: trained.labelMap, preprocessing: trained.preprocessing),
      features: true)
    say.progress("fitting…")
    defer { say.progress(nil) }
    let mahalanobis = try MahalanobisScorer.fit(
      features: training.features, labels: training.labels, classCount: trained.classes.count,
      shrinkage: settings.shrinkage)
    let neighbours = try NearestNeighbourScorer.fit(features: training.features, k: settings.neighbours)
    var detector = OutOfDistributionDetector(
      mahalanobis: mahalanobis, neighbours: neighbours, thresholds: [:], acceptance: settings.acceptance,
      method: settings.method,
      provenance: "\(train) (\(training.labels.count) images); thresholds on \(validation) "
        + "(\(held.labels.count) images, \(percent(settings.acceptance)) accepted)")
    let scores = zip(held.logits, held.features).map { detector.scores(logits: $0, features: $1) }
    var accepted: [OutOfDistributionMethod: Double] = [:]
    for method in OutOfDistributionMethod.allCases {
      let values = scores.map { $0[method]! }
      guard let threshold = OutOfDistributionStatistics.threshold(scores: values, acceptance: settings.acceptance)
      else { throw OutOfDistributionError("\(validation) gave no images to set the thresholds on") }
      detector.thresholds[method] = threshold
      accepted[method] = Double(values.filter { $0 <= threshold }.count) / Double(values.count)
    }
    let destination = destination ?? checkpoint
    try CheckpointFile.writeDetector(detector, into: checkpoint, destination: destination)
    return FitResult(
      detector: detector, trainingImages: training.labels.count, validationImages: held.labels.count,
      validationAcceptance: accepted, destination: destination)
  }

  // MARK: Benchmark

  /// A set of images that the model should find unfamiliar.
  public struct ImageSet {
    public var name: String
    /// Files or folders; DICOM files whose modality is CR or DX are left out (they may well be chest
    /// radiographs, so not out of distribution).
    public var paths: [String]

    public init(name: String, paths: [String]) {
      self.name = name
      self.paths = paths
    }
  }

  public struct SetResult: Codable, Sendable {
    public struct MethodResult: Codable, Sendable {
      public var method: OutOfDistributionMethod
      /// OOD as positives: the probability that an OOD image scores above an in-distribution one.
      public var auroc: EvaluationReport.Interval?
      /// The share of these images accepted at the threshold accepting 95% of the in-distribution test images.
      public var fprAt95TPR: EvaluationReport.Interval?
      /// The share flagged by the detector's own threshold (set on the validation split).
      public var flagged: Double
    }

    public var name: String
    public var images: Int
    /// Files left out, and why (unreadable, or a radiograph DICOM).
    public var leftOut: [String]
    public var methods: [MethodResult]
    /// Every image's score per method, in the set's order (for paired comparisons of models).
    public var scores: [OutOfDistributionMethod: [Double]]
  }

  public struct BenchmarkResult: Codable, Sendable {
    public var checkpoint: String
    public var inDistribution: String
    public var inDistributionImages: Int
    /// The share of in-distribution test images each method's threshold flags.
    public var inDistributionFlagged: [OutOfDistributionMethod: Double]
    /// Every in-distribution image's score per method, in the split's order.
    public var inDistributionScores: [OutOfDistributionMethod: [Double]]
    public var sets: [SetResult]
    public var bootstrap: String

    /// A Markdown table: per set and method, AUROC and FPR at 95% TPR with intervals.
    public func markdown() -> String {
      var lines = [
        "\(checkpoint): in-distribution \(inDistribution) (\(inDistributionImages) images); \(bootstrap)", "",
        "| OOD set | images | method | AUROC [95% CI] | FPR at 95% TPR [95% CI] | flagged at threshold |",
        "|---|---|---|---|---|---|",
      ]
      func interval(_ value: EvaluationReport.Interval?) -> String {
        value.map { String(format: "%.3f [%.3f, %.3f]", $0.value, $0.low, $0.high) } ?? "–"
      }
      for set in sets {
        for result in set.methods {
          lines.append(
            "| \(set.name) | \(set.images) | \(result.method.rawValue) | \(interval(result.auroc)) | "
              + "\(interval(result.fprAt95TPR)) | \(percent(result.flagged)) |")
        }
      }
      lines.append(
        "| in-distribution test | \(inDistributionImages) | "
          + OutOfDistributionMethod.allCases.map { "\($0.rawValue) \(percent(inDistributionFlagged[$0] ?? 0))" }
          .joined(separator: ", ") + " flagged | | | |")
      for set in sets where !set.leftOut.isEmpty {
        lines.append("")
        lines.append(
          "\(set.name): \(set.leftOut.count) file(s) left out: " + set.leftOut.prefix(5).joined(separator: "; "))
      }
      return lines.joined(separator: "\n")
    }
  }

  /// Scores the in-distribution `split` and each set (and `synthetic` non-radiograph images, and the
  /// split's own images under each of `perturbations`, one set each) with the checkpoint's detector,
  /// and measures how well each method separates them.
  public static func benchmark(
    checkpoint: String, inDistribution split: String, sets: [ImageSet], synthetic: Int = 70,
    perturbations: [Perturbation] = [],
    loader: LoaderSettings, resamples: Int = 1_000, seed: UInt64 = 0, facts: CheckpointFile.ModelFacts = .init(),
    output say: PipelineOutput = .silent
  ) throws -> BenchmarkResult {
    Torch.threadCount = loader.threads
    CPUMemoryCache.enableForLoops()
    let trained = try TrainedModel.load(checkpoint, facts: facts)
    guard let detector = trained.outOfDistribution else {
      throw CheckpointError(path: checkpoint, reason: "has no out-of-distribution detector: run orthocxr ood fit first")
    }
    say.progress("scoring \(split)…")
    let inside = try SplitPredictions(
      model: trained,
      loader: loader.evaluationLoader(split, labelMap: trained.labelMap, preprocessing: trained.preprocessing))
    let insideScores = inside.assessments!.map(\.scores)
    var all = sets.map { set -> (name: String, images: [() throws -> GrayImage], leftOut: [String]) in
      (set.name, [], [])
    }
    for (index, set) in sets.enumerated() {
      var files: [String] = []
      for path in set.paths {
        files += try imageInputs(path, labelMap: trained.labelMap, imageFolder: nil).map(\.path)
      }
      for file in files {
        all[index].images.append({ try ImageReader.read(file) })
        if let reason = radiographDicom(file) {
          all[index].images.removeLast()
          all[index].leftOut.append("\((file as NSString).lastPathComponent) (\(reason))")
        }
      }
    }
    if !perturbations.isEmpty {
      let paths = inside.paths
      for perturbation in perturbations {
        all.append(
          (
            "\(perturbation.family.rawValue) \(perturbation.severity) (the split perturbed)",
            paths.enumerated().map { index, path in
              { try perturbation.apply(to: ImageReader.read(path), seed: StressPipeline.imageSeed(seed, index)) }
            }, []
          ))
      }
    }
    if synthetic > 0 {
      all.append(
        (
          "synthetic non-radiographs", NonRadiographs.make(count: synthetic, seed: seed).map { item in { item.image } },
          []
        ))
    }
    var results: [SetResult] = []
    for set in all {
      say.progress("scoring \(set.name)…")
      var images: [GrayImage] = []
      var leftOut = set.leftOut
      for load in set.images {
        do {
          images.append(try load())
        } catch {
          leftOut.append("\(error)")
        }
      }
      let scores = try assessments(of: images, with: trained).map(\.scores)
      let methods = OutOfDistributionMethod.allCases.map { method -> SetResult.MethodResult in
        let inValues = insideScores.map { $0[method]! }
        let outValues = scores.map { $0[method]! }
        func interval(_ statistic: @escaping ([Double], [Double]) -> Double?) -> EvaluationReport.Interval? {
          guard let value = statistic(inValues, outValues) else { return nil }
          let bounds = OutOfDistributionStatistics.bootstrapInterval(
            inValues, outValues, resamples: resamples, seed: seed, statistic: statistic)
          return EvaluationReport.Interval(value: value, low: bounds?.low ?? value, high: bounds?.high ?? value)
        }
        let threshold = detector.thresholds[method] ?? .infinity
        return SetResult.MethodResult(
          method: method,
          auroc: interval { OutOfDistributionStatistics.auroc(inDistribution: $0, outOfDistribution: $1) },
          fprAt95TPR: interval {
            OutOfDistributionStatistics.falsePositiveRate(inDistribution: $0, outOfDistribution: $1)
          },
          flagged: outValues.isEmpty ? 0 : Double(outValues.filter { $0 > threshold }.count) / Double(outValues.count))
      }
      var perMethod: [OutOfDistributionMethod: [Double]] = [:]
      for method in OutOfDistributionMethod.allCases { perMethod[method] = scores.map { $0[method]! } }
      results.append(
        SetResult(name: set.name, images: images.count, leftOut: leftOut, methods: methods, scores: perMethod))
    }
    say.progress(nil)
    var insideFlagged: [OutOfDistributionMethod: Double] = [:]
    var insidePerMethod: [OutOfDistributionMethod: [Double]] = [:]
    for method in OutOfDistributionMethod.allCases {
      insidePerMethod[method] = insideScores.map { $0[method]! }
      let threshold = detector.thresholds[method] ?? .infinity
      insideFlagged[method] =
        Double(insideScores.filter { $0[method]! > threshold }.count) / Double(max(insideScores.count, 1))
    }
    return BenchmarkResult(
      checkpoint: checkpoint, inDistribution: split, inDistributionImages: insideScores.count,
      inDistributionFlagged: insideFlagged, inDistributionScores: insidePerMethod, sets: results,
      bootstrap: "95% percentile intervals, \(resamples) resamples of each set, seed \(seed)")
  }

  /// The detector's verdicts on decoded images (the model's preprocessing, batches of 16).
  public static func assessments(of images: [GrayImage], with trained: TrainedModel) throws
    -> [OutOfDistributionAssessment]
  {
    guard trained.outOfDistribution != nil else { return [] }
    var verdicts: [OutOfDistributionAssessment] = []
    var start = 0
    while start < images.count {
      let chunk = images[start..<min(start + 16, images.count)]
      let batch = try trained.preprocessing.batch(
        chunk.map { trained.preprocessing.resize($0) }, on: trained.model.device)
      verdicts += try trained.logitsAndAssessments(batch).assessments.map { $0! }
      start += chunk.count
    }
    return verdicts
  }

  /// Why a DICOM file is left out of an OOD set: its modality is CR or DX. nil for other files.
  static func radiographDicom(_ path: String) -> String? {
    guard let data = try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped),
      ImageFormat.detect(data, path: path) == .dicom,
      let attributes = try? DicomDecoding.decodeWithAttributes(data, path: path).attributes,
      ["CR", "DX"].contains(attributes.modality.uppercased())
    else { return nil }
    return "a \(attributes.modality) radiograph"
  }
}

func percent(_ value: Double) -> String { String(format: "%.1f%%", value * 100) }

extension OutOfDistributionPipeline {
  /// Two configurations' OOD benchmarks over seeds, compared score by score and set by set.
  public struct Comparison: Codable, Sendable {
    public struct Row: Codable, Sendable {
      public var set: String
      public var method: OutOfDistributionMethod
      /// Mean and standard deviation over seeds.
      public var firstAUROC: [Double]
      public var secondAUROC: [Double]
      /// second − first, mean over seed pairs, with a paired bootstrap interval over images.
      public var aurocDifference: EvaluationReport.Interval?
      public var firstFPR: [Double]
      public var secondFPR: [Double]
      public var fprDifference: EvaluationReport.Interval?
    }

    public var names: [String]
    public var seeds: Int
    public var rows: [Row]
    public var bootstrap: String

    public func markdown() -> String {
      func spread(_ values: [Double]) -> String { String(format: "%.3f ± %.3f", values[0], values[1]) }
      func interval(_ value: EvaluationReport.Interval?) -> String {
        value.map { String(format: "%+.3f [%+.3f, %+.3f]", $0.value, $0.low, $0.high) } ?? "–"
      }
      var lines = [
        "\(names[1]) vs \(names[0]): \(seeds) seed(s) each; mean ± std over seeds; difference = \(names[1]) − "
          + "\(names[0]) (\(bootstrap))", "",
        "| OOD set | score | AUROC \(names[0]) | AUROC \(names[1]) | difference [95% CI] | FPR95 \(names[0]) | "
          + "FPR95 \(names[1]) | difference [95% CI] |",
        "|---|---|---|---|---|---|---|---|",
      ]
      for row in rows {
        lines.append(
          "| \(row.set) | \(row.method.rawValue) | \(spread(row.firstAUROC)) | \(spread(row.secondAUROC)) | "
            + "\(interval(row.aurocDifference)) | \(spread(row.firstFPR)) | \(spread(row.secondFPR)) | "
            + "\(interval(row.fprDifference)) |")
      }
      return lines.joined(separator: "\n")
    }
  }

  /// Compares benchmarks (`ood evaluate --output` files) of two configurations, seed i against
  /// seed i: all must have scored the same images (same in-distribution split, same sets).
  public static func compare(
    first: [BenchmarkResult], second: [BenchmarkResult], names: (String, String), resamples: Int = 1_000,
    seed: UInt64 = 0
  ) throws -> Comparison {
    guard !first.isEmpty, first.count == second.count else {
      throw OutOfDistributionError(
        "give as many benchmarks of each configuration, one per seed (\(first.count) and \(second.count))")
    }
    let reference = first[0]
    for result in first + second {
      guard result.inDistributionImages == reference.inDistributionImages,
        result.sets.map(\.name) == reference.sets.map(\.name),
        result.sets.map(\.images) == reference.sets.map(\.images)
      else {
        throw OutOfDistributionError(
          "\(result.checkpoint) was benchmarked on other images than \(reference.checkpoint): "
            + "compare benchmarks of the same split and OOD sets")
      }
    }
    func meanAndDeviation(_ values: [Double]) -> [Double] {
      let mean = values.reduce(0, +) / Double(values.count)
      let variance =
        values.count > 1 ? values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1) : 0
      return [mean, variance.squareRoot()]
    }
    var rows: [Comparison.Row] = []
    for (setIndex, set) in reference.sets.enumerated() {
      for method in OutOfDistributionMethod.allCases {
        func scores(_ result: BenchmarkResult) -> (inDistribution: [Double], outOfDistribution: [Double]) {
          (result.inDistributionScores[method] ?? [], result.sets[setIndex].scores[method] ?? [])
        }
        let pairs = zip(first, second).map {
          OutOfDistributionStatistics.ScoredPair(first: scores($0), second: scores($1))
        }
        let auroc: ([Double], [Double]) -> Double? = {
          OutOfDistributionStatistics.auroc(inDistribution: $0, outOfDistribution: $1)
        }
        let fpr: ([Double], [Double]) -> Double? = {
          OutOfDistributionStatistics.falsePositiveRate(inDistribution: $0, outOfDistribution: $1)
        }
        func values(_ results: [BenchmarkResult], _ statistic: ([Double], [Double]) -> Double?) -> [Double] {
          meanAndDeviation(results.map { statistic(scores($0).inDistribution, scores($0).outOfDistribution) ?? .nan })
        }
        rows.append(
          Comparison.Row(
            set: set.name, method: method, firstAUROC: values(first, auroc), secondAUROC: values(second, auroc),
            aurocDifference: OutOfDistributionStatistics.pairedDifference(
              pairs, resamples: resamples, seed: seed, statistic: auroc),
            firstFPR: values(first, fpr), secondFPR: values(second, fpr),
            fprDifference: OutOfDistributionStatistics.pairedDifference(
              pairs, resamples: resamples, seed: seed, statistic: fpr)))
      }
    }
    return Comparison(
      names: [names.0, names.1], seeds: first.count, rows: rows,
      bootstrap: "paired 95% percentile intervals, \(resamples) resamples of the images, seed \(seed)")
  }
}
