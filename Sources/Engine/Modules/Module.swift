/// A part of a network: a layer, a block, or a whole model.
///
/// A module computes `forward`, and is called as a function (`try conv(x)`), which also runs the
/// forward hooks registered on it (Grad-CAM uses them to see a layer's activations). Its parameters,
/// buffers and children are found by walking its stored properties, so a module declares them and
/// registers nothing by hand:
///
/// ```swift
/// final class Block: Module {
///   let conv1 = try Conv2d(3, 8, kernelSize: 3)   // child "conv1"
///   @Parameter var scale = try Tensor.ones([8])    // parameter "scale"
///   @Buffer var runningMean = try Tensor.zeros([8])  // buffer "running_mean"
///   func forward(_ x: Tensor) throws -> Tensor { ... }
/// }
/// ```
///
/// Property names become PyTorch `state_dict` names: camelCase turns into snake_case, and arrays
/// and `Sequential` children are numbered (`layer1.0.bn1.running_mean`), so torchvision weights load
/// with no mapping table.
public protocol Module: AnyObject {
  /// The module's computation. Call the module itself (`try module(x)`) so that hooks run.
  func forward(_ input: Tensor) throws -> Tensor

  /// The direct children, in order, with their names. The default finds them by reflection.
  var namedChildren: [(name: String, module: any Module)] { get }

  /// The tensors this module owns itself (not its children's). The default finds the `@Parameter`
  /// and `@Buffer` properties by reflection.
  var localTensors: [NamedTensor] { get }
}

/// Whether a tensor is learned (a parameter) or only kept (a buffer, such as running statistics).
public enum TensorRole: Sendable {
  case parameter
  case buffer
}

/// A tensor of a module with its state_dict name.
public struct NamedTensor {
  public let name: String
  public let tensor: Tensor
  public let role: TensorRole
}

/// A module whose forward pass differs between training and evaluation (batch norm, dropout).
public protocol TrainingModeAware: AnyObject {
  var isTraining: Bool { get set }
}

extension Module {
  /// Runs `forward`, then the forward hooks registered on this module.
  @inline(__always)
  public func callAsFunction(_ input: Tensor) throws -> Tensor {
    let output = try forward(input)
    if ForwardHooks.isActive { try ForwardHooks.run(for: self, output: output) }
    return output
  }

  public var namedChildren: [(name: String, module: any Module)] {
    var children: [(name: String, module: any Module)] = []
    for case (let label?, let value) in Mirror(reflecting: self).children {
      let name = stateDictName(label)
      if let module = value as? any Module {
        children.append((name, module))
      } else if let modules = value as? [any Module] {
        for (index, module) in modules.enumerated() { children.append(("\(name).\(index)", module)) }
      }
    }
    return children
  }

  public var localTensors: [NamedTensor] {
    Mirror(reflecting: self).children.compactMap { label, value in
      guard let label, let slot = value as? any TensorSlot, let tensor = slot.tensor else { return nil }
      return NamedTensor(name: stateDictName(label), tensor: tensor, role: slot.role)
    }
  }

  // MARK: Walking the tree

  /// This module and every module below it, depth first, with dotted paths ("" for this one).
  public func namedModules(prefix: String = "") -> [(path: String, module: any Module)] {
    var result: [(path: String, module: any Module)] = [(prefix, self)]
    for (name, child) in namedChildren {
      result += child.namedModules(prefix: prefix.isEmpty ? name : "\(prefix).\(name)")
    }
    return result
  }

  /// The module at a dotted path such as "layer4" or "layer1.0.conv2", or nil.
  public func module(at path: String) -> (any Module)? {
    if path.isEmpty { return self }
    var current: any Module = self
    var remaining = Substring(path)
    // Children's own names may hold dots ("layer1.0"), so match the longest name that fits.
    while !remaining.isEmpty {
      guard
        let (name, child) = current.namedChildren
          .filter({ remaining == $0.name || remaining.hasPrefix($0.name + ".") })
          .max(by: { $0.name.count < $1.name.count })
      else { return nil }
      current = child
      remaining = remaining.dropFirst(name.count).drop(while: { $0 == "." })
    }
    return current
  }

