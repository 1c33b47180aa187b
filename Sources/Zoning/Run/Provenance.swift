import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What identifies one version of a file: device, inode, size, mtime and ctime. A rename over
/// the path changes the inode; a rewrite in place changes ctime even when size and mtime are put
/// back (`cp -p`, `rsync -t`): ctime cannot be set from user space.
struct FileIdentity: Equatable, Sendable {
    let device: UInt64, inode: UInt64, size: Int64
    let mtime: timespec, ctime: timespec

    static func == (a: FileIdentity, b: FileIdentity) -> Bool {
        a.device == b.device && a.inode == b.inode && a.size == b.size
            && a.mtime.tv_sec == b.mtime.tv_sec && a.mtime.tv_nsec == b.mtime.tv_nsec
            && a.ctime.tv_sec == b.ctime.tv_sec && a.ctime.tv_nsec == b.ctime.tv_nsec
    }

    init?(path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        device = UInt64(st.st_dev); inode = UInt64(st.st_ino); size = Int64(st.st_size)
        mtime = st.st_mtim; ctime = st.st_ctim
    }
}

/// The identity of every input file as it was hashed; checked again before publishing, so a
/// run never publishes products computed from files other than the ones its manifest names.
final class InputLog: @unchecked Sendable {
    private let lock = NSLock()
    private var identities: [String: FileIdentity] = [:]

    func record(_ path: String, _ identity: FileIdentity) {
        lock.lock(); defer { lock.unlock() }
        identities[path] = identity
    }

    /// The first input whose identity changed since it was hashed (replaced, rewritten, removed).
    func changed() -> (path: String, now: String)? {
        lock.lock(); defer { lock.unlock() }
        for (path, identity) in identities.sorted(by: { $0.key < $1.key }) {
            guard let now = FileIdentity(path: path) else { return (path, "it was removed") }
            if now != identity {
                return (path, now.inode != identity.inode ? "it was replaced (another file now has its name)" : "it was rewritten")
            }
        }
        return nil
    }

    /// Fails with exit 75 when an input changed underneath the run.
    func verify() throws {
        if let error = changeError() { throw error }
    }

    /// The failure (exit 75) when an input changed underneath the run, else nil: also what a run
    /// that failed reports, when a read failed because its input was being rewritten ("ZIPDecode
    /// error" is not what happened).
    func changeError() -> RunError? {
        changed().map { RunError(.tempFail, "\($0.path): input changed during the run (\($0.now)); nothing was published, run again") }
    }
}
