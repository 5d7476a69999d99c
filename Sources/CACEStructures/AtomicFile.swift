#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import CACE

#if canImport(Glibc)
private let systemWrite = Glibc.write
#elseif canImport(Musl)
private let systemWrite = Musl.write
#elseif canImport(Darwin)
private let systemWrite = Darwin.write
#endif

/// Files the tools write (fitted models, `cace features` arrays) are written whole or not at
/// all: the bytes go to a temporary file `.NAME.XXXXXX.tmp` in the target's directory, which is
/// flushed to disk and then renamed over the target. A run that fails or is killed leaves the
/// previous file as it was (a killed run may leave its temporary file behind, never a partial
/// target). A symbolic link at the target keeps pointing to the (new) file it named; the new
/// file gets the permissions of the one it replaces, else 0666 less the umask.
public enum AtomicFile {
    /// Test hook: with CACE_TEST_PAUSE_WRITE=SECONDS in the environment, the writer stops for
    /// that long after the first half of the temporary file, so that a test can kill it there.
    static let pauseVariable = "CACE_TEST_PAUSE_WRITE"

    public static func write(_ bytes: [UInt8], to path: String) throws(CACEError) {
        let target = resolvedTarget(path)
        let slash = target.lastIndex(of: "/")
        let directory = slash.map { String(target[..<$0]) } ?? "."
        let name = slash.map { String(target[target.index(after: $0)...]) } ?? target
        guard !name.isEmpty else { throw .io("\(path): cannot write (no file name)") }
        func failure(_ what: String = String(cString: strerror(errno))) -> CACEError {
            .io("\(path): cannot write (\(what))")
        }
        var template = Array((directory + "/." + name + ".XXXXXX.tmp").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemps($0.baseAddress!, 4) }
        guard fd >= 0 else { throw failure() }
        let temporary = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var ok = false
        defer {
            if !ok { unlink(temporary) }
        }
        do {
            defer { close(fd) }
            let half = bytes.count / 2
            try writeAll(fd, bytes, 0..<half, failure)
            if let pause = getenv(pauseVariable).flatMap({ Double(String(cString: $0)) }), pause > 0 {
                _ = fsync(fd)
                var request = timespec(tv_sec: Int(min(pause, 86_400)), tv_nsec: 0)
                var remaining = timespec()
                while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
            }
            try writeAll(fd, bytes, half..<bytes.count, failure)
            guard fsync(fd) == 0 else { throw failure() }
        }
        guard chmod(temporary, mode(replacing: target)) == 0 else { throw failure() }
        guard rename(temporary, target) == 0 else { throw failure() }
        ok = true
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], _ range: Range<Int>,
                                 _ failure: (String) -> CACEError) throws(CACEError) {
        var offset = range.lowerBound
        while offset < range.upperBound {
            let n = bytes.withUnsafeBytes { systemWrite(fd, $0.baseAddress! + offset, range.upperBound - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw failure(String(cString: strerror(errno)))
            }
            guard n > 0 else { throw failure("no progress") }
            offset += n
        }
    }

    /// The file a symbolic link at `path` names (followed to the end), else `path`.
    private static func resolvedTarget(_ path: String) -> String {
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFLNK, let real = realpath(path, nil) else { return path }
        defer { free(real) }
        return String(cString: real)
    }

    private static func mode(replacing target: String) -> mode_t {
        var info = stat()
        if stat(target, &info) == 0 { return info.st_mode & 0o7777 }
        let mask = umask(0o022)
        umask(mask)
        return 0o666 & ~mask
    }
}
