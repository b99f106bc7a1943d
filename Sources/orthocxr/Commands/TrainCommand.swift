import ArgumentParser
import Engine
import Foundation
import Models
import Pipelines
import RunFiles
import Training

/// Trains a baseline (λ = 0) or OS model.
struct TrainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train",
    abstract: "Train a classifier with cross-entropy + λ·OS (λ = 0: the baseline).",
    discussion: """
      Validates every epoch, keeps the best (by --select) and the last checkpoint in the run folder,
      with config.yaml (every setting as resolved: run it again with --config), config.json,
      log.jsonl (every step and epoch) and metrics.json. Ctrl-C saves where training is and exits;
      --resume continues exactly from there.

      --config FILE reads the settings from YAML: each key is an option below without its dashes
      (image-size: 224), optionally grouped in sections (model:, data:, loss:, ...); an option given on
      the command line overrides the file, which overrides the default. --seeds 0,1,2 trains one run
      per seed in OUTPUT/seed-N. --test SPLIT then calibrates each run on --val and evaluates it on
      SPLIT (test-metrics.json, test-predictions.csv), ready for `orthocxr compare`.

      Example: orthocxr train --train data/train.txt --val data/val.txt --lambda 0.01 --output runs/os
               orthocxr train --config experiments/os.yaml --seeds 0,1,2 --epochs 5
      """
  )

  @Option(help: "A YAML experiment file whose keys are these options; the command line overrides it.")
  var config: String?

  @OptionGroup var options: ExperimentOptions

  @Flag(help: "Continue the run in --output from its last checkpoint.")
  var resume = false

  @Option(
    help: """
      Under launch or torchrun, what carries CUDA tensors between the processes: auto (NCCL when each \
      process of a machine has a GPU of its own, else Gloo), gloo or nccl. Naming one forms a group \
      even of a single process. CPU tensors always go through Gloo.
      """)
  var backend: BackendRequest = .auto

  func validate() throws {
    _ = try settings()
  }

  /// Default, then the file, then the command line.
  func settings() throws -> ExperimentSettings {
    var settings = ExperimentSettings()
    if let config {
      do {
        settings = try ExperimentSettings.load(file: config)
      } catch let error as RunFileError {
        throw ValidationError(error.description)
      }
    }
    try options.apply(to: &settings)
    do {
      try settings.validate()
    } catch let problem as SettingsProblem {
      throw ValidationError(problem.description)
    }
    guard settings.train != nil else {
      throw ValidationError("give the training split: --train (or train: in --config)")
    }
    guard settings.output != nil else {
      throw ValidationError("give the run folder: --output (or output: in --config)")
    }
    guard Architecture(rawValue: settings.model) != nil else {
      throw ValidationError(
        "--model must be one of \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")), not \"\(settings.model)\""
      )
    }
    return settings
  }

  func run() throws {
    var settings = try settings()
    installInterruptHandler()
    // Started by `orthocxr launch` or torchrun: join the group the environment describes.
    let rendezvous = try userFacing { try Rendezvous.fromEnvironment(keepingSingleProcess: backend != .auto) }
    var cudaBackend = ProcessGroup.CUDABackend.gloo
    if let rendezvous {
      let onCUDA = settings.device.hasPrefix("cuda")
      if onCUDA { try userFacing { try Torch.makeAvailable(.cuda(0)) } }
      if settings.device == "cuda" {
        // One GPU per local process, in turn (several share one when there are fewer GPUs: Gloo only).
        settings.device = "cuda:\(rendezvous.localRank % max(Torch.cudaDeviceCount, 1))"
      }
      let choice = try userFacing {
        try ProcessGroup.CUDABackend.choose(
          backend, onCUDA: onCUDA, rendezvous: rendezvous, gpuCount: Torch.cudaDeviceCount,
          ncclUnavailability: onCUDA ? ProcessGroup.ncclUnavailability : nil)
      }
      if rendezvous.rank == 0 && onCUDA { print("collectives on CUDA: \(choice.reason)") }
      cudaBackend = choice.backend
    }
    let group = try userFacing { try rendezvous.map { try ProcessGroup($0, cudaBackend: cudaBackend) } }
    let fault = FaultInjection(rank: group?.rank ?? 0)
    var hooks = TrainingPipeline.Hooks(
      stopRequested: {
        fault.afterStep()
        return interruptRequested.load(ordering: .relaxed)
      }, output: terminal)
    hooks.group = group
    let isLeader = (hooks.group?.rank ?? 0) == 0
    let (outcomes, summary) = try userFacing { try TrainingPipeline.trainSeeds(settings, resume: resume, hooks: hooks) }
    if let last = outcomes.last, last.summary.interrupted {
      if isLeader {
        print("interrupted: saved \(last.folder.lastCheckpoint); continue with the same command and --resume")
      }
      throw ExitCode(130)
    }
    guard isLeader else { return }
    if let summary, let output = settings.output {
      print("\n" + summary.render())
      print("compare with another configuration: orthocxr compare --baseline OTHER/seed-* --candidate \(output)/seed-*")
    } else if outcomes.count > 1, let output = settings.output {
      print("\(outcomes.count) runs in \(output)/seed-*")
    }
  }
}

