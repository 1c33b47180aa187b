import COGWriter
import Foundation
import FilePaths
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
/// model as applied, the checksums of the inputs it read and the SHA-256 of its two rasters and of
/// the record itself. The merge (`Runner.merge`) holds the output lock, checks those checksums
/// (a raster replaced or a count edited since is refused, nothing published), checks that every
/// shard finished on the same job and inputs, assembles the two
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


    /// The staging folder of a sharded run's shards, inside the output folder (so on the shared
    /// file system, and removed like any staging folder by the next run that takes the lock).
    public static func folderName(runID: String) -> String { ".staging-\(runID)-shards" }

    static func checkRunID(_ runID: String) throws {
        guard Confinement.isRunID(runID) else {
            throw RunError(.usage, "--run-id \(runID): expected letters, digits, '-', '_' or '.' (not starting with '.'), e.g. 20260101T020000Z")
        }
    }
}

/// Where a shard's main pass writes: uncompressed index and class rasters of the whole grid
/// holding its band's tiles only.
struct ShardRasters: Sendable {
    let index: String
    let classes: String
}

/// The statistics passes of a sharded run, computed once (`run --shard-statistics`, the first job
/// a sharded submission runs) into `statistics.json` of the shards' folder: the min-max ranges and
/// entropy weights taken from the data and the model as applied. Every shard that finds it
/// compiles its kernel from it instead of running the passes over the whole grid itself (N× their
/// cost for N shards); one that does not find it computes them, alike. Floating-point values are
/// stored as their bit patterns.
struct ShardStatistics: Codable, Sendable {
    static let file = "statistics.json"

    var runId: String
    var tool: String
    var gdal: String
    var jobHash: String
    var model: Manifest.ModelInfo
    /// Per `min-max: data` layer key: [minimum, maximum] as bit patterns.
    var ranges: [String: [UInt64]]
    /// Per entropy node: its weights as computed.
    var entropy: [String: EntropyWeights]

    init(runID: String, jobHash: String, model: Manifest.ModelInfo, resolution: ModelResolution) {
        runId = runID
        tool = ToolInfo.version
        gdal = GDAL.version
        self.jobHash = jobHash
        self.model = model
        ranges = resolution.ranges.mapValues { [$0.minimum.bitPattern, $0.maximum.bitPattern] }
        entropy = resolution.entropy
    }

    var resolution: ModelResolution {
        var r = ModelResolution()
        r.ranges = ranges.mapValues { (Double(bitPattern: $0[0]), Double(bitPattern: $0[1])) }
        r.entropy = entropy
        return r
    }

