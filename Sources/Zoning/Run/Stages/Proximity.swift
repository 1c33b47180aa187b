import Foundation
import GDALKit
import RasterKernel

// Distance to the nearest feature of a vector layer, on the grid.
//
// The features are rasterised (all-touched, burn 1) onto the grid grown by a margin on every side,
// GDAL's proximity algorithm computes the distance (georeferenced units) from every pixel of that
// expanded raster to the nearest burned pixel centre, and the grid's window is read out of it
// through a VRT. The margin is the distance beyond which the result no longer changes (the largest
// x of a curve, the maximum of linear, the last break of a factor), so features outside the grid
// count exactly as on an unbounded raster: a burned pixel outside the expanded raster is at least
// margin + one pixel from every grid pixel centre, where the value is constant anyway.

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

/// The distance beyond which a normalisation is constant: the last x of a curve, the max of linear.
func proximityMargin(_ n: Normalization) -> Double {
    switch n {
    case .curve(let points): return points.last?.x ?? 0
    case .linear(_, let hi): return hi
    case .table: return 0
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

extension RunScoped {
    /// Rasterises the features on the expanded raster, computes GDAL proximity on it and returns a
    /// VRT of the grid's window (Float32 distances in grid CRS units).
    func alignProximity(_ source: SourcePlan, work: String) throws -> String {
        let def = source.definition
        let what = source.key.contains(".") ? "\(source.key) (layer \(def.name))" : "layers.\(source.key) (layer \(def.name))"
        guard let window = source.proximity else { throw RunError(.software, "\(what): a proximity source without its window") }
        let ds: Dataset
        do { ds = try Dataset(open: def.source) } catch { throw inputError(error, file: def.source, what: what) }
        do {
            var vector = ds
            if let reproject = source.reprojectArguments {
                vector = try Utilities.vectorTranslate(ds, to: "", arguments: ["-f", "Memory"] + reproject + [source.layerName ?? ""])
            }
            let featuresPath = (work as NSString).appendingPathComponent("\(source.key)-features.tif")
            // Strips, not tiles: GDAL's proximity reads and writes whole lines, twice (down, then up).
            let features = try Utilities.rasterize(vector, to: featuresPath, arguments: source.arguments
                + ["-of", "GTiff", "-co", "COMPRESS=DEFLATE"])
            let e = window.expanded
            guard features.width == e.width, features.height == e.height else {
                throw RunError(.software, "\(def.source): rasterised size \(features.width)×\(features.height) differs from the expanded grid \(e.width)×\(e.height)")
            }
            let distancePath = (work as NSString).appendingPathComponent("\(source.key)-distance.tif")
            let distance = try Dataset.create(driver: "GTiff", path: distancePath, width: e.width, height: e.height, bands: 1,
                                              type: .float32, options: [])
            try distance.setGeoTransform(e.geoTransform)
            try distance.setSpatialReference(try SpatialReference(definition: plan.crsWKT))
            try features.band(1).proximity(into: distance.band(1), noDataValue: window.noFeatureDistance)
            try distance.close()
            try features.close()
            let path = (work as NSString).appendingPathComponent("\(source.key).vrt")
            let distanceSource = try Dataset(open: distancePath, flags: [.raster])
            let vrt = try Utilities.translate(distanceSource, to: path, arguments: window.windowArguments)
            let gt = vrt.geoTransform ?? []
            guard vrt.width == plan.grid.width, vrt.height == plan.grid.height, gt.count == 6,
                  zip(gt, plan.grid.geoTransform).allSatisfy({ abs($0 - $1) <= 1e-6 * plan.grid.pixelWidth }) else {
                throw RunError(.software, "\(def.source): the proximity window \(vrt.width)×\(vrt.height) \(gt) differs from the grid")
            }
            try vrt.close()
            try distanceSource.close()
            return path
        } catch let error as GDALError {
            throw RunError(.ioError, "\(def.source): \(what): computing distances in \(work) failed: \(error.message)")
        }
    }
}
