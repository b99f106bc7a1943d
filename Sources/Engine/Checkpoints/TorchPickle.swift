import Foundation

/// Reads the tensors of a file written by Python's `torch.save` (the zip format of PyTorch ≥ 1.6).
///
/// libtorch's own unpickler cannot read the `OrderedDict` that `model.state_dict()` returns
/// (pytorch/pytorch#100741), which is what people save, so this is a small pickle machine of our own.
/// It is safe in the sense of `torch.load(weights_only=True)`: it never runs code. It knows how to
/// build dicts, lists, tuples, scalars and strings, `collections.OrderedDict`, and tensors through
/// `torch._utils._rebuild_tensor_v2` / `_rebuild_parameter`; any other callable becomes an opaque
/// value, which is fine as long as no tensor depends on it.
enum TorchPickle {
  /// Every tensor in the file, nested dictionaries flattened with dots ("state_dict.conv1.weight").
  static func readTensors(from data: Data) throws -> [String: Tensor] {
    if data.starts(with: [0x80]) {
      throw PickleError(
        "it was written by torch.save in the legacy format of PyTorch < 1.6; load and save it again with a current PyTorch"
      )
    }
    let archive: StoredZip
    do { archive = try StoredZip(data) } catch { throw PickleError("it is not a torch.save file: \(error)") }
    guard let pickleName = archive.entries.keys.first(where: { $0.hasSuffix("data.pkl") }),
      let pickle = archive.contents(of: pickleName)
    else { throw PickleError("the archive holds no data.pkl (it may be a TorchScript model rather than a state dict)") }
    let prefix = String(pickleName.dropLast("data.pkl".count))
    if let order = archive.contents(of: prefix + "byteorder"), String(decoding: order, as: UTF8.self) != "little" {
      throw PickleError("its tensors are stored big-endian, which OrthoCXR does not read")
    }
    var machine = Machine(bytes: [UInt8](pickle)) { key in
      guard let storage = archive.contents(of: prefix + "data/" + key) else {
        throw PickleError("storage \(key) is missing from the archive")
      }
      return storage
    }
    var tensors: [String: Tensor] = [:]
    flatten(try machine.run(), prefix: "", into: &tensors)
    return tensors
  }

  private static func flatten(_ value: Value, prefix: String, into tensors: inout [String: Tensor]) {
    switch value {
    case .tensor(let tensor):
      tensors[prefix] = tensor
    case .dict(let dict):
      for (key, item) in dict.items {
        let name: String
        switch key {
        case .string(let text): name = text
        case .int(let number): name = String(number)
        default: continue
        }
        flatten(item, prefix: prefix.isEmpty ? name : "\(prefix).\(name)", into: &tensors)
      }
    default:
      break
    }
  }

