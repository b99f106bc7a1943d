import Datasets
import Engine
import Models

/// Runs a model over a loader in evaluation mode.
public enum Predictor {
  /// What a pass over a loader gives, row by row in the loader's order.
  public struct Outputs {
    /// Logits as Double rows.
    public var logits: [[Double]] = []
    /// The penultimate features (empty unless asked for).
    public var features: [[Double]] = []
    public var labels: [Int] = []
    /// `indices[row]` is the entry each row is: an image the loader skipped is simply absent.
    public var indices: [Int] = []
  }

  /// The logits (as Double rows), labels and entry indices of every image the loader yields, in its
  /// order. The model's training mode is what it was before.
  public static func logits(of model: any ImageClassifier, on loader: DataLoader, mixedPrecision: Bool) throws -> (
    logits: [[Double]], labels: [Int], indices: [Int]
  ) {
    let outputs = try outputs(of: model, on: loader, mixedPrecision: mixedPrecision, features: false)
    return (outputs.logits, outputs.labels, outputs.indices)
  }

  /// The same, and with `features` the penultimate features of the same forward pass.
  public static func outputs(
    of model: any ImageClassifier, on loader: DataLoader, mixedPrecision: Bool, features: Bool
  ) throws -> Outputs {
    let wasTraining = model.isTraining
    model.eval()
    defer { model.train(wasTraining) }
    var outputs = Outputs()
    let device = model.device
    let epoch = loader.epoch(0)
    while let batch = try epoch.next() {
      let images = batch.images.device == device ? batch.images : try batch.images.to(device)
      let (logits, penultimate) = try noGrad { () throws -> (Tensor, Tensor?) in
        try Autocast.run(if: mixedPrecision, on: device) {
          if features {
            let (logits, penultimate) = try model.logitsAndFeatures(images)
            return (try logits.to(.float64), try penultimate.to(.float64))
          }
          return (try model(images).to(.float64), nil)
        }
      }
      outputs.logits += try rows(logits)
      if let penultimate { outputs.features += try rows(penultimate) }
      outputs.labels += try batch.labels.toArray(Int64.self).map(Int.init)
      outputs.indices += batch.indices
    }
    return outputs
  }

  /// A 2-D tensor as Double rows.
  public static func rows(_ tensor: Tensor) throws -> [[Double]] {
    let values = try tensor.to(.float64).toArray(Double.self)
    let width = tensor.shape[1]
    return (0..<tensor.shape[0]).map { Array(values[($0 * width)..<(($0 + 1) * width)]) }
  }
}
