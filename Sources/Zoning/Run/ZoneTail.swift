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

    /// The majority filter of a grid's classes in place, in strips of rows on `options.threads` workers
    /// (`MajorityFilter.applyInPlace`):
    /// each pixel depends only on the input, so the result is the same whatever the threads.
    func majorityInMemory(_ zones: inout [UInt8], filter: MajorityFilter, stage: String) {
        let g = plan.grid
        zones.withUnsafeMutableBufferPointer { filter.applyInPlace($0, width: g.width, height: g.height, workers: options.threads) }
        report(stage, 1, 1)
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

    /// The polygon source of `polygonizeZones`, handed to `body`: a MEM band of the grid whose
    /// value is one per (township, zone) pair, 0 = nodata; `zones` is released afterwards. Byte
    /// (town × K + zone, K the largest zone) while the pairs fit — computed in place in `zones`,
    /// which the MEM band reads without a copy — else township id × 256 + zone as UInt16 (≤ 255
    /// townships) or Int32 in a band of its own. GDAL's polygon enumeration compares values only
    /// for equality, so the features and their order do not depend on the encoding. Returns
    /// `decode`: a value's zone and township id.
    func withCompositeZones(_ zones: inout [UInt8], townships: TownshipGrid?, srs: SpatialReference,
                            _ body: (RasterBand) throws -> Void) throws -> @Sendable (Int) -> (zone: Int, town: Int) {
        let g = plan.grid
        let count = townships?.townships.names.count ?? 0, k = Int(zones.max() ?? 0)
        let type: PixelType = k == 0 || (count + 1) * k <= 255 ? .byte : count <= 255 ? .uint16 : .int32
        let townBand = try townships.map { try Dataset(open: $0.raster, flags: [.raster]).band(1) }
        let what = townships?.raster ?? ""
        defer { zones = [] }
        func describe(_ ds: Dataset) throws -> RasterBand {
            try ds.setGeoTransform(g.geoTransform)
            try ds.setSpatialReference(srs)
            let band = try ds.band(1)
            try band.setNoDataValue(0)
            return band
        }
        if type == .byte {
            try timed("composite") {
                if let townBand { try codeInPlace(&zones, town: townBand, townships: count, classes: max(k, 1), what: what) }
            }
            try zones.withUnsafeMutableBufferPointer { buffer in
                let address = UInt(bitPattern: buffer.baseAddress!)
                let ds = try Dataset(open: "MEM:::DATAPOINTER=\(address),PIXELS=\(g.width),LINES=\(g.height),BANDS=1,DATATYPE=Byte",
                                     flags: [.raster])
                try body(try describe(ds))
                try ds.close()
            }
            return { v in ((v - 1) % max(k, 1) + 1, (v - 1) / max(k, 1)) }
        }
        let ds = try Dataset.create(driver: "MEM", path: "", width: g.width, height: g.height, bands: 1, type: type)
        let band = try describe(ds)
        try timed("composite") {
            if type == .uint16 {
                try fillComposite(band, zones, town: townBand) { t, z -> UInt16 in
                    guard let v = UInt16(exactly: t * 256 + Int32(z)) else { throw RunError(.software, "\(what): township id \(t) outside 0…255") }
                    return v
                }
            } else {
                try fillComposite(band, zones, town: townBand) { t, z -> Int32 in t * 256 + Int32(z) }
            }
        }
        zones = []
        try body(band)
        try ds.close()
        return { v in (v % 256, v / 256) }
    }

    /// Byte composite in place: every zone pixel z becomes township id × `classes` + z (the id
    /// read block by block from `town`), pixels with no zone stay 0.
    private func codeInPlace(_ zones: inout [UInt8], town: RasterBand, townships count: Int, classes k: Int, what: String) throws {
        let g = plan.grid, bs = plan.blockSize
        try zones.withUnsafeMutableBufferPointer { z in
            for block in g.blocks(width: bs, height: bs) {
                let w = block.window
                let ids: [Int32] = try town.read(PixelWindow(x: w.x, y: w.y, width: w.width, height: w.height))
                for r in 0..<w.height {
                    let row = (w.y + r) * g.width + w.x, src = r * w.width
                    for c in 0..<w.width where z[row + c] != 0 {
                        let t = Int(ids[src + c])
                        guard t >= 0 && t <= count else { throw RunError(.software, "\(what): township id \(t) outside 0…\(count)") }
                        z[row + c] = UInt8(t * k + Int(z[row + c]))
                    }
                }
            }
        }
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
