// swift-tools-version: 6.0
// A package of its own that depends on OrthoCXR by URL and trains an OS model (see the README).
import PackageDescription

let package = Package(
  name: "TrainOS",
  platforms: [.macOS(.v15)],
  dependencies: [.package(url: "https://github.com/orthocxr/orthocxr", from: "0.2.0")],
  targets: [
    .executableTarget(
      name: "TrainOS",
      dependencies: [.product(name: "Pipelines", package: "orthocxr"), .product(name: "RunFiles", package: "orthocxr")])
  ]
)
