import Foundation
import Randomness

/// Out-of-distribution scores of a trained classifier: how far an input lies from what the model
/// was trained on. Every score here grows with distance, so "flagged" always means score > threshold.
///
/// - Energy (Liu et al. 2020): −log Σ exp(logit), from the logits alone.
/// - Mahalanobis (Lee et al. 2018): the smallest squared Mahalanobis distance of the penultimate
///   features to a class mean, with one covariance shared by the classes, shrunk towards a multiple
///   of the identity (Ledoit–Wolf) so that it can be inverted with few images per dimension.
/// - k-NN (Sun et al. 2022): the distance of the L2-normalised features to their k-th nearest
///   neighbour among normalised training features.
public enum OutOfDistributionMethod: String, CaseIterable, Codable, CodingKeyRepresentable, Sendable {
  case energy
  case mahalanobis
  case knn

  /// What the score is, for reports.
  public var explanation: String {
    switch self {
    case .energy: "energy: −log Σ exp(logit)"
    case .mahalanobis: "Mahalanobis: min over classes of the squared distance to the class mean (shared covariance)"
    case .knn: "k-NN: distance of the normalised features to the k-th nearest training feature"
    }
  }
}

/// The energy score of each row of logits: −log Σ_c exp(z_c) (temperature 1). Low for inputs the
/// model is sure of, high for inputs whose logits are all small.
public enum EnergyScore {
  public static func score(_ logits: [Double]) -> Double {
    guard let top = logits.max() else { return 0 }
    return -(top + Foundation.log(logits.reduce(0) { $0 + Foundation.exp($1 - top) }))
  }
}

/// Class-conditional Gaussians with a shared covariance on the penultimate features.
public struct MahalanobisScorer: Equatable, Sendable {
  /// One row per class (C × D).
  public var means: [[Double]]
  /// L⁻¹, where L Lᵀ is the shrunk shared covariance: lower triangular, row-major D × D. Then the
  /// squared distance of x to μ is ‖L⁻¹(x − μ)‖².
  public var whitening: [Double]
  /// The Ledoit–Wolf shrinkage weight towards (trace/D)·I that was used.
  public var shrinkage: Double

  public var dimension: Int { means.first?.count ?? 0 }

  public init(means: [[Double]], whitening: [Double], shrinkage: Double) {
    self.means = means
    self.whitening = whitening
    self.shrinkage = shrinkage
  }

  /// Fits class means and a shared, shrunk covariance to `features` (N × D) with class `labels`.
  /// `shrinkage` nil: the Ledoit–Wolf estimate; a value in [0, 1] fixes it. Classes without images
  /// get no mean (they cannot be the nearest).
  public static func fit(features: [[Double]], labels: [Int], classCount: Int, shrinkage: Double? = nil) throws
    -> MahalanobisScorer
  {
    guard let dimension = features.first?.count, dimension > 0 else {
      throw OutOfDistributionError("no features to fit the Mahalanobis score to")
    }
    guard features.count == labels.count else {
      throw OutOfDistributionError("\(features.count) feature rows but \(labels.count) labels")
    }
    var sums = [[Double]](repeating: [Double](repeating: 0, count: dimension), count: classCount)
    var counts = [Int](repeating: 0, count: classCount)
    for (row, label) in zip(features, labels) {
      counts[label] += 1
      for index in 0..<dimension { sums[label][index] += row[index] }
    }
    let means = zip(sums, counts).map { sum, count in count == 0 ? [] : sum.map { $0 / Double(count) } }
    // Centred rows, row-major N × D.
    let n = features.count
    var centred = [Double](repeating: 0, count: n * dimension)
    for (rowIndex, (row, label)) in zip(features, labels).enumerated() {
      for index in 0..<dimension { centred[rowIndex * dimension + index] = row[index] - means[label][index] }
    }
    let sample = Covariance.ofRows(centred, count: n, dimension: dimension)
    let weight = shrinkage ?? Covariance.ledoitWolfShrinkage(sample, rows: centred, count: n, dimension: dimension)
    var shrunk = sample
    let scale = (0..<dimension).reduce(0) { $0 + sample[$1 * dimension + $1] } / Double(dimension)
    for index in 0..<shrunk.count { shrunk[index] *= 1 - weight }
    // A floor keeps the matrix positive definite when every feature is constant.
    for index in 0..<dimension { shrunk[index * dimension + index] += weight * scale + 1e-9 * max(scale, 1) }
    let cholesky = try Covariance.cholesky(shrunk, dimension: dimension)
    return MahalanobisScorer(
      means: means, whitening: Covariance.invertLowerTriangular(cholesky, dimension: dimension), shrinkage: weight)
  }

