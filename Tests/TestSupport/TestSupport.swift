import Foundation
import Testing

/// ../shared/data beside the repository: real X-rays for the tests that need them.
public enum SharedData {
  public static let root: String = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()  // the repository
    .deletingLastPathComponent().appendingPathComponent("shared/data").path

  public static var isAvailable: Bool { FileManager.default.fileExists(atPath: root + "/README.md") }

  public static func path(_ relative: String) -> String { root + "/" + relative }

  /// A trait that skips a test, saying why, when ../shared/data is absent.
  public static let required = Testing.ConditionTrait.enabled(
    if: isAvailable, "needs ../shared/data (real chest X-rays) beside the repository; it is absent")
}

/// A fresh folder under the system's temporary directory; the caller removes it.
public func temporaryFolder() throws -> String {
  let path = NSTemporaryDirectory() + "orthocxr-tests-" + UUID().uuidString
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}

/// Whether this test process runs under AddressSanitizer (`scripts/sanitize address`): its runtime
/// is linked in. The DICOM decoder's memory budget (RLIMIT_AS) is off there, because ASan reserves
/// terabytes of address space, so the tests of that budget cannot hold and say so.
public enum AddressSanitizer {
  public static let isActive: Bool = dlsym(nil, "__asan_init") != nil  // nil: RTLD_DEFAULT on glibc

  /// Skips a test of the decoder's memory budget under AddressSanitizer.
  public static let budgetEnforced = Testing.ConditionTrait.enabled(
    if: !isActive, "the DICOM decoder's memory budget (RLIMIT_AS) is off under AddressSanitizer")
}

/// Whether this machine has an NVIDIA driver, for the tests that need a GPU or its absence.
public enum CUDADriver {
  /// libcuda.so.1 loads: a driver is installed (a GPU may still be absent).
  public static let isInstalled: Bool = {
    guard let handle = dlopen("libcuda.so.1", RTLD_LAZY) else { return false }
    dlclose(handle)
    return true
  }()

  /// Skips a test, saying why, on machines without an NVIDIA driver and GPU. scripts/gpu-check runs
  /// the same checks through the command line on a GPU machine.
  public static let required = Testing.ConditionTrait.enabled(
    if: isInstalled, "needs an NVIDIA GPU and its driver; scripts/gpu-check runs the GPU checks on one")

  /// Skips a test on machines that have a driver (the test is about its absence).
  public static let absent = Testing.ConditionTrait.enabled(
    if: !isInstalled, "checks the messages for a machine without an NVIDIA driver; this one has one")
}

/// A POST of a file's bytes with curl, started at once; `status()` waits for the answer. For tests
/// that talk to a live server from outside the process, or keep a request in flight.
public struct CurlPost {
  private let process = Process()
  private let pipe = Pipe()

  public init(file: String, to url: String) throws {
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--data-binary", "@" + file, url]
    process.standardOutput = pipe
    try process.run()
  }

  /// The HTTP status, 0 when no answer came (the connection failed or was cut).
  public func status() -> Int {
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Int(String(decoding: data, as: UTF8.self)) ?? 0
  }
}

/// A TCP socket connected to `port` on loopback, whose reads give up after `receiveTimeout` seconds:
/// for tests that behave as a bad client would. The caller closes it.
public func loopbackSocket(port: Int, receiveTimeout: Int) throws -> Int32 {
  let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_port = UInt16(port).bigEndian
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  let connected = withUnsafePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
      connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
    }
  }
  guard connected == 0 else {
    close(socket)
    throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "cannot connect to 127.0.0.1:\(port)"])
  }
  var limit = timeval(tv_sec: receiveTimeout, tv_usec: 0)
  setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
  return socket
}
