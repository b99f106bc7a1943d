import Foundation
import Randomness

/// Seeded bootstrap confidence intervals and McNemar's test, for honest comparisons.
public enum Statistics {
  /// The mean and the sample standard deviation (n − 1; 0 for fewer than two values) of values over
  /// seeds.
  public static func meanAndStandardDeviation(_ values: [Double]) -> (mean: Double, standardDeviation: Double) {
    let mean = values.reduce(0, +) / Double(max(values.count, 1))
    guard values.count > 1 else { return (mean, 0) }
    let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)
    return (mean, variance.squareRoot())
  }

  /// The percentile bootstrap interval of `statistic` over `sampleCount` samples: `resamples` draws of
  /// sample indices with replacement from a seeded generator; the statistic receives the indices.
  public static func bootstrapInterval(
    sampleCount: Int, resamples: Int = 1_000, level: Double = 0.95, seed: UInt64 = 0,
    statistic: ([Int]) -> Double?
  ) -> (low: Double, high: Double)? {
    guard sampleCount > 0, resamples > 0 else { return nil }
    var random = SplitMix64(seed: seed ^ 0x2545_F491_4F6C_DD1D)
    var values: [Double] = []
    values.reserveCapacity(resamples)
    for _ in 0..<resamples {
      let indices = (0..<sampleCount).map { _ in Int(random.next() % UInt64(sampleCount)) }
      if let value = statistic(indices), value.isFinite { values.append(value) }
    }
    return percentiles(values, level: level)
  }

  /// The central `level` percentile interval of `values` (linear interpolation); nil when empty.
  public static func percentiles(_ values: [Double], level: Double = 0.95) -> (low: Double, high: Double)? {
    guard !values.isEmpty else { return nil }
    let values = values.sorted()
    let tail = (1 - level) / 2
    func quantile(_ q: Double) -> Double {
      let position = q * Double(values.count - 1)
      let lower = Int(position.rounded(.down))
      let upper = Swift.min(lower + 1, values.count - 1)
      return values[lower] + (values[upper] - values[lower]) * (position - Double(lower))
    }
    return (quantile(tail), quantile(1 - tail))
  }

  /// McNemar's exact test on paired predictions of the same images: `onlyFirstCorrect` images that
  /// only the first model got right, `onlySecondCorrect` only the second. The two-sided p-value of
  /// the binomial test of b against Binomial(b + c, 1/2).
  public static func mcNemarExact(onlyFirstCorrect b: Int, onlySecondCorrect c: Int) -> Double {
    let n = b + c
    guard n > 0 else { return 1 }
    let smaller = Swift.min(b, c)
    // Σ_{k ≤ smaller} C(n, k) / 2ⁿ, in log space so that large n does not overflow.
    var logTerms: [Double] = []
    for k in 0...smaller {
      logTerms.append(
        lgamma(Double(n + 1)) - lgamma(Double(k + 1)) - lgamma(Double(n - k + 1)) - Double(n) * Foundation.log(2))
    }
    let top = logTerms.max()!
    let tailProbability = Foundation.exp(top) * logTerms.reduce(0) { $0 + Foundation.exp($1 - top) }
    return Swift.min(1, 2 * tailProbability)
  }
}
