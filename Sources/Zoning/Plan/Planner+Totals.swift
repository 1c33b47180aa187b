import Foundation
import FilePaths
import GDALKit
import RasterKernel

extension Planner {
    /// One warp per total: the layer onto the grid with `sum` (counts) or `average` (densities),
    /// Float64, NaN where the source has no data.
    func planTotals(_ job: JobSpec, gridSRS: SpatialReference, grid: GridGeometry, gridBounds: Bounds) throws -> [SourcePlan] {
        try (job.zoning?.totals ?? []).map { total in
            let def = total.definition
            let what = "zoning.totals.\(total.name) (layer \(def.name))"
            let ds: Dataset
            do { ds = try Dataset(open: def.source) } catch { throw inputError(error, file: def.source, what: what) }
            do {
                guard ds.bandCount > 0 else {
                    throw RunError(.dataError, "\(def.source): \(what): a total sums a raster layer; this source has no raster band")
                }
                guard let srs = ds.spatialReference else {
                    throw RunError(.dataError, "\(def.source): \(what): the raster has no CRS; assign one (gdal_edit.py -a_srs) or fix the file")
                }
                guard let gt = ds.geoTransform, let extent = ds.extent else {
                    throw RunError(.dataError, "\(def.source): \(what): the raster has no geotransform")
                }
                guard def.band <= ds.bandCount else {
                    throw RunError(.dataError, "\(def.file): band: \(def.source) has \(ds.bandCount) band(s), band \(def.band) does not exist")
                }
                let inGrid = try locate(extent, srs: srs, in: gridSRS, gridBounds: gridBounds, source: def.source, what: what)
                let warp = WarpSpec(targetCRS: job.grid.crs, grid: grid, resampling: total.resampling, outputType: .float64,
                                    errorThreshold: 0.125, sourceNoData: def.nodata)
                let band = try ds.band(def.band)
                let detail = "\(band.pixelType.rawValue), pixel \(formatNumber(abs(gt[1]))) × \(formatNumber(abs(gt[5]))), \(ds.width) × \(ds.height) px"
                return SourcePlan(key: "zoning.totals.\(total.name)", definition: def, kind: .raster,
                                  sourceCRS: srs.authorityCode ?? srs.name, sourceDetail: detail, layerName: nil,
                                  operation: .warp(warp), boundsInGrid: inGrid)
            } catch { throw inputError(error, file: def.source, what: what) }
        }
    }
}

extension Plan {
    /// The `plan` lines of the totals: the warp and what the pixel value is multiplied by.
    var totalsSummaryLines: [String] {
        guard let totals = job.zoning?.totals, !totals.isEmpty else { return [] }
        var lines = ["totals per township and class (zoning.totals)"]
        for (total, source) in zip(totals, self.totals) {
            let factor = total.factor(pixelAreaSquareMetres: cellAreas.mean)
            lines.append("  \(total.name): \(total.definition.name) [\(total.measure.rawValue)\(total.units.map { ", \($0)" } ?? "")]")
            lines.append("    align: \(source.commandLine)")
            lines.append("    per pixel: value × \(formatNumber(factor))\(total.measure == .count ? "" : " (pixel area in \(total.measure == .perKm2 ? "km²" : "ha"))\(ellipsoid == nil ? "" : "; on this lat/long grid each row's own cell area, the mean shown")"), summed per township and class")
        }
        return lines
    }
}

extension Plan {
    /// The totals whose warp is a model layer's warp but for its type (`zoning.totals.X` and
    /// `layers.Y` read the same band of the same source with the same resampling, grid, nodata
    /// and error threshold; the total Float64, the layer Float32): total index → layer index.
    /// Such a layer is warped once, as Float64, and read as Float32 by the model — GDAL's warper
    /// computes every pixel in double precision and stores `static_cast<float>` of it, so the
    /// layer's values are unchanged — while the totals take the Float64 values the first pass kept
    /// (`AlignStage`, `LayerBlockCache`). The run decides whether it may (`sharedWarpLayer`).
    var totalsSharingALayerWarp: [Int: Int] {
        var shared: [Int: Int] = [:]
        for (t, total) in totals.enumerated() {
            // Only `average`: GDAL's other kernels have Float32 specialisations computing in float.
            guard var spec = total.warp, spec.outputType == .float64, spec.resampling == .average else { continue }
            spec.outputType = .float32
            // Compared as gdalwarp's arguments: a NaN nodata is never `==` to itself.
            let arguments = spec.gdalwarpArguments
            let layer = sources.indices.first { i in
                let s = sources[i]
                return s.kind == .raster && s.proximity == nil && s.warp != nil && s.arguments == arguments
                    && s.definition.source == total.definition.source && s.definition.band == total.definition.band
            }
            if let layer, !shared.values.contains(layer) { shared[t] = layer }
        }
        return shared
    }
}
