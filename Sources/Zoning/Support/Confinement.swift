import Foundation
import FilePaths

/// Where a job may write, and the names a path may be built from. The file-system side (real
/// paths, locks, plain files, fresh folders) is `SafeFiles`, the one helper for every file the
/// tool creates or deletes; this is the job's side of it: a job's output folder and risk database,
/// resolved through every symbolic link, must lie inside the project (the operator's `--output`
/// and `--database` are the only ways out), and a name read from a file (a manifest's job name or
/// run id) is checked before it becomes a path component.
enum Confinement {
    /// The job's output folder as a real path; an error when a symbolic link takes it outside the project.
    static func outputDirectory(_ directory: String, job: JobSpec) throws -> String {
        try inProject(directory, key: "outputs.directory", position: job.outputs.position, job: job, option: "--output")
    }

    /// The job's `outputs.database` (absolute, or relative to the project) as a real path; an
    /// error when a symbolic link takes it outside the project.
    static func database(_ database: String, job: JobSpec) throws -> String {
        let path = database.hasPrefix("/") ? database : job.projectRoot.appendingComponent(database)
        return try inProject(path, key: "outputs.database", shown: database, position: job.outputs.databasePosition,
                             job: job, option: "--database")
    }

    /// `path`, a value of the job's `key`, resolved through every link; an error at the key's
    /// position when it leaves the project.
    private static func inProject(_ path: String, key: String, shown: String? = nil, position: JobSpec.Position?,
                                  job: JobSpec, option: String) throws -> String {
        let root = SafeFiles.realPath(job.projectRoot), real = SafeFiles.realPath(path)
        guard SafeFiles.isInside(real, root) else {
            let at = position.map { "\($0.line):\($0.column): " } ?? ""
            throw RunError(.dataError, "\(job.file):\(at)\(key): \(shown ?? path) resolves to \(real), outside the project \(root) (a symbolic link leads out); a job writes only inside its project — use \(option) to write there")
        }
        return real
    }

    /// A job name (`name:`, a manifest's `job.name`): letters, digits, '.', '_' or '-', starting
    /// with a letter or digit — one path component, never "..", never a control character.
    static func isJobName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCIIAlphanumeric else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCIIAlphanumeric || "._-".unicodeScalars.contains($0) }
    }

    /// A run id (`--run-id`, a manifest's `run_id`): letters, digits, '-', '_' or '.', not
    /// starting with '.', at most 100 characters, not `latest`.
    static func isRunID(_ id: String) -> Bool {
        !id.isEmpty && id.count <= 100 && !id.hasPrefix(".") && id != "latest"
            && id.unicodeScalars.allSatisfy { $0.isASCIIAlphanumeric || "-_.".unicodeScalars.contains($0) }
    }

    /// The names of a manifest a path may be built from (its job name, run id and previous run's
    /// id), checked before any is: a `../` in one would lead out of the folder it is joined to.
    static func checkNames(of manifest: Manifest, at manifestPath: String) throws {
        var ids = [("run_id", manifest.runId)]
        if let previous = manifest.applied?.previousRun { ids.append(("applied.previous_run.run_id", previous.runId)) }
        if !isJobName(manifest.job.name) {
            throw RunError(.dataError, "\(manifestPath): job.name \"\(manifest.job.name)\" is not a job name (letters, digits, '.', '_' or '-', starting with a letter or digit); refused, nothing was written")
        }
        for (key, id) in ids where !isRunID(id) {
            throw RunError(.dataError, "\(manifestPath): \(key) \"\(id)\" is not a run id (letters, digits, '-', '_' or '.', not starting with '.'); refused, nothing was written")
        }
    }
}

extension Unicode.Scalar {
    var isASCIIAlphanumeric: Bool { ("a"..."z").contains(self) || ("A"..."Z").contains(self) || ("0"..."9").contains(self) }
}

extension RunError {
    /// A path `SafeFiles` refused, as a run error of `status`.
    init(_ status: ExitStatus, _ refusal: PathRefusal) { self.init(status, refusal.description) }
}
