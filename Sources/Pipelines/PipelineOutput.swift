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

  /// The same output with every message indented (for a step of a larger pipeline).
  func indented(_ prefix: String) -> PipelineOutput {
    let message = self.message
    return PipelineOutput(
      message: { text in
        message(
          text.split(separator: "\n", omittingEmptySubsequences: false).map { prefix + $0 }.joined(separator: "\n"))
      }, progress: progress)
  }
}

/// "3m12s", "1h04m".
public func durationText(_ seconds: Double) -> String {
  guard seconds.isFinite, seconds >= 0 else { return "?" }
  let total = Int(seconds)
  if total >= 3600 { return String(format: "%dh%02dm", total / 3600, total % 3600 / 60) }
  if total >= 60 { return String(format: "%dm%02ds", total / 60, total % 60) }
  return "\(total)s"
}
