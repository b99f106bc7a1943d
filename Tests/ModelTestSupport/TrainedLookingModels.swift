import Engine
import Models

/// A model in eval mode whose BatchNorms are far from the identity they start as (random scales,
/// shifts, means and variances, fixed by `seed`), so that folding them, or forgetting to, shows.
public func modelWithTrainedLookingNorms(
  _ architecture: Architecture, channels: Int, seed: UInt64 = 7
) throws -> any ImageClassifier {
  Torch.seed(seed)
  let model = try architecture.make(classCount: 3, inputChannels: channels)
  try noGrad {
    for (_, module) in model.namedModules() {
      guard let norm = module as? BatchNorm2d else { continue }
      try norm.weight.uniform_(from: 0.5, to: 1.5)
      try norm.bias.uniform_(from: -0.2, to: 0.2)
      try norm.runningMean.uniform_(from: -0.3, to: 0.3)
      try norm.runningVar.uniform_(from: 0.5, to: 2)
    }
  }
  model.eval()
  return model
}
