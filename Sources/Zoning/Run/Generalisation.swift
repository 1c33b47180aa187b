import Foundation
import FilePaths
import GDALKit
import RasterKernel

// What the zone and prevention stages share: generalising a class raster (majority filter,
// minimum mapping unit) and polygons cut by township.

extension RunScoped {
    /// Pixels a region needs to survive the minimum mapping unit: ⌈area / pixel area⌉ (on a
    /// lat/long grid, where the sieve measures areas (`sieveInMemory`), the count of mean cells the
    /// manifest shows, `Plan.sieveCellArea`).
    /// A unit larger than the grid removes every region but the largest, so the threshold is capped
    /// at the grid's pixel count (and at GDAL's Int32); never a trap, whatever `min-area-ha` is.
    func sieveThreshold(hectares: Double) -> Int {
        let pixels = (hectares * 10_000 / plan.sieveCellArea).rounded(.up)
        let cap = min(plan.grid.pixelCount + 1, Int(Int32.max))
        guard pixels.isFinite, pixels < Double(cap) else { return cap }
        return max(1, Int(pixels))
    }

    /// The minimum mapping unit as `LabelSieve` takes it: pixels (`sieveThreshold`) on a projected
    /// grid; square metres with the rows' cell areas on a lat/long grid (regions measured by area).
    func sieveUnit(hectares: Double) -> (threshold: Double, rowAreas: [Double]?) {
        plan.ellipsoid == nil ? (Double(sieveThreshold(hectares: hectares)), nil) : (hectares * 10_000, plan.cellAreas.rows)
    }

    /// One polygon per connected region of a zones raster within one township, written to layer
    /// `layer` of a new or existing GeoPackage with the fields `valueField`, one text field per
    /// label, `area_ha`, `township_code`, `township` and `township_en`. Returns the number of polygons.
    ///
    /// With townships, the zones are cut by the township raster the statistics count with (the
    /// pixel-centre rule): the polygonised value is one per township and class (`compositeZones`), so each polygon lies
    /// in exactly one township and the areas per township sum to the statistics' valid area.
    /// Polygons are GEOS-valid MultiPolygons: `MakeValid` repairs only the invalid ones (rings that
    /// touch themselves at a vertex, as 8-connected regions make), and the area must not change.
    func polygonizeZones(zones: inout [UInt8], gpkg: String, layer layerName: String, valueField: String,
                         labels: [(field: String, text: (Int) -> String?)], townships: TownshipGrid?,
                         connectivity: Int) throws -> Int {
        let srs = try SpatialReference(definition: plan.crsWKT)
        let memory = try Dataset.createVector(driver: "Memory", path: "")
        let raw = try memory.createLayer(layerName, srs: srs, geometry: .polygon)
        try raw.createField("value", kind: .integer)
        // The value to polygonise: one per township and class (0 = nodata), in memory; `zones` released.
        let decode = try withCompositeZones(&zones, townships: townships, srs: srs) { band in
            try timed("GDALPolygonize") { try band.polygonize(into: raw, mask: band.maskBand(), field: 0, eightConnected: connectivity == 8) }
        }

        let out = FileManager.default.fileExists(atPath: gpkg)
            ? try Dataset(open: gpkg, flags: [.vector, .update])
            : try Dataset.createVector(driver: "GPKG", path: gpkg)
        let layer = try out.createLayer(layerName, srs: srs, geometry: .multiPolygon)
        try layer.createField(valueField, kind: .integer)
        for label in labels { try layer.createField(label.field, kind: .string) }
        try layer.createField("area_ha", kind: .real)
        try layer.createField("township_code", kind: .string)
        try layer.createField("township", kind: .string)
        try layer.createField("township_en", kind: .string)
        let areaField = labels.count + 1
        var count = 0, repaired = 0
        try layer.inTransaction {
            try layer.appendFeatures(from: raw) { src, f in
                count += 1
                let (value, town) = decode(src.integer(0))
                f.set(0, value)
                for (i, label) in labels.enumerated() {
                    if let text = label.text(value) { f.set(i + 1, text) }
                }
                let repair = try f.makeValidMultiPolygon()
                if !repair.wasValid {
                    repaired += 1
                    // MakeValid must not change the area (1e-6 ha = 0.01 m²; ~1e-12 square degrees).
                    guard abs(repair.areaAfter - repair.areaBefore) <= (plan.ellipsoid == nil ? 0.01 : 1e-12) else {
                        throw RunError(.software, "\(gpkg): \(layerName): repairing polygon \(count) changed its area from \(repair.areaBefore) to \(repair.areaAfter) m²")
                    }
                }
                f.set(areaField, try plan.ellipsoid.map { try $0.graticuleArea(polygons: f.polygonRings()) / 10_000 } ?? repair.areaAfter / 10_000)
                if let towns = townships?.townships, town >= 1, town <= towns.names.count {
                    if !towns.codes[town - 1].isEmpty { f.set(areaField + 1, towns.codes[town - 1]) }
                    f.set(areaField + 2, towns.names[town - 1])
                    if !towns.english[town - 1].isEmpty { f.set(areaField + 3, towns.english[town - 1]) }
                }
            }
        }
        try out.close()
        if repaired > 0 {
            logger.debug("repaired invalid polygons", metadata: ["layer": "\(layerName)", "count": "\(repaired)"])
        }
        return count
    }

    /// Majority filter and sieve of a category raster (the risk zones' steps with another palette),
    /// in memory: the classes read once, filtered on all workers, sieved (`LabelSieve`), then
    /// `refine` (e.g. the sieve within townships), then written to `zonesPath`. Returns the zones.
    @discardableResult
    func generaliseCategories(classPath: String, zonesPath: String, majority: Int?, minAreaHectares: Double?, connectivity: Int,
                              colorTable: [(UInt8, UInt8, UInt8, UInt8)], categoryNames: [String], description: String,
                              stage: String = "prevention-zones", refine: ((inout [UInt8]) throws -> Void)? = nil) throws -> [UInt8] {
        var zones = try readGrid(classPath)
        if let majority {
            majorityInMemory(&zones, filter: MajorityFilter(radius: majority / 2), stage: stage)
        } else {
            report(stage, 1, 1)
        }
        if let ha = minAreaHectares { sieveInMemory(&zones, hectares: ha, connectivity: connectivity) }
        try refine?(&zones)
        try writeZones(zones, to: zonesPath, colorTable: colorTable, categoryNames: categoryNames, description: description)
        return zones
    }
}
