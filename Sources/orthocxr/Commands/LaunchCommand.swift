import ArgumentParser
import Dispatch
import Engine
import Foundation

/// Starts and supervises the training processes of this machine, as torchrun does: each gets RANK,
/// WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT, its output is prefixed with its rank, Ctrl-C
/// reaches all of them, and when one fails the others are stopped.
struct LaunchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "launch",
    abstract: "Train in several processes on this machine, or on several machines (data parallel).",
    discussion: """
      Runs `orthocxr COMMAND…` (after --) in --nproc-per-node processes, which join one group over
      TCP (PyTorch's c10d: a TCPStore at MASTER_ADDR:MASTER_PORT served by rank 0; Gloo collectives,
      and NCCL for CUDA tensors when each process has a GPU of its own: see train's --backend) and
      train one model together: each process takes its share of every batch, and gradients are
      averaged while backward runs. --batch-size stays the batch of one step over all processes.

        orthocxr launch --nproc-per-node 2 -- train --config experiments/os.yaml --threads 1

      Several machines: run the same command on each, with --nnodes, its own --node-rank and the
      address of node 0 (reachable from the others) in --master-addr. Give each process its share
      of the cores with train's --threads. GLOO_SOCKET_IFNAME names the network interface to use.

      Output lines start with [rank N]; the other ranks print only warnings and errors. Ctrl-C is
      passed on: every process finishes its step, rank 0 saves, and the same command with train's
      --resume continues. If a process dies, the others are stopped and the launcher exits with
      status 1, naming the rank and how it ended.
      """
  )

  @Option(help: "Processes on this machine.")
  var nprocPerNode = 1

  @Option(help: "Machines taking part.")
  var nnodes = 1

  @Option(help: "This machine's number, 0 to nnodes − 1 (node 0 serves the rendezvous).")
  var nodeRank = 0

  @Option(help: "Address of node 0, reachable from every machine.")
  var masterAddr = "127.0.0.1"

  @Option(help: "Port of the rendezvous on node 0 (0: a free one, on a single machine).")
  var masterPort = 29500

  @Option(help: "Seconds to wait for every process to join.")
  var rendezvousTimeout = 300.0

  @Option(help: "Seconds to let the other processes stop after one failed, before killing them.")
  var stopTimeout = 10.0

  @Argument(parsing: .postTerminator, help: "The orthocxr command each process runs (train and its options).")
  var command: [String] = []

  func validate() throws {
    guard nprocPerNode >= 1, nnodes >= 1, (0..<nnodes).contains(nodeRank) else {
      throw ValidationError("--nproc-per-node and --nnodes must be positive, --node-rank below --nnodes")
    }
    guard (0...65535).contains(masterPort), masterPort != 0 || nnodes == 1 else {
      throw ValidationError("--master-port must lie in 1…65535 (0, a free port, only with one machine)")
    }
    guard let first = command.first else {
      throw ValidationError("give the command after --, for example: -- train --config experiments/os.yaml")
    }
    guard first == "train" else {
      throw ValidationError("only train runs in several processes; got \"\(first)\"")
    }
  }

  func run() throws {
    let port = masterPort == 0 ? try Rendezvous.freeLoopbackPort() : masterPort
    let worldSize = nprocPerNode * nnodes
    let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    let supervisor = Supervisor()
    signal(SIGINT, SIG_IGN)
    let interrupts = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
    interrupts.setEventHandler { supervisor.interrupt() }
    interrupts.resume()
    defer { interrupts.cancel() }

    supervisor.say(
      "launch: \(nprocPerNode) process(es) here, \(worldSize) in all, rendezvous at \(masterAddr):\(port)"
        + (nnodes > 1 ? " (node \(nodeRank) of \(nnodes))" : ""))
    for localRank in 0..<nprocPerNode {
      let rank = nodeRank * nprocPerNode + localRank
      var environment = ProcessInfo.processInfo.environment
      environment["RANK"] = String(rank)
      environment["WORLD_SIZE"] = String(worldSize)
      environment["LOCAL_RANK"] = String(localRank)
      environment["LOCAL_WORLD_SIZE"] = String(nprocPerNode)
      environment["MASTER_ADDR"] = masterAddr
      environment["MASTER_PORT"] = String(port)
      environment["ORTHOCXR_RENDEZVOUS_TIMEOUT"] = String(rendezvousTimeout)
      try supervisor.start(rank: rank, executable: executable, arguments: command, environment: environment)
    }
    let outcome = supervisor.wait(stopTimeout: stopTimeout)
    if let failure = outcome.failure {
      supervisor.say("launch: \(failure); stopped the other processes")
      throw ExitCode(1)
    }
    if outcome.interrupted { throw ExitCode(130) }
    supervisor.say("launch: all \(nprocPerNode) process(es) finished")
  }
}

