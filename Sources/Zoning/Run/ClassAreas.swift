import Foundation
import GDALKit
import RasterKernel

extension RunScoped {
    /// Hectares per class value (index = value, 0 = nodata) of the class raster with `counts` cells
    /// each: count × the pixel area on a projected grid; on a lat/long grid each cell counted with
    /// its own row's ellipsoidal area (one pass over the raster). The county table of the report.
    func classHectares(classPath: String, counts: [Int]) throws -> [Double] {
        var tally = AreaTally(plan.cellAreas, buckets: counts.count)
        if plan.ellipsoid != nil {
            let band = try Dataset(open: classPath, flags: [.raster]).band(1)
            for block in plan.grid.blocks(width: plan.blockSize, height: plan.blockSize) {
                let w = block.window
                let classes: [UInt8] = try band.read(PixelWindow(x: w.x, y: w.y, width: w.width, height: w.height))
                for p in 0..<w.count where Int(classes[p]) < counts.count { tally.add(Int(classes[p]), row: w.y + p / w.width) }
            }
        }
        return counts.indices.map { tally.hectares($0, count: counts[$0]) }
    }
}
