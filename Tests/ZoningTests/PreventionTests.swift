import Foundation
import GDALKit
import RasterKernel
import Testing
@testable import Zoning

/// Runs a Python script with Debian's python3 (GDAL bindings and numpy) and decodes its JSON output.
private func oracle(_ script: String, _ args: [String]) throws -> [String: Any] {
    let out = try shell("/usr/bin/python3", ["-c", script] + args)
    return try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any], "oracle printed \(out)")
}

/// Writes GeoJSON features given in EPSG:4545 coordinates, then stores them in `crs` through ogr2ogr
/// (so the tool has to reproject them back).
private func vector4545(_ p: Project, _ relative: String, layer: String, crs: String, features: [String]) throws {
    try p.vector("\(relative)-4545.gpkg", layer: layer, crs: "EPSG:4545",
                 geojson: "{\"type\":\"FeatureCollection\",\"features\":[\(features.joined(separator: ","))]}")
    try shell("/usr/bin/ogr2ogr", ["-t_srs", crs, "-nln", layer, p.path(relative), p.path("\(relative)-4545.gpkg")])
}

private func line(_ name: String, _ points: [(Double, Double)]) -> String {
    "{\"type\":\"Feature\",\"properties\":{\"name\":\"\(name)\"},\"geometry\":{\"type\":\"LineString\",\"coordinates\":["
        + points.map { "[\($0.0),\($0.1)]" }.joined(separator: ",") + "]}}"
}

private func point(_ name: String, _ x: Double, _ y: Double) -> String {
    "{\"type\":\"Feature\",\"properties\":{\"name\":\"\(name)\"},\"geometry\":{\"type\":\"Point\",\"coordinates\":[\(x),\(y)]}}"
}

/// `normalize: { proximity: … }` against GDAL's command-line chain and exact geometry.
@Suite(.serialized) struct ProximityTests {
    static var x0y0x1y1: (Double, Double, Double, Double) { (Fixture.xmin, Fixture.ymin, Fixture.xmax, Fixture.ymax) }

    /// Three lines in EPSG:4326: A crosses the grid's west, B runs 1.2 km east of the grid (outside it,
    /// within the margin), C lies 8 km south (beyond the margin: it must change nothing).
    func project() throws -> (Project, String) {
        let p = try Project()
        let (x0, y0, x1, y1) = ProximityTests.x0y0x1y1
        try vector4545(p, "layers/lines.gpkg", layer: "lines", crs: "EPSG:4326", features: [
            line("A", [(x0 - 500, y0 + 1000), (x0 + 2500, y0 + 4000), (x0 + 3000, y1 + 800)]),
            line("B", [(x1 + 1200, y0 - 2000), (x1 + 1300, y1 + 2000)]),
            line("C", [(x0 - 3000, y0 - 8000), (x1 + 3000, y0 - 8200)]),
        ])
        try p.write("layers/lines.yaml", "source: lines.gpkg\nlayer: lines\n")
        let job = try p.write("jobs/prox.yaml", """
            version: 1
            name: prox
            grid: { crs: EPSG:4545, resolution: 30, extent: [\(x0), \(y0), \(x1), \(y1)], block-size: 64 }
            layers:
              d: { layer: lines, normalize: { proximity: { curve: [[300, 1], [3000, 0]] } } }
            combine: { weighted-sum: { d: 1 } }
            classify: { scheme: four-colour, breaks: [0.25, 0.5, 0.75] }
            outputs: { directory: out/prox }

            """)
        return (p, job)
    }

