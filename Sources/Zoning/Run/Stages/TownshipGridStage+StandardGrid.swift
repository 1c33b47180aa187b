import FilePaths
import Foundation
import GDALKit

extension RunScoped {
    /// The township grid of a standard grid (`grid.standard-grid`): the units are the grid's own
    /// 9-digit township codes, not rasterised polygons. The townships layer (`zoning.townships`,
    /// with `code:` naming the field of the 9-digit codes) is joined **by code**: a cell of code c
    /// gets the id of the feature whose code is c (ids in the layer's order, as the statistics and
    /// `township_levels.gpkg` keep them), its name and English name from that feature. A code of
    /// the county's cells that no feature has is an error naming it.
    func prepareStandardGridTownships(_ spec: JobSpec.Townships, work: String) throws -> TownshipGrid {
        let sg = plan.job.grid.standardGrid!
        let source = plan.job.auxiliary[sg.layer]!.source
        let what = "zoning.townships (layer \(spec.definition.name))"
        guard let codeField = spec.codeField else {
            throw RunError(.dataError, "\(plan.job.file): \(what): with grid.standard-grid the townships are joined to the grid's 9-digit codes by code; give zoning.townships.code (the field holding them)")
        }
        let county = plan.county!
        let polygons = try prepareTownships(spec, work: work)
        var ids: [Int: Int] = [:]
        for (i, code) in polygons.townships.codes.enumerated() {
            guard let value = Int(code.trimmingCharacters(in: .whitespaces)), code.count >= 9 else { continue }
            if ids[value] != nil {
                throw RunError(.dataError, "\(spec.definition.source): \(what): code \(code) (field \(codeField)) is on more than one feature")
            }
            ids[value] = i + 1
        }
        let missing = county.codes.filter { ids[$0] == nil }
        guard missing.isEmpty else {
            throw RunError(.dataError, "\(spec.definition.source): \(what): the standard grid \(source) has cells of code(s) \(missing.map(String.init).joined(separator: ", ")) in county \(sg.adminCode), which no feature has in field \(codeField)")
        }
        let path = try writeTownshipIDs(ids, county: county, work: work)
        return TownshipGrid(townships: polygons.townships, raster: path)
    }

    /// Writes `townships-by-code.tif` into `work`: each county cell of the standard grid holds the
    /// township id `ids` gives its 9-digit code, every other cell 0. Returns its path.
    func writeTownshipIDs(_ ids: [Int: Int], county: CountyCells, work: String) throws -> String {
        let sg = plan.job.grid.standardGrid!
        let source = plan.job.auxiliary[sg.layer]!.source
        let path = work.appendingComponent("townships-by-code.tif")
        do {
            // Read as Float64: exact for 9-digit codes (Float32 is not).
            let ds = try Dataset(open: source, flags: [.raster])
            let codes = try ds.band(1).read(county.window, as: Double.self)
            let values = codes.map { v -> Int32 in CountyCells.isCounty(v, Int(sg.adminCode)!) ? Int32(ids[Int(v)]!) : 0 }
            try writeGridRaster(values, type: .int32, to: path, options: ["TILED=YES", "BLOCKXSIZE=\(plan.blockSize)",
                                                                           "BLOCKYSIZE=\(plan.blockSize)"], nodata: nil).close()
        } catch { throw inputError(error, file: source, what: "grid.standard-grid (the township grid by code)") }
        return path
    }
}