    /// The statistics in the shards' folder `folder`, nil when there are none; an error when they
    /// are of another run, job or tool.
    static func load(folder: String, runID: String, jobHash: String) throws -> ShardStatistics? {
        let path = folder.appendingComponent(file)
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let again = "run `hazard-zoning run JOB --shard-statistics --run-id \(runID)` again, or remove the file"
        guard let stored = try? ShardRecord.decoder.decode(ShardStatistics.self, from: data),
              stored.ranges.values.allSatisfy({ $0.count == 2 }) else {
            throw RunError(.dataError, "\(path): not the statistics of a sharded run; \(again)")
        }
        guard stored.runId == runID, stored.jobHash == jobHash, stored.tool == ToolInfo.version, stored.gdal == GDAL.version else {
            throw RunError(.dataError, "\(path): the statistics of another run, job or tool version; \(again)")
        }
        return stored
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
    /// The statistics passes this shard ran itself (0 when it read the run's `ShardStatistics`).
    var statisticsPassesRun: Int? = nil
    /// SHA-256 of each file of the shard the merge reads (`rasters`), by name: checked by the
    /// merge before it reads them, so a raster replaced since the shard wrote it is refused.
    var files: [String: String] = [:]
    /// SHA-256 of this record itself (`contentChecksum`): edited counts or sums are refused.
    var sha256 = ""

    /// The files of a shard's folder the merge reads.
    static let rasters = ["risk_index.tif", "risk_class.tif"]

    var unitRange: Range<Int> { units[0]..<units[1] }

    /// The SHA-256 of the record's content: its JSON with sorted keys and `sha256` empty.
    func contentChecksum() throws -> String {
        var copy = self
        copy.sha256 = ""
        let encoder = Self.encoder
        encoder.outputFormatting = [.sortedKeys]
        return SHA256.hex(try encoder.encode(copy))
    }

    /// The record sealed: the checksums of its folder's `rasters`, then its own.
    func sealed(folder: String) throws -> ShardRecord {
        var record = self
        for name in Self.rasters { record.files[name] = try SHA256.hex(fileAt: folder.appendingComponent(name)) }
        record.sha256 = try record.contentChecksum()
        return record
    }

    /// Refuses a record whose content is not what its shard wrote (`file`, its `shard.json`) or
    /// whose folder's rasters are not the files it recorded (replaced, edited or damaged since).
    func verify(file: String, rerun: String) throws {
        let shard = "shard \(self.shard)/\(shards)"
        guard sha256 == (try contentChecksum()) else {
            throw RunError(.dataError, "\(file): the record of \(shard) does not match its SHA-256 (edited or damaged since the shard wrote it); nothing was published; \(rerun)")
        }
        for name in Self.rasters {
            let path = file.parentPath.appendingComponent(name)
            guard let recorded = files[name] else {
                throw RunError(.dataError, "\(file): \(shard) recorded no SHA-256 of its \(name); nothing was published; \(rerun)")
            }
            guard try SHA256.hex(fileAt: path) == recorded else {
                throw RunError(.dataError, "\(path): not the file \(shard) computed (its SHA-256 differs from the one in its shard.json: replaced or damaged since); nothing was published; \(rerun)")
            }
        }
    }

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
        path.appendingComponent("shard-\(record.shard)-of-\(record.shards)")
    }

    /// Reads and checks every shard's record: all shards 0..<N present and finished, the record
    /// and its rasters as the shard wrote them (`ShardRecord.verify`), on this job, tool and grid,
    /// from the same input bytes the merge hashed, covering every unit once.
    static func load(_ runner: Runner, runID: String, inputs: [Manifest.Input], job: Manifest.JobInfo) throws -> ShardSet {
        try Shard.checkRunID(runID)
        try Runner.checkShardable(runner.plan)
        let out = runner.plan.outputDirectory
        let folder = Shard.folderName(runID: runID)
        let path = out.appendingComponent(folder)
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
            let file = path.appendingComponent("shard-\(i)-of-\(count)/shard.json")
            guard let data = FileManager.default.contents(atPath: file) else {
                throw RunError(.noInput, "\(file): cannot be read; \(rerun)")
            }
            let record: ShardRecord
            do { record = try ShardRecord.decoder.decode(ShardRecord.self, from: data) } catch {
                throw RunError(.dataError, "\(file): not a shard record: \(error); \(rerun)")
            }
            // Before any value of the record or any of its rasters is used.
            try record.verify(file: file, rerun: rerun)
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
        return try inShardsFolder(runID: runID) { folder, publisher in
            let final = folder.appendingComponent(shard.folderName)
            let temporary = try temporaryFolder(".\(shard.folderName)-\(getpid())", in: folder)
            do {
                let record = try withRunGDAL {
                    try computeBand(shard, units: units, runID: runID, folder: temporary, previous: publisher.latestManifest())
                }.sealed(folder: temporary)
                try write(try ShardRecord.encoder.encode(record), to: temporary.appendingComponent("shard.json"))
                // A shard run again (resubmitted) replaces its earlier result.
                try? FileManager.default.removeItem(atPath: final)
                try finish(temporary, as: final, in: folder, publisher: publisher)
                logger.info("shard done", metadata: ["job": "\(plan.job.name)", "run": "\(runID)", "shard": "\(shard)",
                                                     "units": "\(units.lowerBound)..<\(units.upperBound)"])
                return final
            } catch {
                let failure = writeFailure(error)
                try? FileManager.default.removeItem(atPath: temporary)
                throw failure
            }
        }
    }

