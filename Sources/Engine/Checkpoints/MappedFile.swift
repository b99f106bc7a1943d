import CTorch
import Foundation

/// A file mapped into memory privately: reading it faults its pages in from the page cache instead
/// of copying it, and writing to the mapping copies only the pages written (copy-on-write), never
/// the file. Tensors made over it (`tensor(at:shape:dtype:)`) keep it mapped until the last of them
/// is freed, so a checkpoint's tensors need no copy of their own before they are loaded into a model.
public final class MappedFile: @unchecked Sendable {
  // @unchecked: the mapping never changes after init; its pages are the tensors' storage.
  public let bytes: UnsafeRawBufferPointer

  /// Maps the file at `path`; throws a CheckpointError naming it when it cannot be opened or mapped.
  public init(path: String) throws {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else {
      throw CheckpointError(path: path, reason: "cannot be read (\(String(cString: strerror(errno))))")
    }
    defer { close(descriptor) }
    var status = stat()
    guard fstat(descriptor, &status) == 0 else {
      throw CheckpointError(path: path, reason: "cannot be read (\(String(cString: strerror(errno))))")
    }
    guard status.st_mode & S_IFMT == S_IFREG else {
      throw CheckpointError(path: path, reason: "is not a regular file")
    }
    let size = Int(status.st_size)
    guard size > 0 else {
      bytes = UnsafeRawBufferPointer(start: nil, count: 0)
      return
    }
    // Writable but private: an in-place operation on a loaded tensor copies the page, and the file
    // stays as it was.
    let address = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, descriptor, 0)
    guard let address, address != MAP_FAILED else {
      throw CheckpointError(path: path, reason: "cannot be mapped (\(String(cString: strerror(errno))))")
    }
    bytes = UnsafeRawBufferPointer(start: address, count: size)
  }

  deinit {
    if let start = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: start), bytes.count) }
  }

  /// A CPU tensor whose storage is `range` of the file (no copy), keeping the file mapped while it
  /// lives. `range` must hold exactly the shape's bytes.
  public func tensor(at range: Range<Int>, shape: [Int], dtype: DType) throws -> Tensor {
    let expected = shape.reduce(1, *) * dtype.byteCount
    guard range.lowerBound >= 0, range.upperBound <= bytes.count, range.count == expected else {
      throw TorchError("bytes \(range) cannot hold a \(dtype) tensor of shape \(shape) in a file of \(bytes.count)")
    }
    // Zero bytes (an empty tensor) still needs a valid address.
    let start = UnsafeMutableRawPointer(
      mutating: bytes.baseAddress.map { $0 + range.lowerBound } ?? UnsafeRawPointer(bitPattern: 1)!)
    let owner = Unmanaged.passRetained(self).toOpaque()
    let sizes = shape.map(Int64.init)
    do {
      return try sizes.withUnsafeBufferPointer { sizes in
        try Tensor.make {
          ct_from_blob_owned($0, start, sizes.baseAddress, Int32(sizes.count), dtype.rawValue, owner) {
            Unmanaged<MappedFile>.fromOpaque($0!).release()
          }
        }
      }
    } catch {
      Unmanaged<MappedFile>.fromOpaque(owner).release()
      throw error
    }
  }
}
