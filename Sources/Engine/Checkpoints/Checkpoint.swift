import CTorch
import Foundation

/// Reading and writing state dicts: safetensors (the project's format) and PyTorch's `.pth`/`.pt`
/// files written by `torch.save`, so ImageNet or CheXpert weights that a user brings can be used.
public enum Checkpoint {
  /// Reads the tensors of a checkpoint, choosing the format by the file's extension.
  public static func read(from path: String) throws -> [String: Tensor] {
    guard FileManager.default.fileExists(atPath: path) else {
      throw CheckpointError(path: path, reason: "does not exist")
    }
    if path.hasSuffix(".safetensors") { return try Safetensors.read(from: path).tensors }
    if path.hasSuffix(".pth") || path.hasSuffix(".pt") || path.hasSuffix(".bin") { return try readPickled(from: path) }
    throw CheckpointError(path: path, reason: "has an unknown extension (use .safetensors, .pth or .pt)")
  }

  /// Writes tensors in the format the extension names (.safetensors, or .pth for torch.load).
  public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to path: String) throws {
    if path.hasSuffix(".pth") || path.hasSuffix(".pt") {
      try writePickled(tensors, to: path)
    } else {
      try Safetensors.write(tensors, metadata: metadata, to: path)
    }
  }

  /// Reads a file written by Python's `torch.save` (see `TorchPickle`). Nested dictionaries come out
  /// with dotted names; values that are not tensors are left out.
  public static func readPickled(from path: String) throws -> [String: Tensor] {
    let data: Data
    do {
      data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
    } catch {
      throw CheckpointError(path: path, reason: "cannot be read (\(error.localizedDescription))")
    }
    do {
      return try TorchPickle.readTensors(from: data)
    } catch let error as TorchPickle.PickleError {
      throw CheckpointError(path: path, reason: "cannot be loaded: \(error.description)")
    }
  }

  /// Writes a {name: tensor} dictionary that Python's `torch.load` reads.
  public static func writePickled(_ tensors: [String: Tensor], to path: String) throws {
    let names = tensors.keys.sorted()
    let handles: [OpaquePointer?] = names.map { tensors[$0]!.handle }
    var cNames = names.map { strdup($0) }
    defer { for name in cNames { free(name) } }
    let status = withExtendedLifetime(tensors) {
      cNames.withUnsafeMutableBufferPointer { namePointers in
        namePointers.withMemoryRebound(to: UnsafePointer<CChar>?.self) { names in
          ct_save_pickled(path, names.baseAddress, handles, Int32(handles.count))
        }
      }
    }
    guard status == 0 else { throw CheckpointError(path: path, reason: "cannot be written: \(TorchError.last())") }
  }

  /// Removes the wrappers that training scripts often put around a state dict: a top-level
  /// "state_dict" or "model" entry, and DataParallel's "module." prefix.
  public static func unwrapped(_ tensors: [String: Tensor]) -> [String: Tensor] {
    var result = tensors
    for prefix in ["state_dict.", "model.", "module."] where !result.isEmpty {
      if result.keys.allSatisfy({ $0.hasPrefix(prefix) }) {
        result = Dictionary(uniqueKeysWithValues: result.map { (String($0.key.dropFirst(prefix.count)), $0.value) })
      }
    }
    return result
  }
}

/// What a non-strict load left out.
public struct LoadReport: Equatable, Sendable {
  /// Names the module has and the checkpoint lacks; those tensors keep their values.
  public var missingKeys: [String]
  /// Names the checkpoint has and the module lacks; they are ignored.
  public var unexpectedKeys: [String]

  public var isComplete: Bool { missingKeys.isEmpty && unexpectedKeys.isEmpty }
}

extension Module {
  /// The parameters and buffers by state_dict name (a snapshot of references, not copies).
  public func stateDict() -> [String: Tensor] {
    Dictionary(namedTensors().map { ($0.name, $0.tensor) }, uniquingKeysWith: { first, _ in first })
  }

  /// Copies `stateDict`'s tensors into this module's. A shape mismatch always throws, naming the
  /// tensor and both shapes. With `strict`, a missing or unexpected name throws too; without it,
  /// they are reported and the rest is loaded.
  @discardableResult
  public func loadStateDict(_ stateDict: [String: Tensor], strict: Bool = true) throws -> LoadReport {
    let own = namedTensors()
    let ownNames = Set(own.map(\.name))
    let report = LoadReport(
      missingKeys: own.map(\.name).filter { stateDict[$0] == nil },
      unexpectedKeys: stateDict.keys.filter { !ownNames.contains($0) }.sorted())
    if strict && !report.isComplete {
      var problems: [String] = []
      if !report.missingKeys.isEmpty { problems.append("missing \(report.missingKeys.joined(separator: ", "))") }
      if !report.unexpectedKeys.isEmpty {
        problems.append("unexpected \(report.unexpectedKeys.joined(separator: ", "))")
      }
      throw TorchError("the state dict does not match the model: \(problems.joined(separator: "; "))")
    }
    for entry in own {
      guard let source = stateDict[entry.name] else { continue }
      guard source.shape == entry.tensor.shape else {
        throw TorchError(
          "size mismatch for \(entry.name): the checkpoint has shape \(source.shape), the model \(entry.tensor.shape)")
      }
    }
    try noGrad {
      for entry in own { if let source = stateDict[entry.name] { try entry.tensor.copy_(source) } }
    }
    return report
  }

  /// Saves the state dict to a checkpoint (.safetensors, or .pth for torch.load).
  public func save(to path: String, metadata: [String: String] = [:]) throws {
    try Checkpoint.write(stateDict(), metadata: metadata, to: path)
  }

  /// Loads a checkpoint (.safetensors, or .pth/.pt from torch.save), unwrapping the usual
  /// "state_dict"/"module." wrappers. Errors name the file.
  @discardableResult
  public func load(from path: String, strict: Bool = true) throws -> LoadReport {
    do {
      return try loadStateDict(Checkpoint.unwrapped(Checkpoint.read(from: path)), strict: strict)
    } catch let error as TorchError {
      throw CheckpointError(path: path, reason: "cannot be loaded: \(error.message)")
    }
  }
}
