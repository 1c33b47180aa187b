import COGWriter
import Foundation
import GDALKit
import Logging
import RasterKernel

/// One block's results, handed from a worker to the writer.
struct BlockResult: Sendable {
    let block: Block
    var index: [Float]
    var classes: [UInt8]
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

/// Stage 2: the main pass, blocks through the kernel on worker threads.
extension Runner {

    struct StreamStats {
        var histogram: Histogram?
        var layerValid: [Int]
        var classCounts: [Int]
        var indexSum: Double
        var indexSumSquares: Double = 0
        var counters = ModelKernel.Counters()
        var indexMin: Float
        var indexMax: Float
        /// Σ index and Σ index² per unit, by unit index (what `indexSum`/`indexSumSquares` add up in
        /// unit order; a shard stores them so that the merge adds them in the same order).
        var unitSums: [Double] = []
        var unitSquares: [Double] = []
        /// The merge of a sharded run: source counts of the window-read layers, by layer index.
        var sourceCounts: [Int: SourceTally.Counts] = [:]
    }

    /// `indexPath`: the index COG (nil: not published); `indexTemporary`: the uncompressed index
    /// later stages read (nil: none does). A shard (`units`, Shards.swift) writes its band into
    /// the uncompressed `shardRasters` instead of COGs; the merge streams them into the COGs.
    func stream(aligned: [AlignedLayer], mask: AlignedLayer?, kernel: BlockKernel, indexPath: String?, indexTemporary: String?,
                classPath: String, work: String,
                sensitivity: (SensitivitySetup, SensitivityAccumulator)? = nil, townshipPath: String? = nil,
                units: Range<Int>? = nil, shardRasters: (index: String, classes: String)? = nil) throws -> StreamStats {
        let grid = plan.grid
        let memory = memoryPlan
        // The main pass only: the later stages hold other buffers than the plan's.
        MemoryPlan.fitHeap(to: memory, budget: options.maxMemory)
        defer { MemoryPlan.fitHeap(to: nil, budget: options.maxMemory) }
        logger.info("memory plan", metadata: ["unit": "\(memory.width)x\(memory.height)", "workers": "\(memory.workers)",
                                              "in-flight": "\(memory.inFlight)", "estimate-mib": "\(memory.estimate >> 20)"])
        let (indexWriter, indexRaw, classWriter, classRaw) = try mainPassWriters(
            indexPath: indexPath, indexTemporary: indexTemporary, classPath: classPath, work: work, shardRasters: shardRasters)

        let blocks = grid.blocks(width: memory.width, height: memory.height)
        let wantsHistogram = plan.job.classify.method != nil
        // What to name in a read error: the layer's own source, not the aligned copy.
        let names = (plan.sources + (plan.mask.map { [$0] } ?? [])).map { "\($0.definition.source) (layer \($0.definition.name))" }
        let classCount = plan.job.classify.scheme.classCount
        let scenarios = sensitivity?.0
        let layerCount = aligned.count
        var rasters = aligned.indices.map { (aligned[$0], names[$0]) }
        let withTownships = scenarios != nil && townshipPath != nil
        if withTownships, let townshipPath { rasters.append((.file(townshipPath), "zoning.townships")) }

        var stats = StreamStats(histogram: plan.job.classify.method == nil ? nil : Histogram(), layerValid: [Int](repeating: 0, count: aligned.count), classCounts: [Int](repeating: 0, count: classCount + 1), indexSum: 0,
                                indexMin: .infinity, indexMax: -.infinity)
        var sums = [Double](repeating: 0, count: blocks.count)
        var squares = [Double](repeating: 0, count: blocks.count)
        var writtenCount = 0
        let unitCount = units?.count ?? blocks.count
        try streamBlocks(rasters: rasters, mask: mask.map { ($0, names[aligned.count]) }, state: { SensitivitySetup.Scratch() },
                         units: units) {
            scratch, block, buffers, maskValues in
            var result = try Runner.compute(block: block, inputs: Array(buffers.prefix(layerCount)), mask: maskValues, kernel: kernel,
                                            histogram: wantsHistogram, classCount: classCount, sensitivity: scenarios,
                                            town: withTownships ? buffers[layerCount] : nil, scratch: &scratch)
            // Tiles are predicted and compressed here, on the worker; the pixels need not wait for the writer.
            try indexWriter?.write(block, result.index)
            try indexRaw?.write(block, result.index)
            try classWriter?.write(block, result.classes)
            try classRaw?.write(block, result.classes)
            result.index = []
            result.classes = []
            // The weight scenarios' stability and range too.
            if let part = result.sensitivity, let accumulator = sensitivity?.1 { result.sensitivity = try accumulator.write(block, part) }
            return result
        } consume: { block, result in
            for c in 0..<stats.classCounts.count { stats.classCounts[c] += result.classCounts[c] }
            for l in 0..<stats.layerValid.count { stats.layerValid[l] += result.layerValid[l] }
            if let h = result.histogram { stats.histogram?.merge(h) }
            if let part = result.sensitivity { sensitivity?.1.add(block, part) }
            if let part = result.scenarioStatistics { sensitivity?.1.add(block, part) }
            sums[block.index] = result.indexSum
            squares[block.index] = result.indexSumSquares
            stats.counters.merge(result.counters)
            stats.indexMin = min(stats.indexMin, result.indexMin)
            stats.indexMax = max(stats.indexMax, result.indexMax)
            writtenCount += 1
            report("compute", writtenCount, unitCount)
            if let limit = options.failAfterBlocks, writtenCount >= limit {
                throw RunError(.software, "injected failure after \(writtenCount) blocks")
            }
        }
        // Sum in block order, so the mean does not depend on which thread finished first.
        stats.indexSum = sums.reduce(0, +)
        stats.indexSumSquares = squares.reduce(0, +)
        stats.unitSums = sums
        stats.unitSquares = squares
        if let indexWriter { try finishCOG(indexWriter) }
        if let classWriter { try finishCOG(classWriter) }
        return stats
    }