    @Test func indexEqualsGdalProximityOnTheExpandedRasterAndExactGeometry() throws {
        let (p, job) = try project()
        let plan = try Planner().resolve(try JobLoader().load(job))
        let source = try #require(plan.sources.first)
        #expect(source.kind == .proximity && source.proximity?.marginPixels == 100)
        let (x0, y0, x1, y1) = ProximityTests.x0y0x1y1
        let command = source.commandLine
        #expect(command.hasPrefix("ogr2ogr -t_srs EPSG:4545 '<reprojected>.gpkg' \(p.path("layers/lines.gpkg")) lines && "))
        #expect(command.contains("gdal_rasterize -burn 1 -at -l lines -te \(x0 - 3000) \(y0 - 3000) \(x1 + 3000) \(y1 + 3000) -tr 30.0 30.0 -ot Byte -init 0 '<reprojected>.gpkg' '<features>.tif'"))
        #expect(command.contains("gdal_proximity.py '<features>.tif' '<distance>.tif' -distunits GEO -ot Float32"))
        #expect(command.hasSuffix("gdal_translate -of VRT -srcwin 100 100 310 245 '<distance>.tif' '<out>.vrt'"))
        #expect(plan.summary.contains("normalize: distance to the nearest feature → curve [300, 1] [3000, 0]"))

        let result = try Runner(plan: plan, options: RunOptions(threads: 2)).run()
        // The plan's command line, run as printed, is the oracle's distance raster.
        let work = p.path("oracle")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        var script = command
        for (placeholder, file) in [("<reprojected>.gpkg", "r.gpkg"), ("<features>.tif", "f.tif"), ("<distance>.tif", "d.tif"), ("<out>.vrt", "out.vrt")] {
            script = script.replacingOccurrences(of: "'\(placeholder)'", with: "\(work)/\(file)")
        }
        try shell("/bin/sh", ["-c", script.replacingOccurrences(of: "gdal_rasterize ", with: "gdal_rasterize -q ")
            .replacingOccurrences(of: "gdal_proximity.py ", with: "gdal_proximity.py -q ")
            .replacingOccurrences(of: "gdal_translate ", with: "gdal_translate -q ")])
        let r = try oracle("""
            import sys, json, subprocess, numpy as np
            from osgeo import gdal, ogr
            work, run = sys.argv[1], sys.argv[2]
            x0, y0, x1, y1 = map(float, sys.argv[3:7]); res = 30.0
            def sh(*a): subprocess.run(a, check=True, stdout=subprocess.DEVNULL)
            def prox(margin, name):
                te = [x0 - margin, y0 - margin, x1 + margin, y1 + margin]
                sh('gdal_rasterize', '-q', '-burn', '1', '-at', '-l', 'lines', '-te', *map(repr, te), '-tr', '30', '30',
                   '-ot', 'Byte', '-init', '0', work + '/r.gpkg', f'{work}/{name}-f.tif')
                sh('gdal_proximity.py', '-q', f'{work}/{name}-f.tif', f'{work}/{name}-d.tif', '-distunits', 'GEO', '-ot', 'Float32')
                d = gdal.Open(f'{work}/{name}-d.tif').ReadAsArray()
                k = int(round(margin / res))
                return d[k:d.shape[0] - k, k:d.shape[1] - k]
            f = lambda d: np.interp(d.astype(np.float64), [300, 3000], [1, 0])
            idx = gdal.Open(run + '/risk_index.tif').ReadAsArray().astype(np.float64)
            planned = gdal.Open(work + '/out.vrt').ReadAsArray()
            big, naive = prox(9000, 'big'), prox(0, 'grid')
            # Exact distance from every pixel centre to the (reprojected) lines.
            H, W = idx.shape
            X, Y = np.meshgrid(x0 + (np.arange(W) + 0.5) * res, y1 - (np.arange(H) + 0.5) * res)
            exact = np.full(idx.shape, np.inf); nearest = np.full(idx.shape, '', dtype=object)
            lines = ogr.Open(work + '/r.gpkg')  # kept alive while its layer is read
            for feat in lines.GetLayer(0):
                pts = feat.GetGeometryRef().GetPoints()
                for (ax, ay, *_), (bx, by, *_) in zip(pts, pts[1:]):
                    dx, dy = bx - ax, by - ay
                    t = np.clip(((X - ax) * dx + (Y - ay) * dy) / (dx * dx + dy * dy), 0, 1)
                    dd = np.hypot(X - (ax + t * dx), Y - (ay + t * dy))
                    closer = dd < exact; exact[closer] = dd[closer]; nearest[closer] = feat.GetField('name')
            inside = (exact > 400) & (exact < 2900)
            ours = 300 + (1 - idx) * 2700
            print(json.dumps({
                "shape": list(idx.shape), "min": float(idx.min()), "max": float(idx.max()),
                "delta_planned": float(np.abs(idx - f(planned)).max()),
                "delta_big": float(np.abs(idx - f(big)).max()),
                "naive_differs": int((np.abs(f(naive) - idx) > 1e-3).sum()),
                "nearest_outside": int(((nearest == 'B') & (exact < 2900)).sum()),
                "geometry_checked": int(inside.sum()),
                "geometry_delta": float(np.abs(ours - exact)[inside].max()),
            }))
            """, [work, result.runDirectory, "\(x0)", "\(y0)", "\(x1)", "\(y1)"])
        #expect(r["shape"] as? [Int] == [Fixture.height, Fixture.width])
        // Same expanded raster as gdal_proximity.py: equal up to Float32 rounding of the curve.
        #expect((r["delta_planned"] as! Double) <= 1e-6, "\(r)")
        // A far larger raster (which also holds line C) gives the same index: the margin suffices.
        #expect((r["delta_big"] as! Double) <= 1e-6, "\(r)")
        // The nearest feature lies outside the grid for many pixels, and a grid-only raster misses it.
        #expect((r["nearest_outside"] as! Int) > 2_000, "\(r)")
        #expect((r["naive_differs"] as! Int) > 2_000, "\(r)")
        // Against exact point-to-segment distances: within half a pixel diagonal (all-touched burning).
        #expect((r["geometry_checked"] as! Int) > 30_000, "\(r)")
        #expect((r["geometry_delta"] as! Double) <= 30 / 2.0.squareRoot() + 0.01, "\(r)")
        #expect((r["min"] as! Double) == 0 && (r["max"] as! Double) == 1)
        // The layer's features are inputs of the run.
        #expect(result.manifest.inputs.map(\.key) == ["d"])
        #expect(result.manifest.statistics.nodataPixels == 0)
    }