/// For the fault tests: ORTHOCXR_FAULT_KILL=RANK:STEP makes that rank kill itself with SIGKILL (as
/// `kill -9` would) after that many training steps; RANK:checkpoint:N while writing its N-th
/// checkpoint (the file written, not yet renamed into place); RANK:checkpoint-swap:N at the N-th
/// moment a last checkpoint has been renamed aside and the new one not yet renamed into place.
/// Unset, it does nothing.
final class FaultInjection: @unchecked Sendable {
  // @unchecked: called from the training loop only.
  private let killAtStep: Int?
  private var steps = 0

  init(rank: Int, environment: [String: String] = ProcessInfo.processInfo.environment) {
    let fields = environment["ORTHOCXR_FAULT_KILL"]?.split(separator: ":").map(String.init) ?? []
    guard fields.first.flatMap(Int.init) == rank else {
      killAtStep = nil
      return
    }
    let stages = ["checkpoint": "written", "checkpoint-swap": "previous kept"]
    if fields.count == 3, let stage = stages[fields[1]], let moment = Int(fields[2]) {
      killAtStep = nil
      var seen = 0
      checkpointWriteHook = { reached in
        guard reached == stage else { return }
        seen += 1
        if seen == moment { kill(getpid(), SIGKILL) }
      }
    } else {
      killAtStep = fields.count == 2 ? Int(fields[1]) : nil
    }
  }

  func afterStep() {
    guard let killAtStep else { return }
    steps += 1
    if steps == killAtStep { kill(getpid(), SIGKILL) }
  }
}

