import Foundation
import GDALKit
import RasterKernel

extension RunScoped {
    /// Source pixels read for the counts at most: a few times the grid, at least 1 Mi.
    static func scanSampleLimit(gridPixels: Int) -> Int { max(4 * gridPixels, 1 << 20) }

    /// The source's pixel window that overlaps the grid (with a margin for resampling kernels), or
    /// the whole source when the grid cannot be located in it (rotated geotransform, no transform).
    func overlapWindow(_ ds: Dataset) -> PixelWindow {
        let whole = PixelWindow(x: 0, y: 0, width: ds.width, height: ds.height)
        guard let gt = ds.geoTransform, gt[2] == 0, gt[4] == 0, gt[1] != 0, gt[5] != 0, let srs = ds.spatialReference,
              let gridSRS = try? SpatialReference(definition: plan.crsWKT),
              let b = try? gridSRS.transformBounds(Bounds(minX: plan.grid.minX, minY: plan.grid.minY, maxX: plan.grid.maxX, maxY: plan.grid.maxY), to: srs)
        else { return whole }
        let xs = [(b.minX - gt[0]) / gt[1], (b.maxX - gt[0]) / gt[1]], ys = [(b.minY - gt[3]) / gt[5], (b.maxY - gt[3]) / gt[5]]
        guard xs.allSatisfy(\.isFinite), ys.allSatisfy(\.isFinite) else { return whole }
        func clamp(_ v: Double, _ hi: Int) -> Int { Int(Swift.min(Swift.max(v, 0), Double(hi))) }
        let x0 = clamp(xs.min()!.rounded(.down) - 2, ds.width), x1 = clamp(xs.max()!.rounded(.up) + 2, ds.width)
        let y0 = clamp(ys.min()!.rounded(.down) - 2, ds.height), y1 = clamp(ys.max()!.rounded(.up) + 2, ds.height)
        guard x1 > x0, y1 > y0 else { return whole }
        return PixelWindow(x: x0, y: y0, width: x1 - x0, height: y1 - y0)
    }

    /// Counts valid, nodata, NaN and ±inf values of a raster source over the part that overlaps
    /// the grid, in tiles of at most 1024 × 1024 values. A source far finer than the grid is read
    /// at a coarser step (GDAL takes an overview when there is one), so at most
    /// `scanSampleLimit` values are read whatever the source's size: never full-width strips of
    /// the whole source. The counts are of the values read.
    func scanSource(_ source: SourcePlan) throws -> SourceTally.Counts {
        let def = source.definition
        do {
            let ds = try Dataset(open: def.source, flags: [.raster])
            let band = try ds.band(def.band)
            let nodata = def.nodata ?? band.noDataValue
            let window = overlapWindow(ds)
            let limit = Runner.scanSampleLimit(gridPixels: plan.grid.pixelCount)
            let step = Swift.max(1, Int((Double(window.count) / Double(limit)).squareRoot().rounded(.up)))
            let tile = 1024 * step
            var buffer = [Float](repeating: 0, count: 1024 * 1024)
            var valid = 0, nd = 0, nan = 0, inf = 0
            let noDataValue = nodata.map(Float.init)
            var y = window.y
            while y < window.y + window.height {
                let h = Swift.min(tile, window.y + window.height - y)
                var x = window.x
                while x < window.x + window.width {
                    let w = Swift.min(tile, window.x + window.width - x)
                    let bw = Swift.max(1, w / step), bh = Swift.max(1, h / step)
                    try buffer.withUnsafeMutableBufferPointer {
                        try band.read(PixelWindow(x: x, y: y, width: w, height: h), into: $0, width: bw, height: bh)
                    }
                    for v in buffer[0..<(bw * bh)] {
                        if v.isNaN { if noDataValue?.isNaN == true { nd += 1 } else { nan += 1 } }
                        else if v.isInfinite { inf += 1 }
                        else if v == noDataValue { nd += 1 }
                        else { valid += 1 }
                    }
                    x += w
                }
                y += h
            }
            if valid == 0 {
                throw noValidPixels(source, .init(valid: valid, nodata: nd, nan: nan, infinite: inf))
            }
            return .init(valid: valid, nodata: nd, nan: nan, infinite: inf)
        } catch { throw inputError(error, file: def.source, what: "layers.\(source.key) (layer \(def.name))") }
    }
}
