import Engine
import Models

/// The class-activation-map methods: which weighting of a layer's feature maps makes the heatmap.
///
/// With A the layer's activations (K maps) and g the gradient of the class score with respect to A:
/// - Grad-CAM: ReLU(Σ_k mean(g_k) · A_k) (Selvaraju et al. 2017).
/// - Grad-CAM++: as Grad-CAM, with each location's positive gradient weighted by
///   α = g² / (2g² + Σ A · g³) (Chattopadhay et al. 2018).
/// - HiResCAM: ReLU(Σ_k g_k ⊙ A_k), element-wise, so it shows exactly what the score used (Draelos & Carin 2020).
/// - LayerCAM: ReLU(Σ_k ReLU(g_k) ⊙ A_k) (Jiang et al. 2021).
/// - Score-CAM: no gradients; each map, scaled to [0, 1] and upsampled, masks the input, and the
///   softmax over the masked inputs' class scores weights the maps (Wang et al. 2020). One forward
///   pass per feature map: hundreds of times slower than the others.
public enum CAMMethod: String, CaseIterable, Sendable {
  case gradCAM = "gradcam"
  case gradCAMPlusPlus = "gradcam++"
  case hiResCAM = "hirescam"
  case layerCAM = "layercam"
  case scoreCAM = "scorecam"
}

/// An explanation that cannot be made, with the reason.
public struct ExplanationError: Error, CustomStringConvertible, Equatable {
  public let reason: String

  public init(_ reason: String) { self.reason = reason }

  public var description: String { reason }
}

/// Heatmaps for a batch, with the logits they explain.
public struct ClassActivationMaps {
  /// (N, H, W) float32 at the input's resolution, each map scaled to [0, 1] (all zeros where the
  /// layer showed nothing for the class).
  public let maps: Tensor
  /// (N, classes) float32: the model's logits on the unchanged input.
  public let logits: Tensor
  /// The class each map explains.
  public let targets: [Int]
  /// (N, D) float32: the penultimate features, when the pass that made the maps gave them (through
  /// a prepared model); nil otherwise.
  public var features: Tensor? = nil

  /// One image's map as a row-major array of H × W values.
  public func map(at index: Int) throws -> [Float] {
    try maps.select(dim: 0, index: index).contiguous().toArray(Float.self)
  }
}

/// Makes class activation maps of one named layer of a model.
///
/// The layer's output is read with a forward hook, so any module of any model works; the layer must
/// give (N, K, h, w) maps. Gradients come from `Tensor.gradients`, which leaves the parameters'
/// `grad` untouched: explaining never disturbs training state.
public final class CAMExplainer {
  public let model: any Module
  public let layerName: String
  let layer: any Module
  /// Masked inputs per forward pass in Score-CAM.
  public var scoreCAMBatchSize = 32
  /// The model prepared for inference, used when the layer is its last stage (see `init`).
  public let prepared: PreparedClassifier?

  /// Explains `layer` (a module path such as "layer4" or "features.norm5") of `model`.
  public convenience init(model: any Module, layer: String) throws {
    try self.init(model: model, layer: layer, prepared: nil)
  }

  private init(model: any Module, layer: String, prepared: PreparedClassifier?) throws {
    guard let module = model.module(at: layer) else {
      let candidates = model.namedModules().map(\.path).filter { !$0.isEmpty && !$0.contains(".") }
      throw ExplanationError(
        "the model has no layer \"\(layer)\"; its top-level layers are \(candidates.joined(separator: ", "))")
    }
    self.model = model
    self.layerName = layer
    self.layer = module
    self.prepared = layer == PreparedClassifier.lastStage && prepared?.explainsLastStage == true ? prepared : nil
  }

  /// Explains a classifier's `layer`, by default its last convolutional block.
  ///
  /// With `prepared` (`PreparedClassifier.prepare(classifier)`, made from the same weights) and the
  /// last stage as the layer, no gradient is computed: the class score is the classifier's row c
  /// applied to the average of the activations, so its gradient with respect to them is that row
  /// divided by their h·w positions, everywhere; the activations come from the prepared forward
  /// pass, as do Score-CAM's masked passes. The maps are the same, to float rounding, in a fraction
  /// of the time. The prepared model is a snapshot: explain a model whose weights changed without it.
  public convenience init(
    classifier: any ImageClassifier, layer: String? = nil, prepared: PreparedClassifier? = nil
  ) throws {
    try self.init(model: classifier, layer: layer ?? classifier.lastConvolutionalLayer, prepared: prepared)
  }

