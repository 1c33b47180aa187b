import COGWriter
import Foundation
import GDALKit
import Logging
import RasterKernel

#if canImport(Glibc)
import Glibc
#endif

/// One shard of a sharded run: shard `index` of `count`, counted from 0 like `SLURM_ARRAY_TASK_ID`.
///
/// A sharded run cuts the grid into `count` bands of whole block rows. Each shard (any process, on
/// any machine sharing the output folder) aligns the sources, runs the statistics passes over the
/// whole grid (min-max ranges and entropy weights need every pixel; each shard computes them
/// alike) and the main pass over its band, and leaves in
/// `<out>/.staging-<run-id>-shards/shard-<i>-of-<n>/` the index and class rasters of its band
/// (full-grid sparse GeoTIFFs: only its band's tiles exist) and `shard.json`: per unit Σ index and
/// Σ index², the class counts, the histogram, the kernel's counters, per-layer valid pixels, the
/// model as applied and the checksums of the inputs it read. The merge (`Runner.merge`) holds the
/// output lock, checks that every shard finished on the same job and inputs, assembles the two
/// rasters, adds the per-unit sums in unit order (exactly as one process does) and runs the rest
/// of the run — breaks, classes, zones, statistics, COGs, maps, manifest, publishing — so its
/// products are those of a single-process run.
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    public let index: Int
    public let count: Int

    public init(index: Int, count: Int) throws {
        guard count >= 1, index >= 0, index < count else {
            throw RunError(.usage, "--shard \(index)/\(count): expected I/N with 0 ≤ I < N (I counts from 0, like SLURM_ARRAY_TASK_ID)")
        }
        self.index = index
        self.count = count
    }

    /// "I/N".
    public init(argument: String) throws {
        let parts = argument.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else {
            throw RunError(.usage, "--shard \(argument): expected I/N, e.g. 0/4 (I counts from 0, like SLURM_ARRAY_TASK_ID)")
        }
        try self.init(index: i, count: n)
    }

    public var description: String { "\(index)/\(count)" }
    var folderName: String { "shard-\(index)-of-\(count)" }

    /// Test hook: the shard whose index this environment variable names fails after computing its band.
    static let failureVariable = "HAZARD_ZONING_TEST_FAIL_SHARD"

    /// The staging folder of a sharded run's shards, inside the output folder (so on the shared
    /// file system, and removed like any staging folder by the next run that takes the lock).
    public static func folderName(runID: String) -> String { ".staging-\(runID)-shards" }

    static func checkRunID(_ runID: String) throws {
        guard !runID.isEmpty, runID.count <= 100, !runID.hasPrefix("."), runID != "latest",
              runID.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }), runID.allSatisfy(\.isASCII) else {
            throw RunError(.usage, "--run-id \(runID): expected letters, digits, '-', '_' or '.' (not starting with '.'), e.g. 20260101T020000Z")
        }
    }
}

/// What a shard leaves for the merge (`shard.json`). Floating-point values are stored as their
/// bit patterns, so the merge adds exactly the numbers the shard computed.
struct ShardRecord: Codable, Sendable {
    var runId: String
    var shard: Int
    var shards: Int
    var tool: String
    var gdal: String
    var jobHash: String
    /// Grid width, height, block size; the unit of the main pass (width, height).
    var grid: [Int]
    var unit: [Int]
    /// The shard's units: lower..<upper, as indices of the grid's units.
    var units: [Int]
    /// Every input file read (definitions and data) → SHA-256.
    var inputs: [String: String]
    var model: Manifest.ModelInfo
    var unitSums: [UInt64]
    var unitSquares: [UInt64]
    var classCounts: [Int]
    var layerValid: [Int]
    var histogramResolution: Double?
    var histogram: [Int]?
    var nonFinite: Int
    var outOfRange: Int
    var kernelMinimum: UInt32
    var kernelMaximum: UInt32
    var indexMinimum: UInt32
    var indexMaximum: UInt32
    /// Per layer read as a shifted window: its source counts (valid, nodata, NaN, ±inf) over the
    /// band's blocks; empty for other layers (the merge scans those itself).
    var sourceCounts: [[Int]]? = nil

    var unitRange: Range<Int> { units[0]..<units[1] }

