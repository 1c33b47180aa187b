import Foundation
import FilePaths

#if canImport(Glibc)
import Glibc
#endif

/// Stages a run's products and publishes them atomically:
/// `<out>/.staging-<run>-<pid>/` → rename → `<out>/<run>/`, then `latest` is switched with a
/// rename of a new symlink over the old one. Nothing under `latest` is ever written in place.
public struct Publisher: Sendable {
    public let outputDirectory: String

    public init(outputDirectory: String) { self.outputDirectory = outputDirectory }

    public var latestPath: String { outputDirectory.appendingComponent("latest") }

    /// The run folder `latest` points at, if any (nil when `latest` is missing or damaged).
    public var latestRun: String? { try? checkedLatestRun() }

    /// The run folder `latest` points at, nil when there is no `latest`. Anything but a symbolic
    /// link to a sibling run folder (a plain file or folder, an absolute or `..` target, a link to
    /// a link, a target that is not a folder of this output folder) is damage: an error, and
    /// nothing is written.
    public func checkedLatestRun() throws -> String? {
        var st = stat()
        guard lstat(latestPath, &st) == 0 else {
            if errno == ENOENT { return nil }
            throw RunError(.cantCreate, "\(latestPath): cannot inspect: \(String(cString: strerror(errno)))")
        }
        func damaged(_ why: String) -> RunError {
            RunError(.cantCreate, "\(latestPath) is damaged: \(why); it must be a symbolic link to a run folder beside it (fix or remove it; nothing was written)")
        }
        guard (st.st_mode & S_IFMT) == S_IFLNK else { throw damaged("not a symbolic link") }
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: latestPath) else { throw damaged("unreadable link") }
        guard !target.isEmpty, !target.contains("/"), target != ".", target != "..", !target.hasPrefix(".") else {
            throw damaged("it points at \(target), not at a run folder beside it")
        }
        let run = outputDirectory.appendingComponent(target)
        var rst = stat()
        guard lstat(run, &rst) == 0, (rst.st_mode & S_IFMT) == S_IFDIR else {
            throw damaged("its target \(target) is not a run folder")
        }
        return run
    }

    /// The manifest of the run `latest` points at, if it can be read.
    public func latestManifest() -> Manifest? {
        guard let run = latestRun,
              let data = FileManager.default.contents(atPath: run.appendingComponent("manifest.json")) else { return nil }
        return try? Manifest.decode(data)
    }

    /// Complete run folders, oldest first (run ids sort by time).
    public func runs() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: outputDirectory)) ?? []
        return names.filter { name in
            !name.hasPrefix(".") && name != "latest"
                && FileManager.default.fileExists(atPath: outputDirectory.appendingComponent("\(name)/manifest.json"))
        }.sorted()
    }

    /// Removes all but the newest `keep` complete runs; never the one `latest` points at, nor a
    /// baseline (`Baseline.swift`).
    /// Returns the removed run ids.
    @discardableResult
    public func prune(keep: Int) -> [String] {
        let all = runs()
        let latest = latestRun.map { $0.fileName }
        var removed: [String] = []
        for name in all.dropLast(max(keep, 1)) where name != latest && !isBaseline(name) {
            if (try? FileManager.default.removeItem(atPath: outputDirectory.appendingComponent(name))) != nil {
                removed.append(name)
            }
        }
        return removed
    }

    /// A new run id (UTC time), unique in the output folder.
    public func newRunID(now: Date = Date()) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let base = f.string(from: now)
        var id = base
        var n = 2
        while FileManager.default.fileExists(atPath: outputDirectory.appendingComponent(id)) {
            id = "\(base)-\(n)"; n += 1
        }
        return id
    }

    /// Creates the output folder and a fresh staging folder; removes staging folders left by
    /// runs whose process no longer exists, except the folders named in `keeping` (the shards'
    /// results a merge reads).
    public func makeStaging(runID: String, keeping: [String] = []) throws -> String {
        do {
            try FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
        } catch {
            throw RunError(.cantCreate, "\(outputDirectory): cannot create the output folder: \(error.localizedDescription)")
        }
        removeStaleStaging(keeping: keeping)
        let staging = outputDirectory.appendingComponent(".staging-\(runID)-\(getpid())")
        // mkdir never follows a link, and fails on anything already there; the folder is then
        // opened with O_NOFOLLOW to be sure it is the one just made.
        guard mkdir(staging, 0o755) == 0 else {
            throw RunError(.cantCreate, "\(staging): cannot create the staging folder: \(String(cString: strerror(errno)))")
        }
        let fd = open(staging, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            throw RunError(.cantCreate, "\(staging): the staging folder cannot be opened safely: \(String(cString: strerror(errno)))")
        }
        close(fd)
        return staging
    }

    /// Removes what killed runs left: staging folders and temporary `latest` links. Called with the
    /// output folder's lock held, so no other run of this folder can be using any of them (a pid
    /// test would keep folders whose pid was reused, e.g. by the next of two killed runs).
    func removeStaleStaging(keeping: [String] = []) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: outputDirectory) else { return }
        for name in names where (name.hasPrefix(".staging-") || name.hasPrefix(".latest-") || name.hasPrefix(".render-"))
            && !keeping.contains(name) {
            try? FileManager.default.removeItem(atPath: outputDirectory.appendingComponent(name))
        }
    }

    /// Moves a complete staging folder into place, calls `beforeLatest` with the run folder (the
    /// risk database records the run there) and points `latest` at it.
    public func publish(staging: String, runID: String, beforeLatest: ((String) throws -> Void)? = nil) throws -> String {
        let final = outputDirectory.appendingComponent(runID)
        syncTree(staging)
        guard rename(staging, final) == 0 else {
            throw RunError(.cantCreate, "\(final): cannot publish the run: \(String(cString: strerror(errno)))")
        }
        syncDirectory(outputDirectory)
        try beforeLatest?(final)
        let temporary = outputDirectory.appendingComponent(".latest-\(getpid())")
        unlink(temporary)
        guard symlink(runID, temporary) == 0 else {
            throw RunError(.cantCreate, "\(temporary): cannot create the latest link: \(String(cString: strerror(errno)))")
        }
        guard rename(temporary, latestPath) == 0 else {
            unlink(temporary)
            throw RunError(.cantCreate, "\(latestPath): cannot switch the latest link: \(String(cString: strerror(errno)))")
        }
        syncDirectory(outputDirectory)
        return final
    }

    /// fsyncs every file of a folder, then the folder (or a single file), so a crash after
    /// publishing cannot leave a published run with missing data.
    func syncTree(_ path: String) {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), !isFolder.boolValue {
            let fd = open(path, O_RDONLY)
            if fd >= 0 { fsync(fd); close(fd) }
            return
        }
        if let names = try? FileManager.default.contentsOfDirectory(atPath: path) {
            for name in names {
                let child = path.appendingComponent(name)
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: child, isDirectory: &isDirectory), isDirectory.boolValue {
                    syncTree(child)
                    continue
                }
                let fd = open(child, O_RDONLY)
                if fd >= 0 { fsync(fd); close(fd) }
            }
        }
        syncDirectory(path)
    }

    func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY)
        if fd >= 0 { fsync(fd); close(fd) }
    }
}
