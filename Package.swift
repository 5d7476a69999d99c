// swift-tools-version:6.0
import Foundation
import PackageDescription

// The inference core is compiled for the build machine's CPU (so x86 gets AVX2/AVX-512 vectors
// where it has them), like -march=native. CACE_TARGET_CPU=generic builds for the baseline of
// the architecture (portable binaries); any other value names an LLVM CPU (e.g. haswell).
let targetCPU = ProcessInfo.processInfo.environment["CACE_TARGET_CPU"] ?? "native"
// CACE_FMA: the target has fused multiply-add (every x86 CPU with AVX2, and all arm64), which the
// vector kernels then use; without it they multiply and add (a software fma would be slow).
let cpuSettings: [SwiftSetting] = targetCPU == "generic"
    ? [] : [.unsafeFlags(["-target-cpu", targetCPU]), .define("CACE_FMA")]

let package = Package(
    name: "pair-cace",
    products: [
        // The C ABI that the LAMMPS plugin links (see CInterop/include/cace.h).
        .library(name: "cace_capi", type: .dynamic, targets: ["CACECAPI"]),
        .library(name: "CACE", targets: ["CACE"]),
        .library(name: "CACEStructures", targets: ["CACEStructures"]),
        // The fitting library as a product only so that Fuzz/ (a separate package) can fuzz its training-data reader.
        .library(name: "CACEFit", targets: ["CACEFit"]),
        .executable(name: "cace", targets: ["CACETool"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // MARK: - Inference core (no Foundation: the plugin links it with -static-stdlib); the read-out
        // of blocks of atoms runs on OpenBLAS's CBLAS (libopenblas-dev; COpenBLAS below)
        .target(name: "CACE", dependencies: ["COpenBLAS"], swiftSettings: cpuSettings),

        // MARK: - The serial FFT of the particle-mesh long-range method: FFTW3 (libfftw3-dev), kept out
        // of the core; the C ABI library links it (a runtime dependency of libcace_capi.so)
        .systemLibrary(name: "CFFTW", path: "CInterop/fftw"),
        .target(name: "CACEFFTW", dependencies: ["CACE", "CFFTW"], swiftSettings: cpuSettings),

        // MARK: - Whole structures: extended XYZ, periodic images and a cell list (CLI, tests)
        .target(name: "CACEStructures", dependencies: ["CACE", "CACEFFTW"], swiftSettings: cpuSettings),

        // MARK: - C ABI
        .systemLibrary(name: "CCACE", path: "CInterop/include"),
        .target(name: "CACECAPI", dependencies: ["CACE", "CACEStructures", "CACEFFTW", "CCACE"]),

        // MARK: - OpenBLAS (libopenblas-dev): CBLAS for the core's block read-out, BLAS/LAPACK for the
        // linear fit (`cace fit`)
        .systemLibrary(name: "COpenBLAS", path: "CInterop/openblas"),
        .target(name: "CACEFit", dependencies: ["CACE", "CACEStructures", "COpenBLAS"]),

        // MARK: - Command-line tool
        .executableTarget(
            name: "CACETool",
            dependencies: ["CACE", "CACEStructures", "CACEFFTW", "CACEFit", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),

        // MARK: - Tests
        .testTarget(name: "CACETests", dependencies: ["CACE", "CACEStructures", "CACEFFTW", "CACECAPI", "CCACE", "CACEFit"]),
    ],
    swiftLanguageModes: [.v6]
)