  /// Heatmaps for a batch `input` (N, C, H, W): for `targets` (one class per image), or for each
  /// image's predicted class when nil. The model should be in evaluation mode.
  public func explain(_ input: Tensor, method: CAMMethod = .gradCAM, targets: [Int]? = nil) throws
    -> ClassActivationMaps
  {
    guard input.rank == 4 else { throw ExplanationError("the input must be (N, C, H, W), not \(input.shape)") }
    let size = (input.shape[2], input.shape[3])
    if let targets, targets.count != input.shape[0] {
      throw ExplanationError("\(targets.count) targets for \(input.shape[0]) images")
    }
    if let prepared { return try explain(input, method: method, targets: targets, with: prepared) }
    let capture = ActivationCapture()
    let hook = layer.addForwardHook { capture.value = $0 }
    defer { hook.remove() }

    if method == .scoreCAM {
      let (logits, activations) = try noGrad { () throws -> (Tensor, Tensor) in
        let logits = try model(input)
        hook.remove()  // the masked forward passes below must not replace the activations
        return (logits, try spatialActivations(capture.value).to(.float32))
      }
      let chosen = try targets ?? predictions(logits)
      let cams = try noGrad {
        try scoreCAM(input: input, activations: activations, targets: chosen) { try model($0) }
      }
      return ClassActivationMaps(
        maps: try Self.upsampledAndNormalized(cams, to: size), logits: try logits.to(.float32), targets: chosen)
    }

    let (logits, activations, gradient, chosen) = try withGrad { () throws -> (Tensor, Tensor, Tensor, [Int]) in
      var logits = try model(input)
      var activations = try spatialActivations(capture.value)
      if !activations.requiresGrad {
        // A frozen model records nothing; an input that requires gradients makes it record.
        logits = try model(input.detached().requiringGrad())
        activations = try spatialActivations(capture.value)
      }
      let chosen = try targets ?? predictions(logits)
      let indices = try Tensor(chosen.map { Int64($0) }, shape: [chosen.count, 1]).to(logits.device)
      let score = try logits.gather(dim: 1, indices: indices).sum()
      guard let gradient = try Tensor.gradients(of: [score], withRespectTo: [activations]).first ?? nil else {
        throw ExplanationError("the class scores do not depend on layer \"\(layerName)\"")
      }
      // Under autocast both are bfloat16; the maps are computed in float32.
      return (try logits.detached(), try activations.detached().to(.float32), try gradient.to(.float32), chosen)
    }
    let cams = try noGrad { try Self.combine(activations: activations, gradient: gradient, method: method) }
    return ClassActivationMaps(
      maps: try Self.upsampledAndNormalized(cams, to: size), logits: try logits.to(.float32), targets: chosen)
  }

  /// `explain` through the prepared model: activations from its forward pass, the gradient in closed
  /// form (see `init(classifier:layer:prepared:)`).
  private func explain(
    _ input: Tensor, method: CAMMethod, targets: [Int]?, with prepared: PreparedClassifier
  ) throws -> ClassActivationMaps {
    let size = (input.shape[2], input.shape[3])
    let activations = try prepared.lastStageActivations(input)
    let features = try prepared.features(ofLastStage: activations)
    let logits = try prepared.logits(ofFeatures: features)
    let chosen = try targets ?? predictions(logits)
    let cams = try noGrad { () throws -> Tensor in
      if method == .scoreCAM {
        return try scoreCAM(input: input, activations: activations, targets: chosen) { try prepared($0) }
      }
      let (count, channels) = (activations.shape[0], activations.shape[1])
      let positions = Double(activations.shape[2] * activations.shape[3])
      let rows = try Tensor(chosen.map { Int64($0) }, shape: [count]).to(activations.device)
      let weights = try prepared.classifierWeights.indexSelect(dim: 0, indices: rows) / positions  // (N, K)
      let gradient = try weights.reshaped([count, channels, 1, 1]).expanded(to: activations.shape)
      return try Self.combine(activations: activations, gradient: gradient, method: method)
    }
    return ClassActivationMaps(
      maps: try Self.upsampledAndNormalized(cams, to: size), logits: try logits.to(.float32), targets: chosen,
      features: features)
  }

