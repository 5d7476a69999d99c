// swift-tools-version:6.0
// libFuzzer targets for the readers of untrusted input. Build and run with
//   swift build -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
//   .build/release/FuzzSafeTensors -max_total_time=600 corpus/safetensors
// (see run.sh in this folder).
// without -sanitize=fuzzer.
import PackageDescription

let package = Package(
    name: "CACEFuzz",
    dependencies: [.package(name: "pair-cace", path: "..")],
    targets: [
        .executableTarget(name: "FuzzSafeTensors", dependencies: [.product(name: "CACE", package: "pair-cace")]),
        .executableTarget(name: "FuzzExtendedXYZ", dependencies: [.product(name: "CACEStructures", package: "pair-cace")]),
        // Structure-aware: a custom mutator edits the metadata JSON and the tensor table of valid models.
        .executableTarget(name: "FuzzModelMetadata", dependencies: [.product(name: "CACE", package: "pair-cace"),
                                                                    .product(name: "CACEStructures", package: "pair-cace")]),
        // The training-data reader of `cace fit`: extended XYZ with labels, then LabelledFrame.frames.
        .executableTarget(name: "FuzzTrainingData", dependencies: [.product(name: "CACEFit", package: "pair-cace"),
                                                                   .product(name: "CACEStructures", package: "pair-cace")]),
    ]
)