  /// min over classes of (x − μ_c)ᵀ Σ⁻¹ (x − μ_c).
  ///
  /// A triangular matrix–vector product per class (C·D²/2 multiply-adds: 393,216 for ResNet-18's
  /// 512 features and 3 classes), so it runs on every request a server answers: eight lanes at a
  /// time, in unchecked buffers (Swift keeps a plain reduction in order, one lane, and checks every
  /// array index). The lanes change the order of the additions, not the precision: float64 throughout.
  public func score(_ features: [Double]) -> Double {
    let dimension = self.dimension
    precondition(features.count == dimension, "\(features.count) features for a \(dimension)-dimensional score")
    var best = Double.infinity
    var difference = [Double](repeating: 0, count: dimension)
    whitening.withUnsafeBufferPointer { w in
      difference.withUnsafeMutableBufferPointer { d in
        for mean in means where !mean.isEmpty {
          for index in 0..<dimension { d[index] = features[index] - mean[index] }
          var total = 0.0
          for row in 0..<dimension {
            let value = laneWiseDot(
              UnsafeBufferPointer(rebasing: w[(row * dimension)...(row * dimension + row)]),
              UnsafeBufferPointer(d), lanes: SIMD8<Double>.self)
            total += value * value
          }
          best = min(best, total)
        }
      }
    }
    return best
  }
}

/// Distance to the k-th nearest normalised training feature.
public struct NearestNeighbourScorer: Equatable, Sendable {
  /// L2-normalised training features (M × D), a seeded sample of at most `bankLimit` of them.
  public var bank: [[Float]]
  public var k: Int

  public static let bankLimit = 2_048

  public init(bank: [[Float]], k: Int) {
    self.bank = bank
    self.k = k
  }

  /// Keeps a seeded sample of `features` (at most `bankLimit`), normalised.
  public static func fit(features: [[Double]], k: Int = 10, seed: UInt64 = 0) throws -> NearestNeighbourScorer {
    guard !features.isEmpty else { throw OutOfDistributionError("no features to fit the k-NN score to") }
    var order = Array(features.indices)
    if order.count > bankLimit {
      var random = SplitMix64(seed: seed ^ 0x6B6E_6E5F_6261_6E6B)
      for index in stride(from: order.count - 1, to: 0, by: -1) {
        order.swapAt(index, Int(random.next() % UInt64(index + 1)))
      }
      order = Array(order.prefix(bankLimit)).sorted()
    }
    let bank = order.map { normalised(features[$0]).map(Float.init) }
    return NearestNeighbourScorer(bank: bank, k: min(max(k, 1), bank.count))
  }

  static func normalised(_ vector: [Double]) -> [Double] {
    let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
    return norm > 0 ? vector.map { $0 / norm } : vector
  }

  /// The distance to the k-th nearest bank feature. Every request a server answers pays for it (a
  /// full bank is 2,048 × 512 multiply-adds), so: dot products sixteen lanes at a time over unchecked
  /// buffers, and only the k nearest kept, in order, instead of sorting every distance.
  public func score(_ features: [Double]) -> Double {
    let query = Self.normalised(features).map(Float.init)
    var nearest: [Float] = []
    nearest.reserveCapacity(k + 1)
    query.withUnsafeBufferPointer { q in
      for row in bank {
        // Squared distance of unit vectors: 2 − 2·cos.
        let distance = max(0, 2 - 2 * row.withUnsafeBufferPointer { laneWiseDot($0, q, lanes: SIMD16<Float>.self) })
        guard nearest.count < k || distance < nearest[k - 1] else { continue }
        var index = nearest.count
        while index > 0 && nearest[index - 1] > distance { index -= 1 }
        nearest.insert(distance, at: index)
        if nearest.count > k { nearest.removeLast() }
      }
    }
    return Double(nearest[k - 1]).squareRoot()
  }
}

