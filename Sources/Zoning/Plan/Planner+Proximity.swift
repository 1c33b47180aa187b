import Foundation
import FilePaths
import GDALKit
import RasterKernel

extension SourcePlan {
    /// `ogr2ogr … && gdal_rasterize -burn 1 -at … && gdal_proximity.py … && gdal_translate -srcwin …`.
    func proximityCommandLine(_ p: ProximityWindow) -> String {
        var src = definition.source
        var parts: [String] = []
        if let reprojectArguments {
            parts.append((["ogr2ogr"] + reprojectArguments + ["<reprojected>.gpkg", src, layerName ?? ""]).map(shellQuote).joined(separator: " "))
            src = "<reprojected>.gpkg"
        }
        parts.append((["gdal_rasterize"] + arguments + [src, "<features>.tif"]).map(shellQuote).joined(separator: " "))
        parts.append((["gdal_proximity.py", "<features>.tif", "<distance>.tif"] + p.proximityArguments).map(shellQuote).joined(separator: " "))
        parts.append((["gdal_translate"] + p.windowArguments + ["<distance>.tif", "<out>.vrt"]).map(shellQuote).joined(separator: " "))
        return parts.joined(separator: " && ")
    }
}

extension Planner {
    /// Plans the distance to the nearest feature of a vector layer (see the top of this file).
    func planProximity(_ def: LayerDefinition, key: String, margin: Double, what: String, gridSRS: SpatialReference,
                       crsDefinition: String, grid: GridGeometry, maxPixels: Int) throws -> SourcePlan {
        guard gridSRS.isProjected else {
            throw RunError(.dataError, "\(what): distances need a projected grid CRS (grid.crs is \(crsDefinition))")
        }
        let ds: Dataset
        do { ds = try Dataset(open: def.source) } catch { throw inputError(error, file: def.source, what: what) }
        do {
            guard ds.layerCount > 0 else {
                throw RunError(.dataError, "\(def.source): \(what): proximity needs a vector layer (points, lines or polygons); this source has none")
            }
            let layer = try def.layer.map { try ds.layer(named: $0) } ?? ds.layer(0)
            guard let srs = layer.spatialReference else {
                throw RunError(.dataError, "\(def.source): \(what): vector layer \(layer.name) has no CRS")
            }
            guard layer.featureCount > 0 else {
                throw RunError(.dataError, "\(def.source): \(what): layer \(layer.name) has no features; the distance to the nearest one is undefined")
            }
            let inGrid = try locate(try layer.extent(), srs: srs, in: gridSRS, gridBounds: nil, source: def.source, what: what)
            let res = grid.pixelWidth
            let marginPixels = margin > 0 ? (margin / res).rounded(.up) : 0
            let (w, h) = (Double(grid.width) + 2 * marginPixels, Double(grid.height) + 2 * marginPixels)
            if w * h > Double(maxPixels) {
                throw RunError(.dataError, "\(what): the grid grown by the proximity margin (\(formatNumber(margin)) = \(String(format: "%.0f", marginPixels)) px per side) is \(String(format: "%.0f × %.0f", w, h)) px, over max-pixels \(maxPixels)")
            }
            let mp = Int(marginPixels)
            let expanded = GridGeometry(width: grid.width + 2 * mp, height: grid.height + 2 * mp,
                                        originX: grid.originX - Double(mp) * res, originY: grid.originY + Double(mp) * grid.pixelHeight,
                                        pixelWidth: res, pixelHeight: grid.pixelHeight)
            let window = ProximityWindow(margin: margin, marginPixels: mp, expanded: expanded, gridWidth: grid.width, gridHeight: grid.height)
            let rasterize = RasterizeSpec(value: .burn(1), layerName: layer.name, grid: expanded, outputType: .byte, initialValue: 0,
                                          noData: nil, allTouched: true, reprojectTo: srs.isSame(as: gridSRS) ? nil : crsDefinition)
            var plan = SourcePlan(key: key, definition: def, kind: .proximity, sourceCRS: srs.authorityCode ?? srs.name,
                                  sourceDetail: "\(layer.featureCount) features (\(layer.geometryTypeName)), margin \(formatNumber(margin)) = \(mp) px",
                                  layerName: layer.name, operation: .rasterize(rasterize), boundsInGrid: inGrid)
            plan.proximity = window
            return plan
        } catch { throw inputError(error, file: def.source, what: what) }
    }
}

/// The expanded raster a proximity source is computed on.
public struct ProximityWindow: Sendable, Equatable {
    /// Distance beyond which the value is constant, in grid CRS units.
    public let margin: Double
    /// The margin in whole pixels (⌈margin / pixel size⌉) on each side.
    public let marginPixels: Int
    /// The grid grown by `marginPixels` on every side.
    public let expanded: GridGeometry
    /// The grid's own size: the window read out of the expanded raster.
    public let gridWidth: Int
    public let gridHeight: Int
    /// Written where the expanded raster holds no feature at all: beyond any distance inside it
    /// (GDAL's proximity writes its NODATA option there).
    public var noFeatureDistance: Double { Double(expanded.width + expanded.height) * expanded.pixelWidth }

    public var proximityArguments: [String] {
        ["-distunits", "GEO", "-ot", "Float32", "-nodata", "\(noFeatureDistance)"]
    }

    /// `gdal_translate` arguments of the grid's window.
    public var windowArguments: [String] {
        ["-of", "VRT", "-srcwin", "\(marginPixels)", "\(marginPixels)", "\(gridWidth)", "\(gridHeight)"]
    }
}
