import ArgumentParser
import Datasets
import Engine
import Foundation
import Imaging
import Models

/// The README's main command: the whole pipeline on synthetic chest X-rays (or the user's data).
/// It grows with the project: the OS loss, calibration, Grad-CAM and the report join it as they land.
struct DemoCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "demo",
    abstract: "Run the demo on built-in synthetic chest X-rays (no data of your own needed).",
    discussion: """
      Writes synthetic chest X-rays (COVID-19, normal, pneumonia, with lesion boxes) and COVIDx
      split files, checks the dataset, trains a ResNet-18 on the training split through the threaded
      loader with augmentation and bf16 autocast, reports accuracy per class on the test split,
      saves the model as safetensors and checks that the reloaded model agrees exactly.

      With --data PATH/train.txt it does the same on real X-rays: the test split is PATH/test.txt.
      """
  )

  @Option(help: "A training split file of your own (its test.txt beside it is used for evaluation).")
  var data: String?

  @Option(help: "Label map: three-class, covid-vs-normal, covid-vs-noncovid, or label=class,…")
  var labelMap = "three-class"

  @Option(help: "Training epochs.")
  var epochs = 6

  @Option(help: "Network input side in pixels.")
  var imageSize = 128

  @Option(help: "Images per batch.")
  var batchSize = 16

  @Option(help: "Synthetic images per class in the training split.")
  var perClass = 48

  @Option(help: "libtorch threads.")
  var threads = 2

  @Option(help: "Folder for the demo's outputs.")
  var output = "runs/demo"

  @Option(help: "Random seed.")
  var seed: UInt64 = 0

  func validate() throws {
    guard epochs > 0, imageSize >= 32, batchSize > 0, perClass > 0, threads > 0 else {
      throw ValidationError(
        "--epochs, --batch-size, --per-class and --threads must be positive, --image-size at least 32")
    }
  }

  func run() throws {
    Torch.threadCount = threads
    Torch.seed(seed)
    try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
    print("OrthoCXR demo — libtorch \(Torch.version), \(threads) threads, outputs in \(output)/")

    // 1. Data.
    let trainPath: String
    let testPath: String
    if let data {
      trainPath = data
      testPath = ((data as NSString).deletingLastPathComponent as NSString).appendingPathComponent("test.txt")
      guard FileManager.default.fileExists(atPath: testPath) else {
        throw ValidationError("no test split at \(testPath); put test.txt beside \(data)")
      }
    } else {
      let folder = output + "/synthetic"
      print(
        "1. writing synthetic chest X-rays: \(perClass) per class for training, \(max(perClass / 3, 4)) for testing")
      try SyntheticChestXRay.writeDataset(
        to: folder, counts: [("train", perClass), ("test", max(perClass / 3, 4))], size: 256, seed: seed)
      (trainPath, testPath) = (folder + "/train.txt", folder + "/test.txt")
    }
    let map = try LabelMap.parse(labelMap)
    let trainEntries = try DatasetSource.load(trainPath)
    let testEntries = try DatasetSource.load(testPath)
    let report = DatasetChecker.check(splits: [("train", trainEntries), ("test", testEntries)], labelMap: map)
    print(
      "2. dataset check:\n"
        + report.render(limitPerKind: 5).split(separator: "\n").map { "   " + $0 }.joined(separator: "\n"))
    let train = try map.apply(to: trainEntries)
    let test = try map.apply(to: testEntries)

    // 2. Training.
    var options = DataLoader.Options()
    options.batchSize = batchSize
    options.seed = seed
    options.memoryFormat = .channelsLast
    options.badImages = .skip
    let preprocessing = Preprocessing(size: imageSize)
    let trainLoader = DataLoader(
      entries: train, classCount: map.classes.count, preprocessing: preprocessing, augmentation: Augmentation(),
      options: options, cache: ImageCache())
    options.shuffle = false
    let testLoader = DataLoader(
      entries: test, classCount: map.classes.count, preprocessing: preprocessing, options: options, cache: ImageCache())

    let model = try ResNet(.resnet18, classCount: map.classes.count, inputChannels: 1)
    try model.setMemoryFormat(.channelsLast)
    let stepsPerEpoch = (train.count + batchSize - 1) / batchSize
    let optimizer = Adam(parameters: model.parameters(), learningRate: 1e-3, weightDecay: 1e-4)
    let schedule = LinearWarmup(
      warmupSteps: stepsPerEpoch, then: CosineDecay(baseRate: 1e-3, totalSteps: max(1, (epochs - 1) * stepsPerEpoch)))
    print(
      "3. training ResNet-18 on \(train.count) images (\(map.classes.joined(separator: ", "))), \(imageSize) px, "
        + "\(epochs) epochs, bf16 autocast, augmentation on")
    let clock = ContinuousClock()
    let start = clock.now
    var step = 0
    for epoch in 0..<epochs {
      model.train()
      var lossSum = 0.0
      var seen = 0
      let batches = trainLoader.epoch(epoch)
      while let batch = try batches.next() {
        optimizer.learningRate = schedule.learningRate(at: step)
        try optimizer.clearGradients()
        let loss = try Autocast.run { try Functional.crossEntropy(logits: model(batch.images), targets: batch.labels) }
        try loss.backward()
        try optimizer.step()
        lossSum += try loss.item() * Double(batch.indices.count)
        seen += batch.indices.count
        step += 1
      }
      print(String(format: "   epoch %d/%d  training loss %.4f", epoch + 1, epochs, lossSum / Double(max(seen, 1))))
    }
    let seconds = (clock.now - start) / .seconds(1)
    print(String(format: "   trained in %.1f s", seconds))

    // 3. Evaluation.
    model.eval()
    var confusion = Array(repeating: Array(repeating: 0, count: map.classes.count), count: map.classes.count)
    var firstBatch: Tensor?
    let batches = testLoader.epoch(0)
    while let batch = try batches.next() {
      if firstBatch == nil { firstBatch = batch.images }
      let predictions = try noGrad { try Autocast.run { try model(batch.images) }.argmax(dim: 1).toArray(Int64.self) }
      for (label, prediction) in zip(try batch.labels.toArray(Int64.self), predictions) {
        confusion[Int(label)][Int(prediction)] += 1
      }
    }
    let correct = (0..<map.classes.count).reduce(0) { $0 + confusion[$1][$1] }
    let total = confusion.joined().reduce(0, +)
    print(
      String(
        format: "4. test accuracy %.1f%% (%d of %d; chance %.1f%%)", 100 * Double(correct) / Double(max(total, 1)),
        correct, total, 100 / Double(map.classes.count)))
    for (index, name) in map.classes.enumerated() {
      let count = confusion[index].reduce(0, +)
      print(
        String(
          format: "   %@: sensitivity %.1f%% (%d of %d)", name,
          100 * Double(confusion[index][index]) / Double(max(count, 1)),
          confusion[index][index], count))
    }
    if !trainLoader.skipped.isEmpty { print("   skipped \(trainLoader.skipped.count) unreadable training image(s)") }

    // 4. Checkpoint round trip.
    let path = output + "/resnet18.safetensors"
    try model.save(to: path, metadata: ["architecture": "resnet18", "classes": map.classes.joined(separator: ",")])
    let reloaded = try ResNet(.resnet18, classCount: map.classes.count, inputChannels: 1)
    try reloaded.load(from: path)
    try reloaded.setMemoryFormat(.channelsLast)
    reloaded.eval()
    if let images = firstBatch {
      let difference = try noGrad { try (reloaded(images) - model(images)).abs().max().item() }
      print("5. saved \(path); the reloaded model's logits differ by \(difference)")
      guard difference == 0 else { throw ValidationError("the reloaded model disagrees with the saved one") }
    }
    print(
      "next in the demo (as their issues land): the OS loss beside this baseline, calibration, Grad-CAM, the report")
  }
}
