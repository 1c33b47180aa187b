import Foundation
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
    /// Test hook: fail after this many blocks were written (to prove publishing is atomic).
    public var failAfterBlocks: Int?
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

    public init(threads: Int = ProcessInfo.processInfo.activeProcessorCount, cacheBytes: Int = 32 << 20,
                skipIfUpToDate: Bool = false, lockWait: Double = 0, failAfterBlocks: Int? = nil, runID: String? = nil,
                progress: (@Sendable (Progress) -> Void)? = nil) {
        self.threads = max(1, threads)
        self.cacheBytes = cacheBytes
        self.skipIfUpToDate = skipIfUpToDate
        self.lockWait = lockWait
        self.failAfterBlocks = failAfterBlocks
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

/// One block's results, handed from a worker to the writer.
struct BlockResult: Sendable {
    let block: Block
    let index: [Float]
    let classes: [UInt8]
    let classCounts: [Int]
    let indexSum: Double
    /// Σ index², for standard-deviation breaks (summed in block order like `indexSum`).
    let indexSumSquares: Double
    /// The model kernel's counts (non-finite results, values outside 0..1).
    let counters: ModelKernel.Counters
    let indexMin: Float
    let indexMax: Float
    /// Per input layer: pixels that are neither NaN nor ±inf after alignment.
    let layerValid: [Int]
    /// The block's index histogram, when breaks are computed from the data.
    let histogram: Histogram?
    /// Weight scenarios: their classes against this block's (fixed breaks), or their index
    /// statistics (data-driven breaks, classified in a later pass).
    var sensitivity: SensitivityBlock? = nil
    var scenarioStatistics: [ScenarioStatistics]? = nil
}

/// Hands out blocks to workers and results to the writer, with at most `capacity` blocks in
/// flight (taken but not yet written): memory is bounded by that, never by the grid size.
final class BlockPipeline<Result: Sendable>: @unchecked Sendable {
    // All state is guarded by `condition`.
    private let condition = NSCondition()
    private var nextBlock = 0
    private let total: Int
    private let capacity: Int
    private var inFlight = 0
    private var ready: [Result] = []
    private var runningWorkers: Int
    private var failure: (any Error & Sendable)?
    private var cancelled = false

    init(total: Int, workers: Int, capacity: Int) {
        self.total = total
        self.runningWorkers = workers
        self.capacity = max(capacity, 1)
    }

    /// The next block index for a worker, or nil when there is no more work.
    func take() -> Int? {
        condition.lock(); defer { condition.unlock() }
        while inFlight >= capacity && !cancelled { condition.wait() }
        guard !cancelled, nextBlock < total else { return nil }
        nextBlock += 1
        inFlight += 1
        return nextBlock - 1
    }

    func submit(_ result: Result) {
        condition.lock(); defer { condition.unlock() }
        ready.append(result)
        condition.broadcast()
    }

    func fail(_ error: any Error & Sendable) {
        condition.lock(); defer { condition.unlock() }
        if failure == nil { failure = error }
        cancelled = true
        condition.broadcast()
    }

    func workerFinished() {
        condition.lock(); defer { condition.unlock() }
        runningWorkers -= 1
        condition.broadcast()
    }

    /// The next finished block for the writer; nil when every worker has stopped and nothing is left.
    func next() -> Result? {
        condition.lock(); defer { condition.unlock() }
        while ready.isEmpty && runningWorkers > 0 { condition.wait() }
        if cancelled { return nil }
        return ready.isEmpty ? nil : ready.removeFirst()
    }

    func written() {
        condition.lock(); defer { condition.unlock() }
        inFlight -= 1
        condition.broadcast()
    }

    /// Waits until every worker has stopped (after a failure or cancellation).
    func waitForWorkers() {
        condition.lock(); defer { condition.unlock() }
        while runningWorkers > 0 { condition.wait() }
    }

    var error: (any Error & Sendable)? {
        condition.lock(); defer { condition.unlock() }
        return failure
    }
}

/// Executes a plan: prepares aligned sources, streams blocks through the kernel on worker threads,
/// writes Cloud-Optimized GeoTIFFs, the manifest, and publishes atomically.
public struct Runner {
    public let plan: Plan
    public let options: RunOptions
    public var logger: Logger

    public init(plan: Plan, options: RunOptions = RunOptions(), logger: Logger = Logger(label: "hazard-zoning")) {
        self.plan = plan
        self.options = options
        self.logger = logger
    }

    public func run() throws -> RunResult {
        GDAL.ensureRegistered()
        if plan.job.allowNetwork { return try runPlan() }
        return try NetworkPolicy.offline { try runPlan() }
    }

    private func runPlan() throws -> RunResult {
        let started = Date()
        let publisher = Publisher(outputDirectory: plan.outputDirectory)
        let lock = try OutputLock(directory: plan.outputDirectory, wait: options.lockWait, now: started)
        defer { lock.release() }

        _ = try publisher.checkedLatestRun()
        let previous = publisher.latestManifest()
        let log = InputLog()
        let inputs = try describeInputs(previous: previous, log: log)
        let job = jobInfo()
        if options.skipIfUpToDate, let previous, let runDirectory = publisher.latestRun,
           isUpToDate(previous: previous, inputs: inputs, job: job, runDirectory: runDirectory) {
            logger.info("up to date", metadata: ["run": "\(previous.runId)"])
            importUnrecordedRuns()
            return RunResult(runID: previous.runId, runDirectory: runDirectory, manifest: previous, upToDate: true)
        }

        let runID = options.runID ?? publisher.newRunID(now: started)
        let staging = try publisher.makeStaging(runID: runID)
        do {
            let previousCache = GDAL.cacheMax
            GDAL.setCacheMax(bytes: options.cacheBytes)
            defer { GDAL.setCacheMax(bytes: previousCache) }
            let manifest = try ConfigOptions.withOptions(plan.job.gdalConfig) {
                try execute(staging: staging, runID: runID, started: started, inputs: inputs, job: job)
            }
            // Products computed from other bytes than the manifest's checksums are never published.
            try log.verify()
            let final = try publisher.publish(staging: staging, runID: runID) { try recordInDatabase(runDirectory: $0) }
            if let keep = plan.job.outputs.keep {
                for removed in pruneRuns(publisher, keep: keep) { logger.info("removed old run", metadata: ["run": "\(removed)"]) }
            }
            // The job folder's STAC Catalog; the run is already published, so a failure here is logged.
            do { try STAC.writeCatalog(outputDirectory: plan.outputDirectory, job: plan.job) } catch {
                logger.error("cannot write the STAC catalog", metadata: ["error": "\(Operations.describe(error).message)"])
            }
            return RunResult(runID: runID, runDirectory: final, manifest: manifest, upToDate: false)
        } catch {
            let failure = writeFailure(error)  // before the staging folder frees the space
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
            let path = (runDirectory as NSString).appendingPathComponent(product.path)
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue
            return size == product.size
        }
    }

    private func execute(staging: String, runID: String, started: Date, inputs: [Manifest.Input],
                         job: Manifest.JobInfo) throws -> Manifest {
        var timings: [String: Double] = [:]
        var clock = Date()
        func lap(_ name: String) {
            let now = Date()
            timings[name] = (now.timeIntervalSince(clock) * 1000).rounded() / 1000
            logger.info("stage done", metadata: ["job": "\(plan.job.name)", "stage": "\(name)", "seconds": "\(timings[name]!)"])
            clock = now
        }
        let work = (staging as NSString).appendingPathComponent(".work")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)

        timings["hash_inputs"] = (clock.timeIntervalSince(started) * 1000).rounded() / 1000
        var inputs = inputs

        // 1. Check the sources (an all-nodata raster is refused here, before any computing) and
        //    align every layer onto the grid.
        var all = plan.sources
        if let mask = plan.mask { all.append(mask) }
        var aligned: [String] = []
        for (i, source) in all.enumerated() {
            report("align", i, all.count)
            if source.kind == .raster {
                let scan = try scanSource(source)
                inputs[i].statistics = Manifest.LayerStatistics(
                    sourceValid: scan.valid, sourceNodata: scan.nodata, sourceNan: scan.nan, sourceInfinite: scan.infinite,
                    gridValid: 0, gridNodata: 0)
            }
            aligned.append(try align(source, work: work))
        }
        report("align", all.count, all.count)
        let maskPath = plan.mask == nil ? nil : aligned.removeLast()
        lap("align")

        // 2. The model: data-driven ranges and weights (statistics passes), the kernel.
        let (kernel, resolvedModel, resolution) = try resolveModel(aligned: aligned, mask: maskPath)
        var modelInfo = resolvedModel
        if modelInfo.statisticsPasses > 0 { lap("statistics") }

        // The townships on the grid (statistics, zones, and the sensitivity tallies of the main pass).
        let products0 = plan.job.outputs.products
        var townships: (Townships, String)?
        if let t = plan.job.zoning?.townships,
           products0.contains(.statistics) || products0.contains(.riskZones) || products0.contains(.sensitivity) {
            townships = try prepareTownships(t, work: work)
        }
        // Weight scenarios (sensitivity:) run inside the main pass.
        var sensitivity: (SensitivitySetup, SensitivityAccumulator)?
        if let spec = plan.job.sensitivity, products0.contains(.sensitivity) {
            let setup = try prepareSensitivity(spec, resolution: resolution, towns: townships?.0.names.count ?? 0)
            sensitivity = (setup, try SensitivityAccumulator(grid: plan.grid, blockSize: plan.blockSize, crsWKT: plan.crsWKT,
                                                             scenarios: setup.scenarioCount, work: work))
        }

        // 3. Stream blocks through the kernel; classify.
        let indexTmp = (work as NSString).appendingPathComponent("risk_index.tif")
        let classTmp = (work as NSString).appendingPathComponent("risk_class.tif")
        var stats = try stream(aligned: aligned, mask: maskPath, kernel: kernel, indexPath: indexTmp, classPath: classTmp,
                               sensitivity: sensitivity, townshipPath: townships?.1)
        if let (setup, accumulator) = sensitivity, setup.classifiers != nil { try accumulator.closeRasters() }
        modelInfo.nonFiniteResults = stats.counters.nonFinite
        if stats.counters.outOfRange > 0 {
            throw RunError(.dataError, "\(plan.job.file): combine: the risk index leaves 0..1 at \(stats.counters.outOfRange) pixels (from \(formatNumber(Double(stats.counters.minimum))) to \(formatNumber(Double(stats.counters.maximum)))); the model must give values in 0..1 — rescale it or wrap the expression in clamp(…, 0, 1)")
        }
        let classification = try classify(&stats, indexPath: indexTmp, classPath: classTmp)
        for (l, source) in plan.sources.enumerated() {
            var st = inputs[l].statistics ?? Manifest.LayerStatistics(gridValid: 0, gridNodata: 0)
            st.gridValid = stats.layerValid[l]
            st.gridNodata = plan.grid.pixelCount - stats.layerValid[l]
            inputs[l].statistics = st
            if stats.layerValid[l] == 0 {
                throw RunError(.dataError, "\(source.definition.source): layers.\(source.key) (layer \(source.definition.name)) has no valid pixels on the grid (all nodata, NaN or ±inf where it overlaps)")
            }
        }
        if stats.classCounts.dropFirst().allSatisfy({ $0 == 0 }) {
            throw RunError(.dataError, "\(plan.job.file): the risk index has no valid pixel on the grid (every pixel is nodata: outside the mask, or some layer is nodata there, or a normalisation gives nodata); nothing was published")
        }
        lap("compute")

        // 3. Zones and statistics per township; prevention.
        var zoningInfo: Manifest.ZoningInfo?
        var totalsInfo: [Manifest.TotalInfo]?
        var totalTransitions: [ChangeReport.TotalTransitions] = []
        if let zoning = plan.job.zoning {
            var features: Int?
            if products0.contains(.riskZones) {
                let zonesTmp = (work as NSString).appendingPathComponent("risk_zones.tif")
                try generalise(classPath: classTmp, zonesPath: zonesTmp, zoning: zoning)
                try writeCOG(from: zonesTmp, to: (staging as NSString).appendingPathComponent("risk_zones.tif"), resampling: "NEAREST", predictor: nil)
                let gpkg = (staging as NSString).appendingPathComponent("zones.gpkg")
                // A fixed GeoPackage timestamp keeps the file identical for identical inputs.
                features = try ConfigOptions.withOptions(["OGR_CURRENT_DATE": "2000-01-01T00:00:00.000Z"]) {
                    let n = try polygonize(zonesPath: zonesTmp, gpkg: gpkg, townships: townships, connectivity: zoning.connectivity)
                    try MapMaker.storeDefaultStyle(gpkg: gpkg, layer: "risk_zones", field: "class", legend: MapMaker(plan: plan, runID: runID).legend)
                    return n
                }
            }
            if let t = zoning.townships, let (towns, path) = townships, products0.contains(.statistics) {
                var rows = try townshipStatistics(classPath: classTmp, indexPath: indexTmp, townshipPath: path, townships: towns,
                                                  level: t.level, thresholds: classification.breaks)
                if !zoning.totals.isEmpty {
                    // The run `latest` points at (the lock is held): its classes give the totals per change.
                    let previousClasses = Publisher(outputDirectory: plan.outputDirectory).latestRun
                        .map { ($0 as NSString).appendingPathComponent("risk_class.tif") }
                        .flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil }
                    let sums = try computeTotals(classPath: classTmp, townshipPath: path, townshipCount: towns.names.count,
                                                 maskPath: maskPath, previousClassPath: previousClasses, work: work)
                    addTotals(sums, to: &rows)
                    totalsInfo = self.totalsInfo(sums)
                    totalTransitions = zip(zoning.totals, sums).compactMap { total, s in
                        s.byTransition.map { ChangeReport.TotalTransitions(name: total.name, byTransition: $0) }
                    }
                }
                try writeTownshipLevels(rows, townships: t, staging: staging)
                try write(try Manifest.json(rows), to: (staging as NSString).appendingPathComponent("stats.json"))
                try write(Data(Runner.statisticsCSV(rows, scheme: plan.job.classify.scheme).utf8),
                          to: (staging as NSString).appendingPathComponent("stats.csv"))
            }
            zoningInfo = .init(majority: zoning.majority, minAreaHa: zoning.minAreaHectares,
                               sieveThresholdPixels: zoning.minAreaHectares.map(sieveThreshold(hectares:)),
                               connectivity: zoning.connectivity, zoneFeatures: features)
            lap("zoning")
        }
        var preventionInfo: Manifest.PreventionInfo?
        if let prevention = plan.prevention, products0.contains(.prevention) {
            preventionInfo = try runPrevention(prevention, classPath: classTmp, staging: staging, work: work)
            lap("prevention")
        }
        let exports = try exportZones(staging: staging)
        var sensitivityInfo: Manifest.SensitivityInfo?
        if let (setup, accumulator) = sensitivity {
            sensitivityInfo = try finishSensitivity(setup, accumulator: accumulator, aligned: aligned, mask: maskPath,
                                                    classPath: classTmp, townships: townships, staging: staging)
            lap("sensitivity")
        }

        // 4. Cloud-Optimized GeoTIFFs.
        let scheme = plan.job.classify.scheme
        report("write", 0, plan.job.outputs.products.count)
        if plan.job.outputs.products.contains(.riskIndex) {
            try writeCOG(from: indexTmp, to: (staging as NSString).appendingPathComponent("risk_index.tif"), resampling: "AVERAGE", predictor: "YES")
        }
        if plan.job.outputs.products.contains(.riskClass) {
            try writeCOG(from: classTmp, to: (staging as NSString).appendingPathComponent("risk_class.tif"), resampling: "NEAREST", predictor: nil)
        }
        try FileManager.default.removeItem(atPath: work)
        try finishRasters(in: staging)
        lap("write_cog")

        // 5. Maps (PDF + PNG) and QGIS styles.
        if plan.job.outputs.products.contains(.maps) {
            _ = try MapMaker(plan: plan, runID: runID).render(folder: staging)
            lap("maps")
        }

        // 5b. The job and layer definitions as run, the changes since the previous run (RunRecord.swift).
        let applied = try keepRunRecord(staging: staging, runID: runID, model: modelInfo, totals: totalTransitions)

        // Every file of the run, with size and checksum.
        let names = try runFiles(in: staging)
        let products = try names.map { try fileEntry((staging as NSString).appendingPathComponent($0), relativeTo: staging) }

        // 6. Manifest.
        let classes = scheme.classes.map {
            Manifest.ClassCount(value: Int($0.value), name: "\($0.name) \($0.english)", pixels: stats.classCounts[Int($0.value)])
        }
        let valid = classes.reduce(0) { $0 + $1.pixels }
        let iso = ISO8601DateFormatter()
        timings["total"] = (Date().timeIntervalSince(started) * 1000).rounded() / 1000
        var manifest = Manifest(
            runId: runID, started: iso.string(from: started), finished: iso.string(from: Date()),
            tool: .init(name: ToolInfo.name, version: ToolInfo.version, gdal: GDAL.version, proj: GDAL.projVersion),
            job: job,
            grid: .init(crs: plan.crsName, width: plan.grid.width, height: plan.grid.height,
                        geoTransform: plan.grid.geoTransform, blockSize: plan.blockSize),
            inputs: inputs, products: products, classification: classification, zoning: zoningInfo,
            statistics: .init(validPixels: valid, nodataPixels: stats.classCounts[0],
                              indexMin: valid > 0 ? Double(stats.indexMin) : nil,
                              indexMax: valid > 0 ? Double(stats.indexMax) : nil,
                              indexMean: valid > 0 ? stats.indexSum / Double(valid) : nil, classes: classes),
            timings: timings, threads: options.threads)
        manifest.prevention = preventionInfo
        manifest.totals = totalsInfo
        manifest.exports = exports.isEmpty ? nil : exports
        manifest.model = modelInfo
        manifest.sensitivity = sensitivityInfo
        manifest.applied = applied
        return try writeManifestAndCatalogue(manifest, staging: staging)
    }

    // MARK: inputs

    func jobInfo() -> Manifest.JobInfo {
        var h = SHA256()
        h.update(Data(plan.job.text.utf8))
        var defs = plan.job.layers.map(\.definition)
        defs += plan.job.auxiliary.keys.sorted().map { plan.job.auxiliary[$0]! }
        for def in defs {
            h.update(Data(def.name.utf8))
            h.update(FileManager.default.contents(atPath: def.file) ?? Data())
        }
        return .init(name: plan.job.name, file: plan.job.file, fileSha256: SHA256.hex(Data(plan.job.text.utf8)),
                     hash: h.finalizeHex())
    }

    /// Every input file with size, mtime and SHA-256. A file whose path, size and mtime equal the
    /// previous manifest's keeps its recorded checksum (the fast pre-check); others are hashed.
    func describeInputs(previous: Manifest?, log: InputLog? = nil) throws -> [Manifest.Input] {
        var known: [String: Manifest.FileEntry] = [:]
        for input in previous?.inputs ?? [] {
            for file in input.files + [input.definition] { known[file.path] = file }
        }
        var result: [Manifest.Input] = []
        var all = plan.sources.map { ($0.key, $0.definition) }
        if let mask = plan.mask { all.append((mask.key, mask.definition)) }
        for factor in plan.prevention?.sources ?? [] { all.append((factor.key, factor.definition)) }
        if let t = plan.job.zoning?.townships { all.append(("townships", t.definition)) }
        for total in plan.job.zoning?.totals ?? [] { all.append(("zoning.totals.\(total.name)", total.definition)) }
        for c in plan.job.maps.context ?? [] where !all.contains(where: { $0.1.name == c.definition.name }) {
            all.append(("map:\(c.definition.name)", c.definition))
        }
        for (key, def) in all {
            let files: [String]
            do { files = try Dataset(open: def.source).fileList } catch {
                throw inputError(error, file: def.source, what: "layer \(def.name)")
            }
            if !plan.job.allowNetwork, let remote = files.first(where: { NetworkPolicy.networkReference(in: $0) != nil }) {
                throw RunError(.dataError, "\(def.source): layer \(def.name) reads \(remote) over the network; set `allow-network: true` in the job to allow it")
            }
            let entries = try files.sorted().map { try fileEntry($0, relativeTo: nil, known: known, log: log) }
            result.append(.init(key: key, layer: def.name, definition: try fileEntry(def.file, relativeTo: nil, known: known, log: log),
                                source: def.source, files: entries, statistics: nil))
        }
        return result
    }

    func fileEntry(_ path: String, relativeTo base: String?, known: [String: Manifest.FileEntry] = [:],
                   log: InputLog? = nil) throws -> Manifest.FileEntry {
        // The identity before hashing, checked after hashing and again before publishing.
        let identity = log == nil ? nil : FileIdentity(path: path)
        let attributes: [FileAttributeKey: Any]
        do { attributes = try FileManager.default.attributesOfItem(atPath: path) } catch {
            throw RunError(.noInput, "\(path): cannot be read: \(error.localizedDescription)")
        }
        let size = (attributes[.size] as? NSNumber)?.intValue ?? 0
        let mtime = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970
        var shown = path
        if let base, path.hasPrefix(base + "/") { shown = String(path.dropFirst(base.count + 1)) }
        if options.trustMtime, let old = known[path], old.size == size, let mtime, old.mtime == mtime {
            if let log, let identity { log.record(path, identity) }
            return .init(path: shown, size: size, sha256: old.sha256, mtime: mtime)
        }
        let hash = try SHA256.hex(fileAt: path)
        if let log, let identity {
            log.record(path, identity)
            try log.verify()
        }
        return .init(path: shown, size: size, sha256: hash, mtime: mtime)
    }

    func report(_ stage: String, _ done: Int, _ total: Int) {
        options.progress?(Progress(stage: stage, done: done, total: total))
    }

    // MARK: alignment

    /// Aligns a source onto the grid. Rasters become a warped VRT (warping happens block by block
    /// as workers read); vectors are rasterised once into a tiled GeoTIFF.
    func align(_ source: SourcePlan, work: String) throws -> String {
        let def = source.definition
        let what = source.key == "mask" ? "grid.mask (layer \(def.name))" : "layers.\(source.key) (layer \(def.name))"
        let ds: Dataset
        do { ds = try Dataset(open: def.source) } catch { throw inputError(error, file: def.source, what: what) }
        do {
            switch source.kind {
            case .raster:
                var input = ds
                if ds.bandCount > 1 || def.band != 1 {
                    input = try Utilities.translate(ds, to: (work as NSString).appendingPathComponent("\(source.key)-band.vrt"),
                                                    arguments: ["-of", "VRT", "-b", "\(def.band)"])
                    try input.flush()
                }
                let path = (work as NSString).appendingPathComponent("\(source.key).vrt")
                // Warped in units of the compute stage (whole blocks unless the memory budget cuts them).
                let bs = "\(plan.blockSize)", rows = "\(memoryPlan.height)"
                let vrt = try Utilities.warp([input], to: path, arguments: source.arguments
                    + ["-of", "VRT", "-co", "BLOCKXSIZE=\(bs)", "-co", "BLOCKYSIZE=\(rows)"])
                guard vrt.width == plan.grid.width, vrt.height == plan.grid.height else {
                    throw RunError(.software, "\(def.source): warped size \(vrt.width)×\(vrt.height) differs from the grid \(plan.grid.width)×\(plan.grid.height)")
                }
                try vrt.close()
                try input.close()
                return path
            case .vector:
                let path = (work as NSString).appendingPathComponent("\(source.key).tif")
                let bs = "\(plan.blockSize)"
                var vector = ds
                if let reproject = source.reprojectArguments {
                    // Reprojected in memory: gdal_rasterize does not reproject into a new raster.
                    vector = try Utilities.vectorTranslate(ds, to: "", arguments: ["-f", "Memory"] + reproject
                        + [source.layerName ?? ""])
                }
                let out = try Utilities.rasterize(vector, to: path, arguments: source.arguments
                    + ["-of", "GTiff", "-co", "TILED=YES", "-co", "BLOCKXSIZE=\(bs)", "-co", "BLOCKYSIZE=\(bs)", "-co", "SPARSE_OK=YES"])
                guard out.width == plan.grid.width, out.height == plan.grid.height else {
                    throw RunError(.software, "\(def.source): rasterised size \(out.width)×\(out.height) differs from the grid \(plan.grid.width)×\(plan.grid.height)")
                }
                try out.close()
                return path
            case .proximity:
                return try alignProximity(source, work: work)
            }
        } catch let error as GDALError {
            // The source was opened (and a raster's every pixel read) before: what fails here is
            // GDAL moving data into the staging area (a full disk, a file-size limit, a read error
            // deep inside a vector source). GDAL's drivers report these with mixed numbers
            // (libtiff's write errors are CPLE_AppDefined), so the stage decides: an I/O error.
            throw RunError(.ioError, "\(def.source): \(what): aligning onto the grid in \(work) failed: \(error.message)")
        }
    }

    // MARK: streaming

    struct StreamStats {
        var histogram: Histogram?
        var layerValid: [Int]
        var classCounts: [Int]
        var indexSum: Double
        var indexSumSquares: Double = 0
        var counters = ModelKernel.Counters()
        var indexMin: Float
        var indexMax: Float
    }

    func stream(aligned: [String], mask: String?, kernel: BlockKernel, indexPath: String, classPath: String,
                sensitivity: (SensitivitySetup, SensitivityAccumulator)? = nil, townshipPath: String? = nil) throws -> StreamStats {
        let grid = plan.grid
        let bs = plan.blockSize
        let memory = memoryPlan
        logger.info("memory plan", metadata: ["unit": "\(memory.width)x\(memory.height)", "workers": "\(memory.workers)",
                                              "in-flight": "\(memory.inFlight)", "estimate-mib": "\(memory.estimate >> 20)"])
        let create = ["TILED=YES", "BLOCKXSIZE=\(bs)", "BLOCKYSIZE=\(memory.height)", "SPARSE_OK=YES"]
        let srs = try SpatialReference(definition: plan.crsWKT)
        let indexDS = try Dataset.create(driver: "GTiff", path: indexPath, width: grid.width, height: grid.height,
                                         bands: 1, type: .float32, options: create)
        let classDS = try Dataset.create(driver: "GTiff", path: classPath, width: grid.width, height: grid.height,
                                         bands: 1, type: .byte, options: create)
        for ds in [indexDS, classDS] {
            try ds.setGeoTransform(grid.geoTransform)
            try ds.setSpatialReference(srs)
        }
        let indexBand = try indexDS.band(1)
        try indexBand.setNoDataValue(Double(RiskKernel.indexNoData))
        indexBand.setDescription("risk index (0..1)")
        let classBand = try classDS.band(1)
        try classBand.setNoDataValue(0)
        try classBand.setColorTable(plan.job.classify.scheme.colorTable)
        try classBand.setCategoryNames(plan.job.classify.scheme.categoryNames)
        classBand.setDescription("risk class (\(plan.job.classify.scheme.id))")

        let blocks = grid.blocks(width: memory.width, height: memory.height)
        let wantsHistogram = plan.job.classify.method != nil
        // What to name in a read error: the layer's own source, not the aligned copy.
        let names = (plan.sources + (plan.mask.map { [$0] } ?? [])).map { "\($0.definition.source) (layer \($0.definition.name))" }
        let classCount = plan.job.classify.scheme.classCount
        let scenarios = sensitivity?.0
        let layerCount = aligned.count
        var rasters = aligned.indices.map { (aligned[$0], names[$0]) }
        let withTownships = scenarios != nil && townshipPath != nil
        if withTownships, let townshipPath { rasters.append((townshipPath, "zoning.townships")) }

        var stats = StreamStats(histogram: plan.job.classify.method == nil ? nil : Histogram(), layerValid: [Int](repeating: 0, count: aligned.count), classCounts: [Int](repeating: 0, count: classCount + 1), indexSum: 0,
                                indexMin: .infinity, indexMax: -.infinity)
        var sums = [Double](repeating: 0, count: blocks.count)
        var squares = [Double](repeating: 0, count: blocks.count)
        var writtenCount = 0
        try streamBlocks(rasters: rasters, mask: mask.map { ($0, names[aligned.count]) }, state: { SensitivitySetup.Scratch() }) {
            scratch, block, buffers, maskValues in
            try Runner.compute(block: block, inputs: Array(buffers.prefix(layerCount)), mask: maskValues, kernel: kernel,
                               histogram: wantsHistogram, classCount: classCount, sensitivity: scenarios,
                               town: withTownships ? buffers[layerCount] : nil, scratch: &scratch)
        } consume: { block, result in
            let w = block.window
            let window = PixelWindow(x: w.x, y: w.y, width: w.width, height: w.height)
            try result.index.withUnsafeBufferPointer { try indexBand.write(window, from: $0) }
            try result.classes.withUnsafeBufferPointer { try classBand.write(window, from: $0) }
            for c in 0..<stats.classCounts.count { stats.classCounts[c] += result.classCounts[c] }
            for l in 0..<stats.layerValid.count { stats.layerValid[l] += result.layerValid[l] }
            if let h = result.histogram { stats.histogram?.merge(h) }
            if let part = result.sensitivity { try sensitivity?.1.add(block, part) }
            if let part = result.scenarioStatistics { sensitivity?.1.add(block, part) }
            sums[block.index] = result.indexSum
            squares[block.index] = result.indexSumSquares
            stats.counters.merge(result.counters)
            stats.indexMin = min(stats.indexMin, result.indexMin)
            stats.indexMax = max(stats.indexMax, result.indexMax)
            writtenCount += 1
            report("compute", writtenCount, blocks.count)
            if let limit = options.failAfterBlocks, writtenCount >= limit {
                throw RunError(.software, "injected failure after \(writtenCount) blocks")
            }
        }
        // Sum in block order, so the mean does not depend on which thread finished first.
        stats.indexSum = sums.reduce(0, +)
        stats.indexSumSquares = squares.reduce(0, +)
        try indexDS.close()
        try classDS.close()
        return stats
    }

    /// One unit of the main pass on a worker: the kernel, the counts, the histogram and the weight
    /// scenarios, while the unit's layers are in memory.
    static func compute(block: Block, inputs: [UnsafeBufferPointer<Float>], mask: UnsafeBufferPointer<Float>?, kernel: BlockKernel,
                        histogram wantsHistogram: Bool, classCount: Int, sensitivity: SensitivitySetup?,
                        town: UnsafeBufferPointer<Float>?, scratch: inout SensitivitySetup.Scratch) throws -> BlockResult {
        let n = block.window.count
        var index = [Float](repeating: 0, count: n)
        var classes = [UInt8](repeating: 0, count: n)
        let counters = index.withUnsafeMutableBufferPointer { ip in
            classes.withUnsafeMutableBufferPointer { cp in
                kernel.run(count: n, inputs: inputs, mask: mask, index: ip, classes: cp)
            }
        }
        let layerValid = inputs.map(countFinite)
        var counts = [Int](repeating: 0, count: classCount + 1)
        var sum = 0.0, sumSquares = 0.0
        var lo = Float.infinity, hi = -Float.infinity
        for p in 0..<n {
            let c = Int(classes[p])
            counts[c] += 1
            if c != 0 {
                let v = index[p]
                sum += Double(v)
                sumSquares += Double(v) * Double(v)
                lo = min(lo, v); hi = max(hi, v)
            }
        }
        var result = BlockResult(block: block, index: index, classes: classes, classCounts: counts,
                                 indexSum: sum, indexSumSquares: sumSquares, counters: counters, indexMin: lo, indexMax: hi,
                                 layerValid: layerValid,
                                 histogram: wantsHistogram ? index.withUnsafeBufferPointer { values in
                                     var h = Histogram()
                                     h.add(values)
                                     return h
                                 } : nil)
        if let sensitivity {
            if sensitivity.classifiers != nil {
                result.sensitivity = classes.withUnsafeBufferPointer { c in
                    index.withUnsafeBufferPointer { x in
                        sensitivity.block(count: n, inputs: inputs, mask: mask, baseline: c, baselineIndex: x, town: town, scratch: &scratch)
                    }
                }
            } else {
                result.scenarioStatistics = sensitivity.statistics(count: n, inputs: inputs, mask: mask)
            }
        }
        return result
    }

    func write(_ data: Data, to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: data) else {
            throw RunError(.ioError, "\(path): cannot write")
        }
    }

    // MARK: classification

    /// Fixed breaks were applied by the kernel. Data-driven breaks are computed from the histogram
    /// of every valid pixel, then a second pass classifies the index raster.
    func classify(_ stats: inout StreamStats, indexPath: String, classPath: String) throws -> Manifest.Classification {
        let scheme = plan.job.classify.scheme
        guard let method = plan.job.classify.method, let histogram = stats.histogram else {
            return .init(scheme: scheme.id, method: nil, breaks: plan.job.classify.breaks, methodBreaks: nil, histogramResolution: nil)
        }
        let k = scheme.classCount
        let valid = stats.classCounts.dropFirst().reduce(0, +)
        let (methodBreaks, thresholds) = try breaks(method, histogram: histogram, sum: stats.indexSum,
                                                    sumSquares: stats.indexSumSquares, valid: valid, classes: k)
        let thresholdsF = thresholds.map(Float.init)
        var counts = [Int](repeating: 0, count: k + 1)
        let indexDS = try Dataset(open: indexPath, flags: [.raster, .update])
        let classDS = try Dataset(open: classPath, flags: [.raster, .update])
        let indexBand = try indexDS.band(1), classBand = try classDS.band(1)
        let memory = memoryPlan
        let blocks = plan.grid.blocks(width: memory.width, height: memory.height)
        var values = [Float](repeating: 0, count: memory.width * memory.height)
        var classes = [UInt8](repeating: 0, count: memory.width * memory.height)
        for (i, block) in blocks.enumerated() {
            let w = block.window
            let window = PixelWindow(x: w.x, y: w.y, width: w.width, height: w.height)
            let n = w.count
            try values.withUnsafeMutableBufferPointer { try indexBand.read(window, into: UnsafeMutableBufferPointer(rebasing: $0[0..<n])) }
            for p in 0..<n {
                let v = values[p]
                var c: UInt8 = 0
                if v != RiskKernel.indexNoData && v.isFinite {
                    c = 1
                    for t in thresholdsF where v >= t { c += 1 }
                }
                classes[p] = c
                counts[Int(c)] += 1
            }
            try classes.withUnsafeBufferPointer { try classBand.write(window, from: UnsafeBufferPointer(rebasing: $0[0..<n])) }
            report("classify", i + 1, blocks.count)
        }
        try classDS.close()
        try indexDS.close()
        stats.classCounts = counts
        return .init(scheme: scheme.id, method: method.rawValue, breaks: thresholds, methodBreaks: methodBreaks,
                     histogramResolution: histogram.resolution)
    }

    /// Data-driven breaks: as the method states them (upper bounds) and as the kernel applies them
    /// (class = 1 + number of thresholds ≤ index). `sum`/`sumSquares` are exact sums over the
    /// `valid` pixels (standard deviation); the others read the histogram.
    func breaks(_ method: JobSpec.ClassMethod, histogram: Histogram, sum: Double, sumSquares: Double, valid: Int,
                classes k: Int, scenario: String = "") throws -> (methodBreaks: [Double], thresholds: [Double]) {
        let methodBreaks: [Double]
        let thresholds: [Double]
        switch method {
        case .equalInterval:
            methodBreaks = histogram.equalIntervalBreaks(classes: k)
            thresholds = methodBreaks
        case .quantile:
            methodBreaks = histogram.quantileBreaks(classes: k)
            thresholds = histogram.kernelThresholds(upperBounds: methodBreaks)
        case .naturalBreaks:
            methodBreaks = histogram.naturalBreaks(classes: k)
            thresholds = histogram.kernelThresholds(upperBounds: methodBreaks)
        case .standardDeviation:
            // Exact sums over every valid pixel (not the histogram), population σ.
            let n = Double(valid)
            let mean = sum / n
            let deviation = (max(0, sumSquares / n - mean * mean)).squareRoot()
            methodBreaks = deviation > 0 ? ModelKernel.standardDeviationBreaks(mean: mean, deviation: deviation, classes: k) : []
            thresholds = methodBreaks
        }
        guard thresholds.count == k - 1, zip(thresholds, thresholds.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw RunError(.dataError, "\(plan.job.file): classify\(scenario): \(method.rawValue) cannot make \(k) distinct classes from this index (breaks \(methodBreaks.map(formatNumber).joined(separator: ", "))); too few distinct values — use fixed breaks or another method")
        }
        return (methodBreaks, thresholds)
    }

    // MARK: products

    /// The COG tile edge: the block size up to 1024 px. GDAL's COG driver builds overviews in
    /// chunks of a tile row, so 4096-px tiles alone take ~300 MiB for an 8192-px-wide Float32
    /// raster (measured by scripts/bench-memory), above the memory budget; tiles past 1024 px
    /// also serve no COG reader better.
    var cogTileSize: Int { min(plan.blockSize, 1024) }

    func writeCOG(from source: String, to destination: String, resampling: String, predictor: String?) throws {
        let src = try Dataset(open: source, flags: [.raster])
        try describeBand(of: src, for: destination)
        let cogThreads = MemoryPlan.cogThreads(blockSize: cogTileSize, bytesPerPixel: (try src.band(1)).pixelType == .byte ? 1 : 4,
                                               threads: options.threads, budget: options.maxMemory, cacheBytes: options.cacheBytes)
        var args = ["-of", "COG", "-co", "COMPRESS=DEFLATE", "-co", "BLOCKSIZE=\(cogTileSize)",
                    "-co", "OVERVIEW_RESAMPLING=\(resampling)", "-co", "NUM_THREADS=\(cogThreads)"]
            + tiffTagArguments(for: destination)
        if let predictor { args += ["-co", "PREDICTOR=\(predictor)"] }
        do {
            let out = try Utilities.translate(src, to: destination, arguments: args)
            try out.close()
        } catch {
            throw RunError(.ioError, "\(destination): cannot write the Cloud-Optimized GeoTIFF: \((error as? GDALError)?.message ?? "\(error)")")
        }
    }
}

/// Calls `body` with buffer pointers to every array, keeping them alive.
func withUnsafeInputs<R>(_ arrays: [[Float]], _ body: ([UnsafeBufferPointer<Float>]) throws -> R) rethrows -> R {
    var pointers: [UnsafeBufferPointer<Float>] = []
    pointers.reserveCapacity(arrays.count)
    func recurse(_ i: Int) throws -> R {
        if i == arrays.count { return try body(pointers) }
        return try arrays[i].withUnsafeBufferPointer { p in
            pointers.append(p)
            return try recurse(i + 1)
        }
    }
    return try recurse(0)
}

/// Values that are neither NaN nor ±inf.
func countFinite(_ values: UnsafeBufferPointer<Float>) -> Int {
    var count = 0
    for v in values where v.isFinite { count += 1 }
    return count
}
