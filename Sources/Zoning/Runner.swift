import Foundation
import GDALKit
import Logging
import RasterKernel

public struct RunOptions: Sendable {
    /// Worker threads (default: all cores). Outputs do not depend on it.
    public var threads: Int
    /// GDAL block cache for the run, in bytes.
    public var cacheBytes: Int
    /// Test hook: fail after this many blocks were written (to prove publishing is atomic).
    public var failAfterBlocks: Int?
    public var runID: String?

    public init(threads: Int = ProcessInfo.processInfo.activeProcessorCount, cacheBytes: Int = 64 << 20,
                failAfterBlocks: Int? = nil, runID: String? = nil) {
        self.threads = max(1, threads)
        self.cacheBytes = cacheBytes
        self.failAfterBlocks = failAfterBlocks
        self.runID = runID
    }
}

public struct RunResult: Sendable {
    public let runID: String
    public let runDirectory: String
    public let manifest: Manifest
}

/// One block's results, handed from a worker to the writer.
struct BlockResult: Sendable {
    let block: Block
    let index: [Float]
    let classes: [UInt8]
    let classCounts: [Int]
    let indexSum: Double
    let indexMin: Float
    let indexMax: Float
}

/// Hands out blocks to workers and results to the writer, with at most `capacity` blocks in
/// flight (taken but not yet written): memory is bounded by that, never by the grid size.
final class BlockPipeline: @unchecked Sendable {
    // All state is guarded by `condition`.
    private let condition = NSCondition()
    private var nextBlock = 0
    private let total: Int
    private let capacity: Int
    private var inFlight = 0
    private var ready: [BlockResult] = []
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

