import Cartography
import Foundation
import GDALKit
import RasterKernel

// Zoning that shows on the printed map (typed jobs, `product:`): the minimum mapping unit derived
// from the print scale, and the unit applied within each township, so that the zones cut at
// township lines are never slivers and never lie outside every township.

extension RunScoped {
    /// The minimum mapping unit of a typed job in hectares: `zoning.min-area-ha` when set; otherwise
    /// a square of `ProductType.legibleMillimetres` on paper at the scale the class map is printed
    /// at (e.g. 2 × 2 mm at 1:800 000 = 1.6 km × 1.6 km = 256 ha). nil for untyped jobs without it.
    func effectiveMinAreaHectares(classPath: String, runID: String) throws -> Double? {
        guard let zoning = plan.job.zoning else { return nil }
        if let ha = zoning.minAreaHectares { return ha }
        guard plan.job.product != nil else { return nil }
        let spec = MapMaker(plan: plan, runID: runID).spec(raster: classPath, title: plan.job.title ?? plan.job.name)
        let denominator: Double
        do {
            denominator = try MapRenderer.layout(for: spec).scaleDenominator
        } catch {
            throw RunError(.dataError, "\(classPath): cannot find the print scale of the zoning map: \(error)")
        }
        let side = ProductType.legibleMillimetres / 1000 * denominator
        return side * side / 10_000
    }

    /// The sieve of the zones within each township: a region below the unit (`hectares`; by pixel
    /// count on a projected grid, `sieveThreshold`, by area on a lat/long grid, as the grid-wide
    /// sieve) merges into its largest neighbour in the same township (never across a township
    /// line); pixels in no township become nodata. Each township is sieved in its bounding window,
    /// in memory, townships on `options.threads` workers (each touches only its own pixels, so the
    /// result is the same whatever the threads). Same as `gdal_sieve.py` on the zones masked to one township.
    func sieveWithinTownships(_ zones: inout [UInt8], townships: TownshipGrid, hectares: Double, connectivity: Int) throws {
        let boxes = try townshipWindows(&zones, townships: townships)
        let (threshold, rowAreas) = sieveUnit(hectares: hectares)
        let width = plan.grid.width, raster = townships.raster
        let failures = Failures(count: boxes.count)
        let next = Counter()
        zones.withUnsafeMutableBufferPointer { buffer in
            let shared = SendablePointer(buffer)
            DispatchQueue.concurrentPerform(iterations: max(1, min(options.threads, boxes.count))) { _ in
                let town: RasterBand
                do { town = try Dataset(open: raster, flags: [.raster]).band(1) } catch { return failures.set(0, error) }
                while let k = next.take(below: boxes.count) {
                    let (id, window) = boxes[k]
                    do {
                        let ids: [UInt16] = try town.read(window)
                        sieveTownship(id, window: window, gridWidth: width, zones: shared.buffer, town: ids, threshold: threshold,
                                      rowAreas: rowAreas.map { Array($0[window.y..<(window.y + window.height)]) },
                                      connectivity: connectivity)
                    } catch { failures.set(k, error) }
                }
            }
        }
        try failures.throwFirst()
    }

    /// Each township's id and bounding window, in id order; pixels of no township set to 0.
    private func townshipWindows(_ zones: inout [UInt8], townships: TownshipGrid) throws -> [(Int, PixelWindow)] {
        let g = plan.grid, bs = plan.blockSize
        let town = try Dataset(open: townships.raster, flags: [.raster]).band(1)
        let count = townships.townships.names.count
        // Bounding windows per township (columns and rows, inclusive).
        var boxes = [(Int, Int, Int, Int)](repeating: (Int.max, Int.max, -1, -1), count: count + 1)
        for block in g.blocks(width: bs, height: bs) {
            let w = block.window
            let t: [Int32] = try town.read(PixelWindow(x: w.x, y: w.y, width: w.width, height: w.height))
            for p in 0..<w.count {
                let id = Int(t[p]), (c, r) = (w.x + p % w.width, w.y + p / w.width)
                if id < 1 || id > count { zones[r * g.width + c] = 0; continue }
                let b = boxes[id]
                boxes[id] = (min(b.0, c), min(b.1, r), max(b.2, c), max(b.3, r))
            }
        }
        return (0...count).compactMap { id in
            let b = boxes[id]
            return id >= 1 && b.2 >= 0 ? (id, PixelWindow(x: b.0, y: b.1, width: b.2 - b.0 + 1, height: b.3 - b.1 + 1)) : nil
        }
    }
}

/// The first error of each task of a parallel loop, thrown in task order.
final class Failures: @unchecked Sendable {
    private let lock = NSLock()
    private var errors: [(any Error)?]
    init(count: Int) { errors = Array(repeating: nil, count: max(1, count)) }
    func set(_ index: Int, _ error: any Error) {
        lock.lock(); defer { lock.unlock() }
        if errors[index] == nil { errors[index] = error }
    }
    func throwFirst() throws {
        if let error = errors.compactMap({ $0 }).first { throw error }
    }
}

/// One township's sieve in its window: the township's zones, 0 elsewhere. GDAL merges a small
/// region into its largest neighbour in one pass; a chain of small regions (a narrow strip cut
/// by the township line) can leave some: sieved until nothing changes, at most 4 times.
/// Reads and writes only the township's own pixels of `zones` (the sieve never makes a 0 non-zero
/// nor the reverse, so its non-zero cells are the ones to write back); `town` (ids as UInt16, 2
/// bytes a cell of the window) is released before the sieve.
private func sieveTownship(_ id: Int, window: PixelWindow, gridWidth width: Int, zones: UnsafeMutableBufferPointer<UInt8>,
                           town: consuming [UInt16], threshold: Double, rowAreas: [Double]?, connectivity: Int) {
    var own = [UInt8](repeating: 0, count: window.width * window.height)
    for p in 0..<own.count where Int(town[p]) == id {
        own[p] = zones[(window.y + p / window.width) * width + window.x + p % window.width]
    }
    town = []
    for _ in 0..<4 {
        guard LabelSieve.apply(&own, width: window.width, height: window.height, threshold: threshold,
                               rowAreas: rowAreas, eightConnected: connectivity == 8) else { break }
    }
    for p in 0..<own.count where own[p] != 0 {
        zones[(window.y + p / window.width) * width + window.x + p % window.width] = own[p]
    }
}
