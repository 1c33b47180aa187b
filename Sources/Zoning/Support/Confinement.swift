import Foundation
import FilePaths

#if canImport(Glibc)
import Glibc
#endif

/// Where a job may write: its output folder, resolved through every symbolic link, must lie inside
/// the project (the operator's `--output` is the only way out).
enum Confinement {
    /// The real path of `path` (every symbolic link resolved), also when its last components do
    /// not exist yet: the deepest existing ancestor is resolved and the rest appended.
    static func realPath(_ path: String) -> String {
        var existing = URL(fileURLWithPath: path).standardizedFileURL.path
        var rest: [String] = []
        while true {
            if let resolved = realpath(existing, nil) {
                defer { free(resolved) }
                let base = String(cString: resolved)
                return rest.isEmpty ? base : (base == "/" ? "" : base) + "/" + rest.reversed().joined(separator: "/")
            }
            if existing == "/" || existing.isEmpty { return path }
            rest.append(existing.fileName)
            existing = existing.parentPath
        }
    }

    /// The job's output folder as a real path; an error when a symbolic link takes it outside the project.
    static func outputDirectory(_ directory: String, job: JobSpec) throws -> String {
        let root = realPath(job.projectRoot)
        let real = realPath(directory)
        guard real == root || real.hasPrefix(root == "/" ? "/" : root + "/") else {
            let at = job.outputs.position.map { "\($0.line):\($0.column): " } ?? ""
            throw RunError(.dataError, "\(job.file):\(at)outputs.directory: \(directory) resolves to \(real), outside the project \(root) (a symbolic link leads out); a job writes only inside its project — use --output to write there")
        }
        return real
    }
}