    func submit(_ result: BlockResult) {
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
    func next() -> BlockResult? {
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
        let started = Date()
        let publisher = Publisher(outputDirectory: plan.outputDirectory)
        let runID = options.runID ?? publisher.newRunID(now: started)
        let staging = try publisher.makeStaging(runID: runID)
        do {
            let previousCache = GDAL.cacheMax
            GDAL.setCacheMax(bytes: options.cacheBytes)
            defer { GDAL.setCacheMax(bytes: previousCache) }
            let manifest = try execute(staging: staging, runID: runID, started: started)
            let final = try publisher.publish(staging: staging, runID: runID)
            return RunResult(runID: runID, runDirectory: final, manifest: manifest)
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
    }

    private func execute(staging: String, runID: String, started: Date) throws -> Manifest {
        var timings: [String: Double] = [:]
        var clock = Date()
        func lap(_ name: String) {
            let now = Date()
            timings[name] = (now.timeIntervalSince(clock) * 1000).rounded() / 1000
            clock = now
        }
        let work = (staging as NSString).appendingPathComponent(".work")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)

        // 1. Inputs: checksums first, so the manifest describes exactly what was read.
        let inputs = try describeInputs()
        lap("hash_inputs")

        // 2. Align every layer onto the grid.
        let aligned = try plan.sources.map { try align($0, work: work) }
        let maskPath = try plan.mask.map { try align($0, work: work) }
        lap("align")

        // 3. Stream blocks through the kernel.
        let indexTmp = (work as NSString).appendingPathComponent("risk_index.tif")
        let classTmp = (work as NSString).appendingPathComponent("risk_class.tif")
        let stats = try stream(aligned: aligned, mask: maskPath, indexPath: indexTmp, classPath: classTmp)
        lap("compute")

        // 4. Cloud-Optimized GeoTIFFs.
        var products: [Manifest.FileEntry] = []
        let scheme = plan.job.classify.scheme
        if plan.job.outputs.products.contains(.riskIndex) {
            let out = (staging as NSString).appendingPathComponent("risk_index.tif")
            try writeCOG(from: indexTmp, to: out, resampling: "AVERAGE", predictor: "YES")
            products.append(try fileEntry(out, relativeTo: staging))
        }
        if plan.job.outputs.products.contains(.riskClass) {
            let out = (staging as NSString).appendingPathComponent("risk_class.tif")
            try writeCOG(from: classTmp, to: out, resampling: "NEAREST", predictor: nil)
            for side in [out + ".aux.xml"] where FileManager.default.fileExists(atPath: side) {
                products.append(try fileEntry(side, relativeTo: staging))
            }
            products.insert(try fileEntry(out, relativeTo: staging), at: products.count - (FileManager.default.fileExists(atPath: out + ".aux.xml") ? 1 : 0))
        }
        try FileManager.default.removeItem(atPath: work)
        lap("write_cog")

        // 5. Manifest.
        let classes = scheme.classes.map {
            Manifest.ClassCount(value: Int($0.value), name: "\($0.name) \($0.english)", pixels: stats.classCounts[Int($0.value)])
        }
        let valid = classes.reduce(0) { $0 + $1.pixels }
        let iso = ISO8601DateFormatter()
        timings["total"] = (Date().timeIntervalSince(started) * 1000).rounded() / 1000
        let manifest = Manifest(
            runId: runID, started: iso.string(from: started), finished: iso.string(from: Date()),
            tool: .init(name: ToolInfo.name, version: ToolInfo.version, gdal: GDAL.version, proj: GDAL.projVersion),
            job: jobInfo(),
            grid: .init(crs: plan.crsName, width: plan.grid.width, height: plan.grid.height,
                        geoTransform: plan.grid.geoTransform, blockSize: plan.blockSize),
            inputs: inputs, products: products,
            statistics: .init(validPixels: valid, nodataPixels: stats.classCounts[0],
                              indexMin: valid > 0 ? Double(stats.indexMin) : nil,
                              indexMax: valid > 0 ? Double(stats.indexMax) : nil,
                              indexMean: valid > 0 ? stats.indexSum / Double(valid) : nil, classes: classes),
            timings: timings, threads: options.threads)
        let manifestPath = (staging as NSString).appendingPathComponent("manifest.json")
        guard FileManager.default.createFile(atPath: manifestPath, contents: try manifest.encoded()) else {
            throw RunError(.ioError, "\(manifestPath): cannot write the manifest")
        }
        return manifest
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
                     hash: h.finalize().map { String(format: "%02x", $0) }.joined())
    }

    func describeInputs() throws -> [Manifest.Input] {
        var result: [Manifest.Input] = []
        var all = plan.sources
        if let mask = plan.mask { all.append(mask) }
        for source in all {
            let def = source.definition
            let files: [String]
            do { files = try Dataset(open: def.source).fileList } catch {
                throw inputError(error, file: def.source, what: "layer \(def.name)")
            }
            result.append(.init(key: source.key, layer: def.name, definition: try fileEntry(def.file, relativeTo: nil),
                                source: def.source, files: try files.sorted().map { try fileEntry($0, relativeTo: nil) }))
        }
        return result
    }

    func fileEntry(_ path: String, relativeTo base: String?) throws -> Manifest.FileEntry {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        let size = (attributes[.size] as? NSNumber)?.intValue ?? 0
        var shown = path
        if let base, path.hasPrefix(base + "/") { shown = String(path.dropFirst(base.count + 1)) }
        return .init(path: shown, size: size, sha256: try SHA256.hex(fileAt: path))
    }

    // MARK: alignment

