import Foundation
import FilePaths
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

/// The distance beyond which a normalisation is constant: the last x of a curve, the max of linear.
func proximityMargin(_ n: Normalization) -> Double {
    switch n {
    case .curve(let points): return points.last?.x ?? 0
    case .linear(_, let hi): return hi
    case .table: return 0
    }
}

extension RunScoped {
    /// Rasterises the features on the expanded raster, computes GDAL proximity (geodesic metres on a
    /// lat/long grid) on it and returns a VRT of the grid's window (Float32 distances).
    func alignProximity(_ source: SourcePlan, work: String) throws -> String {
        let def = source.definition
        let what = source.key.contains(".") ? "\(source.key) (layer \(def.name))" : "layers.\(source.key) (layer \(def.name))"
        guard let window = source.proximity else { throw RunError(.software, "\(what): a proximity source without its window") }
        // Projected grids: computed in memory, band by band (`ProximityTransform.swift`);
        // `--align-with-gdal`: GDAL's proximity below, the cross-check.
        if window.ellipsoid == nil && options.alignFastPaths { return try alignProximityTransform(source, window: window, work: work) }
        let ds: Dataset
        do { ds = try Dataset(open: def.source) } catch { throw inputError(error, file: def.source, what: what) }
        do {
            var vector = ds
            if let reproject = source.reprojectArguments {
                vector = try Utilities.vectorTranslate(ds, to: "", arguments: ["-f", "Memory"] + reproject + [source.layerName ?? ""])
            }
            let featuresPath = work.appendingComponent("\(source.key)-features.tif")
            // Strips, not tiles: GDAL's proximity reads and writes whole lines, twice (down, then up).
            let features = try Utilities.rasterize(vector, to: featuresPath, arguments: source.arguments
                + ["-of", "GTiff", "-co", "COMPRESS=DEFLATE"])
            let e = window.expanded
            guard features.width == e.width, features.height == e.height else {
                throw RunError(.software, "\(def.source): rasterised size \(features.width)×\(features.height) differs from the expanded grid \(e.width)×\(e.height)")
            }
            let distancePath = work.appendingComponent("\(source.key)-distance.tif")
            let distance = try Dataset.create(driver: "GTiff", path: distancePath, width: e.width, height: e.height, bands: 1,
                                              type: .float32, options: [])
            try distance.setGeoTransform(e.geoTransform)
            try distance.setSpatialReference(try SpatialReference(definition: plan.crsWKT))
            if let ellipsoid = window.ellipsoid {
                // A lat/long grid: geodesic metres (GDAL's proximity would give degrees).
                let flags: [UInt8] = try features.band(1).read(PixelWindow(x: 0, y: 0, width: e.width, height: e.height))
                let metres = GeodesicProximity.distances(features: flags, grid: e, ellipsoid: ellipsoid,
                                                         noFeature: Float(window.noFeatureDistance))
                try metres.withUnsafeBufferPointer { try distance.band(1).write(PixelWindow(x: 0, y: 0, width: e.width, height: e.height), from: $0) }
            } else {
                try features.band(1).proximity(into: distance.band(1), noDataValue: window.noFeatureDistance)
            }
            try distance.close()
            try features.close()
            let path = work.appendingComponent("\(source.key).vrt")
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
