import Foundation
import FilePaths
import GDALKit

#if canImport(Glibc)
import Glibc
#endif

/// A damaged database file (truncated, overwritten, pages corrupt): told apart from other failures,
/// with what to move aside and how to rebuild it from the run folders, which hold everything in it.
extension RiskDatabase {
    /// What is wrong with the file as an SQLite database, from its 100-byte header, without SQLite:
    /// too short for a header, no SQLite header, or shorter than the pages its header counts (the
    /// count is valid when the change counter, bytes 24–27, equals bytes 92–95). nil: the header is
    /// sound (pages may still be corrupt: `damage()`) or the file is missing.
    func fileDamage() -> String? {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return nil }
        guard (info.st_mode & S_IFMT) == S_IFREG else { return "not a regular file" }
        var header = [UInt8](repeating: 0, count: 100)
        let count = header.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 100) }
        guard count == 100 else { return "truncated: \(max(count, 0)) bytes, less than an SQLite header" }
        guard header[0..<16].elementsEqual(Array("SQLite format 3".utf8) + [0]) else { return "not an SQLite database (no SQLite header)" }
        func be(_ offset: Int, _ width: Int) -> Int { header[offset..<offset + width].reduce(0) { $0 << 8 | Int($1) } }
        let pageSize = be(16, 2) == 1 ? 65536 : be(16, 2), pages = be(28, 4)
        let expected = pageSize * pages, size = Int(info.st_size)
        if pages > 0, be(24, 4) == be(92, 4), size < expected {
            return "truncated: \(size) bytes, its header counts \(pages) pages of \(pageSize) bytes (\(expected) bytes)"
        }
        return nil
    }

    /// What is wrong with the database: `fileDamage()`, else what SQLite's `quick_check` finds, or
    /// why SQLite cannot run it on a file whose header is sound (a corrupt schema). nil when nothing
    /// is (a failure then has another cause: a lock, a full disk).
    func damage() -> String? {
        if let damage = fileDamage() { return damage }
        do {
            let ds = try Dataset(open: path, flags: [.vector], allowedDrivers: ["GPKG"])
            let verdict = try ds.query("PRAGMA quick_check").map { $0.values.first?.text ?? "" }
            return verdict == ["ok"] ? nil : "quick_check: \(verdict.prefix(3).joined(separator: "; "))"
        } catch let error as GDALError {
            return "SQLite cannot read it: \(error.message)"
        } catch {
            return nil
        }
    }

    /// The error of a damaged database: what is wrong, what to move aside, how to rebuild it.
    func damaged(_ damage: String) -> DatabaseError {
        DatabaseError(.dataError, "\(path): the risk database is damaged (\(damage)). Move it aside (with its -wal and -shm files, "
            + "if any: mv \(path) \(path).damaged), then rebuild it from the run folders: hazard-zoning db import "
            + "<folder of the jobs' output folders, e.g. \(path.parentPath)> --database \(path) (or hazard-zoning db check "
            + "--repair --database \(path) [FOLDER…])")
    }

    /// A GDAL failure on the database as one `DatabaseError`: the damage if the file is damaged,
    /// else GDAL's message.
    func failure(_ error: GDALError, status: DatabaseError.Status) -> DatabaseError {
        if FileManager.default.fileExists(atPath: path), let damage = damage() { return damaged(damage) }
        return DatabaseError(status, "\(path): risk database: \(error.message)")
    }

    /// Throws when the database file exists and its header says it is damaged.
    func checkNotDamaged() throws {
        if let damage = fileDamage() { throw damaged(damage) }
    }

    /// Throws when the database exists and cannot be read (damaged, or not a risk database): a run
    /// checks this before it computes, so such a database stops it before it publishes anything.
    public func checkUsable() throws {
        guard FileManager.default.fileExists(atPath: path) else { return }
        try read { ds in _ = try ds.query("SELECT COUNT(*) AS n FROM runs") }
    }
}
