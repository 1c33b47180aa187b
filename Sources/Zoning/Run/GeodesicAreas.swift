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
