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
    /// Per total, the model layer whose warp it shares (`layers.<key>`, its cache the layer's
    /// Float64 values: `Plan.totalsSharingALayerWarp`), nil for its own warp.
    var sharedWarps: [String?] = []
    /// Per total, the own warp kernel that reads its VRT (`WarpKernel`: average or sum), nil: GDAL's warper.
    var kernels: [WarpKernel?] = []
}

/// One block of the totals and what their sums are keyed by, read on a worker.
struct TotalsBlock {
    /// Every total's values (NaN: no data).
    let values: [[Double]]
    /// The Byte rasters of the grid asked for (classes, previous classes, categories).
    let bytes: [[UInt8]]
    /// The township ids, when asked for.
    let townships: [Int32]?
    /// Whether each pixel is inside the grid's mask (nil: no mask).
    let inside: [Bool]?
}

extension RunScoped {
    /// Every total's values, block by block (the grid's blocks, row by row), with the same window
    /// of the Byte rasters of the grid in `bytes`, of `townships` and of the mask, read on the run's workers and handed
    /// to `body` on this thread in block order, so the sums are the same whatever the thread count.
    /// At most `workers` blocks are held at once (they overlap the zone stage: `Pipeline.Step.beside`).
    func forEachTotalsBlock(_ layers: TotalLayers, bytes: [String] = [], townships: String? = nil, mask: AlignedLayer? = nil,
                            _ body: (Int, Window, TotalsBlock) throws -> Void) throws {
        let blocks = plan.grid.blocks(width: plan.blockSize, height: plan.blockSize)
        let workers = min(options.threads, max(1, blocks.count))
        let pipeline = BlockPipeline<(Int, TotalsBlock)>(total: blocks.count, workers: workers, capacity: workers)
        // What a read error names: the total's source and key.
        let names = zip(plan.totals, plan.job.zoning?.totals ?? []).map { "\($0.definition.source): zoning.totals.\($1.name)" }
        let unit = plan.blockSize * plan.blockSize
        let work = { @Sendable in
            defer { pipeline.workerFinished() }
            do {
                let bands = try layers.paths.map { try Dataset(open: $0, flags: [.raster]).band(1) }
                let kernels = try layers.paths.indices.map { i in
                    try (i < layers.kernels.count ? layers.kernels[i] : nil).map { try WarpKernelReader($0) }
                }
                let byteBands = try bytes.map { try Dataset(open: $0, flags: [.raster]).band(1) }
                let townBand = try townships.map { try Dataset(open: $0, flags: [.raster]).band(1) }
                let maskReader = try mask?.reader()
                var maskValues = [Float](repeating: 0, count: mask == nil ? 0 : unit)
                while let i = pipeline.take() {
                    let w = blocks[i].window
                    let window = PixelWindow(x: w.x, y: w.y, width: w.width, height: w.height)
                    let values = try readTotals(bands, kernels: kernels, layers: layers, names: names, window: w)
                    func read<T: GDALPixel & Numeric>(_ band: RasterBand, _ path: String) throws -> [T] {
                        do { return try band.read(window) } catch let error as GDALError {
                            throw RunError(.ioError, "\(path): reading block \(w): \(error.message)")
                        }
                    }
                    let byteValues: [[UInt8]] = try byteBands.indices.map { try read(byteBands[$0], bytes[$0]) }
                    let townValues: [Int32]? = try townBand.map { try read($0, townships!) }
                    var inside: [Bool]?
                    if let maskReader {
                        try maskValues.withUnsafeMutableBufferPointer {
                            try maskReader.read(window, into: UnsafeMutableBufferPointer(rebasing: $0[0..<w.count]))
                        }
                        inside = maskValues[0..<w.count].map { $0 != 0 }
                    }
                    pipeline.submit((i, TotalsBlock(values: values, bytes: byteValues, townships: townValues, inside: inside)))
                }
            } catch let error as RunError {
                pipeline.fail(error)
            } catch {
                pipeline.fail(RunError(.ioError, "zoning.totals: opening the aligned layers: \((error as? GDALError)?.message ?? "\(error)")"))
            }
        }
        var pending: [Int: TotalsBlock] = [:]
        var next = 0
        try pipeline.drive(workers: workers, gdalConfig: plan.job.gdalConfig, work: work) { i, block in
            pending[i] = block
            while let b = pending.removeValue(forKey: next) {
                try body(next, blocks[next].window, b)
                pipeline.written()
                next += 1
            }
        }
        guard next == blocks.count else { throw RunError(.software, "internal error: \(next) of \(blocks.count) totals blocks were summed") }
    }
}

/// One block of every total: from the cache when a pass read it before, else from the warped VRT.
private func readTotals(_ bands: [RasterBand], kernels: [WarpKernelReader?], layers: TotalLayers, names: [String],
                        window w: Window) throws -> [[Double]] {
    let window = PixelWindow(x: w.x, y: w.y, width: w.width, height: w.height)
    return try bands.indices.map { i in
        var values = [Double](repeating: 0, count: w.count)
        try values.withUnsafeMutableBufferPointer { pointer in
            let buffer = pointer
            let read = {
                do {
                    if let kernel = kernels[i] { try kernel.readDouble(window, into: buffer) } else { try bands[i].read(window, into: buffer) }
                } catch let error as GDALError {
                    throw RunError(.ioError, "\(names[i]): reading block \(w): \(error.message)")
                }
            }
            if let cache = layers.caches[i] { try cache.readThrough(window, into: buffer, read) } else { try read() }
        }
        return values
    }
}
