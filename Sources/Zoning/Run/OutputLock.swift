import Foundation
import FilePaths

#if canImport(Glibc)
import Glibc
#endif

/// One writer per output folder: an exclusive `flock` on `<out>/.lock`. The kernel drops the lock
/// when its holder dies, so a lock left by a killed run is taken over by the next one; the file
/// records the holder's pid and start time for the message the loser prints.
public final class OutputLock {
    public let path: String
    private var fd: Int32
    private var shared = false

    /// Acquires the lock, waiting up to `wait` seconds (0 = fail at once).
    /// Throws `RunError(.tempFail, …)` naming the holder when the lock stays taken.
    /// `shared`: the shards of a sharded run hold it shared, side by side; a run that publishes
    /// (a run, a merge, render) holds it exclusively, so neither starts while the other holds it.
    public init(directory: String, wait: Double = 0, now: Date = Date(), shared: Bool = false) throws {
        path = directory.appendingComponent(".lock")
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw RunError(.cantCreate, "\(directory): cannot create the output folder: \(error.localizedDescription)")
        }
        // Never through a symbolic link, and only a plain file of our own: the lock file is
        // truncated, and a link planted here must not empty a file elsewhere.
        do { fd = try SafeFiles.openLockFile(path) } catch { throw RunError(.cantCreate, error) }
        let deadline = Date().addingTimeInterval(max(0, wait))
        while flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                let reason = String(cString: strerror(errno))
                close(fd)
                throw RunError(.ioError, "\(path): cannot lock: \(reason)")
            }
            if Date() >= deadline {
                let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
                close(fd)
                let waited = wait > 0 ? " after waiting \(Int(wait)) s" : ""
                if shared {
                    throw RunError(.tempFail, "\(directory) is locked by a run publishing to it (\(holder.isEmpty ? "holder unknown" : holder))\(waited); a shard does not start while another run of the same outputs publishes; try again later or pass --wait SECONDS")
                }
                throw RunError(.tempFail, "\(directory) is locked by another run (\(holder.isEmpty ? "the shards of a sharded run, or holder unknown" : holder))\(waited); try again later or pass --wait SECONDS")
            }
            usleep(100_000)
        }
        self.shared = shared
        // Shards share the lock: the holder line is the exclusive holder's only.
        if shared { return }
        let stamp = ISO8601DateFormatter().string(from: now)
        let text = "pid \(getpid()), started \(stamp)\n"
        _ = ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    /// Releases the lock (also released when the process exits or is killed).
    public func release() {
        guard fd >= 0 else { return }
        if !shared { _ = ftruncate(fd, 0) }
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }

    deinit { release() }
}
