import Foundation
import FilePaths
#if canImport(Glibc)
import Glibc
#endif
import GDALKit
import Logging
import RasterKernel

public struct RunOptions: Sendable {
    /// Worker threads (default: all cores). Outputs do not depend on it.
    public var threads: Int
    /// GDAL block cache for the run, in bytes.
    public var cacheBytes: Int
    /// Skip the run when the job, its inputs and the tool are unchanged since the last good run.
    public var skipIfUpToDate: Bool
    /// Seconds to wait for another run of the same output folder to finish (0 = fail at once).
    public var lockWait: Double
    public var runID: String?
    /// The risk database to record the run in (default: the job's `outputs.database`, else
    /// `risk-database.gpkg` beside the output folder).
    public var database: String? = nil
    /// Called on the calling thread as stages progress.
    public var progress: (@Sendable (Progress) -> Void)?
    /// Take an input whose path, size and mtime equal the previous manifest's as unchanged without
    /// hashing it (`--trust-mtime`). Off by default: content hashes decide "up to date".
    public var trustMtime = false
    /// Memory budget of the compute stage in bytes (`--max-memory`): bounds units in flight ×
    /// unit size × layers, GDAL's block cache included (see `MemoryPlan`).
    public var maxMemory = 256 << 20
    /// Read layers through the fast paths where they equal GDAL's tools (`LayerReading.swift`);
    /// false aligns every layer with gdalwarp / gdal_rasterize into the staging folder
    /// (`--align-with-gdal`, a cross-check: the products are identical).
    public var alignFastPaths = true
    /// Proximity on projected grids by the exact distance transform instead of GDAL's two sweeps
    /// (`ProximityTransform.swift`): differs from today's products where GDAL's sweeps miss.
    public var exactProximity = false
    /// Rows of a proximity band (default: the block size); halved while two proximity layers are
    /// computed at once (`AlignStage.proximityAside`), so the two together hold what one did.
    var proximityBandRows: Int? = nil
    /// Weights that replace the job's, by combination (`combine` or an index's name): the
    /// counterfactual runs of `changes --explain` (`ChangeExplanation.swift`).
    public var weightOverrides: [String: [Double]] = [:]
    /// `--explain-changes`: split the change since the previous run into data and weights while
    /// the run is made (`ChangeExplanation.swift`; two more runs of the model).
    public var explainChanges = false

    public init(threads: Int = ProcessInfo.processInfo.activeProcessorCount, cacheBytes: Int = 32 << 20,
                skipIfUpToDate: Bool = false, lockWait: Double = 0, runID: String? = nil,
                progress: (@Sendable (Progress) -> Void)? = nil) {
        self.threads = max(1, threads)
        self.cacheBytes = cacheBytes
        self.skipIfUpToDate = skipIfUpToDate
        self.lockWait = lockWait
        self.runID = runID
        self.progress = progress
    }
}

/// Progress of one stage: `done` of `total` units (layers, blocks, products).
public struct Progress: Sendable {
    public let stage: String
    public let done: Int
    public let total: Int
}

public struct RunResult: Sendable {
    public let runID: String
    public let runDirectory: String
    public let manifest: Manifest
    /// True when nothing changed since the last good run and nothing was computed.
    public let upToDate: Bool
}


/// Executes a plan: takes the output lock, describes and hashes the inputs, skips a run that is
/// up to date, stages the run's stages (`Pipeline`) in a staging folder, re-checks the inputs and
/// publishes atomically, records the run in the risk database.
public struct Runner: RunScoped {
    public let plan: Plan
    public let options: RunOptions
    public var logger: Logger
    var env: RunEnvironment { RunEnvironment(plan: plan, options: options, logger: logger) }

    public init(plan: Plan, options: RunOptions = RunOptions(), logger: Logger = Logger(label: "hazard-zoning")) {
        self.plan = plan
        self.options = options
        self.logger = logger
    }

    public func run() throws -> RunResult {
        GDAL.ensureRegistered()
        return try NetworkPolicy.scope(allowNetwork: plan.job.allowNetwork) { try runPlan() }
    }

