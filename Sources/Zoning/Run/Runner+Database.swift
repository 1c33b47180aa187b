import Foundation
import FilePaths
import Logging
import RiskDatabase

/// The risk database a run is recorded in (`RiskDatabase.swift`): where it is, recording a
/// published run, marking pruned runs.
extension Runner {
    /// The database this run is recorded in: `--database`, else the job's `outputs.database`
    /// (relative to the project root), else `risk-database.gpkg` beside the job's output folder
    /// (`out/risk-database.gpkg` for `out/<job>`).
    var databasePath: String {
        if let path = options.database { return absolutePath(path) }
        if let path = plan.job.outputs.database {
            return path.hasPrefix("/") ? path : plan.job.projectRoot.appendingComponent(path)
        }
        return plan.outputDirectory.parentPath.appendingComponent("risk-database.gpkg")
    }

    /// Records the just-published run (and any earlier published run of this output folder the
    /// database lacks, e.g. one killed before it was recorded) in the risk database. Called after
    /// the run folder is in place and before `latest` switches.
    func recordInDatabase(runDirectory: String) throws {
        let database = RiskDatabase(path: databasePath)
        let imported = try database.record(outputDirectory: plan.outputDirectory, latest: runDirectory)
        if imported.count > 1 {
            logger.info("imported runs missing from the database", metadata: ["runs": "\(imported.dropLast().joined(separator: ", "))"])
        }
    }

    /// `outputs.keep`: removes old run folders, keeping their rows in the database marked pruned.
    func pruneRuns(_ publisher: Publisher, keep: Int) -> [String] {
        let removed = publisher.prune(keep: keep)
        if !removed.isEmpty {
            do { try RiskDatabase(path: databasePath).markPruned(job: plan.job.name, runIDs: removed) } catch {
                logger.warning("cannot mark pruned runs in the database", metadata: ["error": "\(Operations.describe(error).message)"])
            }
        }
        return removed
    }

    /// A run with nothing to do still imports published runs the database lacks (one killed
    /// between publishing and recording); a failure here only warns.
    func importUnrecordedRuns() {
        guard FileManager.default.fileExists(atPath: plan.outputDirectory) else { return }
        do { _ = try RiskDatabase(path: databasePath).record(outputDirectory: plan.outputDirectory, latest: nil) } catch {
            logger.warning("cannot import runs into the risk database", metadata: ["database": "\(databasePath)", "error": "\(Operations.describe(error).message)"])
        }
    }
}