    @Test func proximityIsValidatedAndNeedsAVectorLayer() throws {
        let (p, job) = try project()
        let text = try String(contentsOfFile: job, encoding: .utf8)
        let table = try p.write("jobs/t.yaml", text.replacingOccurrences(of: "curve: [[300, 1], [3000, 0]]", with: "table: { 1: 1 }"))
        let error = try #require(throws: DiagnosticsError.self) { try JobLoader().load(table) }
        #expect(error.diagnostics.map { "\($0.line):\($0.column)" } == ["5:46"])
        #expect(error.diagnostics[0].message.contains("proximity takes curve or linear"))

        let geographic = try p.write("jobs/g.yaml", text
            .replacingOccurrences(of: "crs: EPSG:4545, resolution: 30, extent: [\(Fixture.xmin), \(Fixture.ymin), \(Fixture.xmax), \(Fixture.ymax)]",
                                  with: "crs: EPSG:4326, resolution: 0.001, extent: [107.9, 39.7, 108.0, 39.8]"))
        // A lat/long grid measures geodesic metres (GeodesicTests): accepted.
        #expect(throws: Never.self) { try JobLoader().load(geographic) }

        // A margin beyond max-pixels is refused before anything is allocated.
        let far = try p.write("jobs/far.yaml", text.replacingOccurrences(of: "[3000, 0]", with: "[1e12, 0]"))
        let tooFar = try #require(throws: RunError.self) { try Planner().resolve(try JobLoader().load(far)) }
        #expect(tooFar.message.contains("grown by the proximity margin (1e+12 = 33333333334 px per side) is 66666666978 × 66666666913 px") && tooFar.message.contains("over max-pixels"), "\(tooFar)")

        // A raster has no features to measure from.
        try p.raster("layers/r.tif", width: 4, height: 4, geoTransform: [Fixture.xmin, 30, 0, Fixture.ymax, 0, -30],
                     crs: "EPSG:4545", nodata: nil, values: [Float](repeating: 1, count: 16))
        try p.write("layers/lines.yaml", "source: r.tif\n")
        let thrown = try #require(throws: RunError.self) { try Planner().resolve(try JobLoader().load(job)) }
        #expect(thrown.message.contains("proximity needs a vector layer"), "\(thrown)")
    }
}

/// Prevention zoning against a numpy re-implementation of the matrix on the published risk class
/// and factor levels computed independently with gdalwarp, gdal_rasterize and gdal_proximity.py.
@Suite(.serialized) struct PreventionTests {
    static let matrix = """
          matrix:
            - { risk: [3, 4], exposure: [2, 3], capacity: any, category: 1 }
            - { risk: [3, 4], exposure: [1], capacity: [2, 3], category: 1 }
            - { risk: [2, 3, 4], exposure: any, capacity: any, category: 2 }
            - { risk: [1], exposure: [3], capacity: [3], category: 2 }
            - { risk: [1], exposure: any, capacity: any, category: 3 }

        """
    /// The same rules for the oracle: (risk, exposure, capacity, category), nil = any.
    static let oracleRules = "[([3, 4], [2, 3], None, 1), ([3, 4], [1], [2, 3], 1), ([2, 3, 4], None, None, 2), ([1], [3], [3], 2), ([1], None, None, 3)]"

