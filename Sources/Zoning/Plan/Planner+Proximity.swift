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
        if p.ellipsoid != nil {
            parts.append("<geodesic metres from each cell centre of <features>.tif to the nearest burnt centre (HazardZoning's GeodesicProximity)> <distance>.tif")
        } else {
            parts.append((["gdal_proximity.py", "<features>.tif", "<distance>.tif"] + p.proximityArguments).map(shellQuote).joined(separator: " "))
        }
        parts.append((["gdal_translate"] + p.windowArguments + ["<distance>.tif", "<out>.vrt"]).map(shellQuote).joined(separator: " "))
        return parts.joined(separator: " && ")
    }
}

extension Planner {
    /// Plans the distance to the nearest feature of a vector layer (see the top of this file).
    func planProximity(_ def: LayerDefinition, key: String, margin: Double, what: String, gridSRS: SpatialReference,
                       crsDefinition: String, grid: GridGeometry, maxPixels: Int) throws -> SourcePlan {
        // Projected: distances in map units (GDAL proximity). Lat/long: geodesic metres (`GeodesicProximity`).
        let ellipsoid = try geodesicEllipsoid(gridSRS, what: what, crsDefinition: crsDefinition)
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
            var marginPixels = margin > 0 ? (margin / res).rounded(.up) : 0, marginRows = marginPixels
            if let ellipsoid {
                guard let cells = GeodesicProximity.marginCells(metres: margin, grid: grid, ellipsoid: ellipsoid) else {
                    throw RunError(.dataError, "\(what): the grid grown by the proximity margin (\(formatNumber(margin)) m) reaches a pole")
                }
                (marginPixels, marginRows) = (Double(cells.columns), Double(cells.rows))
            }
            let (w, h) = (Double(grid.width) + 2 * marginPixels, Double(grid.height) + 2 * marginRows)
            if w * h > Double(maxPixels) {
                throw RunError(.dataError, "\(what): the grid grown by the proximity margin (\(formatNumber(margin)) = \(String(format: "%.0f", marginPixels)) px per side) is \(String(format: "%.0f × %.0f", w, h)) px, over max-pixels \(maxPixels)")
            }
            let mp = Int(marginPixels), mr = Int(marginRows)
            let expanded = GridGeometry(width: grid.width + 2 * mp, height: grid.height + 2 * mr,
                                        originX: grid.originX - Double(mp) * res, originY: grid.originY + Double(mr) * grid.pixelHeight,
                                        pixelWidth: res, pixelHeight: grid.pixelHeight)
            var window = ProximityWindow(margin: margin, marginPixels: mp, expanded: expanded, gridWidth: grid.width, gridHeight: grid.height)
            window.marginRows = mr
            window.ellipsoid = ellipsoid
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
    /// Distance beyond which the value is constant: grid CRS units, metres on a lat/long grid.
    public let margin: Double
    /// The margin in whole pixels (⌈margin / pixel size⌉) on each side.
    public let marginPixels: Int
    /// The grid grown by `marginPixels` on every side.
    public let expanded: GridGeometry
    /// The grid's own size: the window read out of the expanded raster.
    public let gridWidth: Int
    public let gridHeight: Int
    /// The margin in whole rows on the top and bottom: `marginPixels` on a projected grid, fewer
    /// than the columns on a lat/long grid (a degree of longitude is shorter than one of latitude).
    public var marginRows: Int
    /// A lat/long grid's ellipsoid: distances are then geodesic metres (`GeodesicProximity`).
    public var ellipsoid: Ellipsoid? = nil

    public init(margin: Double, marginPixels: Int, expanded: GridGeometry, gridWidth: Int, gridHeight: Int) {
        self.margin = margin; self.marginPixels = marginPixels; self.marginRows = marginPixels
        self.expanded = expanded; self.gridWidth = gridWidth; self.gridHeight = gridHeight
    }

    /// Written where the expanded raster holds no feature at all: beyond any distance inside it
    /// (GDAL's proximity writes its NODATA option there).
    /// On a lat/long grid in metres: a degree of latitude or longitude is under 112 km.
    public var noFeatureDistance: Double {
        Double(expanded.width + expanded.height) * expanded.pixelWidth * (ellipsoid == nil ? 1 : 112_000)
    }

    public var proximityArguments: [String] {
        ["-distunits", "GEO", "-ot", "Float32", "-nodata", "\(noFeatureDistance)"]
    }

    /// `gdal_translate` arguments of the grid's window.
    public var windowArguments: [String] {
        ["-of", "VRT", "-srcwin", "\(marginPixels)", "\(marginRows)", "\(gridWidth)", "\(gridHeight)"]
    }
}

extension Planner {
    /// The ellipsoid of a lat/long grid CRS (distances and areas are then geodesic), nil for a
    /// projected one; a CRS that is neither cannot measure metres.
    func geodesicEllipsoid(_ gridSRS: SpatialReference, what: String, crsDefinition: String) throws -> Ellipsoid? {
        if gridSRS.isProjected { return nil }
        guard gridSRS.isGeographic, let axes = gridSRS.ellipsoidAxes else {
            throw RunError(.dataError, "\(what): distances and areas need a projected or a geographic (lat/long) grid CRS with an ellipsoid (grid.crs is \(crsDefinition))")
        }
        return Ellipsoid(a: axes.semiMajor, f: axes.flattening)
    }
}
