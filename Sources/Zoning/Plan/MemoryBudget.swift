import COGWriter
import Foundation
import GDALKit
import RasterKernel

#if canImport(Glibc)
import Glibc
#endif

/// How the compute stage is cut so that its memory stays within `RunOptions.maxMemory`, whatever
/// `--threads` and `block-size` are: the unit of work (a block, or a strip of a block when a whole
/// block does not fit), how many workers compute at once and how many units may be in flight.
public struct MemoryPlan: Sendable, Equatable {
    /// The unit of work: `width` × `height` pixels (the block size, or a strip of a block).
    public let width: Int
    public let height: Int
    public let workers: Int
    /// Units taken but not yet written (computing or waiting for the writer).
    public let inFlight: Int
    /// Bytes the plan expects at most: the GDAL cache, a fixed allowance, and the units.
    public let estimate: Int

    /// Bytes per pixel of one unit being computed: per layer the worker's buffer, the warped
    /// block GDAL produces and the source window it warps from (3 × 4 bytes); the mask's buffer
    /// and block; the index and class results (the worker hands them to the COG writers itself,
    /// so no copy waits for the writer).
    static func bytesPerPixel(layers: Int) -> Int { 12 * layers + 8 + 5 }

    /// The pixels the streamed COG writers hold (`COGWriter.bufferedBytes`), `bytes` a pixel
    /// (index Float32 + class Byte: 5; + 2 with the sensitivity's stability and range Byte COGs),
    /// with units handed out in the writers' `TileOrder` and at most `inFlight` of them in flight
    /// (`TileOrder.heldPixels`): on grids whose overviews halve exactly, a few tiles per overview
    /// level whatever the grid's width; otherwise (the writers' row-by-row fallback) full-width
    /// tile rows.
    static func writerBytes(gridWidth: Int, gridHeight: Int, tileSize t: Int, unitWidth: Int, unitHeight: Int,
                            inFlight: Int, bytes: Int = 5) -> Int {
        TileOrder(width: gridWidth, height: gridHeight, tileSize: t)
            .heldPixels(width: gridWidth, height: gridHeight, tileSize: t, unitWidth: unitWidth, unitHeight: unitHeight, inFlight: inFlight) * bytes
    }

    /// What a worker needs to predict and compress a tile: the tile, its predicted bytes and
    /// the compressed copy (Float32).
    static func tileScratchBytes(tileSize: Int) -> Int { 3 * tileSize * tileSize * 4 }

    /// Process, PROJ database, GDAL drivers, the COG writers' TIFF templates: what is not proportional to units.
    static let fixedBytes = 48 << 20
    /// What each worker costs besides its units: its own datasets, warper state and PROJ context
    /// (measured: ~8 MiB a worker with four layers).
    static let workerBytes = 10 << 20

    /// The plan for a grid, `layers` aligned inputs, a block size, a thread count and a budget
    /// (bytes; the GDAL block cache counts against it). Units stay multiples of 16 rows; at least
    /// one worker runs even when a 16-row strip exceeds the budget.
    /// `sensitivity`: what the weight scenarios hold besides (`SensitivityMemory`); it bounds the
    /// workers and the units in flight, never the unit (units decide the order of floating-point
    /// sums, so a job's products do not depend on it).
    public static func make(grid: GridGeometry, layers: Int, blockSize: Int, threads: Int,
                            budget: Int, cacheBytes: Int, writerBytesPerPixel: Int = 5, sensitivity: SensitivityMemory? = nil) -> MemoryPlan {
        let perPixel = bytesPerPixel(layers: layers)
        let tile = min(blockSize, 1024)
        let width = blockSize
        var height = blockSize
        // At most two units in flight a thread (`inFlight` below).
        func writer(_ h: Int) -> Int {
            writerBytes(gridWidth: grid.width, gridHeight: grid.height, tileSize: tile, unitWidth: width, unitHeight: h,
                        inFlight: 2 * max(1, threads), bytes: writerBytesPerPixel)
        }
        let base = max(0, budget - cacheBytes - fixedBytes)
        // Whole blocks when one fits; otherwise halve the rows of a unit (strips of a block).
        // One unit computing and one waiting for the writer must fit beside the COG writers' buffers.
        while height > 16 && (perPixel + 10) * width * height + workerBytes + tileScratchBytes(tileSize: tile) + writer(height) > base {
            height = max(16, height / 2)
        }
        let held = sensitivity?.runBytes ?? 0
        let available = max(0, base - writer(height) - held)
        let pixels = width * height
        // The weight scenarios: a worker's scratch and histograms, a unit's township sums.
        let scenarioUnit = sensitivity?.unitBytes(pixels: pixels) ?? 0
        let scenarioWorker = (sensitivity.map { SensitivityMemory.scratchBytesPerPixel * pixels + $0.workerBytes } ?? 0) + scenarioUnit
        let unit = perPixel * pixels + workerBytes + tileScratchBytes(tileSize: tile) + scenarioWorker
        let units = (grid.width + width - 1) / width * ((grid.height + height - 1) / height)
        let workers = max(1, min(threads, units, available / max(unit, 1)))
        // A unit waiting for the writer costs its results only (index and classes, ~10 of perPixel).
        let waiting = 10 * pixels + scenarioUnit
        let spare = max(0, (available - workers * unit) / max(waiting, 1))
        let inFlight = workers + max(1, min(workers, spare))
        return MemoryPlan(width: width, height: height, workers: workers, inFlight: inFlight,
                          estimate: cacheBytes + fixedBytes + writer(height) + held + workers * unit + (inFlight - workers) * waiting)
    }
}

