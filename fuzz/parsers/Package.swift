// swift-tools-version: 6.0
// libFuzzer targets for OrthoCXR's Swift parsers: split files, dataset CSVs, label maps, the YAML
// experiment and sweep files, safetensors headers, PyTorch .pth files and boxes CSVs. A package of its
// own, so that OrthoCXR's manifest stays free of the unsafe flags a fuzzer needs (a package with them
// cannot be depended on by URL). Built and run by `scripts/fuzz TARGET SECONDS`, which instruments
// OrthoCXR's modules too (`swift build --sanitize=fuzzer --sanitize=address -Xswiftc
// -sanitize=fuzzer,address`: SwiftPM's flag alone instruments only the C targets).
import PackageDescription

let package = Package(
  name: "OrthoCXRParserFuzzer",
  platforms: [.macOS(.v15)],
  dependencies: [.package(name: "OrthoCXR", path: "../..")],
  targets: [
    .executableTarget(
      name: "ParserFuzzer",
      dependencies: [
        .product(name: "Datasets", package: "OrthoCXR"), .product(name: "RunFiles", package: "OrthoCXR"),
        .product(name: "Engine", package: "OrthoCXR"), .product(name: "Explanations", package: "OrthoCXR"),
      ],
      // libFuzzer brings main(); the harness only defines LLVMFuzzerTestOneInput.
      swiftSettings: [.unsafeFlags(["-parse-as-library"])])
  ]
)
