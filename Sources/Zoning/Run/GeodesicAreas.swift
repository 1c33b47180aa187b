import Foundation
import GDALKit
import RasterKernel

extension RunScoped {
    /// On a lat/long grid: per township id (index 0 = no township) the area in ha of its classified
    /// cells (class ≥ 1), each counted with its own row's area; nil on a projected grid, where a
    /// count × the pixel area is the area.
    func classifiedTownshipHectares(classPath: String, townships: TownshipGrid) throws -> [Double]? {
        guard plan.ellipsoid != nil else { return nil }
        let n = townships.townships.names.count
        var tally = AreaTally(plan.cellAreas, buckets: n + 1)
        let classBand = try Dataset(open: classPath, flags: [.raster]).band(1)
        let townBand = try Dataset(open: townships.raster, flags: [.raster]).band(1)
        for block in plan.grid.blocks(width: plan.blockSize, height: plan.blockSize) {
            let w = block.window
            let window = PixelWindow(x: w.x, y: w.y, width: w.width, height: w.height)
            let classes: [UInt8] = try classBand.read(window)
            let town: [Int32] = try townBand.read(window)
            for p in 0..<w.count where classes[p] != 0 && town[p] > 0 && Int(town[p]) <= n {
                tally.add(Int(town[p]), row: w.y + p / w.width)
            }
        }
        return (0...n).map { tally.hectares($0, count: 0) }
    }
}

extension RunScoped {
    /// The minimum mapping unit on a lat/long grid: GDAL's sieve with each region measured by the
    /// sum of its cells' ellipsoidal areas (`AreaSieve`), over the whole band in memory (value 0 is
    /// nodata, as the band's mask makes it for GDAL's sieve).
    func sieveByArea(_ band: RasterBand, hectares: Double, eightConnected: Bool) throws {
        let g = plan.grid
        let window = PixelWindow(x: 0, y: 0, width: g.width, height: g.height)
        var values: [UInt8] = try band.read(window)
        AreaSieve.apply(&values, width: g.width, height: g.height, rowAreas: plan.cellAreas.rows, threshold: hectares * 10_000,
                        eightConnected: eightConnected)
        try values.withUnsafeBufferPointer { try band.write(window, from: $0) }
    }
}