  /// Every tensor of the tree with its state_dict name, parameters and buffers in PyTorch's order.
  public func namedTensors() -> [NamedTensor] {
    namedModules().flatMap { path, module in
      module.localTensors.map {
        NamedTensor(name: path.isEmpty ? $0.name : "\(path).\($0.name)", tensor: $0.tensor, role: $0.role)
      }
    }
  }

  public func namedParameters() -> [(name: String, tensor: Tensor)] {
    namedTensors().filter { $0.role == .parameter }.map { ($0.name, $0.tensor) }
  }

  public func namedBuffers() -> [(name: String, tensor: Tensor)] {
    namedTensors().filter { $0.role == .buffer }.map { ($0.name, $0.tensor) }
  }

  /// The learned tensors, for an optimizer.
  public func parameters() -> [Tensor] { namedTensors().filter { $0.role == .parameter }.map(\.tensor) }

  /// The number of learned values (as torchvision counts them: parameters, not buffers).
  public var parameterCount: Int { parameters().reduce(0) { $0 + $1.elementCount } }

  // MARK: Modes and placement

  /// Switches batch norm and dropout in the whole tree to training (or evaluation) behaviour.
  public func train(_ training: Bool = true) {
    for (_, module) in namedModules() { (module as? any TrainingModeAware)?.isTraining = training }
  }

  /// Switches batch norm and dropout in the whole tree to evaluation behaviour.
  public func eval() { train(false) }

  /// Whether any module of the tree is in training mode (a tree without batch norm or dropout is
  /// never in training mode: it behaves the same either way).
  public var isTraining: Bool {
    namedModules().contains { ($0.module as? any TrainingModeAware)?.isTraining == true }
  }

  /// Drops the gradients of every parameter.
  public func clearGradients() throws {
    for parameter in parameters() { try parameter.clearGrad() }
  }

  /// Where the parameters live (the first one's device; CPU for a module without parameters).
  public var device: Device { namedTensors().first?.tensor.device ?? .cpu }

  /// Moves every parameter and buffer to `device`, keeping their identities.
  public func move(to device: Device) throws {
    try noGrad {
      for entry in namedTensors() where entry.tensor.device != device {
        try entry.tensor.setData(entry.tensor.to(device))
      }
    }
  }

  /// Lays out the 4-D parameters (convolution weights) in `format`; with channels-last inputs this
  /// lets oneDNN skip layout conversions.
  public func setMemoryFormat(_ format: MemoryFormat) throws {
    try noGrad {
      for entry in namedTensors() where entry.tensor.rank == 4 {
        try entry.tensor.setData(entry.tensor.contiguous(format))
      }
    }
  }
}

/// Turns a Swift property name into its state_dict name: "_runningMean" becomes "running_mean".
func stateDictName(_ label: String) -> String {
  var name = ""
  for character in label.drop(while: { $0 == "_" }) {
    if character.isUppercase {
      name += "_" + character.lowercased()
    } else {
      name.append(character)
    }
  }
  return name
}

/// A stored property that holds a tensor of a module (the `@Parameter` and `@Buffer` wrappers).
public protocol TensorSlot {
  var tensor: Tensor? { get }
  var role: TensorRole { get }
}

/// Marks a module's property as a learned parameter. Its gradient is switched on.
@propertyWrapper
public struct Parameter<Value>: TensorSlot {
  /// Marked as requiring gradients whenever it is set, not only at initialisation: an optional
  /// parameter (`@Parameter var bias: Tensor?`) starts as nil and gets its tensor by assignment.
  /// (Before, such biases — every Linear's, so every classifier's — never required gradients and
  /// never trained.)
  public var wrappedValue: Value {
    didSet { Self.markTrainable(wrappedValue) }
  }

  public init(wrappedValue: Value) {
    self.wrappedValue = wrappedValue
    Self.markTrainable(wrappedValue)
  }

  private static func markTrainable(_ value: Value) {
    if let tensor = value as? Tensor, !tensor.requiresGrad { try? tensor.setRequiresGrad(true) }
  }

  public var tensor: Tensor? { wrappedValue as? Tensor }
  public var role: TensorRole { .parameter }
}

/// Marks a module's property as a buffer: saved in checkpoints, not learned.
@propertyWrapper
public struct Buffer<Value>: TensorSlot {
  public var wrappedValue: Value

  public init(wrappedValue: Value) { self.wrappedValue = wrappedValue }

  public var tensor: Tensor? { wrappedValue as? Tensor }
  public var role: TensorRole { .buffer }
}
