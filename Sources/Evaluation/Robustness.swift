import Foundation
import Randomness

/// The arithmetic of robustness under perturbation: corruption errors (ImageNet-C), heatmap
/// stability and the shortcut signal of heatmap energy in the image border.
public enum Robustness {
  /// The corruption error of a model on one family (Hendrycks & Dietterich 2019):
  /// CE = Σ_s E_s / Σ_s E_s^ref over the severities, E the top-1 error; nil when the reference
  /// makes no error at any severity.
  public static func corruptionError(errors: [Double], reference: [Double]) -> Double? {
    let denominator = reference.reduce(0, +)
    guard errors.count == reference.count, denominator > 0 else { return nil }
    return errors.reduce(0, +) / denominator
  }

  /// The relative corruption error: how much the error grows over the clean error,
  /// Σ_s (E_s − E_clean) / Σ_s (E_s^ref − E_clean^ref). nil when the reference's error grows by less
  /// than `minimumGrowth` summed over the severities (2 points by default): the ratio of two small
  /// differences is noise (a family that hardly hurts the reference, like mild JPEG, gives ratios of
  /// ±10¹² in a bootstrap otherwise).
  public static func relativeCorruptionError(
    errors: [Double], clean: Double, reference: [Double], referenceClean: Double, minimumGrowth: Double = 0.02
  ) -> Double? {
    let denominator = reference.reduce(0) { $0 + $1 - referenceClean }
    guard errors.count == reference.count, denominator >= minimumGrowth else { return nil }
    return errors.reduce(0) { $0 + $1 - clean } / denominator
  }

  /// The mean over families of the values that exist (nil when none does).
  public static func mean(_ values: [Double?]) -> Double? {
    let present = values.compactMap { $0 }
    return present.isEmpty ? nil : present.reduce(0, +) / Double(present.count)
  }

  /// Spearman's rank correlation (average ranks for ties); nil when either is constant.
  public static func spearman(_ a: [Float], _ b: [Float]) -> Double? {
    guard a.count == b.count, a.count > 1 else { return nil }
    let (ra, rb) = (ClassificationMetrics.averageRanks(a), ClassificationMetrics.averageRanks(b))
    let n = Double(a.count)
    let (ma, mb) = (ra.reduce(0, +) / n, rb.reduce(0, +) / n)
    var (covariance, va, vb) = (0.0, 0.0, 0.0)
    for index in ra.indices {
      let (da, db) = (ra[index] - ma, rb[index] - mb)
      covariance += da * db
      va += da * da
      vb += db * db
    }
    guard va > 0, vb > 0 else { return nil }
    return covariance / (va * vb).squareRoot()
  }

  /// The share of a map's energy (the sum of its non-negative values) in the outer `fraction` of
  /// each side: 1 for a map that lights only the border, about 0.36 for a uniform one at 10%. A
  /// model that looks at the border looks at markers, collimation and text, not at the lungs.
  public static func borderEnergy(_ map: [Float], width: Int, height: Int, fraction: Double = 0.1) -> Double? {
    guard map.count == width * height, width > 0, height > 0 else { return nil }
    let bandX = max(1, Int((Double(width) * fraction).rounded()))
    let bandY = max(1, Int((Double(height) * fraction).rounded()))
    var (border, total) = (0.0, 0.0)
    for y in 0..<height {
      for x in 0..<width {
        let value = Double(max(map[y * width + x], 0))
        total += value
        if x < bandX || x >= width - bandX || y < bandY || y >= height - bandY { border += value }
      }
    }
    return total > 0 ? border / total : nil
  }

  /// Percentile bootstrap intervals of several statistics at once: each resample draws `count`
  /// indices with replacement and `statistic` returns every value for them (nil or NaN leaves that
  /// value out of the resample).
  public static func bootstrapIntervals(
    count: Int, resamples: Int, seed: UInt64, level: Double = 0.95, statistic: ([Int]) -> [Double?]
  ) -> [(low: Double, high: Double)?] {
    guard count > 0, resamples > 0 else { return [] }
    var random = SplitMix64(seed: seed ^ 0x0005_7E55)
    var samples: [[Double]] = []
    for _ in 0..<resamples {
      let indices = (0..<count).map { _ in Int(random.next() % UInt64(count)) }
      let values = statistic(indices)
      if samples.isEmpty { samples = Array(repeating: [], count: values.count) }
      for (position, value) in values.enumerated() {
        if let value, value.isFinite { samples[position].append(value) }
      }
    }
    return samples.map { Statistics.percentiles($0, level: level) }
  }
}
