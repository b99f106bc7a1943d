import Foundation

/// Where a pipeline tells what it does: lines worth keeping (`message`) and a transient progress line
/// (`progress`, nil to clear it). The command line prints them; a server or a test can keep or drop them.
public struct PipelineOutput {
  public var message: (String) -> Void
  public var progress: (String?) -> Void

  public init(message: @escaping (String) -> Void, progress: @escaping (String?) -> Void = { _ in }) {
    self.message = message
    self.progress = progress
  }

  /// Says nothing.
  public static var silent: PipelineOutput { PipelineOutput(message: { _ in }) }
}

/// "3m12s", "1h04m".
public func durationText(_ seconds: Double) -> String {
  guard seconds.isFinite, seconds >= 0 else { return "?" }
  let total = Int(seconds)
  if total >= 3600 { return String(format: "%dh%02dm", total / 3600, total % 3600 / 60) }
  if total >= 60 { return String(format: "%dm%02ds", total / 60, total % 60) }
  return "\(total)s"
}
