// swift-tools-version: 6.0
import Foundation
import PackageDescription

// libtorch comes from the PyPI wheel torch==2.15.0, installed by `scripts/bootstrap` into a cache
// folder (default ~/.cache/orthocxr/torch-2.15.0, or the folder named by LIBTORCH) that holds torch/
// and nvidia/. Binaries get an rpath to it, so they run without LD_LIBRARY_PATH.
let environment = ProcessInfo.processInfo.environment
let libtorchRoot =
  environment["LIBTORCH"]
  ?? "\(environment["HOME"] ?? "/root")/.cache/orthocxr/torch-2.15.0"
let torchLib = "\(libtorchRoot)/torch/lib"
let libtorchFound = FileManager.default.fileExists(atPath: "\(torchLib)/libtorch_cpu.so")
// libtorch_cpu.so needs libcudart and libcupti at load time, even for CPU work.
let runtimePaths = [torchLib, "\(libtorchRoot)/nvidia/cu13/lib"]

let shimFlags: [String] =
  libtorchFound
  ? [
    "-I\(libtorchRoot)/torch/include",
    "-I\(libtorchRoot)/torch/include/torch/csrc/api/include",
    "-D_GLIBCXX_USE_CXX11_ABI=1",
    "-Wno-deprecated-declarations",
  ]
  // Makes the shim stop with a message that names the command to run.
  : ["-DORTHOCXR_LIBTORCH_MISSING"]

let linkFlags: [String] =
  ["-L\(torchLib)"] + runtimePaths.flatMap { ["-Xlinker", "-rpath", "-Xlinker", $0] }

let package = Package(
  name: "OrthoCXR",
  platforms: [.macOS(.v15)],
  products: [
    .library(name: "Engine", targets: ["Engine"]),
    .library(name: "Models", targets: ["Models"]),
    .library(name: "Imaging", targets: ["Imaging"]),
    .library(name: "Datasets", targets: ["Datasets"]),
    .library(name: "Training", targets: ["Training"]),
    .library(name: "Evaluation", targets: ["Evaluation"]),
    .library(name: "Explanations", targets: ["Explanations"]),
    .library(name: "Reports", targets: ["Reports"]),
    .executable(name: "orthocxr", targets: ["orthocxr"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    // Experiment configurations (orthocxr train --config).
    .package(url: "https://github.com/jpsim/Yams", from: "5.0.0"),
  ],
  targets: [
    .target(
      name: "CTorch",
      cxxSettings: [.unsafeFlags(shimFlags)],
      linkerSettings: [
        .linkedLibrary("torch_cpu"), .linkedLibrary("c10"), .unsafeFlags(linkFlags),
      ]
    ),
    .target(name: "Engine", dependencies: ["CTorch"]),
    .target(name: "CImageIO", linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("jpeg")]),
    .target(
      name: "CDicom",
      cxxSettings: [.unsafeFlags(["-I/usr/include/gdcm-3.0", "-Wno-deprecated-declarations"])],
      linkerSettings: ["gdcmMSFF", "gdcmDSED", "gdcmDICT", "gdcmIOD", "gdcmCommon"].map { .linkedLibrary($0) }
    ),
    // Pixel loops run optimised even in debug builds, so that tests on full-size radiographs stay fast.
    .target(name: "Imaging", dependencies: ["CImageIO", "CDicom"], swiftSettings: [.unsafeFlags(["-O"])]),
    .target(name: "Datasets", dependencies: ["Imaging", "Engine"], swiftSettings: [.unsafeFlags(["-O"])]),
    .target(name: "Models", dependencies: ["Engine"]),
    .target(name: "Training", dependencies: ["Engine", "Models", "Datasets", "Evaluation"]),
    .target(name: "Evaluation", swiftSettings: [.unsafeFlags(["-O"])]),
    // Heatmaps, overlays and perturbation metrics: pixel loops, optimised like Imaging.
    .target(
      name: "Explanations", dependencies: ["Engine", "Models", "Imaging", "Datasets", "Evaluation"],
      swiftSettings: [.unsafeFlags(["-O"])]),
    // Self-contained HTML reports with inline SVG charts.
    .target(name: "Reports", dependencies: ["Evaluation", "Explanations", "Imaging", "Training"]),
    .executableTarget(
      name: "orthocxr",
      dependencies: [
        "Engine", "Models", "Imaging", "Datasets", "Training", "Evaluation", "Explanations", "Reports",
        .product(name: "ArgumentParser", package: "swift-argument-parser"), .product(name: "Yams", package: "Yams"),
      ]
    ),
    // Helpers the test targets share: where ../shared/data is, temporary folders.
    .target(name: "TestSupport", path: "Tests/TestSupport"),
    .testTarget(
      name: "EngineTests", dependencies: ["Engine", "Models", "Imaging", "TestSupport"], exclude: ["Fixtures"]),
    .testTarget(name: "ImagingTests", dependencies: ["Imaging", "TestSupport"]),
    .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "Imaging", "Engine", "TestSupport"]),
    .testTarget(
      name: "TrainingTests",
      dependencies: ["Training", "Engine", "Models", "Datasets", "Imaging", "Evaluation", "TestSupport"]),
    .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "TestSupport"]),
    // Runs the built orthocxr: exit codes, messages, and the whole pipeline on the mini split.
    .testTarget(name: "CLITests", dependencies: ["TestSupport"]),
    .testTarget(
      name: "ExplanationsTests",
      dependencies: ["Explanations", "Engine", "Models", "Imaging", "Datasets", "TestSupport"], exclude: ["Fixtures"]),
  ],
  cxxLanguageStandard: .cxx20
)