    /// The pipeline fixture plus a population raster (250 m, with a nodata patch), shelters (points
    /// in EPSG:4326, one outside the grid), two townships, and a prevention section.
    func fixture(zoning: String) throws -> (Fixture, String) {
        let fx = try Fixture()
        let p = fx.project
        let (x0, y0, x1, y1) = (Fixture.xmin, Fixture.ymin, Fixture.xmax, Fixture.ymax)
        let pw = 46, ph = 38
        var pop = [Float](repeating: 0, count: pw * ph)
        for r in 0..<ph {
            for c in 0..<pw {
                let x = x0 - 1000 + (Double(c) + 0.5) * 250, y = y1 + 1000 - (Double(r) + 0.5) * 250
                let d2 = (x - x0 - 6000) * (x - x0 - 6000) + (y - y0 - 4000) * (y - y0 - 4000)
                pop[r * pw + c] = (r >= 12 && r < 16 && c >= 16 && c < 21) ? -9999 : Float(4 + 300 * exp(-d2 / (2 * 1800 * 1800)) + Double(c) * 0.5)
            }
        }
        try p.raster("layers/pop.tif", width: pw, height: ph, geoTransform: [x0 - 1000, 250, 0, y1 + 1000, 0, -250],
                     crs: "EPSG:4545", nodata: -9999, values: pop)
        try vector4545(p, "layers/shelters.gpkg", layer: "shelters", crs: "EPSG:4326", features: [
            point("s1", x0 + 2000, y0 + 2000), point("s2", x0 + 7000, y0 + 6000), point("outside", x1 + 1500, y0 + 3000),
        ])
        let mid0 = x0 + 4000, mid1 = x0 + 5500
        func poly(_ pts: [(Double, Double)]) -> String { "[[" + (pts + [pts[0]]).map { "[\($0.0),\($0.1)]" }.joined(separator: ",") + "]]" }
        try p.vector("layers/towns.gpkg", layer: "towns", crs: "EPSG:4545", geojson: """
            {"type":"FeatureCollection","features":[
            {"type":"Feature","properties":{"name":"西乡","tid":1,"code":"150625101","name_en":"West"},"geometry":{"type":"Polygon","coordinates":\(poly([(x0 - 100, y0 - 100), (mid0, y0 - 100), (mid1, y1 + 100), (x0 - 100, y1 + 100)]))}},
            {"type":"Feature","properties":{"name":"东乡","tid":2,"code":"150625102","name_en":"East"},"geometry":{"type":"Polygon","coordinates":\(poly([(mid0, y0 - 100), (x1 + 100, y0 - 100), (x1 + 100, y1 + 100), (mid1, y1 + 100)]))}}]}
            """)
        try p.write("layers/towns.yaml", "source: towns.gpkg\nlayer: towns\nattribute: tid\n")
        try p.write("layers/pop.yaml", "source: pop.tif\nunits: persons/km2\n")
        try p.write("layers/shelters.yaml", "source: shelters.gpkg\nlayer: shelters\n")
        let text = try String(contentsOfFile: fx.jobPath, encoding: .utf8)
            .replacingOccurrences(of: "name: fixture", with: "name: prev")
            .replacingOccurrences(of: "out/fixture", with: "out/prev")
            .replacingOccurrences(of: "  products: [risk-index, risk-class]\n", with: "")
        let job = try p.write("jobs/prev.yaml", text + zoning + """
            prevention:
              factors:
                exposure: { layer: pop, resampling: average, error-threshold: 0, breaks: [20, 100] }
                capacity: { layer: shelters, proximity: [1500, 4000] }
              categories:
                - { value: 1, name: 重点防治区, english: key prevention zone, colour: [230, 0, 0] }
                - { value: 2, name: 次重点防治区, english: secondary prevention zone, colour: [255, 170, 0] }
                - { value: 3, name: 一般防治区, english: general prevention zone, colour: [56, 168, 0] }

            """ + PreventionTests.matrix)
        return (fx, job)
    }

    /// The oracle: factor levels from the GDAL command line, the matrix in numpy, per-township counts.
    static let script = """
        import sys, json, subprocess, numpy as np
        from osgeo import gdal
        work, layers, run = sys.argv[1:4]
        x0, y0, x1, y1 = map(float, sys.argv[4:8])
        def sh(*a): subprocess.run(a, check=True, stdout=subprocess.DEVNULL)
        te = ['-te', *map(repr, [x0, y0, x1, y1]), '-tr', '30', '30']
        sh('gdalwarp', '-q', '-t_srs', 'EPSG:4545', *te, '-r', 'average', '-ot', 'Float32', '-dstnodata', 'nan', '-et', '0',
           '-srcnodata', '-9999', layers + '/pop.tif', work + '/pop.tif')
        sh('ogr2ogr', '-t_srs', 'EPSG:4545', work + '/s.gpkg', layers + '/shelters.gpkg', 'shelters')
        def distance(margin, name):
            k = -(-margin // 30); margin = k * 30  # whole pixels, like the tool
            sh('gdal_rasterize', '-q', '-burn', '1', '-at', '-l', 'shelters', '-te', *map(repr, [x0 - margin, y0 - margin, x1 + margin, y1 + margin]),
               '-tr', '30', '30', '-ot', 'Byte', '-init', '0', work + '/s.gpkg', f'{work}/{name}-f.tif')
            sh('gdal_proximity.py', '-q', f'{work}/{name}-f.tif', f'{work}/{name}-d.tif', '-distunits', 'GEO', '-ot', 'Float32')
            d = gdal.Open(f'{work}/{name}-d.tif').ReadAsArray()
            return d[k:d.shape[0] - k, k:d.shape[1] - k]
        sh('gdal_rasterize', '-q', '-a', 'tid', '-l', 'towns', *te, '-ot', 'UInt16', '-init', '0', layers + '/towns.gpkg', work + '/towns.tif')
        def levels(v, breaks):
            return np.where(np.isfinite(v), 1 + sum((v >= np.float32(b)).astype(int) for b in breaks), 0)
        risk = gdal.Open(run + '/risk_class.tif').ReadAsArray().astype(int)
        expo = levels(gdal.Open(work + '/pop.tif').ReadAsArray(), [20, 100])
        cap = levels(distance(4000, 'm'), [1500, 4000])
        naive = levels(distance(0, 'grid'), [1500, 4000])
        valid = (risk > 0) & (expo > 0) & (cap > 0)
        cat = np.zeros(risk.shape, dtype=np.uint8); done = ~valid
        for r, e, c, k in RULES:
            m = ~done & np.isin(risk, r) & (np.isin(expo, e) if e else True) & (np.isin(cap, c) if c else True)
            cat[m] = k; done |= m
        ours = gdal.Open(run + '/prevention_class.tif').ReadAsArray()
        towns = gdal.Open(work + '/towns.tif').ReadAsArray()
        print(json.dumps({
            "differ": int((ours != cat).sum()), "uncovered": int((~done).sum()),
            "counts": [int((cat == k).sum()) for k in range(4)],
            "factor_nodata": int(((risk > 0) & (expo == 0)).sum()),
            "exposure_levels": [int(((risk > 0) & (expo == l)).sum()) for l in (1, 2, 3)],
            "capacity_levels": [int(((risk > 0) & (cap == l)).sum()) for l in (1, 2, 3)],
            "outside_matters": int(((risk > 0) & (naive != cap)).sum()),
            "towns": [[int(((towns == t) & (cat == k)).sum()) for k in (1, 2, 3)] for t in (1, 2)],
        }))
        """

