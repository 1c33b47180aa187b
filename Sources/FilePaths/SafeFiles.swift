// How the tool creates, locks and deletes files where a planted link or a hostile name could take
// it elsewhere. The tool runs as root from cron over folders other users can write, so every file
// it creates or deletes goes through here (Zoning's `Confinement`, `OutputLock`, the risk
// database, `rerun`, `changes`):
// - a folder built from a job or an option is resolved with realpath and must stay inside its root;
// - a lock is opened with O_NOFOLLOW|O_CREAT|O_NONBLOCK and must be a plain file with one link;
// - a file written by path (GDAL, SQLite) must be absent or a plain file — never a symbolic link
//   (written through), a FIFO (opening it blocks for ever), a device or a folder;
// - a folder the tool will delete again is made fresh (mkdir, which fails on anything already
//   there, a dangling link included), and only that folder is ever removed.
// Unlike Path.swift, this file touches the file system.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A path `SafeFiles` refused, or a system call on it that failed: the path and why, worded for
/// the one-line message of the caller's own error type (Zoning's `RunError`, `DatabaseError`).
public struct PathRefusal: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let reason: String

    public init(_ path: String, _ reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }
}

public enum SafeFiles {
    /// The real path of `path` (every symbolic link resolved, absolute), also when its last
    /// components do not exist yet: the deepest existing ancestor is resolved and the rest
    /// appended ("." dropped, ".." taking off the component before it). A dangling link is
    /// followed to where it points, as creating a file through it would.
    public static func realPath(_ path: String) -> String {
        var existing = path.isEmpty ? "." : path
        var rest: [String] = []
        var hops = 0
        while true {
            if let resolved = realpath(existing, nil) {
                defer { free(resolved) }
                var result = String(cString: resolved)
                for component in rest.reversed() where component != "." {
                    result = component == ".." ? result.parentPath : result.appendingComponent(component)
                }
                return result
            }
            let parent = existing.parentPath.isEmpty ? "." : existing.parentPath
            if hops < 40, let target = linkTarget(existing) {
                hops += 1
                existing = target.hasPrefix("/") ? target : parent.appendingComponent(target)
                continue
            }
            if existing == "/" || existing == "." { return path }
            rest.append(existing.fileName)
            existing = parent
        }
    }

    /// Where the symbolic link at `path` points, nil when `path` is not a link.
    static func linkTarget(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether the real path `path` is the real path `root` or lies below it.
    public static func isInside(_ path: String, _ root: String) -> Bool {
        path == root || path.hasPrefix(root == "/" ? "/" : root + "/")
    }

    /// `path` resolved through every link; a refusal naming both real paths when it is not
    /// inside `root` (resolved too).
    public static func confined(_ path: String, to root: String) throws(PathRefusal) -> String {
        let real = realPath(path), realRoot = realPath(root)
        guard isInside(real, realRoot) else {
            throw PathRefusal(path, "resolves to \(real), outside \(realRoot) (a symbolic link leads out)")
        }
        return real
    }

    /// What is at `path`, not following a link: nil when nothing is.
    static func kind(_ path: String) throws(PathRefusal) -> String? {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            if errno == ENOENT { return nil }
            throw PathRefusal(path, "cannot inspect: \(String(cString: strerror(errno)))")
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return "a plain file"
        case S_IFLNK: return "a symbolic link"
        case S_IFIFO: return "a FIFO"
        case S_IFDIR: return "a folder"
        case S_IFCHR, S_IFBLK: return "a device"
        case S_IFSOCK: return "a socket"
        default: return "not a plain file"
        }
    }

    /// Checks, before it is opened by path (by GDAL, SQLite), that `path` is absent or a plain
    /// file: a symbolic link would be written through, a FIFO would block the open for ever.
    public static func checkPlainFile(_ path: String, what: String) throws(PathRefusal) {
        guard let kind = try kind(path), kind != "a plain file" else { return }
        throw PathRefusal(path, "\(what) is \(kind) (refused: only a plain file is opened, never through a link, a FIFO or a device)")
    }

    /// Opens `path` as a lock file, creating it: never through a symbolic link, never blocking
    /// on a FIFO, and only a plain file with a single link (a lock file is truncated, and a hard
    /// link planted here must not empty a file elsewhere). Returns the descriptor.
    public static func openLockFile(_ path: String) throws(PathRefusal) -> Int32 {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0o644)
        guard fd >= 0 else {
            let reason = errno == ELOOP ? "it is a symbolic link (refused: a lock is never followed)" : String(cString: strerror(errno))
            throw PathRefusal(path, "cannot open the lock file: \(reason)")
        }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_nlink == 1 else {
            close(fd)
            throw PathRefusal(path, "the lock file is not a plain file with a single link (refused: it would be truncated)")
        }
        return fd
    }

    /// Creates a new folder `<parent>/<prefix>-<8 random hex digits>` with mkdir, which never
    /// follows a link and fails on anything already there: the folder is this call's own, and the
    /// only thing its caller may remove again. `parent` must exist.
    public static func makeFreshDirectory(in parent: String, prefix: String) throws(PathRefusal) -> String {
        for _ in 0..<100 {
            let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
            let path = parent.appendingComponent("\(prefix)-\(String(repeating: "0", count: 8 - suffix.count))\(suffix)")
            if mkdir(path, 0o755) == 0 { return path }
            if errno != EEXIST { throw PathRefusal(path, "cannot create the folder: \(String(cString: strerror(errno)))") }
        }
        throw PathRefusal(parent.appendingComponent("\(prefix)-…"), "cannot create a new folder: every name tried exists")
    }
}
