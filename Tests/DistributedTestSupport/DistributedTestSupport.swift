import Engine
import Foundation
import Synchronization

/// A TCP port that was free a moment ago (bound to port 0, then released).
public func freePort() throws -> Int {
  let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  defer { close(socket) }
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  address.sin_port = 0
  var length = socklen_t(MemoryLayout<sockaddr_in>.size)
  try withUnsafeMutablePointer(to: &address) { pointer in
    try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
      guard bind(socket, $0, length) == 0, getsockname(socket, $0, &length) == 0 else {
        throw DistributedError("no free port")
      }
    }
  }
  return Int(UInt16(bigEndian: address.sin_port))
}

/// What the ranks' threads share (models built beforehand, results); each thread touches only its own.
public struct Unchecked<Value>: @unchecked Sendable { public let value: Value }

/// Runs `body(rank)` for every rank of a group on its own thread, joined on loopback, and returns
/// what each returned (rank order). Threads, not processes: Gloo and the Reducer do not mind, and the
/// test sees everything.
public func inGroup<Result>(of size: Int, _ body: @escaping (ProcessGroup) throws -> Result) throws -> [Result] {
  let work = Unchecked(value: body)
  let port = try freePort()
  let results = Mutex<[Int: Unchecked<Swift.Result<Result, any Error>>]>([:])
  let done = DispatchGroup()
  for rank in 0..<size {
    done.enter()
    let thread = Thread {
      defer { done.leave() }
      let outcome = Swift.Result {
        try work.value(try ProcessGroup(Rendezvous(rank: rank, worldSize: size, masterPort: port, timeoutSeconds: 30)))
      }
      results.withLock { $0[rank] = Unchecked(value: outcome) }
    }
    thread.start()
  }
  done.wait()
  return try results.withLock { all in try (0..<size).map { try all[$0]!.value.get() } }
}
