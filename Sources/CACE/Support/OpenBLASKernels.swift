#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import COpenBLAS

/// OpenBLAS picks its kernels by the CPU model at load time. Versions older than the CPU (Debian
/// 12 ships 0.3.21, which does not know e.g. Emerald Rapids, family 6 model 207) fall back to
/// the Prescott (SSE3) kernels, with which the block read-out is slower than the per-atom kernel.
/// When that happened and the user named no core (OPENBLAS_CORETYPE), this re-runs OpenBLAS's
/// own kernel selection for the core the CPU's flags allow: SkylakeX for AVX-512 (F, BW, DQ, VL),
/// Haswell for AVX2 with FMA. Linux with a DYNAMIC_ARCH OpenBLAS only (anything else: unchanged).
enum OpenBLASKernels {
    /// The core OpenBLAS runs its kernels for (e.g. "SkylakeX", "Haswell", "Prescott").
    static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// Re-selects the kernels if OpenBLAS fell back to Prescott on a CPU with AVX2 or AVX-512.
    /// Call once, before any product (it sets and clears OPENBLAS_CORETYPE in the environment).
    static func replaceGenericFallback() {
        #if os(Linux) && arch(x86_64)
        guard getenv("OPENBLAS_CORETYPE") == nil, coreName.lowercased() == "prescott",
              let core = coreForCPUFlags(),
              let quit = dlsym(nil, "gotoblas_dynamic_quit"), let initialise = dlsym(nil, "gotoblas_dynamic_init")
        else { return }
        typealias Hook = @convention(c) () -> Void
        setenv("OPENBLAS_CORETYPE", core, 1)
        unsafeBitCast(quit, to: Hook.self)()
        unsafeBitCast(initialise, to: Hook.self)()
        unsetenv("OPENBLAS_CORETYPE")
        #endif
    }

    /// "SkylakeX" or "Haswell" from the flags line of /proc/cpuinfo, or nil.
    static func coreForCPUFlags() -> String? {
        guard let file = fopen("/proc/cpuinfo", "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 1 << 16)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            guard text.hasPrefix("flags") else { continue }
            let flags = Set(text.split(separator: " ").map { $0.trimmingCharacters() })
            if ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(flags.contains) { return "SkylakeX" }
            if ["avx2", "fma"].allSatisfy(flags.contains) { return "Haswell" }
            return nil
        }
        return nil
    }
}

private extension Substring {
    func trimmingCharacters() -> String { String(filter { !$0.isWhitespace }) }
}