    /// Aligns a source onto the grid. Rasters become a warped VRT (warping happens block by block
    /// as workers read); vectors are rasterised once into a tiled GeoTIFF.
    func align(_ source: SourcePlan, work: String) throws -> String {
        let def = source.definition
        let what = source.key == "mask" ? "grid.mask (layer \(def.name))" : "layers.\(source.key) (layer \(def.name))"
        do {
            let ds = try Dataset(open: def.source)
            switch source.kind {
            case .raster:
                var input = ds
                if ds.bandCount > 1 || def.band != 1 {
                    input = try Utilities.translate(ds, to: (work as NSString).appendingPathComponent("\(source.key)-band.vrt"),
                                                    arguments: ["-of", "VRT", "-b", "\(def.band)"])
                    try input.flush()
                }
                let path = (work as NSString).appendingPathComponent("\(source.key).vrt")
                let bs = "\(plan.blockSize)"
                let vrt = try Utilities.warp([input], to: path, arguments: source.arguments
                    + ["-of", "VRT", "-co", "BLOCKXSIZE=\(bs)", "-co", "BLOCKYSIZE=\(bs)"])
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
            }
        } catch { throw inputError(error, file: def.source, what: what) }
    }

    // MARK: streaming

    struct StreamStats {
        var classCounts: [Int]
        var indexSum: Double
        var indexMin: Float
        var indexMax: Float
    }

    func stream(aligned: [String], mask: String?, indexPath: String, classPath: String) throws -> StreamStats {
        let grid = plan.grid
        let bs = plan.blockSize
        let create = ["TILED=YES", "BLOCKXSIZE=\(bs)", "BLOCKYSIZE=\(bs)", "SPARSE_OK=YES"]
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

        let blocks = grid.blocks(width: bs, height: bs)
        let workers = min(options.threads, max(1, blocks.count))
        let pipeline = BlockPipeline(total: blocks.count, workers: workers, capacity: 2 * workers)
        let kernel = plan.kernel
        // What to name in a read error: the layer's own source, not the aligned copy.
        let names = (plan.sources + (plan.mask.map { [$0] } ?? [])).map { "\($0.definition.source) (layer \($0.definition.name))" }
        let classCount = plan.job.classify.scheme.classCount
        var threads: [Thread] = []
        for _ in 0..<workers {
            let thread = Thread {
                Runner.work(pipeline: pipeline, blocks: blocks, sources: aligned, mask: mask, names: names, kernel: kernel,
                            classCount: classCount, blockSize: bs)
            }
            thread.stackSize = 1 << 20
            threads.append(thread)
        }
        threads.forEach { $0.start() }

        var stats = StreamStats(classCounts: [Int](repeating: 0, count: classCount + 1), indexSum: 0,
                                indexMin: .infinity, indexMax: -.infinity)
        var sums = [Double](repeating: 0, count: blocks.count)
        var writtenCount = 0
        do {
            while let result = pipeline.next() {
                let w = result.block.window
                let window = PixelWindow(x: w.x, y: w.y, width: w.width, height: w.height)
                try result.index.withUnsafeBufferPointer { try indexBand.write(window, from: $0) }
                try result.classes.withUnsafeBufferPointer { try classBand.write(window, from: $0) }
                for c in 0..<stats.classCounts.count { stats.classCounts[c] += result.classCounts[c] }
                sums[result.block.index] = result.indexSum
                stats.indexMin = min(stats.indexMin, result.indexMin)
                stats.indexMax = max(stats.indexMax, result.indexMax)
                writtenCount += 1
                pipeline.written()
                if let limit = options.failAfterBlocks, writtenCount >= limit {
                    throw RunError(.software, "injected failure after \(writtenCount) blocks")
                }
            }
        } catch {
            pipeline.fail(RunError(.software, "cancelled"))
            pipeline.waitForWorkers()
            throw error
        }
        pipeline.waitForWorkers()
        if let error = pipeline.error { throw error }
        guard writtenCount == blocks.count else {
            throw RunError(.software, "internal error: \(writtenCount) of \(blocks.count) blocks were written")
        }
        // Sum in block order, so the mean does not depend on which thread finished first.
        stats.indexSum = sums.reduce(0, +)
        try indexDS.close()
        try classDS.close()
        return stats
    }