  /// The layer's output as (N, K, h, w), or an error naming the layer when it is not spatial.
  func spatialActivations(_ output: Tensor?) throws -> Tensor {
    guard let output else {
      throw ExplanationError("layer \"\(layerName)\" did not run in the model's forward pass")
    }
    guard output.rank == 4 else {
      throw ExplanationError(
        "layer \"\(layerName)\" is not spatial: its output has shape \(output.shape), and class activation maps need "
          + "(N, K, h, w) feature maps; name a convolutional layer (for example the model's last block)")
    }
    return output
  }

  func predictions(_ logits: Tensor) throws -> [Int] {
    try logits.argmax(dim: 1).toArray(Int64.self).map { Int($0) }
  }

  /// The (N, h, w) maps of the gradient methods, before upsampling.
  static func combine(activations: Tensor, gradient: Tensor, method: CAMMethod) throws -> Tensor {
    let weighted: Tensor
    switch method {
    case .gradCAM:
      weighted = try activations * gradient.mean(dims: [2, 3], keepingDims: true)
    case .gradCAMPlusPlus:
      // As pytorch-grad-cam computes it, with the same ε, so the two give the same maps.
      let g2 = try gradient.squared()
      let g3 = try g2 * gradient
      let activationSums = try activations.sum(dims: [2, 3], keepingDims: true)
      var alpha = try g2 / (g2 * 2 + activationSums * g3 + 1e-6)
      alpha = try alpha.filled(where: gradient.equal(0), with: 0)
      let weights = try (alpha * gradient.relu()).sum(dims: [2, 3], keepingDims: true)
      weighted = try activations * weights
    case .hiResCAM:
      weighted = try activations * gradient
    case .layerCAM:
      weighted = try activations * gradient.relu()
    case .scoreCAM:
      preconditionFailure("Score-CAM uses no gradients")
    }
    return try weighted.sum(dims: [1]).relu()
  }

  /// Score-CAM's (N, h, w) maps.
  func scoreCAM(
    input: Tensor, activations: Tensor, targets: [Int], logits forward: (Tensor) throws -> Tensor
  ) throws -> Tensor {
    let channels = activations.shape[1]
    let size = (input.shape[2], input.shape[3])
    var maps: [Tensor] = []
    for index in 0..<input.shape[0] {
      let imageActivations = try activations.select(dim: 0, index: index)  // (K, h, w)
      // Each feature map, upsampled to the input and scaled to [0, 1], becomes a mask. Corners
      // aligned, as pytorch-grad-cam upsamples them (nn.UpsamplingBilinear2d), so the maps agree.
      let upsampled = try Functional.resizeBilinear(
        imageActivations.unsqueezed(dim: 1), size: size, alignCorners: true)  // (K, 1, H, W)
      let flat = try upsampled.flattened(from: 1)
      let low = try flat.min(dim: 1, keepingDims: true).values
      let high = try flat.max(dim: 1, keepingDims: true).values
      let masks = try ((flat - low) / (high - low + 1e-8)).reshaped(upsampled.shape)
      let image = try input.select(dim: 0, index: index).unsqueezed(dim: 0).to(.float32)  // (1, C, H, W)
      var scores: [Tensor] = []
      var start = 0
      while start < channels {
        let end = min(start + scoreCAMBatchSize, channels)
        var masked = try image * masks.slice(dim: 0, start..<end)
        if input.dtype != .float32 { masked = try masked.to(input.dtype) }
        scores.append(try forward(masked).to(.float32).select(dim: 1, index: targets[index]))
        start = end
      }
      let weights = try Tensor.cat(scores).softmax(dim: 0)  // (K)
      let cam = try (imageActivations * weights.reshaped([channels, 1, 1])).sum(dims: [0]).relu()
      maps.append(cam)
    }
    return try Tensor.stack(maps)
  }

  /// Upsamples (N, h, w) maps bilinearly to `size` and scales each to [0, 1]: subtract its minimum,
  /// divide by its maximum (plus 1e-7, so an all-zero map stays zero), as pytorch-grad-cam does.
  public static func upsampledAndNormalized(_ cams: Tensor, to size: (Int, Int)) throws -> Tensor {
    let upsampled = try Functional.resizeBilinear(cams.unsqueezed(dim: 1), size: size).squeezed(dim: 1)
    let flat = try upsampled.flattened(from: 1)
    let shifted = try flat - flat.min(dim: 1, keepingDims: true).values
    let scaled = try shifted / (shifted.max(dim: 1, keepingDims: true).values + 1e-7)
    return try scaled.reshaped(upsampled.shape).contiguous()
  }
}

/// Where the forward hook leaves the layer's output.
private final class ActivationCapture: @unchecked Sendable {
  var value: Tensor?
}
