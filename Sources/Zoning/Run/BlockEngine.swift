import COGWriter
import Foundation
import GDALKit
import RasterKernel

// The block engine: every pass over the grid (statistics, main pass, classify, merge) runs its
// units on worker threads through `streamBlocks`, with the memory plan's units, workers and
// units in flight.

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

extension RunScoped {
    /// The compute stage's cut for this run (see `MemoryPlan`).
    var memoryPlan: MemoryPlan {
        // The weight scenarios' stability and range COGs are two more Byte writers.
        MemoryPlan.make(grid: plan.grid, layers: plan.sources.count + (plan.mask == nil ? 0 : 1), blockSize: plan.blockSize,
                        threads: options.threads, budget: options.maxMemory, cacheBytes: options.cacheBytes,
                        writerBytesPerPixel: plan.sensitivity == nil ? 5 : 7, sensitivity: plan.sensitivity)
    }

    /// The weight sets a statistics pass of the sensitivity's data-driven breaks gathers
    /// (`SensitivityMemory`); refuses, before the main pass, a run whose weight scenarios alone
    /// (their tallies, one worker's histograms, two units' township sums) exceed the budget less
    /// the GDAL cache. (A budget below what one worker needs otherwise runs over it, with one
    /// worker and the smallest unit, as without weight scenarios.)
    func sensitivityBatch(_ setup: SensitivitySetup) throws -> Int {
        guard let footprint = plan.sensitivity else { return setup.weightSets }
        let memory = memoryPlan
        let budget = options.maxMemory
        let need = footprint.runBytes + footprint.workerBytes + 2 * footprint.unitBytes(pixels: memory.width * memory.height)
        let room = budget - options.cacheBytes
        if need > room {
            throw RunError(.dataError, "\(plan.job.file): sensitivity.samples: \(setup.spec.samples) draws make \(setup.weightSets) weight sets, whose tallies over \(footprint.towns) townships and \(footprint.classes) classes need \(need >> 20) MiB: more than the \(room >> 20) MiB the memory budget of \(budget >> 20) MiB (--max-memory) leaves beside the GDAL cache; lower sensitivity.samples, use fewer townships or raise --max-memory")
        }
        return footprint.statisticsBatch(memory, budget: budget)
    }

    /// Runs `body` on every block of the grid on worker threads (each with its own datasets) and
    /// returns the results in block order. `layers` limits which aligned layers are read (`body`
    /// gets their buffers in that order); nil reads all. `extra` rasters of the grid (the run's
    /// index, classes, townships) are read after them, their buffers last.
    func mapBlocks<T: Sendable>(aligned: [AlignedLayer], mask: AlignedLayer?, layers: [Int]?,
                                extra: [(layer: AlignedLayer, name: String)] = [],
                                _ body: @escaping @Sendable (Block, [UnsafeBufferPointer<Float>], UnsafeBufferPointer<Float>?) -> T) throws -> [T] {
        let memory = memoryPlan
        var slots = [T?](repeating: nil, count: plan.grid.blocks(width: memory.width, height: memory.height).count)
        // What to name in a read error: the layer's own source, not the aligned copy.
        let names = (plan.sources + (plan.mask.map { [$0] } ?? [])).map { "\($0.definition.source) (layer \($0.definition.name))" }
        let wanted = layers ?? Array(aligned.indices)
        try streamBlocks(rasters: wanted.map { (aligned[$0], names[$0]) } + extra, mask: mask.map { ($0, names[aligned.count]) }, body) { block, result in
            slots[block.index] = result
        }
        return slots.map { $0! }
    }

    /// Runs `body` on every block on worker threads, each reading `rasters` (as Float32; any
    /// aligned layer of the grid, `LayerReading.swift`) and the mask with readers of its own, and
    /// hands the results to `consume` on the calling thread as they finish. Units, workers and
    /// units in flight follow the run's memory plan (`MemoryBudget.swift`): memory is bounded by
    /// it, never by the grid. `rasters` and `mask` are (layer, the name a read error gives).
    func streamBlocks<T: Sendable>(rasters: [(layer: AlignedLayer, name: String)], mask: (layer: AlignedLayer, name: String)?,
                                   _ body: @escaping @Sendable (Block, [UnsafeBufferPointer<Float>], UnsafeBufferPointer<Float>?) -> T,
                                   consume: (Block, T) throws -> Void) throws {
        try streamBlocks(rasters: rasters, mask: mask, state: {}, { (_: inout Void, block, buffers, maskValues) in
            body(block, buffers, maskValues)
        }, consume: consume)
    }

    /// Units in the order the run's COG writers hold least in (`TileOrder`: the overview
    /// quadtree's Z order over the tiles; row-major when the writers go row by row): a unit is
    /// placed by the tile holding its top-left pixel, strips of one tile top to bottom.
    func unitOrder(_ blocks: [Block]) -> [Block] {
        let t = cogTileSize
        let order = TileOrder(width: plan.grid.width, height: plan.grid.height, tileSize: t)
        guard order.quadtreeLevels > 0 else { return blocks }
        return blocks.map { (order.key(column: $0.window.x / t, row: $0.window.y / t), $0) }
            .sorted { ($0.0.band, $0.0.position, $0.1.window.y, $0.1.window.x) < ($1.0.band, $1.0.position, $1.1.window.y, $1.1.window.x) }
            .map(\.1)
    }

