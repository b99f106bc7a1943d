/// Why training stopped or could not start.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
  case nonFiniteLoss(epoch: Int, step: Int, lastCheckpoint: String?)
  case resumeWithoutCheckpoint(String)
  case checkpointMismatch(String)
  /// Every checkpoint to resume from (last, and the one before it) is damaged.
  case noGoodCheckpoint(String)
  /// A checkpoint could not be written (a full disk, say); the last good one, if any, is intact.
  case checkpointNotWritten(reason: String, lastGood: String?)
  /// A setting that does not fit the data or the model (say, class weights for the wrong number of classes).
  case invalidSetting(String)
  /// Several processes: some ranks had a batch for this step and others none (every image of a
  /// rank's slice was unreadable and skipped).
  case ranksOutOfStep(epoch: Int, step: Int, ranksWithData: Int, ranks: Int)
  /// The model's outputs on the validation split are NaN or infinite although the loss was finite.
  case nonFiniteValidation(epoch: Int)

  public var description: String {
    switch self {
    case .nonFiniteLoss(let epoch, let step, let checkpoint):
      return "the loss became NaN or infinite in epoch \(epoch + 1), step \(step); "
        + (checkpoint.map { "the last good checkpoint is \($0)" } ?? "no epoch had finished, so there is no checkpoint")
        + ". Try a lower learning rate or λ."
    case .resumeWithoutCheckpoint(let path): return "nothing to resume: \(path) does not exist"
    case .checkpointMismatch(let reason): return "the checkpoint does not fit this run: \(reason)"
    case .checkpointNotWritten(let reason, let lastGood):
      return reason + "; "
        + (lastGood.map { "\($0) is intact: make room and continue with --resume" }
          ?? "no checkpoint had been written yet")
    case .noGoodCheckpoint(let reason):
      return "nothing sound to resume from: \(reason), and there is no earlier checkpoint; train again without --resume"
    case .invalidSetting(let reason): return reason
    case .nonFiniteValidation(let epoch):
      return "after epoch \(epoch + 1) the model's outputs on the validation split are NaN or infinite "
        + "(its weights or BatchNorm statistics diverged). Try a lower learning rate or λ, or a larger batch."
    case .ranksOutOfStep(let epoch, let step, let withData, let ranks):
      return "in epoch \(epoch + 1), step \(step), \(withData) of \(ranks) processes had images and the others none: "
        + "every image of their share was unreadable and skipped (--bad-images skip). Remove or fix those files, "
        + "or train with --bad-images fail to have them named."
    }
  }
}