    /// Computes the statistics passes of sharded run `runID` once (`ShardStatistics`) into its
    /// shards' folder, for every shard to read; returns the file. Takes the output lock shared.
    public func runShardStatistics(runID: String) throws -> String {
        GDAL.ensureRegistered()
        return try NetworkPolicy.scope(allowNetwork: plan.job.allowNetwork) {
            try Shard.checkRunID(runID)
            try Runner.checkShardable(plan)
            return try inShardsFolder(runID: runID) { folder, publisher in
                let temporary = try temporaryFolder(".statistics-\(getpid())", in: folder)
                defer { try? FileManager.default.removeItem(atPath: temporary) }
                do {
                    let log = InputLog()
                    let inputs = try describeInputs(previous: publisher.latestManifest(), log: log)
                    let files = RunFiles(staging: temporary, work: temporary.appendingComponent(".work"),
                                         indexCOG: nil, indexTemporary: nil, classRaster: "")
                    try FileManager.default.createDirectory(atPath: files.work, withIntermediateDirectories: true)
                    let context = RunContext(env: env, runID: runID, started: Date(), files: files, inputs: inputs, job: jobInfo(), shards: nil)
                    try withRunGDAL { try Pipeline(env, role: .statistics).run(context) }
                    try log.verify()
                    let model = context.required(context.model, .model, by: "shard statistics")
                    let statistics = ShardStatistics(runID: runID, jobHash: context.job.hash,
                                                     model: context.required(context.modelInfo, .model, by: "shard statistics"),
                                                     resolution: model.resolution)
                    let staged = temporary.appendingComponent(ShardStatistics.file)
                    try write(try ShardRecord.encoder.encode(statistics), to: staged)
                    let final = folder.appendingComponent(ShardStatistics.file)
                    try finish(staged, as: final, in: folder, publisher: publisher)
                    logger.info("shard statistics done", metadata: ["job": "\(plan.job.name)", "run": "\(runID)",
                                                                    "passes": "\(statistics.model.statisticsPasses)"])
                    return final
                } catch {
                    throw writeFailure(error)
                }
            }
        }
    }

