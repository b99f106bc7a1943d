import Foundation

/// SplitMix64 (Steele, Lea and Flood 2014): a small, fast, seedable generator. Everything random in
/// the data pipeline (synthetic images, augmentation, shuffling) draws from one of these, seeded from
/// the run's seed, so results never depend on global state or thread timing.
public struct SplitMix64: RandomNumberGenerator, Sendable {
  public var state: UInt64

  public init(seed: UInt64) { state = seed }

  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// Uniform in [low, high).
  public mutating func uniform(_ low: Double, _ high: Double) -> Double {
    low + (high - low) * Double(next() >> 11) / Double(1 << 53)
  }

  /// A standard normal sample (Box–Muller).
  public mutating func gaussian() -> Double {
    let u = Swift.max(uniform(0, 1), 1e-12)
    return (-2 * Foundation.log(u)).squareRoot() * Foundation.cos(2 * .pi * uniform(0, 1))
  }

  /// True with `probability`. A number is drawn whatever the probability, so that later draws do
  /// not depend on it.
  public mutating func chance(_ probability: Double) -> Bool {
    uniform(0, 1) < probability
  }
}