    /// A worker: opens its own datasets (GDAL handles are never shared between threads), then takes
    /// blocks until there are none left.
    static func work(pipeline: BlockPipeline, blocks: [Block], sources: [String], mask: String?, names: [String], kernel: RiskKernel,
                     classCount: Int, blockSize: Int) {
        defer { pipeline.workerFinished() }
        do {
            let datasets = try sources.map { try Dataset(open: $0, flags: [.raster]) }
            let bands = try datasets.map { try $0.band(1) }
            let maskDS = try mask.map { try Dataset(open: $0, flags: [.raster]) }
            let maskBand = try maskDS.map { try $0.band(1) }
            let capacity = blockSize * blockSize
            var inputs = sources.map { _ in [Float](repeating: 0, count: capacity) }
            var maskBuffer = [Float](repeating: 1, count: capacity)
            while let i = pipeline.take() {
                let block = blocks[i]
                let w = block.window
                let window = PixelWindow(x: w.x, y: w.y, width: w.width, height: w.height)
                let n = w.count
                for (l, band) in bands.enumerated() {
                    do {
                        try inputs[l].withUnsafeMutableBufferPointer { try band.read(window, into: UnsafeMutableBufferPointer(rebasing: $0[0..<n])) }
                    } catch let error as GDALError {
                        throw RunError(.ioError, "\(names[l]): reading block \(w): \(error.message)")
                    }
                }
                if let maskBand {
                    do {
                        try maskBuffer.withUnsafeMutableBufferPointer { try maskBand.read(window, into: UnsafeMutableBufferPointer(rebasing: $0[0..<n])) }
                    } catch let error as GDALError {
                        throw RunError(.ioError, "\(names[bands.count]): reading block \(w): \(error.message)")
                    }
                }
                var index = [Float](repeating: 0, count: n)
                var classes = [UInt8](repeating: 0, count: n)
                withUnsafeInputs(inputs) { pointers in
                    maskBuffer.withUnsafeBufferPointer { m in
                        index.withUnsafeMutableBufferPointer { ip in
                            classes.withUnsafeMutableBufferPointer { cp in
                                kernel.run(count: n, inputs: pointers, mask: maskBand == nil ? nil : UnsafeBufferPointer(rebasing: m[0..<n]),
                                           index: ip, classes: cp)
                            }
                        }
                    }
                }
                var counts = [Int](repeating: 0, count: classCount + 1)
                var sum = 0.0
                var lo = Float.infinity, hi = -Float.infinity
                for p in 0..<n {
                    let c = Int(classes[p])
                    counts[c] += 1
                    if c != 0 {
                        let v = index[p]
                        sum += Double(v)
                        lo = min(lo, v); hi = max(hi, v)
                    }
                }
                pipeline.submit(BlockResult(block: block, index: index, classes: classes, classCounts: counts,
                                            indexSum: sum, indexMin: lo, indexMax: hi))
            }
        } catch let error as RunError {
            pipeline.fail(error)
        } catch let error as GDALError {
            pipeline.fail(RunError(.ioError, "reading aligned layers: \(error.message)"))
        } catch {
            pipeline.fail(RunError(.software, "\(error)"))
        }
    }

    // MARK: products

    func writeCOG(from source: String, to destination: String, resampling: String, predictor: String?) throws {
        let src = try Dataset(open: source, flags: [.raster])
        var args = ["-of", "COG", "-co", "COMPRESS=DEFLATE", "-co", "BLOCKSIZE=\(plan.blockSize)",
                    "-co", "OVERVIEW_RESAMPLING=\(resampling)", "-co", "NUM_THREADS=\(options.threads)"]
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
func withUnsafeInputs<R>(_ arrays: [[Float]], _ body: ([UnsafeBufferPointer<Float>]) -> R) -> R {
    var pointers: [UnsafeBufferPointer<Float>] = []
    pointers.reserveCapacity(arrays.count)
    func recurse(_ i: Int) -> R {
        if i == arrays.count { return body(pointers) }
        return arrays[i].withUnsafeBufferPointer { p in
            pointers.append(p)
            return recurse(i + 1)
        }
    }
    return recurse(0)
}