    @Test func matrixOnThePublishedRiskClassEqualsANumpyOracle() throws {
        let (fx, job) = try fixture(zoning: "zoning:\n  min-area-ha: 2.5\n  connectivity: 8\n  townships: { layer: towns, name: name }\n")
        let plan = try Planner().resolve(try JobLoader().load(job))
        #expect(plan.job.outputs.products == [.riskIndex, .riskClass, .riskZones, .statistics, .prevention, .maps])
        let factorSources = try #require(plan.prevention?.sources)
        #expect(factorSources.map(\.kind) == [.raster, .proximity])
        #expect(factorSources[0].commandLine.contains("gdalwarp -t_srs EPSG:4545"))
        #expect(factorSources[0].commandLine.contains("-r average"))
        #expect(factorSources[1].commandLine.contains("gdal_proximity.py '<features>.tif' '<distance>.tif' -distunits GEO"))
        #expect(factorSources[1].proximity?.marginPixels == 134)
        #expect(plan.summary.contains("matrix: 5 rules, first match wins, cover all 36 combinations"))

        let result = try Runner(plan: plan, options: RunOptions(threads: 2)).run()
        let run = result.runDirectory
        let work = fx.project.path("oracle")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let r = try oracle(PreventionTests.script.replacingOccurrences(of: "RULES", with: PreventionTests.oracleRules),
                           [work, fx.project.path("layers"), run, "\(Fixture.xmin)", "\(Fixture.ymin)", "\(Fixture.xmax)", "\(Fixture.ymax)"])
        #expect(r["differ"] as? Int == 0, "\(r)")
        #expect(r["uncovered"] as? Int == 0)
        // The fixture exercises every category, every level, factor nodata and a shelter outside the grid.
        let counts = try #require(r["counts"] as? [Int])
        #expect(counts[1...].allSatisfy { $0 > 500 }, "\(r)")
        #expect((r["factor_nodata"] as! Int) > 500, "\(r)")
        #expect((r["exposure_levels"] as! [Int]).allSatisfy { $0 > 1_000 }, "\(r)")
        #expect((r["capacity_levels"] as! [Int]).allSatisfy { $0 > 1_000 }, "\(r)")
        #expect((r["outside_matters"] as! Int) > 1_000, "\(r)")

        // Manifest: categories with their pixel counts, factors with their levels.
        let info = try #require(result.manifest.prevention)
        #expect(info.categories.map(\.pixels) == Array(counts[1...]))
        #expect(info.nodataPixels == counts[0])
        #expect(info.categories.map(\.cells) == [16, 12, 8])
        #expect(info.factors.map(\.levelPixels) == [r["exposure_levels"] as! [Int], r["capacity_levels"] as! [Int]])
        #expect(info.factors.map(\.margin) == [nil, 4000])
        #expect(info.zonesFile == "zones.gpkg" && info.zonesLayer == "prevention_zones")
        let keys = result.manifest.inputs.map(\.key)
        #expect(keys.contains("prevention.factors.exposure") && keys.contains("prevention.factors.capacity") && keys.contains("townships"))
        let products = Set(result.manifest.products.map(\.path))
        #expect(products.isSuperset(of: ["prevention_class.tif", "prevention_zones.tif", "zones.gpkg", "prevention_stats.csv", "prevention_stats.json",
                                         "prevention_map.pdf", "prevention_map.png", "prevention_zones.qml"]))
        // The prevention map's legend names every category; its zones have a default QGIS style.
        let mapText = try shell("/usr/bin/pdftotext", ["\(run)/prevention_map.pdf", "-"])
        for category in JobSpec.Prevention.defaultCategories { #expect(mapText.contains(category.name), "\(category.name)") }
        let styles = try shell("/usr/bin/ogrinfo", ["-ro", "-q", "-sql", "SELECT f_table_name FROM layer_styles ORDER BY id", "\(run)/zones.gpkg"])
        #expect(styles.contains("= risk_zones") && styles.contains("= prevention_zones"), "\(styles)")
        for product in result.manifest.products {
            #expect(try SHA256.hex(fileAt: "\(run)/\(product.path)") == product.sha256, "\(product.path)")
        }

        // The class raster: a valid COG with the categories' colours and names.
        let validator = "/usr/lib/python3/dist-packages/osgeo_utils/samples/validate_cloud_optimized_geotiff.py"
        let (status, out, _) = try runProcess("/usr/bin/python3", [validator, "\(run)/prevention_class.tif"])
        #expect(status == 0 && out.contains("is a valid cloud optimized GeoTIFF"), "\(out)")
        let band = try Dataset(open: "\(run)/prevention_class.tif").band(1)
        #expect(band.pixelType == .byte && band.noDataValue == 0)
        let table = try #require(band.colorTable)
        #expect(table[1] == (230, 0, 0, 255) && table[2] == (255, 170, 0, 255) && table[3] == (56, 168, 0, 255))
        #expect(band.categoryNames.prefix(4) == ["nodata", "重点防治区 key prevention zone", "次重点防治区 secondary prevention zone", "一般防治区 general prevention zone"])

        // Zones: the minimum mapping unit equals gdal_sieve.py; polygons equal gdal_polygonize.py.
        let threshold = Int((2.5 * 10_000 / 900).rounded(.up))
        #expect(info.sieveThresholdPixels == threshold)
        let sieved = fx.project.path("sieved.tif")
        try shell("/usr/bin/gdal_sieve.py", ["-q", "-st", "\(threshold)", "-8", "\(run)/prevention_class.tif", sieved])
        let zones = try readBytes("\(run)/prevention_zones.tif")
        #expect(zones == (try readBytes(sieved)))
        #expect(zones != (try readBytes("\(run)/prevention_class.tif")), "the sieve must change something for the test to mean anything")
        let oracle = try polygonsCutByTownshipOracle(zones: "\(run)/prevention_zones.tif", townships: fx.project.path("layers/towns.gpkg"),
                                                     layer: "towns", attribute: "tid", folder: fx.project.path("."))
        func summary(_ path: String, _ layer: String) throws -> [Int: (Int, Double)] {
            let l = try Dataset(open: path, flags: [.vector]).layer(named: layer)
            let f = try #require(l.fieldIndex("category"))
            var s: [Int: (Int, Double)] = [:]
            l.readFeatures { x in let o = s[x.integer(f)] ?? (0, 0); s[x.integer(f)] = (o.0 + 1, o.1 + x.area) }
            return s
        }
        let a = try summary("\(run)/zones.gpkg", "prevention_zones"), b = oracle.byClass
        #expect(a.keys.sorted() == [1, 2, 3] && b.keys.sorted() == [1, 2, 3])
        for k in a.keys {
            #expect(a[k]!.0 == b[k]!.0, "category \(k) feature count")
            #expect(abs(a[k]!.1 - b[k]!.1) < 1e-3, "category \(k) area")
        }
        #expect(info.zoneFeatures == a.values.map(\.0).reduce(0, +))
        let layer = try Dataset(open: "\(run)/zones.gpkg", flags: [.vector]).layer(named: "prevention_zones")
        #expect(layer.fields.map(\.name) == ["category", "name", "english", "area_ha", "township_code", "township", "township_en"])
        var towns = Set<String>(), names = Set<String>()
        layer.readFeatures { f in
            #expect(abs(f.real(3) - f.area / 10_000) < 1e-9)
        }
        for f in try layer.features(attribute: "township") { if let t = f.attribute { towns.insert(t) } }
        for f in try layer.features(attribute: "name") { if let n = f.attribute { names.insert(n) } }
        #expect(towns == ["西乡", "东乡"])
        #expect(names == ["重点防治区", "次重点防治区", "一般防治区"])
        // The risk zones are still there, untouched.
        #expect(try Dataset(open: "\(run)/zones.gpkg", flags: [.vector]).layer(named: "risk_zones").featureCount > 0)

        // Statistics per township: area per category equal the oracle's counts.
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let stats = try decoder.decode([TownshipPreventionStatistics].self, from: Data(contentsOf: URL(fileURLWithPath: "\(run)/prevention_stats.json")))
        let expected = try #require(r["towns"] as? [[Int]])
        #expect(stats.map(\.name) == ["西乡", "东乡"])
        for (s, e) in zip(stats, expected) {
            #expect(s.categories.map(\.pixels) == e)
            #expect(s.validPixels == e.reduce(0, +))
            #expect(s.categories.allSatisfy { abs($0.areaHa - Double($0.pixels) * 0.09) < 1e-9 })
            #expect(abs(s.categories.map(\.percent).reduce(0, +) - 100) < 1e-9)
            #expect(s.dominantCategory == 1 + e.indices.max { e[$0] < e[$1] || (e[$0] == e[$1] && $0 > $1) }!)
        }
        let csv = try String(contentsOfFile: "\(run)/prevention_stats.csv", encoding: .utf8).split(separator: "\n")
        #expect(csv.count == 3)
        #expect(csv[0] == "township_id,township_code,乡镇 township,乡镇英文名 township_en,有效面积(公顷) valid_area_ha,主导防治分区 dominant_category,分区名称 dominant_category_name,重点防治区面积(公顷) category_1_area_ha,重点防治区占比(%) category_1_pct,次重点防治区面积(公顷) category_2_area_ha,次重点防治区占比(%) category_2_pct,一般防治区面积(公顷) category_3_area_ha,一般防治区占比(%) category_3_pct")
        #expect(csv[1].hasPrefix("1,,西乡,,"))
        // The zones' area per township equals the statistics' valid area (each polygon lies in one township).
        var sums: [String: Double] = [:]
        for (f, a) in zip(try layer.features(attribute: "township"), try layer.numericValues(field: "area_ha")) { sums[f.attribute ?? "", default: 0] += a ?? 0 }
        for s in stats { #expect(abs((sums[s.name] ?? 0) - s.validAreaHa) < 1e-6, "\(s.name)") }
    }

    @Test func withoutZoningThePolygonsGoToTheirOwnGeoPackage() throws {
        let (fx, job) = try fixture(zoning: "")
        let result = try Runner(plan: try Planner().resolve(try JobLoader().load(job)), options: RunOptions(threads: 2)).run()
        let run = result.runDirectory
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: run))
        #expect(files.contains("prevention.gpkg") && files.contains("prevention_class.tif"))
        #expect(!files.contains("zones.gpkg") && !files.contains("prevention_zones.tif") && !files.contains("prevention_stats.csv"))
        let info = try #require(result.manifest.prevention)
        #expect(info.zonesFile == "prevention.gpkg" && info.sieveThresholdPixels == nil)
        // Ungeneralised polygons: exactly gdal_polygonize.py of the class raster.
        let theirs = fx.project.path("theirs.gpkg")
        try shell("/usr/bin/gdal_polygonize.py", ["-q", "-8", "\(run)/prevention_class.tif", "-f", "GPKG", theirs, "zones", "category"])
        let count = try Dataset(open: theirs, flags: [.vector]).layer(named: "zones").featureCount
        #expect(info.zoneFeatures == count && count > 3)
        #expect(try Dataset(open: "\(run)/prevention.gpkg", flags: [.vector]).layer(named: "prevention_zones").featureCount == count)
        // Same oracle, same answer.
        let work = fx.project.path("oracle")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let r = try oracle(PreventionTests.script.replacingOccurrences(of: "RULES", with: PreventionTests.oracleRules),
                           [work, fx.project.path("layers"), run, "\(Fixture.xmin)", "\(Fixture.ymin)", "\(Fixture.xmax)", "\(Fixture.ymax)"])
        #expect(r["differ"] as? Int == 0, "\(r)")
    }
}

