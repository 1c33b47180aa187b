import Foundation
import GDALKit
import RasterKernel

extension Planner {
    /// The county's cells on the job's standard grid (`grid.standard-grid`), nil without one.
    func standardGridCounty(_ job: JobSpec) throws -> CountyCells? {
        guard let sg = job.grid.standardGrid, let def = job.auxiliary[sg.layer] else { return nil }
        do { return try CountyCells.read(def.source, adminCode: sg.adminCode) } catch let error as RunError {
            throw RunError(error.status, "\(error.message) (\(job.file):\(job.grid.position.line):\(job.grid.position.column): grid.standard-grid, admin-code \(sg.adminCode))")
        }
    }

    /// The mask of a standard grid: exactly the county's cells. The standard grid read through a
    /// VRT whose source is shifted by −county·1000 and mapped 0…999 → 1, everything else → 0 by a
    /// lookup table, warped as Float64: GDAL's VRT sources compute in the type the reader asks
    /// for, and in Float32 a 9-digit code is off by up to 8 (150625000 reads as 150624992, out of
    /// the county; 150624999 as 150625000, in it), so the mask is warped in Float64, where every
    /// code is exact (measured with GDAL 3.6: Float32 loses the county's …000 and …999 cells).
    func standardGridMask(_ county: CountyCells, job: JobSpec, grid: GridGeometry) throws -> SourcePlan {
        let sg = job.grid.standardGrid!
        let def = job.auxiliary[sg.layer]!
        let ds: Dataset
        do { ds = try Dataset(open: def.source, flags: [.raster]) } catch { throw inputError(error, file: def.source, what: "grid.standard-grid") }
        let vrt = Self.countyMaskVRT(source: def.source, width: ds.width, height: ds.height, geoTransform: county.geoTransform,
                                     wkt: county.crsWKT, county: Int(county.adminCode)!)
        let mask = LayerDefinition(name: def.name, file: def.file, source: vrt, layer: nil, attribute: nil, band: 1, nodata: nil,
                                   units: nil, hazard: nil, description: "the cells of county \(county.adminCode) on \(def.source)",
                                   sourceLine: def.sourceLine, sourceColumn: def.sourceColumn)
        var warp = WarpSpec(targetCRS: job.grid.crs, grid: grid, resampling: .nearest, outputType: .float64, errorThreshold: 0,
                            sourceNoData: nil)
        warp.destinationNoData = 0
        return SourcePlan(key: "mask", definition: mask, kind: .raster, sourceCRS: job.grid.crs,
                          sourceDetail: "\(county.count) cells of county \(county.adminCode) (codes \(county.adminCode)000–\(county.adminCode)999)",
                          layerName: nil, operation: .warp(warp), boundsInGrid: county.bounds)
    }

    /// The standard grid as a Float64 VRT: 1 where code − county·1000 is in 0…999, else 0.
    static func countyMaskVRT(source: String, width: Int, height: Int, geoTransform gt: [Double], wkt: String, county: Int) -> String {
        func xml(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        let transform = gt.map { String(format: "%.17g", $0) }.joined(separator: ", ")
        return "<VRTDataset rasterXSize=\"\(width)\" rasterYSize=\"\(height)\"><SRS>\(xml(wkt))</SRS>"
            + "<GeoTransform>\(transform)</GeoTransform><VRTRasterBand dataType=\"Float64\" band=\"1\"><ComplexSource>"
            + "<SourceFilename relativeToVRT=\"0\">\(xml(source))</SourceFilename><SourceBand>1</SourceBand>"
            + "<ScaleOffset>-\(county)000</ScaleOffset><ScaleRatio>1</ScaleRatio><LUT>-0.5:0,0:1,999:1,999.5:0</LUT>"
            + "</ComplexSource></VRTRasterBand></VRTDataset>"
    }
}

extension Plan {
    /// `plan`'s extent line for a standard grid, nil otherwise.
    var standardGridExtentLine: String? {
        guard let sg = job.grid.standardGrid, let def = job.auxiliary[sg.layer] else { return nil }
        return "  extent: the envelope of county \(sg.adminCode)'s cells (code // 1000 = \(sg.adminCode)) on the standard grid \(def.source), cell for cell"
    }

    /// `plan`'s mask line for a standard grid (its VRT is no command line to print), nil otherwise.
    var standardGridMaskLine: String? {
        guard let sg = job.grid.standardGrid, let mask, let def = job.auxiliary[sg.layer] else { return nil }
        return "  mask: exactly the \(mask.sourceDetail) on \(def.source) (layer \(def.name))"
    }

    /// `plan`'s lines for `outputs.census`: every file of the package and how it is classified.
    var censusSummaryLines: [String] {
        guard let census = job.outputs.census else { return [] }
        var lines = ["  census package (census/, checked by census-check before publishing; QC.json, 质检报告 QC report.txt):"]
        for product in census.products {
            let c = product.classify ?? job.classify
            let how = c.method.map { "\($0.rawValue) breaks" } ?? "breaks \(c.breaks.map(formatNumber).joined(separator: ", "))"
            let classes = product.classify == nil && product.index == "risk" ? "the job's classes" : "\(c.scheme.id), \(how)"
            lines.append("    \(census.name(product)).\(product.format.rawValue): index \(product.index), \(classes)")
        }
        return lines
    }
}
