import Foundation

/// The counters and histograms of /metrics, in Prometheus's text format: requests by status, request
/// latency, batch sizes, queue depth. A few numbers under a lock; no dependency needed.
public final class ServerMetrics: @unchecked Sendable {
  // @unchecked: every field is guarded by `lock`.
  private let lock = NSLock()
  private var requestsByStatus: [Int: Int] = [:]
  private var latency = Histogram(bounds: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10])
  private var batchSize = Histogram(bounds: [1, 2, 4, 8, 16, 32, 64])

  struct Histogram {
    let bounds: [Double]
    var counts: [Int]
    var sum = 0.0
    var count = 0

    init(bounds: [Double]) {
      self.bounds = bounds
      counts = Array(repeating: 0, count: bounds.count)
    }

    mutating func observe(_ value: Double) {
      for (index, bound) in bounds.enumerated() where value <= bound { counts[index] += 1 }
      sum += value
      count += 1
    }

    func render(_ name: String) -> [String] {
      bounds.enumerated().map { "\(name)_bucket{le=\"\(Self.number($1))\"} \(counts[$0])" }
        + ["\(name)_bucket{le=\"+Inf\"} \(count)", "\(name)_sum \(sum)", "\(name)_count \(count)"]
    }

    static func number(_ value: Double) -> String {
      value == value.rounded() ? String(Int(value)) : String(value)
    }
  }

  public init() {}

  public func recordRequest(status: Int, seconds: Double) {
    lock.withLock {
      requestsByStatus[status, default: 0] += 1
      latency.observe(seconds)
    }
  }

  public func recordBatches(_ sizes: [Int]) {
    lock.withLock { for size in sizes { batchSize.observe(Double(size)) } }
  }

  public func requests(status: Int) -> Int { lock.withLock { requestsByStatus[status] ?? 0 } }

  /// The text of /metrics.
  public func render(queueDepth: Int) -> String {
    lock.withLock {
      var lines = [
        "# HELP orthocxr_requests_total Prediction API requests by HTTP status.",
        "# TYPE orthocxr_requests_total counter",
      ]
      lines += requestsByStatus.keys.sorted().map {
        "orthocxr_requests_total{status=\"\($0)\"} \(requestsByStatus[$0]!)"
      }
      lines += [
        "# HELP orthocxr_request_seconds Time from request to response.",
        "# TYPE orthocxr_request_seconds histogram",
      ]
      lines += latency.render("orthocxr_request_seconds")
      lines += [
        "# HELP orthocxr_batch_size Requests sharing one forward pass.", "# TYPE orthocxr_batch_size histogram",
      ]
      lines += batchSize.render("orthocxr_batch_size")
      lines += [
        "# HELP orthocxr_queue_depth Requests waiting for a forward pass.", "# TYPE orthocxr_queue_depth gauge",
        "orthocxr_queue_depth \(queueDepth)",
      ]
      return lines.joined(separator: "\n") + "\n"
    }
  }
}
