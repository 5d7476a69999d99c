// swift-tools-version:6.0
// libFuzzer targets for the readers of untrusted input. Build and run with
//   swift build -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
//   .build/release/FuzzSafeTensors -max_total_time=600 corpus/safetensors
// (see README.md in this folder). A separate package, because these executables have no main
// without -sanitize=fuzzer.
import PackageDescription

let package = Package(
    name: "CACEFuzz",
    dependencies: [.package(name: "pair-cace", path: "..")],
    targets: [
        .executableTarget(name: "FuzzSafeTensors", dependencies: [.product(name: "CACE", package: "pair-cace")]),
        .executableTarget(name: "FuzzExtendedXYZ", dependencies: [.product(name: "CACEStructures", package: "pair-cace")]),
    ]
)
