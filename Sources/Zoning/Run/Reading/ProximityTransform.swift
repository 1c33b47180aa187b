import Foundation
import FilePaths
import GDALKit
import RasterKernel

// Distance to the nearest feature on a projected grid, in memory (see the top of `Proximity.swift`
// for the expanded raster and its margin).
//
// GDAL's rasteriser burns the features (all-touched, burn 1) onto the expanded raster as a 1-bit
// GeoTIFF in /vsimem/ (its chunks bounded by the GDAL cache), read once into `FeatureBits` (1 bit
// per expanded pixel: ~10 MB for 9632 × 8231 px). The grid's window is then computed band by band
// (one block row of the grid at a time), each band written straight into an uncompressed tiled
// Float32 GeoTIFF of the grid in the work folder:
// - by default `ProximitySweep` (RasterKernel): GDAL's own two-pass propagation, bit for bit
//   `gdal_proximity.py -distunits GEO`, so every product stays as it was. The upward pass's
//   distances are written into the output first and read back band by band by the downward pass,
//   which writes the final values over them. Held besides the bits: the pass's state (2 Int32 per
//   expanded column), and per band one UInt32 and two Float32 per window pixel;
// - with `RunOptions.exactProximity`, `DistanceTransform`: the exact Euclidean distance, equal to
//   GDAL's wherever GDAL's sweeps find the nearest feature and up to ~0.17 px nearer elsewhere
//   (the Hangjin faults: 29 905 of 38.7 M grid pixels, by up to 5.15 m at 30 m). Held besides the
//   bits: one Int32 per expanded column per band, the band's vertical distances (Int32) and values.
// `--align-with-gdal` keeps GDAL's proximity on disk (`alignProximity`), the cross-check.

extension RunScoped {
    /// The grid's distances to the source's features (projected grids): path of a GeoTIFF of the grid.
    func alignProximityTransform(_ source: SourcePlan, window: ProximityWindow, work: String) throws -> String {
        let def = source.definition
        let what = source.key.contains(".") ? "\(source.key) (layer \(def.name))" : "layers.\(source.key) (layer \(def.name))"
        let ds: Dataset
        do { ds = try Dataset(open: def.source) } catch { throw inputError(error, file: def.source, what: what) }
        do {
            let features = try burnFeatures(source, vector: ds, window: window)
            let (e, noFeature) = (window.expanded, Float(window.noFeatureDistance))
            let (x, y, w, h) = (window.marginPixels, window.marginRows, window.gridWidth, window.gridHeight)
            let path = work.appendingComponent("\(source.key).tif")
            let bs = plan.blockSize, bandRows = options.proximityBandRows ?? bs
            let out = try Dataset.create(driver: "GTiff", path: path, width: plan.grid.width, height: plan.grid.height, bands: 1,
                                         type: .float32, options: ["TILED=YES", "BLOCKXSIZE=\(bs)", "BLOCKYSIZE=\(bs)"])
            try out.setGeoTransform(plan.grid.geoTransform)
            try out.setSpatialReference(try SpatialReference(definition: plan.crsWKT))
            let band = try out.band(1)
            let write = { (row: Int, rows: Int, values: UnsafeBufferPointer<Float>) in
                try band.write(PixelWindow(x: 0, y: row, width: w, height: rows), from: values)
            }
            if options.exactProximity {
                try DistanceTransform(features: features, x: x, y: y, width: w, height: h, pixelWidth: e.pixelWidth,
                                      pixelHeight: e.pixelHeight, noFeature: noFeature).run(bandRows: bandRows, threads: max(1, options.threads), emit: write)
            } else {
                // The upward pass's distances wait in the output raster itself (uncompressed): the
                // downward pass reads each band back before writing the band's values over them.
                try ProximitySweep(features: features, x: x, y: y, width: w, height: h, pixelWidth: e.pixelWidth, noFeature: noFeature)
                    .run(bandRows: bandRows, stash: write, unstash: { row, rows, into in
                        try band.read(PixelWindow(x: 0, y: row, width: w, height: rows), into: into)
                    }, emit: write)
            }
            try out.close()
            return path
        } catch let error as GDALError {
            throw RunError(.ioError, "\(def.source): \(what): computing distances in \(work) failed: \(error.message)")
        }
    }

    /// The features burnt onto the expanded raster by GDAL's rasteriser (the plan's arguments:
    /// all-touched, burn 1) into a 1-bit GeoTIFF in memory, read into bits and deleted.
    func burnFeatures(_ source: SourcePlan, vector ds: Dataset, window: ProximityWindow) throws -> FeatureBits {
        var vector = ds
        if let reproject = source.reprojectArguments {
            vector = try Utilities.vectorTranslate(ds, to: "", arguments: ["-f", "Memory"] + reproject + [source.layerName ?? ""])
        }
        let memPath = "/vsimem/hz-proximity-\(UUID().uuidString).tif"
        defer { VSI.unlink(memPath) }
        let burnt = try Utilities.rasterize(vector, to: memPath, arguments: source.arguments + ["-of", "GTiff", "-co", "NBITS=1"])
        let e = window.expanded
        guard burnt.width == e.width, burnt.height == e.height else {
            throw RunError(.software, "\(source.definition.source): rasterised size \(burnt.width)×\(burnt.height) differs from the expanded grid \(e.width)×\(e.height)")
        }
        var bits = FeatureBits(width: e.width, height: e.height)
        let band = try burnt.band(1)
        let chunk = max(1, (4 << 20) / max(1, e.width))
        var bytes = [UInt8](repeating: 0, count: chunk * e.width)
        for row in stride(from: 0, to: e.height, by: chunk) {
            let rows = min(chunk, e.height - row)
            try bytes.withUnsafeMutableBufferPointer { buffer in
                let part = UnsafeMutableBufferPointer(rebasing: buffer[0..<rows * e.width])
                try band.read(PixelWindow(x: 0, y: row, width: e.width, height: rows), into: part)
                bits.setRows(row, rows, from: UnsafeBufferPointer(part))
            }
        }
        try burnt.close()
        return bits
    }
}