/// What the weight scenarios of `sensitivity:` hold beside a pass's units (SensitivityStage.swift,
/// SensitivityAccumulator.swift), so that their number — up to 10⁴ Dirichlet draws — is bounded
/// by the budget. A worker holds one weight set's pixels at a time and compiles a weight set's
/// kernel when it needs it; counts are merged as units finish; the townships' index sums of each
/// unit wait on disk (`UnitSums`); the index histograms of data-driven breaks (10 001 bins, 80 KB a
/// weight set) are gathered a batch of weight sets a pass, each worker into its own, as many as
/// the budget leaves room for. Before, every weight set's histogram was held by each unit in
/// flight and again in total, and every unit's tallies and every weight set's kernels until the
/// end: the census job with 10 000 draws and natural breaks passed 2.5 GB against 256 MiB.
public struct SensitivityMemory: Sendable, Equatable {
    public let weightSets: Int
    public let towns: Int
    public let classes: Int
    /// Bins of a weight set's index histogram (data-driven breaks); 0 for fixed breaks.
    public let bins: Int

    public init(weightSets: Int, towns: Int, classes: Int, bins: Int) {
        self.weightSets = weightSets; self.towns = towns; self.classes = classes; self.bins = bins
    }

    /// A worker's scratch per pixel of its unit: one weight set's index (4) and classes (1), and
    /// per pixel the scenarios with the baseline's class (4), the lowest and highest class (2), the
    /// stability and range until written (2).
    public static let scratchBytesPerPixel = 13
    /// Per weight set: its weights (in the setup and the manifest record), its breaks.
    static let weightSetBytes = 1 << 10
    /// Weight sets a statistics pass gathers at least: every pass reads the aligned layers again,
    /// so a batch is not made smaller than this (20 MiB of histograms a worker).
    public static let minimumBatch = 256

    /// Held through the run: per township and weight set the class counts and the index sum,
    /// per weight set its weights and breaks.
    public var runBytes: Int { (towns + 1) * weightSets * (8 * (classes + 1) + 8) + weightSets * Self.weightSetBytes }

    /// A unit of `pixels` in flight: the index sums of its townships (at most every one) per weight set.
    public func unitBytes(pixels: Int) -> Int { min(towns, pixels) * weightSets * 8 }

    /// The weight sets of the smallest statistics batch (data-driven breaks; none for fixed breaks).
    public var minimumBatch: Int { bins > 0 ? min(weightSets, Self.minimumBatch) : 0 }

    /// A worker's histograms of the smallest batch.
    public var workerBytes: Int { minimumBatch * bins * 8 }

    /// A weight set of a statistics batch: each worker's histogram (merged into the first
    /// worker's), and per unit in flight its sum, sum of squares and valid count.
    public func bytesPerBatchedSet(_ memory: MemoryPlan) -> Int { memory.workers * bins * 8 + memory.inFlight * 24 }

    /// The weight sets one statistics pass gathers: the smallest batch (in the plan's estimate)
    /// and as many more as the budget leaves room for; every one when they fit (the main pass alone).
    public func statisticsBatch(_ memory: MemoryPlan, budget: Int) -> Int {
        guard bins > 0 else { return weightSets }
        return min(weightSets, minimumBatch + max(0, budget - memory.estimate) / bytesPerBatchedSet(memory))
    }
}

