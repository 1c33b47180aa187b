import Foundation
import FilePaths
import GDALKit
import Logging
import RiskDatabase

/// What the command-line tool does, reachable from tests: run one job, run a folder of jobs.
public enum Operations {
    /// Loads, resolves and runs one job.
    public static func runJob(_ path: String, layers: String? = nil, output: String? = nil, options: RunOptions,
                              logger: Logger = Logger(label: "hazard-zoning")) throws -> RunResult {
        let spec = try JobLoader(layersDirectory: layers).load(path)
        let plan = try Planner().resolve(spec, outputDirectory: output)
        return try Runner(plan: plan, options: options, logger: logger).run()
    }

    /// Redraws the maps of the latest run of a job without recomputing anything, atomically: the
    /// run's files are linked (large products) or copied (small ones) into a staging folder, the
    /// maps are drawn there, the manifest is rewritten with the new checksums, and the staging
    /// folder is published as a new run (`latest` switched by rename). A killed render leaves the
    /// published runs and their manifests exactly as they were. Returns the files written.
    public static func renderLatest(_ path: String, layers: String? = nil, output: String? = nil,
                                    lockWait: Double = 0) throws -> [String] {
        let spec = try JobLoader(layersDirectory: layers).load(path)
        return try NetworkPolicy.scope(allowNetwork: spec.allowNetwork) { try render(spec, output: output, lockWait: lockWait) }
    }

    private static func render(_ spec: JobSpec, output: String?, lockWait: Double) throws -> [String] {
        let plan = try Planner().resolve(spec, outputDirectory: output)
        let publisher = Publisher(outputDirectory: plan.outputDirectory)
        let lock = try OutputLock(directory: plan.outputDirectory, wait: lockWait)
        defer { lock.release() }
        let runner = Runner(plan: plan)
        try runner.checkDatabase()
        guard let run = try publisher.checkedLatestRun(), var manifest = publisher.latestManifest() else {
            throw RunError(.noInput, "\(plan.outputDirectory): no published run to draw maps for; run the job first")
        }
        let maker = MapMaker(plan: plan, runID: manifest.runId)
        let runID = publisher.newRunID()
        let staging = try publisher.makeStaging(runID: runID)
        do {
            for name in try FileManager.default.contentsOfDirectory(atPath: run).sorted()
                where !name.hasPrefix(".") && name != "manifest.json" && name != "item.json"
                    && !name.hasSuffix("_map.pdf") && !name.hasSuffix("_map.png") {
                let from = run.appendingComponent(name), to = staging.appendingComponent(name)
                // Products are never written in place, so the new run can share their bytes;
                // sidecars GDAL or the maps may rewrite, and folders (job/), are copied.
                let small = name.hasSuffix(".xml") || name.hasSuffix(".qml") || name.hasSuffix(".csv") || name.hasSuffix(".json")
                if small || link(from, to) != 0 {
                    do { try FileManager.default.copyItem(atPath: from, toPath: to) } catch {
                        throw RunError(.ioError, "\(to): cannot copy \(from): \(error.localizedDescription)")
                    }
                }
            }
            let written = try maker.render(folder: staging)
            let names = try runFiles(in: staging).filter { $0 != "manifest.json" && $0 != "item.json" }
            manifest.products = try names.map { try runner.fileEntry(staging.appendingComponent($0), relativeTo: staging) }
            try manifest.encoded().write(to: URL(fileURLWithPath: staging.appendingComponent("manifest.json")))
            try STAC.writeItem(plan: plan, manifest: manifest, folder: staging, classes: runner.rasterProducts)
            let final = try publisher.publish(staging: staging, runID: runID) { try runner.recordInDatabase(runDirectory: $0) }
            if let keep = plan.job.outputs.keep { _ = runner.pruneRuns(publisher, keep: keep) }
            return written.map { final.appendingComponent($0.fileName) }
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
    }

    /// The exit status and one-line message for any error the tool can meet.
    public static func describe(_ error: Error) -> (status: ExitStatus, message: String) {
        switch error {
        case let e as DiagnosticsError: return (e.exitStatus, e.description)
        case let e as RunError: return (e.status, e.description)
        case let e as DatabaseError: return (ExitStatus(rawValue: e.status.rawValue) ?? .software, oneLine(e.message))
        default: return (.software, oneLine("\(error)"))
        }
    }

    /// One line per job of a batch.
    public struct BatchEntry: Sendable {
        public let job: String
        public let status: ExitStatus
        public let detail: String
        public let seconds: Double

        public init(job: String, status: ExitStatus, detail: String, seconds: Double) {
            self.job = job; self.status = status; self.detail = detail; self.seconds = seconds
        }
    }

    /// Runs every `*.yaml` job of a folder in name order, continuing past failures.
    public static func runBatch(_ folder: String, layers: String? = nil, options: RunOptions,
                                logger: Logger = Logger(label: "hazard-zoning"),
                                each: (BatchEntry) -> Void = { _ in }) throws -> [BatchEntry] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: folder) } catch {
            throw RunError(.noInput, "\(folder): cannot list the folder: \(error.localizedDescription)")
        }
        let jobs = names.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
        if jobs.isEmpty { throw RunError(.noInput, "\(folder): no job files (*.yaml) found") }
        var entries: [BatchEntry] = []
        var outputRoots: [String] = []
        for name in jobs {
            let path = folder.appendingComponent(name)
            let started = Date()
            let entry: BatchEntry
            do {
                let result = try runJob(path, layers: layers, options: options, logger: logger)
                outputRoots.append(result.runDirectory.parentPath.parentPath)
                entry = BatchEntry(job: name, status: .ok,
                                   detail: result.upToDate ? "up to date (\(result.runID))" : "published \(result.runID)",
                                   seconds: Date().timeIntervalSince(started))
            } catch {
                let (status, message) = describe(error)
                entry = BatchEntry(job: name, status: status, detail: message.split(separator: "\n").first.map(String.init) ?? message,
                                   seconds: Date().timeIntervalSince(started))
                logger.error("job failed", metadata: ["job": "\(name)", "status": "\(status.rawValue)", "error": "\(message)"])
            }
            entries.append(entry)
            each(entry)
        }
        ReportIndex.regenerate(Array(Set(outputRoots)).sorted(), logger: logger)
        return entries
    }

    /// The batch summary as an aligned table.
    public static func table(_ entries: [BatchEntry]) -> String {
        let width = max(3, entries.map(\.job.count).max() ?? 3)
        var lines = ["job".padding(toLength: width, withPad: " ", startingAt: 0) + "  status  seconds  result"]
        for e in entries {
            let status = e.status == .ok ? "ok" : "\(e.status.rawValue)"
            lines.append(e.job.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                + status.padding(toLength: 6, withPad: " ", startingAt: 0) + "  "
                + String(format: "%7.1f", e.seconds) + "  " + e.detail)
        }
        let failed = entries.filter { $0.status != .ok }.count
        lines.append("\(entries.count) job\(entries.count == 1 ? "" : "s"), \(failed) failed")
        return lines.joined(separator: "\n")
    }
}