/// The prevention section's validation: coverage, names, levels and categories at their positions.
@Suite struct PreventionValidationTests {
    func job(_ p: Project, scheme: String = "four-colour", breaks: String = "[0.25, 0.5, 0.75]", prevention: String) throws -> String {
        try p.write("layers/a.yaml", "source: a.tif\n")
        try p.write("layers/a.tif", "")
        try p.write("layers/pop.yaml", "source: pop.tif\n")
        try p.write("layers/pop.tif", "")
        try p.write("layers/shelters.yaml", "source: shelters.gpkg\n")
        try p.write("layers/shelters.gpkg", "")
        return try p.write("jobs/v.yaml", """
            version: 1
            name: v
            grid: { crs: EPSG:4545, resolution: 30, extent: [0, 0, 300, 300] }
            layers:
              a: { layer: a, normalize: { linear: [0, 1] } }
            combine: { weighted-sum: { a: 1 } }
            classify: { scheme: \(scheme), breaks: \(breaks) }
            outputs: { directory: out/v }
            \(prevention)
            """)
    }

    func diagnostics(_ path: String) throws -> [String] {
        let error = try #require(throws: DiagnosticsError.self) { try JobLoader().load(path) }
        return error.diagnostics.map { "\($0.line):\($0.column) \($0.message)" }
    }

