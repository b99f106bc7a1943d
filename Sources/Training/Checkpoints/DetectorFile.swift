import Engine
import Evaluation
import Foundation

/// How a checkpoint carries its out-of-distribution detector (`orthocxr ood fit`): three tensors
/// beside the model's (`ood.mahalanobis.means`, `ood.mahalanobis.whitening`, `ood.knn.bank`) and the
/// thresholds and settings in the metadata. A checkpoint without them has no detector.
extension CheckpointFile {
  static let detectorPrefix = "ood."

  enum DetectorKey {
    static let means = "ood.mahalanobis.means"
    static let whitening = "ood.mahalanobis.whitening"
    static let bank = "ood.knn.bank"
    static let method = "orthocxr.ood.method"
    static let acceptance = "orthocxr.ood.acceptance"
    static let shrinkage = "orthocxr.ood.shrinkage"
    static let neighbours = "orthocxr.ood.knn_k"
    static let provenance = "orthocxr.ood.provenance"
    static func threshold(_ method: OutOfDistributionMethod) -> String { "orthocxr.ood.threshold.\(method.rawValue)" }
  }

  /// Adds `detector` to the checkpoint at `path` (replacing one it had), written to `destination`
  /// (default: the same file, replaced atomically).
  public static func writeDetector(_ detector: OutOfDistributionDetector, into path: String, destination: String? = nil)
    throws
  {
    var (tensors, info) = try Safetensors.read(from: path)
    guard path.hasSuffix(".safetensors"), !part(tensors, prefix: modelPrefix).isEmpty else {
      throw CheckpointError(
        path: path, reason: "is not an OrthoCXR checkpoint (no model.* tensors): train or convert it first")
    }
    tensors = tensors.filter { !$0.key.hasPrefix(detectorPrefix) }
    info = info.filter { !$0.key.hasPrefix("orthocxr.ood.") }
    let scorer = detector.mahalanobis
    let dimension = scorer.dimension
    // A class with no training images has no mean: a row of NaN says so.
    let means = scorer.means.flatMap { $0.isEmpty ? [Double](repeating: .nan, count: dimension) : $0 }
    tensors[DetectorKey.means] = try Tensor(means, shape: [scorer.means.count, dimension])
    // Float64, as fitted: rounded to float32, a reloaded detector's scores moved by enough to carry an
    // image that sat at a threshold across it (its thresholds came from the unrounded scores).
    tensors[DetectorKey.whitening] = try Tensor(scorer.whitening, shape: [dimension, dimension])
    let bank = detector.neighbours.bank
    tensors[DetectorKey.bank] = try Tensor(bank.flatMap { $0 }, shape: [bank.count, bank.first?.count ?? 0])
    info[DetectorKey.method] = detector.method.rawValue
    info[DetectorKey.acceptance] = String(detector.acceptance)
    info[DetectorKey.shrinkage] = String(scorer.shrinkage)
    info[DetectorKey.neighbours] = String(detector.neighbours.k)
    info[DetectorKey.provenance] = detector.provenance
    for (method, threshold) in detector.thresholds { info[DetectorKey.threshold(method)] = String(threshold) }
    try Safetensors.write(tensors, metadata: info, to: destination ?? path)
  }

  /// The detector in a checkpoint's tensors and metadata, or nil when it has none.
  static func detector(in tensors: [String: Tensor], info: [String: String], path: String) throws
    -> OutOfDistributionDetector?
  {
    guard let meansTensor = tensors[DetectorKey.means] else { return nil }
    func invalid(_ what: String) -> CheckpointError {
      CheckpointError(
        path: path, reason: "has an invalid out-of-distribution detector: \(what) (fit it again: orthocxr ood fit)")
    }
    guard let whiteningTensor = tensors[DetectorKey.whitening], let bankTensor = tensors[DetectorKey.bank],
      meansTensor.shape.count == 2, bankTensor.shape.count == 2
    else { throw invalid("a tensor is missing or has the wrong shape") }
    let (classCount, dimension) = (meansTensor.shape[0], meansTensor.shape[1])
    guard whiteningTensor.shape == [dimension, dimension], bankTensor.shape[1] == dimension, bankTensor.shape[0] > 0
    else { throw invalid("the tensors' shapes disagree") }
    let means = try meansTensor.to(.float64).toArray(Double.self)
    let rows = (0..<classCount).map { row -> [Double] in
      let values = Array(means[(row * dimension)..<((row + 1) * dimension)])
      return values.contains { $0.isNaN } ? [] : values
    }
    let bankValues = try bankTensor.to(.float32).toArray(Float.self)
    let bank = (0..<bankTensor.shape[0]).map { Array(bankValues[($0 * dimension)..<(($0 + 1) * dimension)]) }
    func number(_ key: String) throws -> Double {
      guard let text = info[key], let value = Double(text), value.isFinite else { throw invalid("\"\(key)\"") }
      return value
    }
    guard let method = info[DetectorKey.method].flatMap(OutOfDistributionMethod.init(rawValue:)) else {
      throw invalid("\"\(DetectorKey.method)\"")
    }
    var thresholds: [OutOfDistributionMethod: Double] = [:]
    for method in OutOfDistributionMethod.allCases { thresholds[method] = try number(DetectorKey.threshold(method)) }
    guard let k = info[DetectorKey.neighbours].flatMap(Int.init), k >= 1, k <= bank.count else {
      throw invalid("\"\(DetectorKey.neighbours)\"")
    }
    return OutOfDistributionDetector(
      mahalanobis: MahalanobisScorer(
        means: rows, whitening: try whiteningTensor.to(.float64).toArray(Double.self),
        shrinkage: try number(DetectorKey.shrinkage)),
      neighbours: NearestNeighbourScorer(bank: bank, k: k), thresholds: thresholds,
      acceptance: try number(DetectorKey.acceptance), method: method,
      provenance: info[DetectorKey.provenance] ?? "")
  }
}