    /// Non-finite numbers of the model (none expected) survive as strings rather than failing the shard.
    static var encoder: JSONEncoder {
        let e = JSONEncoder()
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }
    static var decoder: JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }
}

/// The finished shards of a sharded run, read by its merge.
struct ShardSet {
    let runID: String
    /// The shards' folder (its name, in the output folder) and its path.
    let folder: String
    let path: String
    let records: [ShardRecord]
    var model: Manifest.ModelInfo { records[0].model }

    func shardFolder(_ record: ShardRecord) -> String {
        (path as NSString).appendingPathComponent("shard-\(record.shard)-of-\(record.shards)")
    }

    /// Reads and checks every shard's record: all shards 0..<N present and finished, on this job,
    /// tool and grid, from the same input bytes the merge hashed, covering every unit once.
    static func load(_ runner: Runner, runID: String, inputs: [Manifest.Input], job: Manifest.JobInfo) throws -> ShardSet {
        try Shard.checkRunID(runID)
        try Runner.checkShardable(runner.plan)
        let out = runner.plan.outputDirectory
        let folder = Shard.folderName(runID: runID)
        let path = (out as NSString).appendingPathComponent(folder)
        let rerun = "run every shard again (`hazard-zoning run JOB --shard I/N --run-id \(runID)`) or submit the run again"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        var found: [Int: Int] = [:]  // index → count
        for name in names where name.hasPrefix("shard-") {
            let parts = name.dropFirst("shard-".count).components(separatedBy: "-of-")
            if parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) { found[i] = n }
        }
        guard let count = found.values.max() else {
            throw RunError(.noInput, "\(path): no finished shard of run \(runID) (nothing was published); \(rerun)")
        }
        guard found.values.allSatisfy({ $0 == count }) else {
            throw RunError(.dataError, "\(path): shards of different sharded runs (\(Set(found.values).sorted().map(String.init).joined(separator: ", ")) shards) share run id \(runID); nothing was published; \(rerun)")
        }
        let missing = (0..<count).filter { found[$0] == nil }
        guard missing.isEmpty else {
            throw RunError(.noInput, "\(path): shard\(missing.count == 1 ? "" : "s") \(missing.map { "\($0)/\(count)" }.joined(separator: ", ")) of run \(runID) did not finish (failed, killed or not run); nothing was published; \(rerun)")
        }
        var known: [String: String] = [:]
        for input in inputs { for f in input.files + [input.definition] { known[f.path] = f.sha256 } }
        let plan = runner.plan
        var records: [ShardRecord] = []
        var next = 0
        for i in 0..<count {
            let file = (path as NSString).appendingPathComponent("shard-\(i)-of-\(count)/shard.json")
            guard let data = FileManager.default.contents(atPath: file) else {
                throw RunError(.noInput, "\(file): cannot be read; \(rerun)")
            }
            let record: ShardRecord
            do { record = try ShardRecord.decoder.decode(ShardRecord.self, from: data) } catch {
                throw RunError(.dataError, "\(file): not a shard record: \(error); \(rerun)")
            }
            guard record.runId == runID, record.shard == i, record.shards == count else {
                throw RunError(.dataError, "\(file): the record of shard \(record.shard)/\(record.shards) of run \(record.runId), expected \(i)/\(count) of \(runID); \(rerun)")
            }
            guard record.tool == ToolInfo.version, record.gdal == GDAL.version else {
                throw RunError(.dataError, "\(file): computed by hazard-zoning \(record.tool) (GDAL \(record.gdal)), the merge is \(ToolInfo.version) (GDAL \(GDAL.version)); every part of a sharded run must be the same build; \(rerun)")
            }
            guard record.jobHash == job.hash else {
                throw RunError(.dataError, "\(file): shard \(i)/\(count) ran another version of the job or its layer definitions (\(plan.job.file) changed since); nothing was published; \(rerun)")
            }
            guard record.grid == [plan.grid.width, plan.grid.height, plan.blockSize] else {
                throw RunError(.dataError, "\(file): shard \(i)/\(count) computed a \(record.grid[0])×\(record.grid[1]) grid in \(record.grid[2])-px blocks, the job's is \(plan.grid.width)×\(plan.grid.height) in \(plan.blockSize); \(rerun)")
            }
            guard record.unit == records.first?.unit ?? record.unit, record.units[0] == next, record.units[1] >= next else {
                throw RunError(.dataError, "\(file): shard \(i)/\(count) computed units \(record.units[0])..<\(record.units[1]) in \(record.unit[0])×\(record.unit[1]) px, not the band that follows the previous shard's (every shard must run with the same --max-memory and --cache-mb); \(rerun)")
            }
            for (p, sha) in record.inputs.sorted(by: { $0.key < $1.key }) where known[p] != sha {
                throw RunError(.tempFail, "\(p): input changed during the sharded run (shard \(i)/\(count) read other bytes than the merge finds); nothing was published; \(rerun)")
            }
            if i > 0, record.model != records[0].model {
                throw RunError(.software, "\(file): shard \(i)/\(count) resolved another model than shard 0 (data-driven ranges or weights differ); \(rerun)")
            }
            next = record.units[1]
            records.append(record)
        }
        let unitCount = plan.grid.blocks(width: records[0].unit[0], height: records[0].unit[1]).count
        guard next == unitCount else {
            throw RunError(.dataError, "\(path): the shards cover units 0..<\(next) of \(unitCount); \(rerun)")
        }
        return ShardSet(runID: runID, folder: folder, path: path, records: records)
    }

    /// Removes the shards' folder (after the merge published the run).
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

