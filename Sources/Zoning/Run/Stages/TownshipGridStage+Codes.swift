import FilePaths
import Foundation
import GDALKit

extension RunScoped {
    /// The township grid the prevention zones and a published baseline are counted in: the
    /// townships layer rasterised (as before the standard grid's codes were units), or the codes'
    /// townships; nil without townships.
    func layerOrCodeTownships(work: String) throws -> TownshipGrid? {
        switch plan.job.townshipSource {
        case .layer(let t): return try prepareTownships(t, work: work)
        case .standardGridCodes(let sg): return try prepareCodeTownships(sg, work: work)
        case nil: return nil
        }
    }

    /// The township grid of a standard grid when the job names no townships layer
    /// (`TownshipSource.standardGridCodes`): one township per 9-digit code of the county's cells,
    /// ids in ascending code order, the code as its name and code (no English name). Its polygons
    /// are made from the code cells: `GDALPolygonize` (4-connected) of the id raster, the polygons
    /// of one code grouped into one MultiPolygon, written to `townships-by-code.gpkg` in `work`
    /// (layer `townships`, fields `code`, `township_id`).
    func prepareCodeTownships(_ sg: JobSpec.StandardGrid, work: String) throws -> TownshipGrid {
        let county = plan.county!
        let codes = county.codes.map(String.init)
        let ids = Dictionary(uniqueKeysWithValues: county.codes.enumerated().map { ($0.element, $0.offset + 1) })
        let raster = try writeTownshipIDs(ids, county: county, work: work)
        let gpkg = work.appendingComponent("townships-by-code.gpkg")
        let polygons: [[[[GeoPoint]]]]
        do {
            polygons = try withFixedGeoPackageDate { try polygonizeCodes(raster: raster, codes: codes, to: gpkg) }
        } catch let error as RunError { throw error } catch {
            throw RunError(.ioError, "\(gpkg): cannot write the townships of the standard grid's codes: \((error as? GDALError)?.message ?? "\(error)")")
        }
        let townships = Townships(names: codes, codes: codes, english: codes.map { _ in "" }, polygons: polygons)
        return TownshipGrid(townships: townships, raster: raster, codePolygons: gpkg)
    }

    /// Polygonises the township id raster and groups the polygons per id (1…codes.count) into
    /// layer `townships` of a new GeoPackage; returns each township's polygons (rings of points).
    private func polygonizeCodes(raster: String, codes: [String], to gpkg: String) throws -> [[[[GeoPoint]]]] {
        let srs = try SpatialReference(definition: plan.crsWKT)
        let band = try Dataset(open: raster, flags: [.raster]).band(1)
        let memory = try Dataset.createVector(driver: "Memory", path: "")
        let raw = try memory.createLayer("cells", srs: srs, geometry: .polygon)
        try raw.createField("township_id", kind: .integer)
        try band.polygonize(into: raw, mask: nil, field: 0, eightConnected: false)
        let out = try Dataset.createVector(driver: "GPKG", path: gpkg)
        let layer = try out.createLayer("townships", srs: srs, geometry: .multiPolygon)
        try layer.createField("code", kind: .string)
        try layer.createField("township_id", kind: .integer)
        try layer.inTransaction {
            try layer.appendGroupedPolygons(from: raw, field: 0, values: Array(1...max(1, codes.count))) { id, f in
                f.set(0, codes[id - 1])
                f.set(1, id)
            }
        }
        let polygons = try layer.features().map(\.geometry.polygons)
        try out.close()
        return polygons
    }
}