    /// The rasters the main pass writes: the index COG, and the class COG when the kernel's fixed
    /// breaks classify (data-driven breaks: the classify pass writes it), streamed as the workers
    /// finish blocks; the uncompressed index later stages read. A shard writes uncompressed index
    /// and class rasters of the whole grid holding its band's tiles only.
    func mainPassWriters(indexPath: String?, indexTemporary: String?, classPath: String, work: String,
                         shardRasters: (index: String, classes: String)?) throws
        -> (COGWriter<Float>?, TiledTIFFWriter<Float>?, COGWriter<UInt8>?, TiledTIFFWriter<UInt8>?) {
        let grid = plan.grid
        let indexTemplate = try cogTemplate(.index)
        func raw<S: COGSample>(_ path: String, _ template: TIFFTemplate, as: S.Type) throws -> TiledTIFFWriter<S> {
            do {
                return try TiledTIFFWriter<S>(path: path, width: grid.width, height: grid.height, tileSize: cogTileSize, template: template)
            } catch { throw RunError(.ioError, "\(path): cannot write the temporary raster: \(error)") }
        }
        if let shardRasters {
            return (nil, try raw(shardRasters.index, indexTemplate, as: Float.self), nil,
                    try raw(shardRasters.classes, try cogTemplate(.classes), as: UInt8.self))
        }
        let indexWriter = try indexPath.map { try cogWriter(.index, path: $0, work: work, as: Float.self, template: indexTemplate) }
        let indexRaw = try indexTemporary.map { try raw($0, indexTemplate, as: Float.self) }
        let classWriter = plan.job.classify.method == nil ? try cogWriter(.classes, path: classPath, work: work, as: UInt8.self) : nil
        return (indexWriter, indexRaw, classWriter, nil)
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
