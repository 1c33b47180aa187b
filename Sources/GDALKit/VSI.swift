import CGDAL

/// GDAL's virtual file system: /vsimem/ files for tests and fixtures, and file facts.
public enum VSI {
    /// Writes bytes to a GDAL path (typically /vsimem/...).
    public static func write(_ bytes: [UInt8], to path: String) throws {
        GDAL.ensureRegistered()
        let handle = try gdalCall("VSIFOpenL") { VSIFOpenL(path, "wb") }
        let written = bytes.withUnsafeBytes { VSIFWriteL($0.baseAddress, 1, bytes.count, handle) }
        let closed = VSIFCloseL(handle)
        if written != bytes.count || closed != 0 {
            throw GDALError.cpl(function: "VSIFWriteL", records: [CPLErrorRecord(
                errorClass: .failure, number: CPLErrorNumber.fileIO, message: "could not write \(path)")])
        }
    }

    /// Reads a whole GDAL path into bytes.
    public static func read(_ path: String) throws -> [UInt8] {
        GDAL.ensureRegistered()
        let handle = try gdalCall("VSIFOpenL") { VSIFOpenL(path, "rb") }
        defer { VSIFCloseL(handle) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { VSIFReadL($0.baseAddress, 1, $0.count, handle) }
            if n == 0 { break }
            result.append(contentsOf: chunk[0..<n])
        }
        return result
    }

    public static func exists(_ path: String) -> Bool {
        // VSIStatBufL is `struct stat64`, which Swift sees as opaque: give it room enough.
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 1024, alignment: 16)
        defer { buffer.deallocate() }
        return VSIStatL(path, OpaquePointer(buffer)) == 0
    }

    public static func unlink(_ path: String) {
        _ = VSIUnlink(path)
    }

    /// Removes a /vsimem/ directory tree or file.
    public static func removeRecursive(_ path: String) {
        _ = VSIRmdirRecursive(path)
    }

    /// Whether the path or connection string makes GDAL read over the network, nested `/vsi…/`
    /// paths and local XML indirections included (see `NetworkPolicy.networkReference`).
    public static func isNetworkPath(_ path: String) -> Bool {
        NetworkPolicy.networkReference(in: path) != nil
    }
}
