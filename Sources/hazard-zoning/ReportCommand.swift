import ArgumentParser
import Zoning

/// `hazard-zoning report OUT`: the county summary across jobs (`ReportIndex`).
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write OUT/index.html: every job's latest run with its level table, maps and a link to its report (also done after batch).")

    @Argument(help: "The outputs folder holding one folder per job (e.g. out/).") var folder: String

    func run() throws {
        prepareProcess()
        do {
            let (path, jobs) = try ReportIndex.write(folder)
            print("\(path): \(jobs.count) job\(jobs.count == 1 ? "" : "s") (\(jobs.joined(separator: ", ")))")
        } catch { fail(error) }
    }
}
