import Datasets
import Digests
import Engine
import Evaluation
import Explanations
import Foundation
import Imaging
import RunFiles
import Training

/// Classifies X-rays one by one: class, calibrated probabilities and, when asked, where the model
/// looked.
public enum PredictionPipeline {
  public struct Prediction: Encodable {
    public var path: String
    /// The class; nil when the model abstained (`abstain` and the image flagged as out of distribution).
    public var prediction: String?
    public var probabilities: [String: Double]
    /// The out-of-distribution verdict, when the model has a detector (`orthocxr ood fit`).
    public var outOfDistribution: OutOfDistributionAssessment?
    public var abstained = false
    /// The overlay written, when heatmaps were asked for.
    public var heatmap: String?
    /// The DICOM Structured Report and Secondary Capture written, for DICOM inputs with `dicomOut`.
    public var dicomReport: String?
    public var dicomCapture: String?
  }

  public struct Result {
    public var model: TrainedModel
    public var predictions: [Prediction]
    /// The same as rows of a predictions file (no labels).
    public var rows: [PredictionsFile.Row]
    /// DICOM inputs not classified, with the reason (with `dicomOut`: not a chest radiograph).
    public var refused: [(path: String, reason: String)] = []
  }

  /// Heatmaps: the method and the folder for NAME.png overlays and maps/NAME.png.
  public struct Heatmaps {
    public var folder: String
    public var method: CAMMethod

    public init(folder: String, method: CAMMethod = .gradCAM) {
      self.folder = folder
      self.method = method
    }
  }