/// The fitted detector a checkpoint carries: each method's scorer and threshold, and the method
/// whose flag counts.
public struct OutOfDistributionDetector: Equatable, Sendable {
  public var mahalanobis: MahalanobisScorer
  public var neighbours: NearestNeighbourScorer
  /// Per method: the score above which an image is flagged.
  public var thresholds: [OutOfDistributionMethod: Double]
  /// The share of in-distribution (validation) images the thresholds accept.
  public var acceptance: Double
  /// The method whose flag `predict --abstain` and the server act on.
  public var method: OutOfDistributionMethod
  /// What it was fitted on, for reports: "train.txt (4060 images); thresholds on val.txt (580)".
  public var provenance: String

  public init(
    mahalanobis: MahalanobisScorer, neighbours: NearestNeighbourScorer, thresholds: [OutOfDistributionMethod: Double],
    acceptance: Double, method: OutOfDistributionMethod, provenance: String
  ) {
    self.mahalanobis = mahalanobis
    self.neighbours = neighbours
    self.thresholds = thresholds
    self.acceptance = acceptance
    self.method = method
    self.provenance = provenance
  }

  /// Every method's score of one image.
  public func scores(logits: [Double], features: [Double]) -> [OutOfDistributionMethod: Double] {
    [
      .energy: EnergyScore.score(logits), .mahalanobis: mahalanobis.score(features),
      .knn: neighbours.score(features),
    ]
  }

  /// The verdict of the chosen method on one image.
  public func assess(logits: [Double], features: [Double]) -> OutOfDistributionAssessment {
    let all = scores(logits: logits, features: features)
    let threshold = thresholds[method] ?? .infinity
    return OutOfDistributionAssessment(
      method: method, score: all[method]!, threshold: threshold, flagged: all[method]! > threshold, scores: all)
  }
}

/// One image's out-of-distribution verdict.
public struct OutOfDistributionAssessment: Codable, Equatable, Sendable {
  public var method: OutOfDistributionMethod
  public var score: Double
  public var threshold: Double
  public var flagged: Bool
  /// Every method's score.
  public var scores: [OutOfDistributionMethod: Double]

  /// "outside the training distribution: mahalanobis score 912.4 > threshold 700.2", or "within …".
  public var sentence: String {
    let numbers =
      "\(method.rawValue) score \(Self.format(score)) \(flagged ? ">" : "≤") threshold \(Self.format(threshold))"
    return (flagged ? "outside the training distribution: " : "within the training distribution: ") + numbers
  }

  public static func format(_ value: Double) -> String {
    abs(value) >= 100 ? String(format: "%.1f", value) : String(format: "%.4g", value)
  }
}

/// Thresholds and separation measures.
public enum OutOfDistributionStatistics {
  /// The smallest threshold that accepts (score ≤ threshold) at least `acceptance` of `scores`: the
  /// ⌈acceptance·n⌉-th smallest score.
  public static func threshold(scores: [Double], acceptance: Double) -> Double? {
    guard !scores.isEmpty else { return nil }
    let sorted = scores.sorted()
    let rank = Int((acceptance * Double(sorted.count)).rounded(.up))
    return sorted[min(max(rank, 1), sorted.count) - 1]
  }

  /// AUROC of telling OOD from in-distribution by score (OOD as positives): the probability that an
  /// OOD image scores above an in-distribution one, ties one half.
  public static func auroc(inDistribution: [Double], outOfDistribution: [Double]) -> Double? {
    ClassificationMetrics.rocAUC(
      scores: inDistribution + outOfDistribution,
      positives: [Bool](repeating: false, count: inDistribution.count)
        + [Bool](repeating: true, count: outOfDistribution.count))
  }

  /// FPR at 95% TPR, the usual definition with in-distribution as positives: the share of OOD
  /// images accepted by the threshold that accepts 95% of the in-distribution images.
  public static func falsePositiveRate(
    inDistribution: [Double], outOfDistribution: [Double], truePositiveRate: Double = 0.95
  ) -> Double? {
    guard !outOfDistribution.isEmpty, let threshold = threshold(scores: inDistribution, acceptance: truePositiveRate)
    else { return nil }
    return Double(outOfDistribution.filter { $0 <= threshold }.count) / Double(outOfDistribution.count)
  }

