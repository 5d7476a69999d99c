#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a whole file into memory without Foundation.
/// - Parameter limit: files larger than this are refused before anything is allocated.
package func readFileBytes(_ path: String, limit: Int = 1 << 34) throws(CACEError) -> [UInt8] {
    guard let file = fopen(path, "rb") else {
        throw .io("cannot open '\(path)': \(String(cString: strerror(errno)))")
    }
    defer { fclose(file) }
    var info = stat()
    guard fstat(fileno(file), &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
        throw .io("'\(path)' is not a regular file")
    }
    guard fseeko(file, 0, SEEK_END) == 0 else { throw .io("cannot seek in '\(path)' (is it a regular file?)") }
    let size = Int(ftello(file))
    guard size >= 0, fseeko(file, 0, SEEK_SET) == 0 else { throw .io("cannot determine the size of '\(path)'") }
    guard size <= limit else { throw .io("'\(path)' is \(size) bytes, more than the limit of \(limit)") }
    var bytes = [UInt8](repeating: 0, count: size)
    let read = bytes.withUnsafeMutableBytes { fread($0.baseAddress, 1, size, file) }
    guard read == size else { throw .io("short read from '\(path)' (\(read) of \(size) bytes)") }
    return bytes
}
