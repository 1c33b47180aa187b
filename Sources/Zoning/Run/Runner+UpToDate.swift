import Foundation
import GDALKit

extension Runner {
    /// The latest run when the job, its inputs and the tool are unchanged since it (what `run`
    /// answers "up to date"), else nil.
    public func upToDateRun() throws -> RunResult? {
        GDAL.ensureRegistered()
        let publisher = Publisher(outputDirectory: plan.outputDirectory)
        guard let previous = publisher.latestManifest(), let directory = publisher.latestRun else { return nil }
        let inputs = try describeInputs(previous: previous)
        guard isUpToDate(previous: previous, inputs: inputs, job: jobInfo(), runDirectory: directory) else { return nil }
        return RunResult(runID: previous.runId, runDirectory: directory, manifest: previous, upToDate: true)
    }
}
