import Foundation
import GDALKit
import RasterKernel

// Reading the exposure totals' layers (`zoning.totals`): warped onto the grid once per run, on all
// workers, and summed on the calling thread in grid block order, so the sums are the same whatever
// the thread count. The prevention totals read the values the totals stage read (`LayerBlockCache`).

/// The totals' layers on the grid: each a warped VRT (Float64, `-r average` or `-r sum`) and the
/// values the first pass read from it.
struct TotalLayers: Sendable {
    let paths: [String]
    let caches: [LayerBlockCache?]
}

extension RunScoped {
    /// Every total's values, block by block (the grid's blocks, row by row), read on the run's
    /// workers and handed to `body` on this thread in block order: (block index, window, values
    /// per total). At most workers + 1 blocks of values are held at once.
    func forEachTotalsBlock(_ layers: TotalLayers, _ body: (Int, Window, [[Double]]) throws -> Void) throws {
        let blocks = plan.grid.blocks(width: plan.blockSize, height: plan.blockSize)
        let workers = min(options.threads, max(1, blocks.count))
        let pipeline = BlockPipeline<(Int, [[Double]])>(total: blocks.count, workers: workers, capacity: workers + 1)
        // What a read error names: the total's source and key.
        let names = zip(plan.totals, plan.job.zoning?.totals ?? []).map { "\($0.definition.source): zoning.totals.\($1.name)" }
        let read = { @Sendable (bands: [RasterBand], i: Int) throws -> [[Double]] in
            try readTotals(bands, layers: layers, names: names, window: blocks[i].window)
        }
        let work = { @Sendable in
            defer { pipeline.workerFinished() }
            do {
                let bands = try layers.paths.map { try Dataset(open: $0, flags: [.raster]).band(1) }
                while let i = pipeline.take() { pipeline.submit((i, try read(bands, i))) }
            } catch let error as RunError {
                pipeline.fail(error)
            } catch {
                pipeline.fail(RunError(.ioError, "zoning.totals: opening the aligned layers: \((error as? GDALError)?.message ?? "\(error)")"))
            }
        }
        var pending: [Int: [[Double]]] = [:]
        var next = 0
        try pipeline.drive(workers: workers, gdalConfig: plan.job.gdalConfig, work: work) { i, values in
            pending[i] = values
            while let v = pending.removeValue(forKey: next) {
                try body(next, blocks[next].window, v)
                pipeline.written()
                next += 1
            }
        }
        guard next == blocks.count else { throw RunError(.software, "internal error: \(next) of \(blocks.count) totals blocks were summed") }
    }
}

/// One block of every total: from the cache when a pass read it before, else from the warped VRT.
private func readTotals(_ bands: [RasterBand], layers: TotalLayers, names: [String], window w: Window) throws -> [[Double]] {
    let window = PixelWindow(x: w.x, y: w.y, width: w.width, height: w.height)
    return try bands.indices.map { i in
        var values = [Double](repeating: 0, count: w.count)
        try values.withUnsafeMutableBufferPointer { pointer in
            let buffer = pointer
            let read = {
                do {
                    try bands[i].read(window, into: buffer)
                } catch let error as GDALError {
                    throw RunError(.ioError, "\(names[i]): reading block \(w): \(error.message)")
                }
            }
            if let cache = layers.caches[i] { try cache.readThrough(window, into: buffer, read) } else { try read() }
        }
        return values
    }
}
