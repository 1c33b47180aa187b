import Foundation
import GDALKit

extension JobSpec {
    /// `grid: { standard-grid: LAYER, admin-code: "150625" }`: the census standard grid (30″
    /// EPSG:4490 cells holding 9-digit township codes) cut to one county: the grid is the envelope
    /// of the cells whose code // 1000 is the county's code, the mask exactly those cells
    /// (`Planner+StandardGrid.swift`).
    public struct StandardGrid: Sendable, Equatable {
        /// The layer holding the standard grid raster (in `auxiliary`).
        public let layer: String
        public let adminCode: String
    }
}

extension JobLoader {
    /// `grid:` with `standard-grid`: the CRS and cell size are the standard grid raster's; `crs`,
    /// `resolution`, `extent`, `preset`, `mask` and `align` are errors (the standard grid fixes them).
    func parseStandardGrid(_ top: YObject, file: String, sink: DiagnosticSink, cache: inout [String: LayerDefinition?],
                           auxiliary: inout [String: LayerDefinition]) -> JobSpec.Grid? {
        guard let g = top["grid"]?.object(allowed: ["standard-grid", "admin-code", "crs", "resolution", "extent", "preset", "mask",
                                                    "align", "block-size", "max-pixels"],
                                          required: ["standard-grid", "admin-code"]) else { return nil }
        for key in ["crs", "resolution", "extent", "preset", "mask", "align"] {
            g.keys[key]?.error("grid.standard-grid fixes the grid (the standard grid's CRS and cells, cut to the envelope of the county's cells) and its mask (exactly the county's cells); remove grid.\(key)")
        }
        let adminCode = g["admin-code"].flatMap(parseAdminCode)
        let (blockSize, maxPixels) = parseGridLimits(g)
        guard let node = g["standard-grid"], let def = definition(named: node, jobFile: file, sink: sink, cache: &cache) else { return nil }
        auxiliary[def.name] = def
        guard let (crs, resolution) = standardGridCRS(def, at: node), let adminCode else { return nil }
        var grid = JobSpec.Grid(crs: crs, resolution: resolution, extent: .layer(def.name), mask: nil,
                                blockSize: blockSize, maxPixels: maxPixels, align: .none, preset: nil)
        grid.standardGrid = JobSpec.StandardGrid(layer: def.name, adminCode: adminCode)
        let m = top.keys["grid"]?.mark ?? (line: 1, column: 1)
        grid.position = JobSpec.Position(file: file, line: m.line, column: m.column)
        return grid
    }

    /// The standard grid raster's CRS (`EPSG:…` when it has an authority code, else its WKT) and
    /// cell size: a north-up raster with square cells in a geographic CRS.
    private func standardGridCRS(_ def: LayerDefinition, at node: YNode) -> (String, Double)? {
        guard def.isLocalFile else {
            node.error("standard grid \(def.source) (layer \(def.name)): expected a local raster file (the census distributes it as one)")
            return nil
        }
        if !FileManager.default.fileExists(atPath: def.source) { return nil }  // reported with the layer
        GDAL.ensureRegistered()
        guard let ds = try? Dataset(open: def.source, flags: [.raster]), ds.bandCount > 0 else {
            node.error("standard grid \(def.source) (layer \(def.name)) is not a raster GDAL can open")
            return nil
        }
        guard let srs = ds.spatialReference, srs.isGeographic else {
            node.error("standard grid \(def.source) (layer \(def.name)): expected a raster in a geographic CRS (CGCS2000, EPSG:4490)")
            return nil
        }
        guard let gt = ds.geoTransform, gt[2] == 0, gt[4] == 0, gt[1] > 0, abs(gt[1] + gt[5]) <= 1e-12 else {
            node.error("standard grid \(def.source) (layer \(def.name)): expected north-up square cells without rotation")
            return nil
        }
        return (srs.authorityCode ?? srs.wkt, gt[1])
    }
}
