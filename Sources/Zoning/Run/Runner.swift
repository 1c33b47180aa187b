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
    /// Read layers through the fast paths where they equal GDAL's tools (`LayerReading.swift`);
    /// false aligns every layer with gdalwarp / gdal_rasterize into the staging folder
    /// (`--align-with-gdal`, a cross-check: the products are identical).
    public var alignFastPaths = true

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
            let previousCache = GDAL.cacheMax
            GDAL.setCacheMax(bytes: options.cacheBytes)
            defer { GDAL.setCacheMax(bytes: previousCache) }
            let manifest = try ConfigOptions.withOptions(plan.job.gdalConfig) {
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

    /// The stages in order: `alignStage` (scan and align) → `resolveModel` (statistics passes) →
    /// `stream` (the main pass) → `classify` → zones and statistics → prevention → sensitivity →
    /// `writeCOG` → maps → run record → manifest. A shard of a sharded run (Shards.swift) runs the
    /// first three over its band; its merge runs this function with `shards`, `mergeShards`
    /// standing for the first two and the main pass.
    private func execute(staging: String, runID: String, started: Date, inputs: [Manifest.Input],
                         job: Manifest.JobInfo, shards: ShardSet? = nil) throws -> Manifest {
        var timings: [String: Double] = [:]
        var clock = Date()
        func lap(_ name: String) {
            let now = Date()
            timings[name] = (now.timeIntervalSince(clock) * 1000).rounded() / 1000
            logger.info("stage done", metadata: ["job": "\(plan.job.name)", "stage": "\(name)", "seconds": "\(timings[name]!)"])
            MemoryPlan.returnFreedMemory()
            clock = now
        }
        let work = (staging as NSString).appendingPathComponent(".work")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)

        timings["hash_inputs"] = (clock.timeIntervalSince(started) * 1000).rounded() / 1000
        var inputs = inputs

        // 1. Align every layer onto the grid (LayerReading.swift) and check the sources: a raster
        //    the warper aligns is scanned here (an all-nodata one refused before any computing); a
        //    raster read as a shifted window is counted while the passes read it (refused after
        //    the first pass that reads all its blocks).
        let (aligned, maskLayer) = try alignStage(inputs: &inputs, work: work)
        lap("align")

        let products0 = plan.job.outputs.products
        // The index and class COGs are written as the blocks come (StreamedCOG.swift); the later
        // stages read the class COG and an uncompressed index (when one reads it).
        let indexCOG = products0.contains(.riskIndex) ? streamedPath(.index, staging: staging, work: work) : nil
        let indexRaw = indexTemporary(work: work)
        let indexTmp = indexRaw ?? indexCOG ?? ""
        let classTmp = streamedPath(.classes, staging: staging, work: work)
        var modelInfo: Manifest.ModelInfo
        var townships: (Townships, String)?
        var sensitivity: (SensitivitySetup, SensitivityAccumulator)?
        var stats: StreamStats
        if let shards {
            // The merge of a sharded run: the shards did steps 2 and 3 over their bands (Shards.swift).
            modelInfo = shards.model
            townships = try townshipsStage(work: work)
            stats = try mergeShards(shards, indexPath: indexCOG, indexTemporary: indexRaw, classPath: classTmp, work: work)
            for (l, t) in stats.sourceCounts.sorted(by: { $0.key < $1.key }) where l < plan.sources.count {
                inputs[l].statistics = t.statistics
                if t.valid == 0 { throw noValidPixels(plan.sources[l], t) }
            }
        } else {
            // 2. The model: data-driven ranges and weights (statistics passes), the kernel.
            let (kernel, resolvedModel, resolution) = try checkingSources(aligned) { try resolveModel(aligned: aligned, mask: maskLayer) }
            modelInfo = resolvedModel
            if modelInfo.statisticsPasses > 0 { lap("statistics") }

            // The townships on the grid (statistics, zones, and the sensitivity tallies of the main pass).
            townships = try townshipsStage(work: work)
            // Weight scenarios (sensitivity:) run inside the main pass.
            if let spec = plan.job.sensitivity, products0.contains(.sensitivity) {
                let setup = try prepareSensitivity(spec, resolution: resolution, towns: townships?.0.names.count ?? 0)
                sensitivity = (setup, try SensitivityAccumulator(runner: self, scenarios: setup.scenarioCount, staging: staging, work: work))
            }

            // 3. Stream blocks through the kernel; classify.
            stats = try checkingSources(aligned) {
                try stream(aligned: aligned, mask: maskLayer, kernel: kernel, indexPath: indexCOG, indexTemporary: indexRaw,
                           classPath: classTmp, work: work, sensitivity: sensitivity, townshipPath: townships?.1)
            }
            for (l, layer) in aligned.enumerated() {
                guard let t = layer.tally?.total else { continue }
                inputs[l].statistics = t.statistics
            }
            if let (setup, accumulator) = sensitivity, setup.classifiers != nil { try accumulator.finishCOGs(self) }
        }
        modelInfo.nonFiniteResults = stats.counters.nonFinite
        if stats.counters.outOfRange > 0 {
            throw RunError(.dataError, "\(plan.job.file): combine: the risk index leaves 0..1 at \(stats.counters.outOfRange) pixels (from \(formatNumber(Double(stats.counters.minimum))) to \(formatNumber(Double(stats.counters.maximum)))); the model must give values in 0..1 — rescale it or wrap the expression in clamp(…, 0, 1)")
        }
        let classification = try classify(&stats, indexPath: indexTmp, classPath: classTmp, work: work)
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
                features = try withFixedGeoPackageDate {
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
                                                 mask: maskLayer, previousClassPath: previousClasses, work: work)
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
            sensitivityInfo = try finishSensitivity(setup, accumulator: accumulator, aligned: aligned, mask: maskLayer,
                                                    classPath: classTmp, townships: townships, staging: staging)
            lap("sensitivity")
        }

        // 4. Cloud-Optimized GeoTIFFs: the index and class COGs are already in the staging folder
        //    (written by the main and classify passes); their colour tables and attribute tables.
        let scheme = plan.job.classify.scheme
        report("write", 0, plan.job.outputs.products.count)
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

    /// Stage 1 (scan and align): every source checked (a raster's statistics into `inputs`) and
    /// aligned onto the grid; the aligned layers in the plan's order and the aligned mask.
    func alignStage(inputs: inout [Manifest.Input], work: String) throws -> (aligned: [AlignedLayer], mask: AlignedLayer?) {
        var all = plan.sources
        if let mask = plan.mask { all.append(mask) }
        var aligned: [AlignedLayer] = []
        for (i, source) in all.enumerated() {
            report("align", i, all.count)
            let layer = try alignLayer(source, work: work)
            if source.kind == .raster, layer.tally == nil {
                inputs[i].statistics = try scanSource(source).statistics
            }
            inputs[i].alignment = layer.alignment.rawValue
            aligned.append(layer)
        }
        report("align", all.count, all.count)
        let mask = plan.mask == nil ? nil : aligned.removeLast()
        return (aligned, mask)
    }

    /// The townships on the grid, when statistics, zones or the sensitivity tallies need them.
    func townshipsStage(work: String) throws -> (Townships, String)? {
        let products = plan.job.outputs.products
        guard let t = plan.job.zoning?.townships,
              products.contains(.statistics) || products.contains(.riskZones) || products.contains(.sensitivity) else { return nil }
        return try prepareTownships(t, work: work)
    }

    func report(_ stage: String, _ done: Int, _ total: Int) {
        options.progress?(Progress(stage: stage, done: done, total: total))
    }
}
