import Foundation
import GDALKit
import Testing
@testable import Zoning

/// A typed job (`product:`) on a lat/long grid applies the minimum mapping unit within each
/// township by area, as the grid-wide sieve does, not by the mean-cell pixel count.
@Suite struct GeographicTownshipSieveTests {
    @Test func theWithinTownshipSieveMeasuresRegionsByArea() throws {
        let p = try Project()
        let (x0, y1, res, w, h) = (107.5, 39.65, 1.0 / 120, 36, 30)
        // Background class 1 and four 2×2 blobs of class 5: two in the top rows, whose 4 cells are
        // 264.72 ha (< 265.2), two in the bottom rows, 265.6 ha (≥ 265.2); one of each per township.
        var v = [Float](repeating: 0.1, count: w * h)
        for (r, c) in [(1, 3), (1, 24), (26, 3), (26, 24)] {
            for (dr, dc) in [(0, 0), (0, 1), (1, 0), (1, 1)] { v[(r + dr) * w + c + dc] = 0.95 }
        }
        try p.raster("layers/hz.tif", width: w, height: h, geoTransform: [x0, res, 0, y1, 0, -res], crs: "EPSG:4490", nodata: nil, values: v)
        try p.write("layers/hz.yaml", "source: hz.tif\n")
        func poly(_ a: Double, _ b: Double) -> String { "[[[\(a),39.3],[\(b),39.3],[\(b),39.7],[\(a),39.7],[\(a),39.3]]]" }
        try p.vector("layers/towns.gpkg", layer: "towns", crs: "EPSG:4490", geojson: """
            {"type":"FeatureCollection","features":[
            {"type":"Feature","properties":{"name":"西乡","tid":1},"geometry":{"type":"Polygon","coordinates":\(poly(107.4, 107.65))}},
            {"type":"Feature","properties":{"name":"东乡","tid":2},"geometry":{"type":"Polygon","coordinates":\(poly(107.65, 107.9))}}]}
            """)
        try p.write("layers/towns.yaml", "source: towns.gpkg\nlayer: towns\n")
        let job = try p.write("jobs/geo.yaml", """
            version: 1
            name: geo
            product: zoning
            grid: { preset: census-30s, extent: hz }
            layers:
              hz: { layer: hz, normalize: { linear: [0, 1] } }
            combine: { weighted-sum: { hz: 1 } }
            classify: { breaks: [0.2, 0.4, 0.6, 0.8] }
            zoning:
              min-area-ha: 265.2
              townships: { layer: towns, name: name }
            outputs: { directory: out/geo, products: [risk-index, risk-class, risk-zones] }

            """)
        let plan = try Planner().resolve(try JobLoader().load(job))
        let result = try Runner(plan: plan, options: RunOptions(threads: 2)).run()
        // By mean cells the unit is 5 pixels, which would remove all four blobs.
        #expect(result.manifest.zoning?.sieveThresholdPixels == 5)
        let run = result.runDirectory
        // numpy + scipy: per township, each 8-connected region of the classes below 265.2 ha (closed-form
        // cell areas) takes its neighbour's class (1, the background); the others stay.
        let towns = p.path("towns.tif")
        try shell("/usr/bin/gdal_rasterize", ["-q", "-a", "tid", "-l", "towns", "-te", "107.5", "39.4", "107.8", "39.65",
                                              "-tr", "\(res)", "\(res)", "-ot", "UInt16", "-init", "0", p.path("layers/towns.gpkg"), towns])
        let out = try shell("/usr/bin/python3", ["-c", """
            import sys, numpy as np
            from osgeo import gdal
            from scipy import ndimage
            run, towns = sys.argv[1], sys.argv[2]
            ds = gdal.Open(f"{run}/risk_class.tif"); gt = ds.GetGeoTransform(); cls = ds.ReadAsArray()
            zones = gdal.Open(f"{run}/risk_zones.tif").ReadAsArray(); town = gdal.Open(towns).ReadAsArray()
            \(GeographicZoningTests.cellAreasPython)
            cell = cell_areas(gt, cls.shape)
            expected = cls.copy(); expected[town == 0] = 0
            kept = merged = 0
            for t in (1, 2):
                lab, n = ndimage.label((cls == 5) & (town == t), structure=np.ones((3, 3)))
                for i in range(1, n + 1):
                    if cell[lab == i].sum() / 1e4 < 265.2: expected[lab == i] = 1; merged += 1
                    else: kept += 1
            print(int((expected != zones).sum()), kept, merged)
            """, run, towns])
        let numbers = out.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        #expect(numbers == [0, 2, 2], "cells differing from numpy, blobs kept, blobs merged: \(out)")
    }
}
