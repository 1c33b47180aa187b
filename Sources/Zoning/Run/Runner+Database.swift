import Foundation
import FilePaths
import Logging
import RiskDatabase

/// The risk database a run is recorded in (`RiskDatabase.swift`): where it is, recording a
/// published run, marking pruned runs.
extension Runner {
    /// The database this run is recorded in: `--database`, else the job's `outputs.database`
    /// (relative to the project root), else `risk-database.gpkg` beside the job's output folder
    /// (`out/risk-database.gpkg` for `out/<job>`) — in the output folder itself when that is the
    /// project (`outputs.directory: "."`): a job's database never lands beside its project.
    var databasePath: String { database.path }

    /// `databasePath`, with the folder it must stay inside: the project for the job's own paths,
    /// none for the operator's `--database`, or beside the operator's `--output` outside the project.
    var database: RiskDatabase {
        if let path = options.database { return RiskDatabase(path: absolutePath(path)) }
        let project = plan.job.projectRoot
        if let path = plan.job.outputs.database {
            return RiskDatabase(path: path.hasPrefix("/") ? path : project.appendingComponent(path), confinedTo: project)
        }
        let out = plan.outputDirectory, realOut = SafeFiles.realPath(out), realProject = SafeFiles.realPath(project)
        let folder = realOut == realProject ? out : out.parentPath
        return RiskDatabase(path: folder.appendingComponent("risk-database.gpkg"),
                            confinedTo: SafeFiles.isInside(realOut, realProject) ? project : nil)
    }

    /// Before anything is computed: the database the run will be recorded in can be written
    /// safely (inside the project, no link, no FIFO) and, when it exists, read (not damaged: else
    /// the error says what to move aside), so a run never fails after publishing for a database
    /// it was never able to write.
    func checkDatabase() throws {
        if options.database == nil, let path = plan.job.outputs.database { _ = try Confinement.database(path, job: plan.job) }
        try database.checkWritable()
        try database.checkUsable()
    }

    /// Records the just-published run (and any earlier published run of this output folder the
    /// database lacks, e.g. one killed before it was recorded) in the risk database. Called after
    /// the run folder is in place and before `latest` switches. An earlier folder the database
    /// cannot take (a damaged manifest) is a warning; a failure to record this run says that the
    /// run is published and what to do about the database.
    func recordInDatabase(runDirectory: String) throws {
        func notRecorded(_ status: ExitStatus, _ why: String) -> RunError {
            RunError(status, "\(runDirectory): the run is published but not recorded in the risk database (latest is not switched to it): \(why)")
        }
        let recorded: RiskDatabase.Recorded
        do { recorded = try database.record(outputDirectory: plan.outputDirectory, latest: runDirectory) } catch {
            let (status, message) = Operations.describe(error)
            throw notRecorded(status, message)
        }
        if let own = recorded.skipped.first(where: { $0.folder == runDirectory }) { throw notRecorded(.dataError, own.description) }
        warnSkipped(recorded)
        if recorded.imported.count > 1 {
            logger.info("imported runs missing from the database", metadata: ["runs": "\(recorded.imported.dropLast().joined(separator: ", "))"])
        }
    }

    /// One warning per run folder the database skipped: which file, and that `db check --repair`
    /// marks it (then runs stop reading it).
    func warnSkipped(_ recorded: RiskDatabase.Recorded) {
        for skipped in recorded.skipped {
            logger.warning("a run folder cannot be recorded in the risk database; `hazard-zoning db check --repair --database \(databasePath)` marks it unreadable",
                           metadata: ["file": "\(skipped.file)", "error": "\(skipped.reason)"])
        }
    }

    /// `outputs.keep`: removes old run folders, keeping their rows in the database marked pruned.
    func pruneRuns(_ publisher: Publisher, keep: Int) -> [String] {
        let removed = publisher.prune(keep: keep)
        if !removed.isEmpty {
            do { try database.markPruned(job: plan.job.name, runIDs: removed) } catch {
                logger.warning("cannot mark pruned runs in the database", metadata: ["error": "\(Operations.describe(error).message)"])
            }
        }
        return removed
    }

    /// A run with nothing to do still imports published runs the database lacks (one killed
    /// between publishing and recording); a failure here only warns.
    func importUnrecordedRuns() {
        guard FileManager.default.fileExists(atPath: plan.outputDirectory) else { return }
        do { warnSkipped(try database.record(outputDirectory: plan.outputDirectory, latest: nil)) } catch {
            logger.warning("cannot import runs into the risk database", metadata: ["database": "\(databasePath)", "error": "\(Operations.describe(error).message)"])
        }
    }
}