/// The processes of one launch, their output and their ends.
final class Supervisor: @unchecked Sendable {
  // @unchecked: every mutable field is guarded by `lock`.
  private let lock = NSCondition()
  private var processes: [(rank: Int, process: Process)] = []
  private var ended: [(rank: Int, reason: Process.TerminationReason, status: Int32)] = []
  private var interruptions = 0
  /// Output pipes not yet at their end: the launcher returns only after printing all of it.
  private var openOutputs = 0
  private let output = NSLock()

  func start(rank: Int, executable: URL, arguments: [String], environment: [String: String]) throws {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.environment = environment
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    let lines = LineBuffer(rank: rank, output: output)
    pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
      let data = handle.availableData
      lines.append(data)
      if data.isEmpty {
        handle.readabilityHandler = nil
        guard let self else { return }
        self.lock.lock()
        self.openOutputs -= 1
        self.lock.broadcast()
        self.lock.unlock()
      }
    }
    process.terminationHandler = { [weak self] ended in
      guard let self else { return }
      self.lock.lock()
      self.ended.append((rank, ended.terminationReason, ended.terminationStatus))
      self.lock.broadcast()
      self.lock.unlock()
    }
    lock.lock()
    defer { lock.unlock() }
    try process.run()
    processes.append((rank, process))
    openOutputs += 1
  }

  /// A line of the launcher's own, between the processes' lines (unbuffered, like theirs).
  func say(_ line: String) {
    output.withLock { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
  }

  /// Ctrl-C: the first is passed on (every process saves and stops), a second kills them.
  func interrupt() {
    lock.lock()
    interruptions += 1
    let signal = interruptions == 1 ? SIGINT : SIGKILL
    let running = processes.filter { $0.process.isRunning }
    lock.unlock()
    for (_, process) in running { kill(process.processIdentifier, signal) }
  }

  /// Waits for every process. When one fails (non-zero status or a signal), the others get SIGTERM,
  /// then SIGKILL after `stopTimeout` seconds.
  func wait(stopTimeout: Double) -> (failure: String?, interrupted: Bool) {
    lock.lock()
    defer { lock.unlock() }
    var failure: String?
    var deadline: Date?
    while ended.count < processes.count || openOutputs > 0 {
      if failure == nil, let found = firstFailure() {
        failure = found
        for (_, process) in processes where process.isRunning { kill(process.processIdentifier, SIGTERM) }
        deadline = Date(timeIntervalSinceNow: stopTimeout)
      }
      if let deadline {
        if !lock.wait(until: deadline) {
          for (_, process) in processes where process.isRunning { kill(process.processIdentifier, SIGKILL) }
          waitForTheRest()
          break
        }
      } else {
        lock.wait()
      }
    }
    // The last process to end may be the one that failed (or the only one): look once more.
    return (failure ?? firstFailure(), interruptions > 0)
  }

  /// The first process that ended badly, in words; called with the lock held.
  private func firstFailure() -> String? {
    guard let bad = ended.first(where: { !Self.isClean($0.reason, $0.status, interrupted: interruptions > 0) })
    else { return nil }
    return bad.reason == .uncaughtSignal
      ? "rank \(bad.rank) was killed by signal \(bad.status)" : "rank \(bad.rank) exited with status \(bad.status)"
  }

  /// After SIGKILL the remaining ends (and the ends of their output) arrive promptly; called with
  /// the lock held, which `wait()` releases while it sleeps.
  private func waitForTheRest() {
    while ended.count < processes.count || openOutputs > 0 { lock.wait() }
  }

  private static func isClean(_ reason: Process.TerminationReason, _ status: Int32, interrupted: Bool) -> Bool {
    reason == .exit && (status == 0 || (interrupted && status == 130))
  }
}

/// One process's output, cut into lines that are printed whole, each with the rank in front.
final class LineBuffer: @unchecked Sendable {
  // @unchecked: `pending` is touched only by the pipe's handler, one call at a time.
  private var pending = Data()
  private let rank: Int
  private let output: NSLock

  init(rank: Int, output: NSLock) {
    self.rank = rank
    self.output = output
  }

  /// New data; empty data means the end, which flushes an unfinished last line.
  func append(_ data: Data) {
    if data.isEmpty {
      if !pending.isEmpty { write(pending) }
      pending.removeAll()
      return
    }
    pending.append(data)
    while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
      write(pending[pending.startIndex..<newline])
      pending.removeSubrange(pending.startIndex...newline)
    }
  }

  private func write(_ line: Data) {
    output.withLock {
      FileHandle.standardOutput.write(Data("[rank \(rank)] ".utf8) + line + Data("\n".utf8))
    }
  }
}
