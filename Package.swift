// swift-tools-version: 6.0
import Foundation
import PackageDescription

// libtorch reaches the package through one C library, liborthocxr_torch.so (the shim), and GDCM
// through its headers; `scripts/bootstrap` builds and installs both with pkg-config files
// (orthocxr-torch.pc, orthocxr-gdcm.pc), so that this manifest has no unsafe flags and other packages
// can depend on OrthoCXR by URL. Swapping libtorch (CPU, CUDA, another version) rebuilds only the shim.
//
// The pixel loops (Imaging, Datasets, Evaluation, Explanations) are optimised even in debug builds when
// ORTHOCXR_OPTIMIZED_DEBUG=1, as scripts/test sets it, so that tests on full-size radiographs stay fast.
// It is an unsafe flag, hence opt-in: without it the package stays usable as a dependency.
let optimizedInDebug: [SwiftSetting] =
  ProcessInfo.processInfo.environment["ORTHOCXR_OPTIMIZED_DEBUG"] == "1" ? [.unsafeFlags(["-O"])] : []

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
    .library(name: "RunFiles", targets: ["RunFiles"]),
    .library(name: "Pipelines", targets: ["Pipelines"]),
    .library(name: "Serving", targets: ["Serving"]),
    .executable(name: "orthocxr", targets: ["orthocxr"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    // Experiment configurations (orthocxr train --config).
    .package(url: "https://github.com/jpsim/Yams", from: "5.0.0"),
    // Every CSV the project reads or writes (RFC 4180: quotes, commas and newlines in fields).
    .package(url: "https://github.com/yaslab/CSV.swift", from: "2.5.0"),
    // orthocxr serve: the HTTP server and the audit log.
    .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
    .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
  ],
  targets: [
    .systemLibrary(name: "CTorch", pkgConfig: "orthocxr-torch"),
    // SHA-256, for checkpoints' content hashes and the audit log; optimised in debug builds too.
    .target(name: "CDigests"),
    .target(name: "CResampling"),
    .target(name: "Digests", dependencies: ["CDigests"], swiftSettings: optimizedInDebug),
    .target(name: "Engine", dependencies: ["CTorch", "Digests"]),
    // The one seeded generator of the project (data pipeline, augmentation, bootstrap).
    .target(name: "Randomness"),
    .target(
      name: "CImageIO", dependencies: ["CResampling"], linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("jpeg"), .linkedLibrary("deflate")]),
    .systemLibrary(name: "CGDCM", pkgConfig: "orthocxr-gdcm"),
    .target(name: "CDicom", dependencies: ["CGDCM"]),
    .target(name: "Imaging", dependencies: ["CImageIO", "CDicom", "Randomness"], swiftSettings: optimizedInDebug),
    .target(
      name: "Datasets",
      dependencies: ["Imaging", "Engine", "Randomness", "CResampling", .product(name: "CSV", package: "CSV.swift")],
      swiftSettings: optimizedInDebug),
    .target(name: "Models", dependencies: ["Engine"]),
    .target(name: "Training", dependencies: ["Engine", "Models", "Datasets", "Evaluation", "RunFiles"]),
    .target(name: "Evaluation", dependencies: ["Randomness"], swiftSettings: optimizedInDebug),
    // The files of a run folder and of an explanation folder: one typed writer and reader each.
    // No libtorch here, so that reports and other readers build without it.
    .target(
      name: "RunFiles",
      dependencies: [
        "Evaluation", .product(name: "Yams", package: "Yams"), .product(name: "CSV", package: "CSV.swift"),
      ]),
    // Heatmaps, overlays and perturbation metrics: pixel loops, optimised like Imaging.
    .target(
      name: "Explanations",
      dependencies: ["Engine", "Models", "Imaging", "Datasets", "Evaluation", "Randomness", "RunFiles"],
      swiftSettings: optimizedInDebug),
    // Self-contained HTML reports with inline SVG charts.
    .target(name: "Reports", dependencies: ["Evaluation", "Imaging", "RunFiles"]),
    // Train → calibrate → evaluate, explain, compare, report, demo: each one call, for the command
    // line, a server, a launcher and the tests alike.
    .target(
      name: "Pipelines",
      dependencies: ["Training", "Explanations", "Reports", "RunFiles", "Datasets", "Models", "Digests"]),
    // orthocxr serve: dynamic batching of predictions, the HTTP API and page, limits, metrics, audit log.
    .target(
      name: "Serving",
      dependencies: [
        "Pipelines", "Training", "Explanations", "Imaging", "Datasets", "Engine", "Models", "Evaluation", "RunFiles",
        "Digests", .product(name: "Hummingbird", package: "hummingbird"), .product(name: "GRDB", package: "GRDB.swift"),
      ]),
    .executableTarget(
      name: "orthocxr",
      dependencies: [
        "Engine", "Models", "Imaging", "Datasets", "Training", "Evaluation", "Explanations", "Reports", "RunFiles",
        "Pipelines", "Serving", .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]
    ),
    // Helpers the test targets share: where ../shared/data is, temporary folders.
    .target(name: "TestSupport", path: "Tests/TestSupport"),
    // Models with trained-looking BatchNorm statistics, for the prepared-model tests.
    .target(name: "ModelTestSupport", dependencies: ["Engine", "Models"], path: "Tests/ModelTestSupport"),
    // Runs a group of ranks on threads of one test process (Gloo over loopback).
    .target(name: "DistributedTestSupport", dependencies: ["Engine"], path: "Tests/DistributedTestSupport"),
    .testTarget(
      name: "EngineTests", dependencies: ["Engine", "Digests", "Randomness", "TestSupport", "DistributedTestSupport"],
      exclude: ["Fixtures"]),
    .testTarget(
      name: "ImagingTests", dependencies: ["Imaging", "CImageIO", "Randomness", "TestSupport"]),
    .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "Imaging", "Engine", "CResampling", "Randomness", "TestSupport"]),
    .testTarget(
      name: "TrainingTests",
      dependencies: [
        "Training", "Engine", "Models", "Datasets", "Imaging", "Evaluation", "RunFiles", "TestSupport",
        "DistributedTestSupport",
      ]),
    .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "Randomness", "TestSupport"]),
    .testTarget(name: "RunFilesTests", dependencies: ["RunFiles", "Evaluation", "TestSupport"]),
    .testTarget(name: "ReportsTests", dependencies: ["Reports", "RunFiles", "Evaluation", "TestSupport"]),
    .testTarget(
      name: "ModelsTests",
      dependencies: ["Models", "Engine", "TestSupport", "DistributedTestSupport", "ModelTestSupport"]),
    .testTarget(
      name: "PipelinesTests",
      dependencies: [
        "Pipelines", "Training", "RunFiles", "Datasets", "Engine", "Models", "Imaging", "Evaluation", "Explanations",
        "TestSupport",
      ]),
    // Runs the built orthocxr: exit codes, messages, and the whole pipeline on the mini split.
    .testTarget(name: "CLITests", dependencies: ["TestSupport", "Serving", "Digests"]),
    .testTarget(
      name: "ServingTests",
      dependencies: [
        "Serving", "Pipelines", "Training", "Evaluation", "Imaging", "RunFiles", "Digests", "TestSupport",
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "HummingbirdTesting", package: "hummingbird"),
        .product(name: "GRDB", package: "GRDB.swift"),
      ]),
    .testTarget(
      name: "ExplanationsTests",
      dependencies: ["Explanations", "Engine", "Models", "Imaging", "Datasets", "TestSupport", "ModelTestSupport"],
      exclude: ["Fixtures"]),
  ],
  cxxLanguageStandard: .cxx20
)
