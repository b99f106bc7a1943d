import Foundation
import TestSupport
import Testing

/// Two "machines" on one: two network namespaces joined by a veth pair, each running
/// `orthocxr launch --nnodes 2` for its node, rendezvous and Gloo over the veth addresses.
enum NetworkNamespaces {
  /// Whether this process may make namespaces (root with iproute2): tried once, then undone.
  static let available: Bool = {
    let probe = "orthocxr-probe-\(getpid())"
    guard (try? run(["ip", "netns", "add", probe])) == 0 else { return false }
    _ = try? run(["ip", "netns", "del", probe])
    return true
  }()

  static let required = Testing.ConditionTrait.enabled(
    if: available,
    "needs network namespaces (root and iproute2's ip) to run two hosts; scripts/test-two-hosts runs this test as root")

  @discardableResult
  static func run(_ arguments: [String]) throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    return process.terminationStatus
  }
}

@Suite(SharedData.required, NetworkNamespaces.required, .serialized) struct TwoHostTests {
  @Test func twoNamespacesTrainTogetherOverAVethPair() throws {
    let folder = try temporaryFolder()
    let tag = String(UUID().uuidString.prefix(6)).lowercased()
    let hosts = [
      (namespace: "ocxr-\(tag)-a", device: "ocxr\(tag)a", address: "10.231.77.1"),
      (namespace: "ocxr-\(tag)-b", device: "ocxr\(tag)b", address: "10.231.77.2"),
    ]
    defer {
      for host in hosts { _ = try? NetworkNamespaces.run(["ip", "netns", "del", host.namespace]) }
      try? FileManager.default.removeItem(atPath: folder)
    }
    for host in hosts { try #require(try NetworkNamespaces.run(["ip", "netns", "add", host.namespace]) == 0) }
    try #require(
      try NetworkNamespaces.run(["ip", "link", "add", hosts[0].device, "type", "veth", "peer", "name", hosts[1].device])
        == 0)
    for host in hosts {
      for command in [
        ["ip", "link", "set", host.device, "netns", host.namespace],
        ["ip", "-n", host.namespace, "addr", "add", host.address + "/24", "dev", host.device],
        ["ip", "-n", host.namespace, "link", "set", host.device, "up"],
        ["ip", "-n", host.namespace, "link", "set", "lo", "up"],
      ] {
        try #require(try NetworkNamespaces.run(command) == 0, "\(command.joined(separator: " "))")
      }
    }
    let executable = try #require(Orthocxr.executable)
    var processes: [Process] = []
    for (node, host) in hosts.enumerated() {
      let process = Process()
      process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
      process.arguments = [
        "ip", "netns", "exec", host.namespace, "env", "GLOO_SOCKET_IFNAME=\(host.device)", executable, "launch",
        "--nnodes", "2", "--node-rank", String(node), "--nproc-per-node", "1", "--master-addr", hosts[0].address,
        "--master-port", "29555", "--rendezvous-timeout", "60", "--", "train", "--train",
        SharedData.path("covid-radiography/mini_train.txt"), "--epochs", "1", "--image-size", "32", "--batch-size",
        "16", "--threads", "1", "--workers", "1", "--output", folder + "/run",
      ]
      process.standardOutput = try FileHandle(
        forWritingTo: URL(fileURLWithPath: createFile(folder + "/node\(node).txt")))
      process.standardError = process.standardOutput
      try process.run()
      processes.append(process)
    }
    for process in processes { process.waitUntilExit() }
    let outputs = try (0..<2).map { try String(contentsOfFile: folder + "/node\($0).txt", encoding: .utf8) }
    #expect(processes.map(\.terminationStatus) == [0, 0], "\(outputs.joined(separator: "\n---\n"))")
    #expect(outputs[0].contains("rendezvous at 10.231.77.1:29555 (node 0 of 2)"))
    #expect(outputs[0].contains("[rank 0] epoch 1:") && outputs[0].contains("2 processes"))
    #expect(FileManager.default.fileExists(atPath: folder + "/run/best.safetensors"))
  }

  private func createFile(_ path: String) -> String {
    FileManager.default.createFile(atPath: path, contents: nil)
    return path
  }
}