    /// Runs `body` on the shards' folder of sharded run `runID` (made when missing) with the
    /// output lock held shared: shards run side by side, never while a run of the same outputs
    /// holds it to publish (exit 75), and no run can publish (and remove the folder) meanwhile.
    private func inShardsFolder<T>(runID: String, _ body: (_ folder: String, _ publisher: Publisher) throws -> T) throws -> T {
        let publisher = Publisher(outputDirectory: plan.outputDirectory)
        let lock = try OutputLock(directory: plan.outputDirectory, wait: options.lockWait, shared: true)
        defer { lock.release() }
        _ = try publisher.checkedLatestRun()
        let out = plan.outputDirectory
        if FileManager.default.fileExists(atPath: out.appendingComponent(runID)) {
            throw RunError(.cantCreate, "\(out)/\(runID): a run with this id is already published; give the sharded run a new --run-id")
        }
        let folder = out.appendingComponent(Shard.folderName(runID: runID))
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw RunError(.cantCreate, "\(folder): cannot create the shards' folder: \(error.localizedDescription)")
        }
        return try body(folder, publisher)
    }

    /// A new, empty folder `name` in the shards' folder (one left by a killed process replaced).
    private func temporaryFolder(_ name: String, in folder: String) throws -> String {
        let temporary = folder.appendingComponent(name)
        do {
            try? FileManager.default.removeItem(atPath: temporary)
            try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: false)
        } catch {
            throw RunError(.cantCreate, "\(folder): cannot create the shard's staging folder: \(error.localizedDescription)")
        }
        return temporary
    }

    /// Moves a finished file or folder into place (synced, then renamed, then the folder synced).
    private func finish(_ temporary: String, as final: String, in folder: String, publisher: Publisher) throws {
        publisher.syncTree(temporary)
        guard rename(temporary, final) == 0 else {
            throw RunError(.cantCreate, "\(final): cannot finish the shard: \(String(cString: strerror(errno)))")
        }
        publisher.syncDirectory(folder)
    }

    /// The shard's stages for one band (`Pipeline.Role.shard`): align, the model, the main pass
    /// over the band's units into the shard's rasters; what the merge reads of them.
    private func computeBand(_ shard: Shard, units: Range<Int>, runID: String, folder: String,
                             previous: Manifest?) throws -> ShardRecord {
        let log = InputLog()
        let inputs = try describeInputs(previous: previous, log: log)
        let job = jobInfo()
        let shardFiles = RunFiles(staging: folder, work: folder.appendingComponent(".work"),
                             indexCOG: nil, indexTemporary: nil, classRaster: folder.appendingComponent("risk_class.tif"))
        try FileManager.default.createDirectory(atPath: shardFiles.work, withIntermediateDirectories: true)
        let rasters = ShardRasters(index: shardFiles.staged("risk_index.tif"), classes: shardFiles.classRaster)
        let context = RunContext(env: env, runID: runID, started: Date(), files: shardFiles, inputs: inputs, job: job, shards: nil)
        context.sharedStatistics = try ShardStatistics.load(folder: folder.parentPath,
                                                            runID: runID, jobHash: job.hash)
        try Pipeline(env, role: .shard(units: units, rasters: rasters)).run(context)
        let stats = context.required(context.stats, .mainPass, by: "shard")
        let model = context.required(context.modelInfo, .model, by: "shard")
        let aligned = context.aligned
        let work = shardFiles.work
        try log.verify()
        try FileManager.default.removeItem(atPath: work)
        var files: [String: String] = [:]
        for input in context.inputs { for f in input.files + [input.definition] { files[f.path] = f.sha256 } }
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
            indexMinimum: stats.indexMin.bitPattern, indexMaximum: stats.indexMax.bitPattern, sourceCounts: sourceCounts,
            statisticsPassesRun: context.sharedStatistics == nil ? model.statisticsPasses : 0)
    }

    /// Merges a sharded run (`runID`) and publishes it: the rest of `run` on the shards' results,
    /// with the output lock held (exclusively). Removes the shards' folder once published.
    public func merge(runID: String) throws -> RunResult {
        GDAL.ensureRegistered()
        return try NetworkPolicy.scope(allowNetwork: plan.job.allowNetwork) { try runPlan(mergeRunID: runID) }
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

    /// `hazard-zoning run JOB --shard-statistics --run-id ID`: the statistics passes of a sharded
    /// run, once, for its shards.
    public static func runShardStatistics(_ path: String, runID: String, layers: String? = nil, output: String? = nil,
                                          options: RunOptions, logger: Logger = Logger(label: "hazard-zoning")) throws -> String {
        let spec = try JobLoader(layersDirectory: layers).load(path)
        let plan = try Planner().resolve(spec, outputDirectory: output)
        return try Runner(plan: plan, options: options, logger: logger).runShardStatistics(runID: runID)
    }

    /// `hazard-zoning merge JOB --run-id ID`: merges the shards of a sharded run and publishes it.
    public static func merge(_ path: String, runID: String, layers: String? = nil, output: String? = nil,
                             options: RunOptions, logger: Logger = Logger(label: "hazard-zoning")) throws -> RunResult {
        let spec = try JobLoader(layersDirectory: layers).load(path)
        let plan = try Planner().resolve(spec, outputDirectory: output)
        return try Runner(plan: plan, options: options, logger: logger).merge(runID: runID)
    }
}