extension Runner {

    /// Weight scenarios run inside the main pass and keep per-pixel tallies over the whole grid:
    /// not sharded (yet); such jobs run in one process.
    public static func checkShardable(_ plan: Plan) throws {
        if plan.job.sensitivity != nil, plan.job.outputs.products.contains(.sensitivity) {
            throw RunError(.usage, "\(plan.job.file): sensitivity: weight scenarios run inside the main pass over the whole grid and cannot be sharded; run this job without --shard/--shards (run or submit without --shards)")
        }
    }

    /// The units of the main pass that shard `shard` computes: the grid's block rows cut into
    /// `shard.count` bands as even as whole block rows allow.
    func shardUnits(_ shard: Shard) throws -> Range<Int> {
        let memory = memoryPlan
        let units = plan.grid.blocks(width: memory.width, height: memory.height)
        let blockRows = (plan.grid.height + plan.blockSize - 1) / plan.blockSize
        guard shard.count <= blockRows else {
            throw RunError(.usage, "--shard \(shard): the grid (\(plan.grid.width)×\(plan.grid.height) px) has \(blockRows) block row\(blockRows == 1 ? "" : "s") of \(plan.blockSize) px; use at most \(blockRows) shard\(blockRows == 1 ? "" : "s")")
        }
        let first = shard.index * blockRows / shard.count, end = (shard.index + 1) * blockRows / shard.count
        let lower = units.firstIndex { $0.window.y / plan.blockSize >= first } ?? units.count
        let upper = units.firstIndex { $0.window.y / plan.blockSize >= end } ?? units.count
        return lower..<upper
    }

    /// Computes one shard of the sharded run `runID` (see `Shard`). Takes the output lock shared:
    /// shards run side by side, never while a run of the same outputs holds it to publish (exit
    /// 75), and no run can publish (and remove their folder) while they compute. Returns the
    /// shard's folder.
    public func runShard(_ shard: Shard, runID: String) throws -> String {
        GDAL.ensureRegistered()
        return try NetworkPolicy.scope(allowNetwork: plan.job.allowNetwork) { try computeShard(shard, runID: runID) }
    }