    @Test func missingCellsAreListedAtTheMatrixKey() throws {
        let p = try Project()
        let path = try job(p, prevention: """
            prevention:
              factors:
                exposure: { layer: pop, breaks: [20, 100] }
                capacity: { layer: shelters, proximity: [5000] }
              matrix:
                - { risk: [3, 4], exposure: any, capacity: any, category: 1 }
                - { risk: [1, 2], exposure: [1, 2], capacity: [2], category: 3 }

            """)
        #expect(try diagnostics(path) == [
            "13:3 prevention.matrix: matrix does not cover 8 of 24 combinations: risk 1 × exposure 1 × capacity 1, "
                + "risk 1 × exposure 2 × capacity 1, risk 1 × exposure 3 × capacity 1, risk 1 × exposure 3 × capacity 2, "
                + "risk 2 × exposure 1 × capacity 1, risk 2 × exposure 2 × capacity 1, risk 2 × exposure 3 × capacity 1, "
                + "risk 2 × exposure 3 × capacity 2; add rules (or a last catch-all rule with any)",
        ])
        // Many missing cells: the first ones and a count. The five levels come from the scheme.
        let many = try job(p, scheme: "five-level", breaks: "[0.2, 0.4, 0.6, 0.8]", prevention: """
            prevention:
              factors:
                exposure: { layer: pop, breaks: [20, 100] }
                capacity: { layer: shelters, proximity: [5000] }
              matrix:
                - { risk: [5], exposure: any, capacity: any, category: 1 }

            """)
        let found = try diagnostics(many)
        #expect(found.count == 1)
        #expect(found[0].hasPrefix("13:3 prevention.matrix: matrix does not cover 24 of 30 combinations: risk 1 × exposure 1 × capacity 1, risk 1 × exposure 1 × capacity 2, "))
        #expect(found[0].contains("risk 2 × exposure 1 × capacity 2, … and 16 more; add rules"))
        // Covered: the job loads, and the lookup table follows first-match order.
        let fine = try job(p, prevention: """
            prevention:
              factors:
                exposure: { layer: pop, breaks: [20, 100] }
                capacity: { layer: shelters, proximity: [5000] }
              matrix:
                - { risk: [3, 4], exposure: any, capacity: any, category: 1 }
                - { risk: [1, 2], exposure: [1, 2], capacity: [2], category: 3 }
                - { risk: any, exposure: [3], capacity: any, category: 1 }
                - { risk: any, exposure: any, capacity: any, category: 2 }

            """)
        let spec = try #require(try JobLoader().load(fine).prevention)
        #expect(spec.dimensions == [4, 3, 2] && spec.table.count == 24)
        #expect(spec.category(risk: 4, levels: [1, 1]) == 1)
        #expect(spec.category(risk: 2, levels: [2, 2]) == 3)
        #expect(spec.category(risk: 2, levels: [3, 2]) == 1)
        #expect(spec.category(risk: 1, levels: [1, 1]) == 2)
        #expect(spec.categories == JobSpec.Prevention.defaultCategories)
        #expect(try JobLoader().load(fine).outputs.products == [.riskIndex, .riskClass, .prevention, .maps])
    }

    @Test func unknownNamesLevelsAndCategoriesAreReportedWhereTheyAre() throws {
        let p = try Project()
        let path = try job(p, prevention: """
            prevention:
              factors:
                exposure: { layer: pop, breaks: [20, 100] }
                capacity: { layer: shelters, proximity: [15000, 5000] }
              categories:
                - { value: 1, name: key, colour: [230, 0, 0] }
                - { value: 1, name: general, colour: [0, 300, 0] }
              matrix:
                - { risk: [5], exposure: [0, 2], capacity: any, category: 1 }
                - { risk: any, exposur: any, capacity: any, category: 7 }

            """)
        let found = try diagnostics(path)
        #expect(found.map { $0.split(separator: " ")[0] } == ["12:45", "15:16", "15:42", "17:16", "17:31", "18:7", "18:20", "18:59"], "\(found)")
        #expect(found[0].contains("breaks must increase"))
        #expect(found[1].contains("category 1 is given twice"))
        #expect(found[2].contains("a colour is [red, green, blue], integers 0 to 255"))
        #expect(found[3].contains("level 5 is out of range: risk has levels 1 to 4"))
        #expect(found[4].contains("level 0 is out of range: factor exposure has levels 1 to 3 (2 breaks)"))
        #expect(found[5].contains("missing required key \"exposure\""))
        #expect(found[6].contains("unknown key \"exposur\" (did you mean \"exposure\"?)"))
        #expect(found[7].contains("unknown category 7; categories: 1 key"))

        let reserved = try job(p, prevention: """
            prevention:
              factors:
                risk: { layer: pop, breaks: [20] }
                shelter: { layer: shelters, breaks: [1], proximity: [5000] }
              matrix:
                - { risk: any, category: 1 }

            """)
        let more = try diagnostics(reserved)
        #expect(more.contains { $0.hasPrefix("11:5 ") && $0.contains("\"risk\" is taken by the matrix") }, "\(more)")
        #expect(more.contains { $0.hasPrefix("12:14 ") && $0.contains("give exactly one of breaks") }, "\(more)")

        // A prevention product needs the section.
        let product = try job(p, prevention: "")
        let text = try String(contentsOfFile: product, encoding: .utf8)
            .replacingOccurrences(of: "outputs: { directory: out/v }", with: "outputs: { directory: out/v, products: [risk-class, prevention] }")
        try text.write(toFile: product, atomically: true, encoding: .utf8)
        #expect(try diagnostics(product) == ["8:53 outputs.products[1]: prevention needs a prevention: section"])
    }
}