    /// The same with state of each worker's own (scratch buffers reused from unit to unit), made
    /// by `state` on the worker's thread.
    func streamBlocks<State, T: Sendable>(rasters: [(layer: AlignedLayer, name: String)], mask: (layer: AlignedLayer, name: String)?,
                                          state makeState: @escaping @Sendable () -> State,
                                          units: Range<Int>? = nil,
                                          _ body: @escaping @Sendable (inout State, Block, [UnsafeBufferPointer<Float>], UnsafeBufferPointer<Float>?) throws -> T,
                                          consume: (Block, T) throws -> Void) throws {
        let memory = memoryPlan
        // `units`: only these units of the grid (a shard's band, Shards.swift); their indices stay the grid's.
        let grid = plan.grid.blocks(width: memory.width, height: memory.height)
        // Handed out in the COG writers' tile order (a permutation: results are keyed by block).
        let blocks = unitOrder(units.map { Array(grid[$0]) } ?? grid)
        let workers = min(memory.workers, max(1, blocks.count))
        let pipeline = BlockPipeline<(Int, T)>(total: blocks.count, workers: workers, capacity: memory.inFlight)
        let capacity = memory.width * memory.height
        // The job's `gdal-config` holds on the workers too: GDAL reads it per thread
        // (`CPLSetThreadLocalConfigOption`), and the run never sets it process-wide.
        let gdalConfig = plan.job.gdalConfig
        /// One worker: its own readers and buffers, blocks taken until none is left.
        @Sendable func work() {
            defer { pipeline.workerFinished() }
            do {
                let readers = try rasters.map { try $0.layer.reader() }
                let maskReader = try mask.map { try $0.layer.reader() }
                var buffers = rasters.map { _ in [Float](repeating: 0, count: capacity) }
                var maskBuffer = [Float](repeating: 1, count: capacity)
                var state = makeState()
                while let i = pipeline.take() {
                    let w = blocks[i].window
                    let window = PixelWindow(x: w.x, y: w.y, width: w.width, height: w.height)
                    let n = w.count
                    for (k, reader) in readers.enumerated() {
                        do {
                            try buffers[k].withUnsafeMutableBufferPointer { try reader.read(window, into: UnsafeMutableBufferPointer(rebasing: $0[0..<n])) }
                        } catch let error as GDALError {
                            throw RunError(.ioError, "\(rasters[k].name): reading block \(w): \(error.readingMessage)")
                        }
                    }
                    if let maskReader {
                        do {
                            try maskBuffer.withUnsafeMutableBufferPointer { try maskReader.read(window, into: UnsafeMutableBufferPointer(rebasing: $0[0..<n])) }
                        } catch let error as GDALError {
                            throw RunError(.ioError, "\(mask!.name): reading block \(w): \(error.readingMessage)")
                        }
                    }
                    let result = try withUnsafeInputs(buffers) { pointers in
                        try maskBuffer.withUnsafeBufferPointer { m in
                            try body(&state, blocks[i], pointers.map { UnsafeBufferPointer(rebasing: $0[0..<n]) },
                                     maskReader == nil ? nil : UnsafeBufferPointer(rebasing: m[0..<n]))
                        }
                    }
                    pipeline.submit((i, result))
                }
            } catch let error as RunError {
                pipeline.fail(error)
            } catch let error as GDALError {
                pipeline.fail(RunError(.ioError, "reading aligned layers: \(error.readingMessage)"))
            } catch {
                pipeline.fail(RunError(.software, "\(error)"))
            }
        }
        var done = 0
        try pipeline.drive(workers: workers, gdalConfig: gdalConfig, work: work) { i, result in
            try consume(blocks[i], result)
            pipeline.written()
            done += 1
        }
        guard done == blocks.count else { throw RunError(.software, "internal error: \(done) of \(blocks.count) blocks were processed") }
    }
}

extension BlockPipeline {
    /// Runs `work` on `workers` threads, each in the job's GDAL configuration (`gdal-config`, set
    /// per thread), hands every result to `consume` on the calling thread (which calls `written`
    /// for the results it is done with) and waits for the workers; a worker's failure, or
    /// `consume`'s, is thrown once every worker has stopped.
    func drive<T>(workers: Int, gdalConfig: [String: String], work: @escaping @Sendable () -> Void,
                  consume: (Int, T) throws -> Void) throws where Result == (Int, T) {
        var threads: [Thread] = []
        for _ in 0..<workers {
            let thread = Thread { ConfigOptions.withThreadLocalOptions(gdalConfig, work) }
            thread.stackSize = 1 << 20
            threads.append(thread)
        }
        threads.forEach { $0.start() }
        do {
            while let (i, result) = next() { try consume(i, result) }
        } catch {
            fail(RunError(.software, "cancelled"))
            waitForWorkers()
            throw error
        }
        waitForWorkers()
        if let error = self.error { throw error }
    }
}

extension GDALError {
    /// Whether GDAL ran out of memory during the call (`CPLE_OutOfMemory` in any record: the
    /// decisive one is often the read that failed because of it).
    var outOfMemory: Bool {
        if case .cpl(_, let records) = self { return records.contains { $0.number == CPLErrorNumber.outOfMemory } }
        return false
    }

    /// GDAL's messages for a failed read of a source or an aligned layer, or, when GDAL ran out of
    /// memory, what that means here (GDAL's own message names its source file and line:
    /// "gdalwarpoperation.cpp, 1847: cannot allocate 352138688 bytes"): a warp reads the extent of
    /// a block at the source's resolution, so a source far finer than the grid needs a window far
    /// larger than the block.
    var readingMessage: String {
        guard outOfMemory else { return message }
        return "GDAL ran out of memory reading it (a source much finer than the grid is read over each block's extent at its own resolution); use a smaller grid.block-size, or resample the source nearer the grid's resolution first"
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