    private func computeShard(_ shard: Shard, runID: String) throws -> String {
        try Shard.checkRunID(runID)
        try Runner.checkShardable(plan)
        let units = try shardUnits(shard)
        let publisher = Publisher(outputDirectory: plan.outputDirectory)
        let lock = try OutputLock(directory: plan.outputDirectory, wait: options.lockWait, shared: true)
        defer { lock.release() }
        _ = try publisher.checkedLatestRun()
        let out = plan.outputDirectory
        if FileManager.default.fileExists(atPath: (out as NSString).appendingPathComponent(runID)) {
            throw RunError(.cantCreate, "\(out)/\(runID): a run with this id is already published; give the sharded run a new --run-id")
        }
        let folder = (out as NSString).appendingPathComponent(Shard.folderName(runID: runID))
        let final = (folder as NSString).appendingPathComponent(shard.folderName)
        let temporary = (folder as NSString).appendingPathComponent(".\(shard.folderName)-\(getpid())")
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try? FileManager.default.removeItem(atPath: temporary)
            try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: false)
        } catch {
            throw RunError(.cantCreate, "\(folder): cannot create the shard's staging folder: \(error.localizedDescription)")
        }
        do {
            let previousCache = GDAL.cacheMax
            GDAL.setCacheMax(bytes: options.cacheBytes)
            defer { GDAL.setCacheMax(bytes: previousCache) }
            let record = try ConfigOptions.withOptions(plan.job.gdalConfig) {
                try computeBand(shard, units: units, runID: runID, folder: temporary, previous: publisher.latestManifest())
            }
            let data = try ShardRecord.encoder.encode(record)
            try write(data, to: (temporary as NSString).appendingPathComponent("shard.json"))
            // A shard run again (resubmitted) replaces its earlier result.
            try? FileManager.default.removeItem(atPath: final)
            publisher.syncTree(temporary)
            guard rename(temporary, final) == 0 else {
                throw RunError(.cantCreate, "\(final): cannot finish the shard: \(String(cString: strerror(errno)))")
            }
            publisher.syncDirectory(folder)
            logger.info("shard done", metadata: ["job": "\(plan.job.name)", "run": "\(runID)", "shard": "\(shard)",
                                                 "units": "\(units.lowerBound)..<\(units.upperBound)"])
            return final
        } catch {
            let failure = writeFailure(error)
            try? FileManager.default.removeItem(atPath: temporary)
            throw failure
        }
    }

    /// Stages 1 and 2 for one band: scan and align, the model (statistics passes over the whole
    /// grid), the main pass over the band's units.
    private func computeBand(_ shard: Shard, units: Range<Int>, runID: String, folder: String,
                             previous: Manifest?) throws -> ShardRecord {
        let log = InputLog()
        var inputs = try describeInputs(previous: previous, log: log)
        let job = jobInfo()
        let work = (folder as NSString).appendingPathComponent(".work")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let (aligned, mask) = try alignStage(inputs: &inputs, work: work)
        let (kernel, model, _) = try resolveModel(aligned: aligned, mask: mask)
        let rasters = (index: (folder as NSString).appendingPathComponent("risk_index.tif"),
                       classes: (folder as NSString).appendingPathComponent("risk_class.tif"))
        let stats = try stream(aligned: aligned, mask: mask, kernel: kernel, indexPath: nil, indexTemporary: nil,
                               classPath: rasters.classes, work: work, units: units, shardRasters: rasters)
        if ProcessInfo.processInfo.environment[Shard.failureVariable] == "\(shard.index)" {
            throw RunError(.software, "shard \(shard) of run \(runID): injected failure (\(Shard.failureVariable))")
        }
        try log.verify()
        try FileManager.default.removeItem(atPath: work)
        var files: [String: String] = [:]
        for input in inputs { for f in input.files + [input.definition] { files[f.path] = f.sha256 } }
        let memory = memoryPlan
        let keys = plan.grid.blocks(width: memory.width, height: memory.height)[units].map { b in
            SourceTally.key(PixelWindow(x: b.window.x, y: b.window.y, width: b.window.width, height: b.window.height))
        }
        let sourceCounts: [[Int]] = try aligned.map { layer in
            guard let tally = layer.tally else { return [] }
            guard let c = tally.counts(keys: keys) else {
                throw RunError(.software, "shard \(shard): a window-read layer was not read over the whole band")
            }
            return [c.valid, c.nodata, c.nan, c.infinite]
        }
        return ShardRecord(
            runId: runID, shard: shard.index, shards: shard.count, tool: ToolInfo.version, gdal: GDAL.version, jobHash: job.hash,
            grid: [plan.grid.width, plan.grid.height, plan.blockSize], unit: [memory.width, memory.height],
            units: [units.lowerBound, units.upperBound], inputs: files, model: model,
            unitSums: stats.unitSums[units].map(\.bitPattern), unitSquares: stats.unitSquares[units].map(\.bitPattern),
            classCounts: stats.classCounts, layerValid: stats.layerValid,
            histogramResolution: stats.histogram?.resolution, histogram: stats.histogram?.binCounts,
            nonFinite: stats.counters.nonFinite, outOfRange: stats.counters.outOfRange,
            kernelMinimum: stats.counters.minimum.bitPattern, kernelMaximum: stats.counters.maximum.bitPattern,
            indexMinimum: stats.indexMin.bitPattern, indexMaximum: stats.indexMax.bitPattern, sourceCounts: sourceCounts)
    }

    /// Merges a sharded run (`runID`) and publishes it: the rest of `run` on the shards' results,
    /// with the output lock held (exclusively). Removes the shards' folder once published.
    public func merge(runID: String) throws -> RunResult {
        GDAL.ensureRegistered()
        return try NetworkPolicy.scope(allowNetwork: plan.job.allowNetwork) { try runPlan(mergeRunID: runID) }
    }

    /// A VRT of the grid whose pixels are the shards' `file` (each written over its own band of
    /// units): one source per row of units of each shard, at the same place on the grid.
    func shardMosaic(_ shards: ShardSet, units: [Block], file: String, type: String) -> String {
        func escape(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        }
        var sources = ""
        for record in shards.records {
            let path = escape((shards.shardFolder(record) as NSString).appendingPathComponent(file))
            var rows: [Int: (x0: Int, x1: Int, height: Int)] = [:]
            for u in record.unitRange {
                let w = units[u].window
                let r = rows[w.y] ?? (w.x, w.x + w.width, w.height)
                rows[w.y] = (min(r.x0, w.x), max(r.x1, w.x + w.width), max(r.height, w.height))
            }
            for (y, r) in rows.sorted(by: { $0.key < $1.key }) {
                let rect = "xOff=\"\(r.x0)\" yOff=\"\(y)\" xSize=\"\(r.x1 - r.x0)\" ySize=\"\(r.height)\""
                sources += "    <SimpleSource><SourceFilename relativeToVRT=\"0\">\(path)</SourceFilename><SourceBand>1</SourceBand>"
                    + "<SrcRect \(rect)/><DstRect \(rect)/></SimpleSource>\n"
            }
        }
        return "<VRTDataset rasterXSize=\"\(plan.grid.width)\" rasterYSize=\"\(plan.grid.height)\">\n"
            + "  <VRTRasterBand dataType=\"\(type)\" band=\"1\">\n\(sources)  </VRTRasterBand>\n</VRTDataset>\n"
    }

    /// The main pass's results from the shards: their index and class rasters streamed into the
    /// products' writers (through `shardMosaic`), and the counts and sums added as one process
    /// adds them (per-unit sums in unit order).
    func mergeShards(_ shards: ShardSet, indexPath: String?, indexTemporary: String?, classPath: String,
                     work: String) throws -> StreamStats {
        let first = shards.records[0]
        let units = plan.grid.blocks(width: first.unit[0], height: first.unit[1])
        // The bands' pixels into the same writers the main pass of one process uses, on the run's
        // workers (`streamBlocks`, the merging process's own memory plan: the COGs' bytes depend
        // on the pixels only, not on the windows or their order). The shards' rasters are read
        // through one VRT per product that places each shard's units where they lie on the grid.
        let (indexWriter, indexRaw, classWriter, _) = try mainPassWriters(
            indexPath: indexPath, indexTemporary: indexTemporary, classPath: classPath, work: work, shardRasters: nil)
        let withIndex = indexWriter != nil || indexRaw != nil
        var rasters: [(layer: AlignedLayer, name: String)] = []
        do {
            for (wanted, file, type) in [(withIndex, "risk_index.tif", "Float32"), (classWriter != nil, "risk_class.tif", "Byte")] where wanted {
                let vrt = (work as NSString).appendingPathComponent("shards-\((file as NSString).deletingPathExtension).vrt")
                try shardMosaic(shards, units: units, file: file, type: type).write(toFile: vrt, atomically: true, encoding: .utf8)
                rasters.append((.file(vrt), "\(shards.path) (the shards' \(file))"))
            }
        } catch {
            throw RunError(.ioError, "\(work): cannot write the shards' mosaic: \(error)")
        }
        var merged = 0
        try streamBlocks(rasters: rasters, mask: nil, state: {}) { _, block, buffers, _ in
            if withIndex {
                let values = Array(buffers[0])
                try indexWriter?.write(block, values)
                try indexRaw?.write(block, values)
            }
            if let classWriter {
                // Class values 0…255 read as Float32 are exact.
                try classWriter.write(block, buffers[withIndex ? 1 : 0].map { UInt8($0) })
            }
        } consume: { _, _ in
            merged += 1
            if merged % 64 == 0 { report("merge", merged, units.count) }
        }
        if let indexWriter { try finishCOG(indexWriter) }
        if let classWriter { try finishCOG(classWriter) }

        let classCount = plan.job.classify.scheme.classCount
        var stats = StreamStats(histogram: plan.job.classify.method == nil ? nil : Histogram(),
                                layerValid: [Int](repeating: 0, count: plan.sources.count),
                                classCounts: [Int](repeating: 0, count: classCount + 1), indexSum: 0,
                                indexMin: .infinity, indexMax: -.infinity)
        var sums = [Double](repeating: 0, count: units.count), squares = sums
        for record in shards.records {
            guard record.classCounts.count == stats.classCounts.count, record.layerValid.count == stats.layerValid.count,
                  record.unitSums.count == record.unitRange.count, record.unitSquares.count == record.unitRange.count else {
                throw RunError(.dataError, "\(shards.shardFolder(record))/shard.json: counts of another job shape; run the shards again")
            }
            for c in stats.classCounts.indices { stats.classCounts[c] += record.classCounts[c] }
            for l in stats.layerValid.indices { stats.layerValid[l] += record.layerValid[l] }
            if stats.histogram != nil {
                guard let resolution = record.histogramResolution, let bins = record.histogram,
                      let h = Histogram(resolution: resolution, binCounts: bins), h.resolution == stats.histogram!.resolution else {
                    throw RunError(.dataError, "\(shards.shardFolder(record))/shard.json: no histogram of the job's resolution; run the shards again")
                }
                stats.histogram!.merge(h)
            }
            var counters = ModelKernel.Counters()
            counters.nonFinite = record.nonFinite
            counters.outOfRange = record.outOfRange
            counters.minimum = Float(bitPattern: record.kernelMinimum)
            counters.maximum = Float(bitPattern: record.kernelMaximum)
            stats.counters.merge(counters)
            stats.indexMin = min(stats.indexMin, Float(bitPattern: record.indexMinimum))
            stats.indexMax = max(stats.indexMax, Float(bitPattern: record.indexMaximum))
            for (k, u) in record.unitRange.enumerated() {
                sums[u] = Double(bitPattern: record.unitSums[k])
                squares[u] = Double(bitPattern: record.unitSquares[k])
            }
        }
        // Window-read layers: their source counts, band by band.
        for record in shards.records {
            for (l, c) in (record.sourceCounts ?? []).enumerated() where c.count == 4 {
                stats.sourceCounts[l, default: .init()].add(.init(valid: c[0], nodata: c[1], nan: c[2], infinite: c[3]))
            }
        }
        // In unit order, as `stream` adds them in one process.
        stats.indexSum = sums.reduce(0, +)
        stats.indexSumSquares = squares.reduce(0, +)
        stats.unitSums = sums
        stats.unitSquares = squares
        return stats
    }
}

extension Operations {
    /// `hazard-zoning run JOB --shard I/N --run-id ID`: one shard of a sharded run.
    public static func runShard(_ path: String, shard: Shard, runID: String, layers: String? = nil, output: String? = nil,
                                options: RunOptions, logger: Logger = Logger(label: "hazard-zoning")) throws -> String {
        let spec = try JobLoader(layersDirectory: layers).load(path)
        let plan = try Planner().resolve(spec, outputDirectory: output)
        return try Runner(plan: plan, options: options, logger: logger).runShard(shard, runID: runID)
    }

    /// `hazard-zoning merge JOB --run-id ID`: merges the shards of a sharded run and publishes it.
    public static func merge(_ path: String, runID: String, layers: String? = nil, output: String? = nil,
                             options: RunOptions, logger: Logger = Logger(label: "hazard-zoning")) throws -> RunResult {
        let spec = try JobLoader(layersDirectory: layers).load(path)
        let plan = try Planner().resolve(spec, outputDirectory: output)
        return try Runner(plan: plan, options: options, logger: logger).merge(runID: runID)
    }
}