  /// A percentile bootstrap interval of a two-sample statistic, resampling each sample on its own.
  public static func bootstrapInterval(
    _ first: [Double], _ second: [Double], resamples: Int = 1_000, seed: UInt64 = 0,
    statistic: ([Double], [Double]) -> Double?
  ) -> (low: Double, high: Double)? {
    guard !first.isEmpty, !second.isEmpty else { return nil }
    var random = SplitMix64(seed: seed ^ 0x00D_00D_00D)
    var values: [Double] = []
    for _ in 0..<resamples {
      let a = first.indices.map { _ in first[Int(random.next() % UInt64(first.count))] }
      let b = second.indices.map { _ in second[Int(random.next() % UInt64(second.count))] }
      if let value = statistic(a, b), value.isFinite { values.append(value) }
    }
    return Statistics.percentiles(values, level: 0.95)
  }
}

public struct OutOfDistributionError: Error, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }
}

/// The dense linear algebra the Mahalanobis score needs, in Double, on row-major arrays.
enum Covariance {
  /// (1/n) XᵀX of already centred rows.
  static func ofRows(_ rows: [Double], count n: Int, dimension d: Int) -> [Double] {
    var result = [Double](repeating: 0, count: d * d)
    rows.withUnsafeBufferPointer { x in
      result.withUnsafeMutableBufferPointer { s in
        for row in 0..<n {
          let base = row * d
          for i in 0..<d {
            let xi = x[base + i]
            if xi == 0 { continue }
            let target = i * d
            // The upper triangle; mirrored below.
            for j in i..<d { s[target + j] += xi * x[base + j] }
          }
        }
        for i in 0..<d {
          for j in i..<d {
            s[i * d + j] /= Double(max(n, 1))
            s[j * d + i] = s[i * d + j]
          }
        }
      }
    }
    return result
  }

  /// The Ledoit–Wolf (2004) shrinkage weight of the sample covariance `s` of centred `rows` towards
  /// (trace/d)·I: min(β̄², δ²)/δ², clamped to [0, 1].
  static func ledoitWolfShrinkage(_ s: [Double], rows: [Double], count n: Int, dimension d: Int) -> Double {
    let mu = (0..<d).reduce(0) { $0 + s[$1 * d + $1] } / Double(d)
    var delta = 0.0
    for i in 0..<d {
      for j in 0..<d {
        let value = s[i * d + j] - (i == j ? mu : 0)
        delta += value * value
      }
    }
    let frobeniusS = s.reduce(0) { $0 + $1 * $1 }
    // Σ_i ‖x_i x_iᵀ − S‖² = Σ_i (‖x_i‖⁴ − 2 x_iᵀ S x_i + ‖S‖²).
    var beta = 0.0
    rows.withUnsafeBufferPointer { x in
      s.withUnsafeBufferPointer { s in
        for row in 0..<n {
          let base = row * d
          var norm = 0.0
          var quadratic = 0.0
          for i in 0..<d {
            let xi = x[base + i]
            norm += xi * xi
            var sx = 0.0
            for j in 0..<d { sx += s[i * d + j] * x[base + j] }
            quadratic += xi * sx
          }
          beta += norm * norm - 2 * quadratic + frobeniusS
        }
      }
    }
    beta /= Double(n) * Double(n)
    guard delta > 0 else { return 1 }
    return min(max(min(beta, delta) / delta, 0), 1)
  }

  /// The lower-triangular L with L Lᵀ = `a` (symmetric positive definite).
  static func cholesky(_ a: [Double], dimension d: Int) throws -> [Double] {
    var l = [Double](repeating: 0, count: d * d)
    for j in 0..<d {
      var diagonal = a[j * d + j]
      for k in 0..<j { diagonal -= l[j * d + k] * l[j * d + k] }
      guard diagonal > 0, diagonal.isFinite else {
        throw OutOfDistributionError("the feature covariance is not positive definite (column \(j))")
      }
      let root = diagonal.squareRoot()
      l[j * d + j] = root
      for i in (j + 1)..<max(j + 1, d) {
        var value = a[i * d + j]
        for k in 0..<j { value -= l[i * d + k] * l[j * d + k] }
        l[i * d + j] = value / root
      }
    }
    return l
  }

  /// The inverse of a lower-triangular matrix (lower triangular too), by forward substitution.
  static func invertLowerTriangular(_ l: [Double], dimension d: Int) -> [Double] {
    var inverse = [Double](repeating: 0, count: d * d)
    for column in 0..<d {
      inverse[column * d + column] = 1 / l[column * d + column]
      for row in (column + 1)..<max(column + 1, d) {
        var value = 0.0
        for k in column..<row { value -= l[row * d + k] * inverse[k * d + column] }
        inverse[row * d + column] = value / l[row * d + row]
      }
    }
    return inverse
  }
}