extension Planner {
    /// The weight sets and townships (the township layer's features) of `sensitivity:` for the
    /// memory plan; nil without the sensitivity product.
    func planSensitivity(_ job: JobSpec, county: CountyCells?) -> SensitivityMemory? {
        guard let s = job.sensitivity, job.outputs.products.contains(.sensitivity) else { return nil }
        let members = (job.indices + [job.combine.node]).first { $0.name == s.index }?.members.count ?? 0
        let towns = townshipCount(job, county: county)
        return SensitivityMemory(weightSets: 1 + 2 * members + s.samples, towns: towns, classes: job.classify.scheme.classCount,
                                 bins: job.classify.method == nil ? 0 : Histogram().binCount)
    }
}

extension MemoryPlan {
    /// Threads the COG writer may compress with: each holds a tile and its compressed copy (and
    /// GDAL a third while the overviews are made), so at most what the budget leaves for them.
    public static func cogThreads(blockSize: Int, bytesPerPixel: Int, threads: Int, budget: Int, cacheBytes: Int) -> Int {
        let available = max(0, budget - cacheBytes - fixedBytes)
        let perThread = 3 * blockSize * blockSize * bytesPerPixel + workerBytes
        return max(1, min(threads, available / max(perThread, 1)))
    }
}

#if canImport(Glibc)
import Glibc
#endif

extension MemoryPlan {
    /// Fixes glibc's mmap threshold at 128 KiB. By default glibc raises the threshold each time a
    /// large block is freed, after which the per-block buffers the workers hand to the writer come
    /// from the heap arenas and stay in the process when freed: measured on the 30 m demo zoning job,
    /// peak RSS 327 MiB (577 MiB with six weight scenarios) against 242 (248) MiB with the threshold
    /// fixed. Buffers of a block are far larger than 128 KiB, so they are mapped and unmapped whole.
    public static func boundHeap() {
        heapBounded = true
        mallopt(mmapThreshold: 128 << 10, trimThreshold: 128 << 10)
    }

    /// Whether the process fixed its heap (`boundHeap`, the CLI does): only then does a run adapt it.
    nonisolated(unsafe) static var heapBounded = false  // set once, before any run

    /// Fits glibc's heap to a run's memory plan. Mapping and unmapping every block-sized buffer
    /// (ours, GDAL's block cache, the warper's chunks, the rasteriser's) costs page faults: on the
    /// 8192² bench job 0.74 M minor faults, 2.3 s of system time, ≈ 1.4 s of wall time. When the
    /// plan leaves ≥ 48 MiB of the budget free, during the main pass buffers up to a unit's size (+ 25 %) come from one
    /// heap arena and are reused (trimmed past 8 MiB): bench job 6.3 s instead of 7.7 s, 0.12 M
    /// faults, peak RSS 211–216 MiB against 203 (estimate 201, budget 256). A plan near its budget
    /// (the 4096-px blocks and 8 threads of scripts/bench-memory: estimate 255) keeps the 128 KiB
    /// threshold: 253 MiB there, where the relaxed heap measured 262–268 MiB.
    /// `memory` nil: back to the 128 KiB threshold (after the main pass).
    static func fitHeap(to memory: MemoryPlan?, budget: Int) {
        guard heapBounded else { return }
        if let memory, budget - memory.estimate >= 48 << 20 {
            let unit = memory.width * memory.height * MemoryLayout<Float>.size
            mallopt(mmapThreshold: min(unit + unit / 4, 32 << 20), trimThreshold: 8 << 20, arenas: 1)
        } else {
            mallopt(mmapThreshold: 128 << 10, trimThreshold: 128 << 10)
        }
    }

    /// Hands the heap's free pages back to the system (malloc_trim(3): every arena, free pages
    /// inside them too), between stages. Each stage frees what it allocated, but glibc keeps the
    /// freed pages of a stage's worker threads; without this the census job (sensitivity, natural
    /// breaks) peaked at 323 MiB, every stage adding to the last's leftovers; with it, 248 MiB.
    static func returnFreedMemory() {
        #if canImport(Glibc)
        typealias MallocTrim = @convention(c) (Int) -> Int32
        guard heapBounded, let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return }
        _ = unsafeBitCast(symbol, to: MallocTrim.self)(0)
        #endif
    }

    private static func mallopt(mmapThreshold: Int, trimThreshold: Int, arenas: Int? = nil) {
        #if canImport(Glibc)
        // mallopt(3) is declared in <malloc.h>, which Swift's Glibc module does not export.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        let call = unsafeBitCast(symbol, to: Mallopt.self)
        _ = call(-3, Int32(mmapThreshold))   // M_MMAP_THRESHOLD (also stops glibc's dynamic threshold)
        _ = call(-1, Int32(trimThreshold))   // M_TRIM_THRESHOLD
        if let arenas { _ = call(-8, Int32(arenas)) }   // M_ARENA_MAX
        #endif
    }
}
