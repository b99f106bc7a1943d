import Datasets
import Engine
import Models

/// Runs a model over a loader in evaluation mode.
public enum Predictor {
  /// The logits (as Double rows), labels and entry indices of every image the loader yields, in its
  /// order. An image the loader skipped is simply absent: `indices[row]` says which entry each row is.
  /// The model's training mode is what it was before.
  public static func logits(of model: any ImageClassifier, on loader: DataLoader, mixedPrecision: Bool) throws -> (
    logits: [[Double]], labels: [Int], indices: [Int]
  ) {
    let wasTraining = model.isTraining
    model.eval()
    defer { model.train(wasTraining) }
    var logits: [[Double]] = []
    var labels: [Int] = []
    var indices: [Int] = []
    let device = model.device
    let epoch = loader.epoch(0)
    while let batch = try epoch.next() {
      let images = batch.images.device == device ? batch.images : try batch.images.to(device)
      let output = try noGrad {
        try Autocast.run(if: mixedPrecision, on: device) { try model(images) }.to(.float64)
      }
      let values = try output.toArray(Double.self)
      let classes = output.shape[1]
      for row in 0..<output.shape[0] { logits.append(Array(values[(row * classes)..<((row + 1) * classes)])) }
      labels += try batch.labels.toArray(Int64.self).map(Int.init)
      indices += batch.indices
    }
    return (logits, labels, indices)
  }
}
