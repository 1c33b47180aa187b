import Foundation
import GDALKit
import RasterKernel

// The zoning tail in memory: the class raster read once, the majority filter on all workers, the
// sieves (`LabelSieve`) on the zones in memory, and the polygon source a MEM band, so no
// temporary GeoTIFF is written and read back between the steps.

extension RunScoped {
    /// The whole first band of a Byte raster of the grid, row by row.
    func readGrid(_ path: String) throws -> [UInt8] {
        let g = plan.grid
        return try Dataset(open: path, flags: [.raster]).band(1).read(PixelWindow(x: 0, y: 0, width: g.width, height: g.height))
    }

    /// The majority filter of a grid's classes, in strips of rows on `options.threads` workers;
    /// each pixel depends only on the input, so the result is the same whatever the threads.
    func majorityInMemory(_ classes: [UInt8], filter: MajorityFilter, stage: String) -> [UInt8] {
        let g = plan.grid
        let grid = Window(x: 0, y: 0, width: g.width, height: g.height)
        let rows = 64, strips = (g.height + rows - 1) / rows
        var zones = [UInt8](repeating: 0, count: classes.count)
        let next = Counter()
        let workers = max(1, min(options.threads, strips))
        classes.withUnsafeBufferPointer { input in
            zones.withUnsafeMutableBufferPointer { output in
                let source = SendablePointer(UnsafeMutableBufferPointer(mutating: input)), target = SendablePointer(output)
                DispatchQueue.concurrentPerform(iterations: workers) { _ in
                    while let s = next.take(below: strips) {
                        let strip = Window(x: 0, y: s * rows, width: g.width, height: min(rows, g.height - s * rows))
                        filter.applyPacked(input: UnsafeBufferPointer(source.buffer), inputWindow: grid, block: strip, gridWidth: g.width,
                                           gridHeight: g.height, output: target.buffer, outputWindow: grid)
                    }
                }
            }
        }
        report(stage, strips, strips)
        return zones
    }

    /// The grid-wide minimum mapping unit in memory: GDAL's sieve by pixel count on a projected
    /// grid (`sieveThreshold`), by area on a lat/long grid (regions measured by their cells' row areas).
    func sieveInMemory(_ zones: inout [UInt8], hectares: Double, connectivity: Int) {
        let g = plan.grid, unit = sieveUnit(hectares: hectares)
        LabelSieve.apply(&zones, width: g.width, height: g.height, threshold: unit.threshold, rowAreas: unit.rowAreas,
                         eightConnected: connectivity == 8)
    }

    /// Writes generalised zones as a tiled Byte GeoTIFF of the grid with their palette and names.
    func writeZones(_ zones: [UInt8], to path: String, colorTable: [(UInt8, UInt8, UInt8, UInt8)], categoryNames: [String],
                    description: String) throws {
        let g = plan.grid, bs = plan.blockSize
        let ds = try Dataset.create(driver: "GTiff", path: path, width: g.width, height: g.height, bands: 1, type: .byte,
                                    options: ["TILED=YES", "BLOCKXSIZE=\(bs)", "BLOCKYSIZE=\(bs)"])
        try ds.setGeoTransform(g.geoTransform)
        try ds.setSpatialReference(try SpatialReference(definition: plan.crsWKT))
        let band = try ds.band(1)
        try band.setNoDataValue(0)
        try band.setColorTable(colorTable)
        try band.setCategoryNames(categoryNames)
        band.setDescription(description)
        try zones.withUnsafeBufferPointer { try band.write(PixelWindow(x: 0, y: 0, width: g.width, height: g.height), from: $0) }
        try ds.close()
    }

    /// The polygon source of `polygonizeZones`: a MEM band of the grid whose value is one per
    /// (township, zone) pair, 0 = nodata, filled in one pass; `zones` is released once it is
    /// filled. Byte (town × K + zone, K the largest zone) while the pairs fit, else township id ×
    /// 256 + zone as UInt16 (≤ 255 townships) or Int32. GDAL's polygon enumeration compares values
    /// only for equality, so the features and their order do not depend on the encoding.
    /// `decode` gives a value's zone and township id.
    func compositeZones(_ zones: inout [UInt8], townships: TownshipGrid?, srs: SpatialReference) throws
        -> (source: Dataset, decode: @Sendable (Int) -> (zone: Int, town: Int)) {
        let g = plan.grid
        let count = townships?.townships.names.count ?? 0, k = Int(zones.max() ?? 0)
        let type: PixelType = k == 0 || (count + 1) * k <= 255 ? .byte : count <= 255 ? .uint16 : .int32
        let ds = try Dataset.create(driver: "MEM", path: "", width: g.width, height: g.height, bands: 1, type: type)
        try ds.setGeoTransform(g.geoTransform)
        try ds.setSpatialReference(srs)
        let band = try ds.band(1)
        try band.setNoDataValue(0)
        let townBand = try townships.map { try Dataset(open: $0.raster, flags: [.raster]).band(1) }
        let what = townships?.raster ?? ""
        switch type {
        case .byte:
            try fillComposite(band, zones, town: townBand) { t, z -> UInt8 in
                guard t >= 0 && Int(t) <= count else { throw RunError(.software, "\(what): township id \(t) outside 0…\(count)") }
                return UInt8(Int(t) * k + Int(z))
            }
        case .uint16:
            try fillComposite(band, zones, town: townBand) { t, z -> UInt16 in
                guard let v = UInt16(exactly: t * 256 + Int32(z)) else { throw RunError(.software, "\(what): township id \(t) outside 0…255") }
                return v
            }
        default:
            try fillComposite(band, zones, town: townBand) { t, z -> Int32 in t * 256 + Int32(z) }
        }
        zones = []
        if type == .byte { return (ds, { v in ((v - 1) % max(k, 1) + 1, (v - 1) / max(k, 1)) }) }
        return (ds, { v in (v % 256, v / 256) })
    }

    /// Writes `code(township id, zone)` of every pixel with a zone (0 elsewhere) into `band`, block by block.
    private func fillComposite<T: GDALPixel & FixedWidthInteger>(_ band: RasterBand, _ zones: [UInt8], town: RasterBand?,
                                                                  code: (Int32, UInt8) throws -> T) throws {
        let g = plan.grid, bs = plan.blockSize
        for block in g.blocks(width: bs, height: bs) {
            let w = block.window
            let window = PixelWindow(x: w.x, y: w.y, width: w.width, height: w.height)
            let town: [Int32] = try town?.read(window) ?? [Int32](repeating: 0, count: w.count)
            var values = [T](repeating: 0, count: w.count)
            for p in 0..<w.count {
                let z = zones[(w.y + p / w.width) * g.width + w.x + p % w.width]
                if z != 0 { values[p] = try code(town[p], z) }
            }
            try values.withUnsafeBufferPointer { try band.write(window, from: $0) }
        }
    }
}