extension OutOfDistributionStatistics {
  /// Two models' scores of the same in-distribution and OOD images, for a paired comparison.
  public struct ScoredPair: Sendable {
    public var first: (inDistribution: [Double], outOfDistribution: [Double])
    public var second: (inDistribution: [Double], outOfDistribution: [Double])

    public init(
      first: (inDistribution: [Double], outOfDistribution: [Double]),
      second: (inDistribution: [Double], outOfDistribution: [Double])
    ) {
      self.first = first
      self.second = second
    }
  }

  /// The mean over `pairs` (seed i of one model against seed i of the other) of statistic(second) −
  /// statistic(first), with a percentile bootstrap interval: each resample draws the in-distribution
  /// and the OOD images once and applies the draw to every model, so the pairing by image is kept.
  public static func pairedDifference(
    _ pairs: [ScoredPair], resamples: Int = 1_000, seed: UInt64 = 0,
    statistic: ([Double], [Double]) -> Double?
  ) -> EvaluationReport.Interval? {
    guard let shape = pairs.first, !shape.first.inDistribution.isEmpty, !shape.first.outOfDistribution.isEmpty
    else { return nil }
    let (inCount, outCount) = (shape.first.inDistribution.count, shape.first.outOfDistribution.count)
    guard
      pairs.allSatisfy({
        $0.first.inDistribution.count == inCount && $0.second.inDistribution.count == inCount
          && $0.first.outOfDistribution.count == outCount && $0.second.outOfDistribution.count == outCount
      })
    else { return nil }
    func difference(_ inside: [Int]?, _ outside: [Int]?) -> Double? {
      var total = 0.0
      for pair in pairs {
        func pick(_ values: [Double], _ indices: [Int]?) -> [Double] { indices.map { $0.map { values[$0] } } ?? values }
        guard
          let a = statistic(
            pick(pair.first.inDistribution, inside), pick(pair.first.outOfDistribution, outside)),
          let b = statistic(
            pick(pair.second.inDistribution, inside), pick(pair.second.outOfDistribution, outside))
        else { return nil }
        total += b - a
      }
      return total / Double(pairs.count)
    }
    guard let value = difference(nil, nil) else { return nil }
    var random = SplitMix64(seed: seed ^ 0x5EED_0FF5)
    var values: [Double] = []
    for _ in 0..<resamples {
      let inside = (0..<inCount).map { _ in Int(random.next() % UInt64(inCount)) }
      let outside = (0..<outCount).map { _ in Int(random.next() % UInt64(outCount)) }
      if let sample = difference(inside, outside), sample.isFinite { values.append(sample) }
    }
    let bounds = Statistics.percentiles(values, level: 0.95)
    return EvaluationReport.Interval(value: value, low: bounds?.low ?? value, high: bounds?.high ?? value)
  }
}

/// Σ aᵢbᵢ over the shorter of the two, `Lanes.scalarCount` products at a time over unchecked memory
/// (a plain loop would add one product at a time, in order, and check every index): the scores that
/// run on every request a server answers.
@inline(__always)
func laneWiseDot<Lanes: SIMD>(
  _ a: UnsafeBufferPointer<Lanes.Scalar>, _ b: UnsafeBufferPointer<Lanes.Scalar>, lanes: Lanes.Type
) -> Lanes.Scalar where Lanes.Scalar: BinaryFloatingPoint {
  let count = min(a.count, b.count)
  guard count > 0 else { return 0 }
  let aBytes = UnsafeRawPointer(a.baseAddress!)
  let bBytes = UnsafeRawPointer(b.baseAddress!)
  let stride = MemoryLayout<Lanes.Scalar>.stride
  var sums = Lanes()
  var index = 0
  while index + Lanes.scalarCount <= count {
    sums +=
      aBytes.loadUnaligned(fromByteOffset: index * stride, as: Lanes.self)
      * bBytes.loadUnaligned(fromByteOffset: index * stride, as: Lanes.self)
    index += Lanes.scalarCount
  }
  var total = sums.sum()
  while index < count {
    total += a[index] * b[index]
    index += 1
  }
  return total
}