  struct PickleError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
  }

  /// A list or dict: mutable and shared through the memo, as in Python.
  final class ListBox {
    var items: [Value] = []
  }

  final class DictBox {
    var items: [(key: Value, value: Value)] = []
  }

  indirect enum Value {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([Value])
    case list(ListBox)
    case dict(DictBox)
    case global(module: String, name: String)
    case storage(dtype: DType, key: String)
    case tensor(Tensor)
    /// Something built by a callable this reader does not run (named for error messages).
    case opaque(String)
    case mark
  }

  /// Legacy typed-storage class names → element types.
  static let storageTypes: [String: DType] = [
    "FloatStorage": .float32, "DoubleStorage": .float64, "HalfStorage": .float16, "BFloat16Storage": .bfloat16,
    "LongStorage": .int64, "IntStorage": .int32, "ShortStorage": .int16, "CharStorage": .int8,
    "ByteStorage": .uint8, "BoolStorage": .bool,
  ]

  struct Machine {
    let bytes: [UInt8]
    let loadStorage: (String) throws -> Data
    var position = 0
    var stack: [Value] = []
    var memo: [Int: Value] = [:]
    var storages: [String: Tensor] = [:]

    init(bytes: [UInt8], loadStorage: @escaping (String) throws -> Data) {
      self.bytes = bytes
      self.loadStorage = loadStorage
    }

    mutating func read(_ count: Int) throws -> ArraySlice<UInt8> {
      guard count >= 0, position + count <= bytes.count else { throw PickleError("the pickle is truncated") }
      defer { position += count }
      return bytes[position..<(position + count)]
    }

    mutating func unsigned(_ count: Int) throws -> Int {
      try read(count).reversed().reduce(0) { $0 << 8 | Int($1) }
    }

    mutating func line() throws -> String {
      guard let end = bytes[position...].firstIndex(of: 0x0A) else { throw PickleError("the pickle is truncated") }
      defer { position = end + 1 }
      return String(decoding: bytes[position..<end], as: UTF8.self)
    }

    mutating func pop() throws -> Value {
      guard let value = stack.popLast() else { throw PickleError("the pickle pops an empty stack") }
      return value
    }

    /// Pops everything above the topmost mark, and the mark.
    mutating func popToMark() throws -> [Value] {
      guard let mark = stack.lastIndex(where: { if case .mark = $0 { true } else { false } }) else {
        throw PickleError("the pickle has no mark to pop to")
      }
      let items = Array(stack[(mark + 1)...])
      stack.removeSubrange(mark...)
      return items
    }

    mutating func run() throws -> Value {
      while true {
        let opcode = try read(1).first!
        switch opcode {
        case 0x80: _ = try read(1)  // PROTO
        case 0x95: _ = try read(8)  // FRAME
        case UInt8(ascii: "."): return try pop()  // STOP
        case UInt8(ascii: "("): stack.append(.mark)
        case UInt8(ascii: "0"): _ = try pop()
        case UInt8(ascii: "1"): _ = try popToMark()
        case UInt8(ascii: "2"): stack.append(try stack.last ?? { throw PickleError("DUP on an empty stack") }())
        case UInt8(ascii: "N"): stack.append(.none)
        case 0x88: stack.append(.bool(true))
        case 0x89: stack.append(.bool(false))
        case UInt8(ascii: "J"): stack.append(.int(Int(Int32(truncatingIfNeeded: try unsigned(4)))))
        case UInt8(ascii: "K"): stack.append(.int(try unsigned(1)))
        case UInt8(ascii: "M"): stack.append(.int(try unsigned(2)))
        case 0x8A, 0x8B:  // LONG1, LONG4: little-endian two's complement
          let count = try unsigned(opcode == 0x8A ? 1 : 4)
          let digits = try read(count)
          guard count <= 8 else {
            stack.append(.opaque("a very long integer"))
            continue
          }
          var value = digits.reversed().reduce(0) { $0 << 8 | Int($1) }
          if count > 0, count < 8, digits.last! & 0x80 != 0 { value -= 1 << (8 * count) }
          stack.append(.int(value))
        case UInt8(ascii: "G"):  // BINFLOAT, big-endian
          let bits = try read(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
          stack.append(.float(Double(bitPattern: bits)))
        case UInt8(ascii: "X"), 0x8C, 0x8D:  // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
          let count = try unsigned(opcode == 0x8C ? 1 : opcode == 0x8D ? 8 : 4)
          stack.append(.string(String(decoding: try read(count), as: UTF8.self)))
        case UInt8(ascii: "T"), UInt8(ascii: "U"), UInt8(ascii: "B"), UInt8(ascii: "C"), 0x8E:
          let count = try unsigned(
            [UInt8(ascii: "U"), UInt8(ascii: "C")].contains(opcode) ? 1 : opcode == 0x8E ? 8 : 4)
          stack.append(.bytes(Array(try read(count))))
        case UInt8(ascii: ")"): stack.append(.tuple([]))
        case UInt8(ascii: "t"): stack.append(.tuple(try popToMark()))
        case 0x85, 0x86, 0x87:
          let count = Int(opcode - 0x84)
          guard stack.count >= count else { throw PickleError("a tuple needs more values than the stack holds") }
          let items = Array(stack.suffix(count))
          stack.removeLast(count)
          stack.append(.tuple(items))
        case UInt8(ascii: "]"): stack.append(.list(ListBox()))
        case UInt8(ascii: "l"):
          let box = ListBox()
          box.items = try popToMark()
          stack.append(.list(box))
        case UInt8(ascii: "a"):
          let item = try pop()
          if case .list(let box) = stack.last { box.items.append(item) }
        case UInt8(ascii: "e"):
          let items = try popToMark()
          if case .list(let box) = stack.last { box.items += items }
        case UInt8(ascii: "}"): stack.append(.dict(DictBox()))
        case UInt8(ascii: "d"):
          let box = DictBox()
          let items = try popToMark()
          for index in stride(from: 0, to: items.count - 1, by: 2) {
            box.items.append((items[index], items[index + 1]))
          }
          stack.append(.dict(box))
        case UInt8(ascii: "s"):
          let value = try pop()
          let key = try pop()
          if case .dict(let box) = stack.last { box.items.append((key, value)) }
        case UInt8(ascii: "u"):
          let items = try popToMark()
          if case .dict(let box) = stack.last {
            for index in stride(from: 0, to: items.count - 1, by: 2) {
              box.items.append((items[index], items[index + 1]))
            }
          }
        case 0x8F: stack.append(.opaque("set"))  // EMPTY_SET
        case 0x90: _ = try popToMark()  // ADDITEMS
        case 0x91:
          _ = try popToMark()
          stack.append(.opaque("frozenset"))
        case UInt8(ascii: "c"):
          let module = try line()
          stack.append(.global(module: module, name: try line()))
        case 0x93:  // STACK_GLOBAL
          guard case .string(let name) = try pop(), case .string(let module) = try pop() else {
            throw PickleError("STACK_GLOBAL needs two strings")
          }
          stack.append(.global(module: module, name: name))
        case UInt8(ascii: "R"):
          let arguments = try pop()
          let callable = try pop()
          stack.append(try reduce(callable, arguments))
        case 0x81:  // NEWOBJ: cls.__new__(cls, *args)
          _ = try pop()
          stack.append(.opaque(describe(try pop())))
        case 0x92:  // NEWOBJ_EX
          _ = try pop()
          _ = try pop()
          stack.append(.opaque(describe(try pop())))
        case UInt8(ascii: "b"):  // BUILD: set an object's state; OrderedDict's _metadata is not needed
          _ = try pop()
        case UInt8(ascii: "q"):
          memo[try unsigned(1)] = try stack.last ?? { throw PickleError("PUT on an empty stack") }()
        case UInt8(ascii: "r"):
          memo[try unsigned(4)] = try stack.last ?? { throw PickleError("PUT on an empty stack") }()
        case 0x94: memo[memo.count] = try stack.last ?? { throw PickleError("MEMOIZE on an empty stack") }()
        case UInt8(ascii: "p"):
          guard let index = Int(try line()) else { throw PickleError("PUT has a bad index") }
          memo[index] = try stack.last ?? { throw PickleError("PUT on an empty stack") }()
        case UInt8(ascii: "h"), UInt8(ascii: "j"), UInt8(ascii: "g"):
          let index =
            opcode == UInt8(ascii: "g") ? Int(try line()) ?? -1 : try unsigned(opcode == UInt8(ascii: "h") ? 1 : 4)
          guard let value = memo[index] else {
            throw PickleError("the pickle reads memo entry \(index), which was never stored")
          }
          stack.append(value)
        case UInt8(ascii: "Q"): stack.append(try persistentLoad(try pop()))
        case UInt8(ascii: "P"): stack.append(try persistentLoad(.string(try line())))
        default:
          throw PickleError(String(format: "unsupported pickle opcode 0x%02X at byte %d", opcode, position - 1))
        }
      }
    }

    private func describe(_ value: Value) -> String {
      if case .global(let module, let name) = value { return "\(module).\(name)" }
      return "an object"
    }

    /// torch.save's persistent ids: ("storage", storage type, key, location, element count).
    private mutating func persistentLoad(_ id: Value) throws -> Value {
      guard case .tuple(let fields) = id, fields.count >= 5, case .string("storage") = fields[0],
        case .global(_, let typeName) = fields[1], case .string(let key) = fields[2]
      else { throw PickleError("a persistent id is not a torch storage") }
      guard let dtype = storageTypes[typeName] else { throw PickleError("storage type \(typeName) is not supported") }
      return .storage(dtype: dtype, key: key)
    }

    private mutating func reduce(_ callable: Value, _ arguments: Value) throws -> Value {
      guard case .global(let module, let name) = callable, case .tuple(let args) = arguments else {
        return .opaque(describe(callable))
      }
      switch (module, name) {
      case ("collections", "OrderedDict"), ("builtins", "dict"), ("__builtin__", "dict"):
        return .dict(DictBox())
      case ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor"):
        return .tensor(try rebuildTensor(args))
      case ("torch.jit._pickle", "restore_type_tag"):
        // libtorch's pickle_save wraps its value with a type tag: (value, "Dict[str, Tensor]").
        return args.first ?? .none
      case ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"):
        guard let data = args.first, case .tensor = data else { throw PickleError("a parameter holds no tensor") }
        return data
      default:
        return .opaque("\(module).\(name)")
      }
    }

    /// (storage, storage offset, size, stride, ...) → a tensor with its own contiguous memory.
    private mutating func rebuildTensor(_ args: [Value]) throws -> Tensor {
      guard args.count >= 4, case .storage(let dtype, let key) = args[0], case .int(let offset) = args[1],
        case .tuple(let sizeValues) = args[2], case .tuple(let strideValues) = args[3]
      else { throw PickleError("a tensor's rebuild arguments are malformed") }
      let shape = try sizeValues.map { value -> Int in
        guard case .int(let size) = value else { throw PickleError("a tensor size is not an integer") }
        return size
      }
      let strides = try strideValues.map { value -> Int in
        guard case .int(let stride) = value else { throw PickleError("a tensor stride is not an integer") }
        return stride
      }
      let storage: Tensor
      if let cached = storages[key] {
        storage = cached
      } else {
        let data = try loadStorage(key)
        guard data.count % dtype.byteCount == 0 else { throw PickleError("storage \(key) has a partial element") }
        storage = try data.withUnsafeBytes {
          try Tensor.fromBytes($0, shape: [data.count / dtype.byteCount], dtype: dtype)
        }
        storages[key] = storage
      }
      // The furthest element the view reaches must lie inside the storage (checked arithmetic: a
      // hostile file's sizes and strides overflow Int).
      func reach() -> Int? {
        var furthest = offset
        for (size, stride) in zip(shape, strides) where size > 0 {
          let (step, overflow) = (size - 1).multipliedReportingOverflow(by: stride)
          guard !overflow, step <= Int.max - furthest else { return nil }
          furthest += step
        }
        return furthest
      }
      guard shape.allSatisfy({ $0 >= 0 }), strides.allSatisfy({ $0 >= 0 }), offset >= 0,
        shape.contains(0) || (reach().map { $0 < storage.elementCount } ?? false)
      else { throw PickleError("a tensor of shape \(shape) reaches past the end of storage \(key)") }
      return try storage.strided(shape: shape, strides: strides, offset: offset).contiguous().clone()
    }
  }
}