    /// `mergeRunID`: the merge of a sharded run (Shards.swift): its shards' results replace the
    /// model and the main pass; the rest is the same run.
    func runPlan(mergeRunID: String? = nil) throws -> RunResult {
        let started = Date()
        let publisher = Publisher(outputDirectory: plan.outputDirectory)
        let lock = try OutputLock(directory: plan.outputDirectory, wait: options.lockWait, now: started)
        defer { lock.release() }

        _ = try publisher.checkedLatestRun()
        try checkDatabase()
        let previous = publisher.latestManifest()
        let log = InputLog()
        let inputs = try describeInputs(previous: previous, log: log)
        let job = jobInfo()
        let shards = try mergeRunID.map { try ShardSet.load(self, runID: $0, inputs: inputs, job: job) }
        if shards == nil, options.skipIfUpToDate, let previous, let runDirectory = publisher.latestRun,
           isUpToDate(previous: previous, inputs: inputs, job: job, runDirectory: runDirectory) {
            logger.info("up to date", metadata: ["run": "\(previous.runId)"])
            importUnrecordedRuns()
            return RunResult(runID: previous.runId, runDirectory: runDirectory, manifest: previous, upToDate: true)
        }

        let runID = shards?.runID ?? options.runID ?? publisher.newRunID(now: started)
        let staging = try publisher.makeStaging(runID: runID, keeping: shards.map { [$0.folder] } ?? [])
        do {
            let manifest = try withRunGDAL {
                try execute(staging: staging, runID: runID, started: started, inputs: inputs, job: job, shards: shards)
            }
            // Products computed from other bytes than the manifest's checksums are never published.
            try log.verify()
            let final = try publisher.publish(staging: staging, runID: runID) { try recordInDatabase(runDirectory: $0) }
            shards?.remove()
            if let keep = plan.job.outputs.keep {
                for removed in pruneRuns(publisher, keep: keep) { logger.info("removed old run", metadata: ["run": "\(removed)"]) }
            }
            // The job folder's STAC Catalog; the run is already published, so a failure here is logged.
            do { try STAC.writeCatalog(outputDirectory: plan.outputDirectory, job: plan.job) } catch {
                logger.error("cannot write the STAC catalog", metadata: ["error": "\(Operations.describe(error).message)"])
            }
            return RunResult(runID: runID, runDirectory: final, manifest: manifest, upToDate: false)
        } catch {
            // An input rewritten while it was read fails the read; that it changed is the news.
            let failure = writeFailure(log.changeError() ?? error)  // before the staging folder frees the space
            try? FileManager.default.removeItem(atPath: staging)
            throw failure
        }
    }

    /// Same job, same tool, same input bytes, and the published products still there.
    func isUpToDate(previous: Manifest, inputs: [Manifest.Input], job: Manifest.JobInfo, runDirectory: String) -> Bool {
        guard previous.tool.version == ToolInfo.version, previous.tool.gdal == GDAL.version,
              previous.job.hash == job.hash, previous.inputs.count == inputs.count else { return false }
        for (a, b) in zip(previous.inputs, inputs) {
            guard a.key == b.key, a.source == b.source, a.definition.sha256 == b.definition.sha256,
                  a.files.map(\.path) == b.files.map(\.path),
                  zip(a.files, b.files).allSatisfy({ $0.sha256 == $1.sha256 && $0.size == $1.size }) else { return false }
        }
        return previous.products.allSatisfy { product in
            let path = runDirectory.appendingComponent(product.path)
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue
            return size == product.size
        }
    }

    /// The run's stages (`Pipeline`) on a context staged in `staging`; returns the manifest.
    private func execute(staging: String, runID: String, started: Date, inputs: [Manifest.Input],
                         job: Manifest.JobInfo, shards: ShardSet? = nil) throws -> Manifest {
        let files = stagedFiles(in: staging)
        try FileManager.default.createDirectory(atPath: files.work, withIntermediateDirectories: true)
        let context = RunContext(env: env, runID: runID, started: started, files: files, inputs: inputs, job: job, shards: shards)
        try Pipeline(env, role: shards == nil ? .run : .merge).run(context)
        return context.required(context.manifest, .manifest, by: "runner")
    }
}

extension RunScoped {
    /// A failure while writing products, named by the output folder: a full file system is one
    /// line with "no space left on device" (exit 74), whatever GDAL, libtiff or Cairo reported.
    func writeFailure(_ error: Error) -> Error {
        var st = statvfs()
        let full = statvfs(plan.outputDirectory, &st) == 0 && UInt64(st.f_bavail) * UInt64(st.f_frsize) < 64 << 10
        if full {
            return RunError(.ioError, "\(plan.outputDirectory): no space left on device (the run was not published; free space and run again)")
        }
        if let e = error as? GDALError {
            return RunError(.ioError, "\(plan.outputDirectory): writing the run failed: \(e.message)")
        }
        return error
    }

    /// Runs `body` (a run's stages, on this thread) in the run's GDAL environment: the job's
    /// `gdal-config` options set on this thread only (the block engine's workers set them on
    /// theirs), never process-wide; and the block cache at `--cache`, the one setting GDAL keeps
    /// per process (`GDALSetCacheMax64`), restored afterwards.
    func withRunGDAL<T>(_ body: () throws -> T) throws -> T {
        let previousCache = GDAL.cacheMax
        GDAL.setCacheMax(bytes: options.cacheBytes)
        defer { GDAL.setCacheMax(bytes: previousCache) }
        return try ConfigOptions.withThreadLocalOptions(plan.job.gdalConfig, body)
    }
}
