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

    /// The streamed COG writers (index Float32 + class Byte, 5 bytes a pixel): the full-width tile
    /// rows being filled — the units in flight span two rows of units, each at most
    /// max(tile, unit height) rows — and one tile row per overview level (together less than one
    /// full-resolution tile row).
    static func writerBytes(gridWidth: Int, tileSize: Int, unitHeight: Int) -> Int {
        (2 * max(tileSize, unitHeight) + tileSize) * gridWidth * 5
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
    public static func make(grid: GridGeometry, layers: Int, blockSize: Int, threads: Int,
                            budget: Int, cacheBytes: Int) -> MemoryPlan {
        let perPixel = bytesPerPixel(layers: layers)
        let tile = min(blockSize, 1024)
        let width = blockSize
        var height = blockSize
        func writer(_ h: Int) -> Int { writerBytes(gridWidth: grid.width, tileSize: tile, unitHeight: h) }
        let base = max(0, budget - cacheBytes - fixedBytes)
        // Whole blocks when one fits; otherwise halve the rows of a unit (strips of a block).
        // One unit computing and one waiting for the writer must fit beside the COG writers' buffers.
        while height > 16 && (perPixel + 10) * width * height + workerBytes + tileScratchBytes(tileSize: tile) + writer(height) > base {
            height = max(16, height / 2)
        }
        let available = max(0, base - writer(height))
        let unit = perPixel * width * height + workerBytes + tileScratchBytes(tileSize: tile)
        let units = (grid.width + width - 1) / width * ((grid.height + height - 1) / height)
        let workers = max(1, min(threads, units, available / max(unit, 1)))
        // A unit waiting for the writer costs its results only (index and classes, ~10 of perPixel).
        let spare = max(0, (available - workers * unit) / max(10 * width * height, 1))
        let inFlight = workers + max(1, min(workers, spare))
        return MemoryPlan(width: width, height: height, workers: workers, inFlight: inFlight,
                          estimate: cacheBytes + fixedBytes + writer(height) + workers * unit + (inFlight - workers) * 10 * width * height)
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

extension Runner {
    /// The compute stage's cut for this run (see `MemoryPlan`).
    var memoryPlan: MemoryPlan {
        MemoryPlan.make(grid: plan.grid, layers: plan.sources.count + (plan.mask == nil ? 0 : 1), blockSize: plan.blockSize,
                        threads: options.threads, budget: options.maxMemory, cacheBytes: options.cacheBytes)
    }

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
        #if canImport(Glibc)
        // mallopt(3) is declared in <malloc.h>, which Swift's Glibc module does not export.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        let mMmapThreshold: Int32 = -3   // M_MMAP_THRESHOLD
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") {
            _ = unsafeBitCast(symbol, to: Mallopt.self)(mMmapThreshold, 128 << 10)
        }
        #endif
    }
}