  /// `heatmaps` nil: a forward pass only, no class activation maps. `dicomOut`: a folder for a
  /// Structured Report and a Secondary Capture per DICOM input (`DicomResults`); DICOM files that
  /// are not chest radiographs are then refused (`DicomInputCheck`) instead of classified. It needs
  /// heatmaps. `abstain`: images the model's OOD detector flags get no class (and no DICOM results).
  public static func predict(
    checkpoint: String, images: [String], heatmaps: Heatmaps?, dicomOut: String? = nil, abstain: Bool = false,
    threads: Int = 2, batchSize: Int = 16, device: Device = .cpu, facts: CheckpointFile.ModelFacts = .init(),
    output say: PipelineOutput = .silent
  ) throws -> Result {
    if dicomOut != nil && heatmaps == nil {
      throw DatasetError(path: checkpoint, reason: "DICOM results need heatmaps (the secondary capture shows one)")
    }
    Torch.threadCount = threads
    let trained = try TrainedModel.load(checkpoint, facts: facts)
    if abstain && trained.outOfDistribution == nil {
      throw CheckpointError(
        path: checkpoint, reason: "has no out-of-distribution detector to abstain with: run orthocxr ood fit first")
    }
    try trained.model.place(on: device)
    var items: [(path: String, label: Int?)] = []
    for path in images {
      items += try imageInputs(path, labelMap: trained.labelMap, imageFolder: nil).map { ($0.path, nil) }
    }
    var refused: [(path: String, reason: String)] = []
    // DICOM inputs that get results. Only their paths are kept: holding every decoded image until
    // the results are written would take gigabytes for a folder of full-size films.
    var dicomInputs: Set<String> = []
    if dicomOut != nil {
      items = try items.filter { item in
        let data = try Data(contentsOf: URL(fileURLWithPath: item.path), options: .alwaysMapped)
        guard ImageFormat.detect(data, path: item.path) == .dicom else { return true }
        let attributes = try DicomDecoding.decodeWithAttributes(data, path: item.path).attributes
        if let reason = DicomInputCheck.refusal(attributes) {
          refused.append((item.path, reason))
          say.message("\(item.path): not classified: \(reason)")
          return false
        }
        dicomInputs.insert(item.path)
        return true
      }
    }
    guard !items.isEmpty else {
      throw DatasetError(
        path: images.joined(separator: ", "),
        reason: refused.isEmpty ? "holds no images" : "holds no images that may be classified")
    }
    var rows: [PredictionsFile.Row] = []
    var overlays: [String?] = []
    var assessments: [OutOfDistributionAssessment?] = []
    if let heatmaps {
      var settings = ExplanationPipeline.Settings()
      settings.method = heatmaps.method
      settings.faithfulness = false
      settings.batchSize = batchSize
      let pipeline = try ExplanationPipeline(
        model: trained.model, preprocessing: trained.preprocessing, temperature: trained.temperature,
        settings: settings)
      let results = try pipeline.run(items, writingTo: heatmaps.folder) { done, total in
        say.progress("\(done)/\(total) images")
      }
      rows = results.map { PredictionsFile.Row(path: $0.path, label: nil, probabilities: $0.probabilities) }
      overlays = results.map { heatmaps.folder + "/" + $0.overlay }
      // The class activation maps do not give the penultimate features: one more forward pass.
      if trained.outOfDistribution != nil {
        say.progress("out-of-distribution scores…")
        assessments = try OutOfDistributionPipeline.assessments(
          of: items.map { try ImageReader.read($0.path) }, with: trained)
      }
    } else {
      (rows, assessments) = try classify(items.map(\.path), with: trained, batchSize: batchSize) { done, total in
        say.progress("\(done)/\(total) images")
      }
      overlays = Array(repeating: nil, count: rows.count)
    }
    say.progress(nil)
    if assessments.isEmpty { assessments = Array(repeating: nil, count: rows.count) }
    for index in rows.indices {
      rows[index].outOfDistribution = assessments[index].map { ($0.score, $0.flagged) }
    }
    var predictions = zip(rows, zip(overlays, assessments)).map { row, extra in
      let abstained = abstain && extra.1?.flagged == true
      return Prediction(
        path: row.path, prediction: abstained ? nil : trained.classes[row.predicted],
        probabilities: Dictionary(uniqueKeysWithValues: zip(trained.classes, row.probabilities)),
        outOfDistribution: extra.1, abstained: abstained, heatmap: extra.0)
    }
    if let dicomOut, let heatmaps {
      try FileManager.default.createDirectory(atPath: dicomOut, withIntermediateDirectories: true)
      let model = DicomResults.Model(
        trained, checkpointSHA256: SHA256.hex(try Data(contentsOf: URL(fileURLWithPath: checkpoint))),
        heatmapMethod: heatmaps.method)
      let names = ExplanationPipeline.outputNames(for: rows.map(\.path))
      for index in predictions.indices where dicomInputs.contains(rows[index].path) {
        if predictions[index].abstained {
          say.message(
            "\(rows[index].path): no DICOM results: the model abstained (\(predictions[index].outOfDistribution!.sentence))"
          )
          continue
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: rows[index].path))
        let source = try DicomDecoding.decodeWithAttributes(data, path: rows[index].path)
        // The map at the image's size, as the explanation pipeline wrote it (16 bits).
        let map = try ImageReader.read(heatmaps.folder + "/maps/\(names[index]).png")
        let written = try DicomResults.make(
          source: data, attributes: source.attributes, image: source.image, map: map,
          probabilities: rows[index].probabilities, model: model)
        let report = dicomOut + "/\(names[index])-sr.dcm"
        let capture = dicomOut + "/\(names[index])-sc.dcm"
        try written.structuredReport.write(to: URL(fileURLWithPath: report), options: .atomic)
        try written.secondaryCapture.write(to: URL(fileURLWithPath: capture), options: .atomic)
        (predictions[index].dicomReport, predictions[index].dicomCapture) = (report, capture)
      }
    }
    return Result(model: trained, predictions: predictions, rows: rows, refused: refused)
  }

  /// Class probabilities (at the model's temperature) of each image, and the OOD verdicts when the
  /// model has a detector: read, preprocess, one forward pass per batch.
  static func classify(
    _ paths: [String], with trained: TrainedModel, batchSize: Int, progress: (Int, Int) -> Void
  ) throws -> ([PredictionsFile.Row], [OutOfDistributionAssessment?]) {
    let preprocessing = trained.preprocessing
    let device = trained.model.device
    var rows: [PredictionsFile.Row] = []
    var assessments: [OutOfDistributionAssessment?] = []
    var start = 0
    while start < paths.count {
      let chunk = Array(paths[start..<min(start + batchSize, paths.count)])
      let batch = try preprocessing.batch(chunk.map { preprocessing.resize(try ImageReader.read($0)) }, on: device)
      let (logits, verdicts) = try trained.logitsAndAssessments(batch)
      let probabilities = softmax(logits, temperature: trained.temperature)
      for (index, path) in chunk.enumerated() {
        rows.append(PredictionsFile.Row(path: path, label: nil, probabilities: probabilities[index]))
      }
      assessments += verdicts
      start += chunk.count
      progress(start, paths.count)
    }
    return (rows, assessments)
  }
}

extension DicomResults.Model {
  /// A trained model as its DICOM results describe it.
  public init(_ trained: TrainedModel, checkpointSHA256: String, heatmapMethod: CAMMethod) {
    self.init(
      architecture: trained.architecture.rawValue, classes: trained.classes, checkpointSHA256: checkpointSHA256,
      temperature: trained.temperature, calibrated: trained.isCalibrated, heatmapMethod: heatmapMethod.rawValue)
  }
}