/// Every setting of a run as an option; each one left out keeps the experiment file's value or the
/// default. The keys of experiment files are these options' names.
struct ExperimentOptions: ParsableArguments {
  @Option(help: "Training split (COVIDx split file, class folder or CSV).") var train: String?
  @Option(help: "Validation split, for model selection, early stopping and calibration.") var val: String?
  @Option(help: "Test split: after training, calibrate on --val and evaluate on this split.") var test: String?
  @Option(help: "Label map: three-class, covid-vs-normal, covid-vs-noncovid, or label=class,… (default three-class)")
  var labelMap: String?
  @Option(help: "Folder holding the images, when it is not beside the split file.") var images: String?
  @Option(help: "Unreadable images: fail or skip (default fail).") var badImages: String?
  @Option(help: "Largest image read, in megapixels; larger ones are refused from their header (default 100; 0: none).")
  var maxMegapixels: Double?
  @Option(help: "Architecture: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")) (default resnet18).")
  var model: String?
  @Option(help: "Weights to start from (a run's checkpoint, .safetensors or .pth); the classifier is kept new.")
  var weights: String?
  @Option(help: "Network input side in pixels (default 224).") var imageSize: Int?
  @Option(help: "Input channels: 1 (greyscale) or 3 (for ImageNet weights) (default 1).") var channels: Int?
  @Flag(help: "No augmentation.") var noAugmentation = false
  @Option(
    help: "Train on this share of the training split, such as 0.1: class-stratified, by patient, one subset per seed.")
  var trainFraction: Double?
  @Option(help: "Run folder (created).") var output: String?
  @Option(help: "Epochs (default 10).") var epochs: Int?
  @Option(help: "Train exactly this many optimizer steps instead of --epochs (the schedule spread over them).")
  var steps: Int?
  @Option(help: "Optimizer: sgd, adam, adamw (default adamw).") var optimizer: TrainingSettings.OptimizerKind?
  @Option(help: "Learning rate (default 0.001).") var learningRate: Double?
  @Option(help: "SGD momentum (default 0.9).") var momentum: Double?
  @Option(help: "Weight decay (default 0.0001).") var weightDecay: Double?
  @Option(help: "Schedule: constant, step, cosine (default cosine).") var schedule: TrainingSettings.ScheduleKind?
  @Option(help: "Linear warm-up epochs (default 1).") var warmupEpochs: Int?
  @Option(help: "Step schedule: epochs between decays (default: a third of the epochs after warm-up).")
  var stepEpochs: Int?
  @Option(help: "Step schedule: factor of each decay (default 0.1).") var gamma: Double?
  @Option(help: "λ of the OS term (0: baseline; default 0).") var lambda: Double?
  @Option(help: "OS variant: batch, feature, blocks(k) (default batch).") var osVariant: OrthogonalSpheresVariant?
  @Option(help: "Label smoothing of the cross-entropy (default 0).") var labelSmoothing: Double?
  @Option(help: "Cross-entropy weight of each class, comma-separated, in the label map's order (default equal).")
  var classWeights: String?
  @Option(help: "Validation metric that picks the best checkpoint: accuracy, macro-f1, balanced-accuracy, nll.")
  var select: TrainingSettings.SelectionMetric?
  @Option(help: "Validate, select and save every this many epochs and after the last (default every epoch).")
  var validateEvery: Int?
  @Option(help: "Stop after this many validations without improvement.") var patience: Int?
  @Flag(help: "Train in float32 rather than bf16 autocast.") var fp32 = false
  @Option(help: "Random seed (weights, order, augmentation; default 0).") var seed: UInt64?
  @Option(help: "Several seeds, comma-separated: one run per seed in OUTPUT/seed-N (overrides --seed).")
  var seeds: String?
  @Option(help: "Images per batch (default 32).") var batchSize: Int?
  @Option(help: "Loader worker threads (default 2).") var workers: Int?
  @Option(help: "libtorch threads (default 2).") var threads: Int?
  @Option(help: "Where to train: cpu, cuda or cuda:N (default cpu). On CUDA, bf16 autocast unless --fp32.")
  var device: String?
  @Flag(help: "With several processes (orthocxr launch): BatchNorm statistics over the whole batch of a step.")
  var syncBatchnorm = false
  @Option(help: "Write a step line to log.jsonl every this many steps (default 10).") var logEvery: Int?

  /// Sets what the command line gives. A flag can only switch a setting on.
  func apply(to settings: inout ExperimentSettings) throws {
    func set<Value>(_ value: Value?, _ path: WritableKeyPath<ExperimentSettings, Value>) {
      if let value { settings[keyPath: path] = value }
    }
    func set<Value>(_ value: Value?, _ path: WritableKeyPath<ExperimentSettings, Value?>) {
      if let value { settings[keyPath: path] = value }
    }
    set(train, \.train)
    set(val, \.val)
    set(test, \.test)
    set(labelMap, \.labelMap)
    set(images, \.images)
    set(badImages, \.badImages)
    set(maxMegapixels, \.maxMegapixels)
    set(trainFraction, \.trainFraction)
    set(model, \.model)
    set(weights, \.weights)
    set(imageSize, \.imageSize)
    set(channels, \.channels)
    if noAugmentation { settings.augmentation = false }
    set(output, \.output)
    set(epochs, \.training.epochs)
    set(steps, \.training.steps)
    set(optimizer, \.training.optimizer)
    set(learningRate, \.training.learningRate)
    set(momentum, \.training.momentum)
    set(weightDecay, \.training.weightDecay)
    set(schedule, \.training.schedule)
    set(warmupEpochs, \.training.warmupEpochs)
    set(stepEpochs, \.training.stepEpochs)
    set(gamma, \.training.gamma)
    set(lambda, \.training.lambda)
    set(osVariant, \.training.osVariant)
    set(labelSmoothing, \.training.labelSmoothing)
    if let classWeights {
      let values = classWeights.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
      guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else {
        throw ValidationError(
          "--class-weights takes numbers separated by commas, such as 1,2,1; got \"\(classWeights)\"")
      }
      settings.training.classWeights = values.map { $0! }
    }
    set(select, \.training.selectionMetric)
    set(validateEvery, \.training.validateEvery)
    set(patience, \.training.earlyStoppingPatience)
    if fp32 { settings.training.mixedPrecision = false }
    set(seed, \.training.seed)
    if seed != nil { settings.seeds = nil }
    if let seeds {
      let list = seeds.split(separator: ",").map { UInt64($0.trimmingCharacters(in: .whitespaces)) }
      guard !list.isEmpty, list.allSatisfy({ $0 != nil }), Set(list).count == list.count else {
        throw ValidationError(
          "--seeds takes different whole numbers separated by commas, such as 0,1,2; got \"\(seeds)\"")
      }
      settings.seeds = list.map { $0! }
    }
    set(batchSize, \.batchSize)
    set(workers, \.workers)
    set(threads, \.threads)
    set(device, \.device)
    if syncBatchnorm { settings.syncBatchNorm = true }
    set(logEvery, \.training.logEvery)
  }
}

extension TrainingSettings.OptimizerKind: ExpressibleByArgument {}
extension BackendRequest: ExpressibleByArgument {}
extension TrainingSettings.ScheduleKind: ExpressibleByArgument {}
extension TrainingSettings.SelectionMetric: ExpressibleByArgument {}
extension OrthogonalSpheresVariant: ExpressibleByArgument {}
