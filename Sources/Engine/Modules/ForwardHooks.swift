import Synchronization

/// Functions called with a module's output each time the module runs: how Grad-CAM reads the
/// activations of a named layer without the model knowing about it.
///
/// Hooks live in one process-wide table keyed by module identity. A module call checks one atomic
/// counter first, so a network with no hooks pays nothing more.
public enum ForwardHooks {
  public typealias Hook = @Sendable (Tensor) throws -> Void

  private static let table = Mutex<[ObjectIdentifier: [(id: Int, hook: Hook)]]>([:])
  private static let count = Atomic<Int>(0)
  private static let nextID = Atomic<Int>(0)

  static var isActive: Bool { count.load(ordering: .relaxed) > 0 }

  static func run(for module: any Module, output: Tensor) throws {
    let hooks = table.withLock { $0[ObjectIdentifier(module)] ?? [] }
    for entry in hooks { try entry.hook(output) }
  }

  /// Registers `hook` on `module` until the returned handle is removed (or released).
  public static func add(to module: any Module, _ hook: @escaping Hook) -> ForwardHookHandle {
    let id = nextID.add(1, ordering: .relaxed).newValue
    let key = ObjectIdentifier(module)
    table.withLock { $0[key, default: []].append((id, hook)) }
    count.add(1, ordering: .relaxed)
    return ForwardHookHandle(key: key, id: id)
  }

  static func remove(key: ObjectIdentifier, id: Int) {
    let removed = table.withLock { table -> Bool in
      guard let before = table[key]?.count else { return false }
      table[key]?.removeAll { $0.id == id }
      if table[key]?.isEmpty == true { table[key] = nil }
      return (table[key]?.count ?? 0) < before
    }
    if removed { count.subtract(1, ordering: .relaxed) }
  }
}

/// Keeps a forward hook registered; removing it (or releasing the handle) unregisters it.
public final class ForwardHookHandle: Sendable {
  let key: ObjectIdentifier
  let id: Int

  init(key: ObjectIdentifier, id: Int) {
    self.key = key
    self.id = id
  }

  public func remove() { ForwardHooks.remove(key: key, id: id) }

  deinit { remove() }
}

extension Module {
  /// Calls `hook` with this module's output every time it runs, until the handle goes away.
  public func addForwardHook(_ hook: @escaping ForwardHooks.Hook) -> ForwardHookHandle {
    ForwardHooks.add(to: self, hook)
  }
}
