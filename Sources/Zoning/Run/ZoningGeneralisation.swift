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

    /// The sieve of the zones within each township: a region smaller than `threshold` pixels merges
    /// into its largest neighbour in the same township (never across a township line); pixels in no
    /// township become nodata. Each township is sieved in its bounding window only, so the whole
    /// grid is read about once. Same as `gdal_sieve.py` on the zones masked to one township.
    func sieveWithinTownships(zonesPath: String, townships: TownshipGrid, threshold: Int, connectivity: Int) throws {
        let g = plan.grid, bs = plan.blockSize
        let zonesDS = try Dataset(open: zonesPath, flags: [.raster, .update])
        let zones = try zonesDS.band(1)
        let town = try Dataset(open: townships.raster, flags: [.raster]).band(1)
        let count = townships.townships.names.count
        // Bounding windows per township (columns and rows, inclusive); pixels of no township → 0.
        var boxes = [(Int, Int, Int, Int)](repeating: (Int.max, Int.max, -1, -1), count: count + 1)
        for block in g.blocks(width: bs, height: bs) {
            let w = block.window
            let window = PixelWindow(x: w.x, y: w.y, width: w.width, height: w.height)
            var z: [UInt8] = try zones.read(window)
            let t: [Int32] = try town.read(window)
            var changed = false
            for p in 0..<w.count {
                let id = Int(t[p])
                if id < 1 || id > count {
                    if z[p] != 0 { z[p] = 0; changed = true }
                    continue
                }
                let (c, r) = (w.x + p % w.width, w.y + p / w.width)
                let b = boxes[id]
                boxes[id] = (min(b.0, c), min(b.1, r), max(b.2, c), max(b.3, r))
            }
            if changed { try z.withUnsafeBufferPointer { try zones.write(window, from: $0) } }
        }
        for id in 1...max(1, count) where id <= count && boxes[id].2 >= 0 {
            let b = boxes[id]
            let window = PixelWindow(x: b.0, y: b.1, width: b.2 - b.0 + 1, height: b.3 - b.1 + 1)
            try sieveTownship(id, window: window, zones: zones, town: town, threshold: threshold, connectivity: connectivity)
        }
        try zonesDS.close()
    }

    /// One township's sieve in its window (an in-memory band: the township's zones, 0 elsewhere).
    private func sieveTownship(_ id: Int, window: PixelWindow, zones: RasterBand, town: RasterBand,
                               threshold: Int, connectivity: Int) throws {
        var z: [UInt8] = try zones.read(window)
        let t: [Int32] = try town.read(window)
        let inside = t.map { Int($0) == id }
        let own = zip(z, inside).map { $1 ? $0 : 0 }
        let memory = try Dataset.create(driver: "MEM", path: "", width: window.width, height: window.height, bands: 1, type: .byte)
        let band = try memory.band(1)
        try band.setNoDataValue(0)
        let all = PixelWindow(x: 0, y: 0, width: window.width, height: window.height)
        try own.withUnsafeBufferPointer { try band.write(all, from: $0) }
        // GDAL merges a small region into its largest neighbour in one pass; a chain of small
        // regions (a narrow strip cut by the township line) can leave some: sieve until nothing changes.
        var sieved = own
        for _ in 0..<4 {
            try band.sieve(into: band, mask: band.maskBand(), threshold: threshold, eightConnected: connectivity == 8)
            let next: [UInt8] = try band.read(all)
            if next == sieved { break }
            sieved = next
        }
        for p in 0..<z.count where inside[p] { z[p] = sieved[p] }
        try z.withUnsafeBufferPointer { try zones.write(window, from: $0) }
    }
}
