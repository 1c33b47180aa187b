import Foundation
import GDALKit
import RasterKernel
import Testing
@testable import Zoning

/// A census-30s job (EPSG:4490, 30″) with a proximity layer, majority filter, minimum mapping unit,
/// township statistics, zone polygons and maps: it runs, and its areas equal numpy's sums of the
/// cells' ellipsoidal areas over rasters GDAL makes.
@Suite(.serialized) struct GeographicZoningTests {
    static let (x0, y1, res, w, h) = (107.5, 39.65, 1.0 / 120, 36, 30)

    /// numpy: every cell's area (m²) of a north-up lat/long grid on GRS80, by the closed form
    /// b²·Δλ/2·[sin φ/(1 − e² sin² φ) + ln((1 + e sin φ)/(1 − e sin φ))/(2e)] between its parallels.
    static let cellAreasPython = """
        def cell_areas(gt, shape):
            a, f = 6378137.0, 1 / 298.257222101
            e2 = f * (2 - f); e = np.sqrt(e2); b = a * (1 - f)
            def g(deg):
                s = np.sin(np.radians(deg)); return s / (1 - e2 * s * s) + np.log((1 + e * s) / (1 - e * s)) / (2 * e)
            north = gt[3] + np.arange(shape[0]) * gt[5]
            return np.repeat((b * b * np.radians(gt[1]) / 2 * (g(north) - g(north + gt[5])))[:, None], shape[1], axis=1)
        """

    func project() throws -> (Project, String) {
        let p = try Project()
        let (w, h) = (Self.w, Self.h)
        var v = [Float](repeating: 0, count: w * h)
        for r in 0..<h {
            for c in 0..<w {
                // Bands of classes with single-cell specks the majority filter and the sieve remove.
                let base = Float(((r / 6) + (c / 9)) % 4) / 4 + 0.1
                v[r * w + c] = (r * 13 + c * 7) % 17 == 0 ? 0.95 : base
            }
        }
        try p.raster("layers/hz.tif", width: w, height: h, geoTransform: [Self.x0, Self.res, 0, Self.y1, 0, -Self.res], crs: "EPSG:4490",
                     nodata: nil, values: v)
        try p.write("layers/hz.yaml", "source: hz.tif\n")
        // 100 persons/km² everywhere: a township's total is 100 × its area in km².
        try p.raster("layers/pop.tif", width: w, height: h, geoTransform: [Self.x0, Self.res, 0, Self.y1, 0, -Self.res], crs: "EPSG:4490",
                     nodata: nil, values: [Float](repeating: 100, count: w * h))
        try p.write("layers/pop.yaml", "source: pop.tif\n")
        try p.vector("layers/roads.gpkg", layer: "roads", crs: "EPSG:4490", geojson: """
            {"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":1},"geometry":{"type":"LineString","coordinates":[[107.52,39.43],[107.66,39.55],[107.83,39.58]]}}]}
            """)
        try p.write("layers/roads.yaml", "source: roads.gpkg\nlayer: roads\n")
        func poly(_ pts: [(Double, Double)]) -> String { "[[" + (pts + [pts[0]]).map { "[\($0.0),\($0.1)]" }.joined(separator: ",") + "]]" }
        try p.vector("layers/towns.gpkg", layer: "towns", crs: "EPSG:4490", geojson: """
            {"type":"FeatureCollection","features":[
            {"type":"Feature","properties":{"name":"西乡","tid":1,"code":"150625101"},"geometry":{"type":"Polygon","coordinates":\(poly([(107.4, 39.3), (107.61, 39.3), (107.67, 39.7), (107.4, 39.7)]))}},
            {"type":"Feature","properties":{"name":"东乡","tid":2,"code":"150625102"},"geometry":{"type":"Polygon","coordinates":\(poly([(107.61, 39.3), (107.9, 39.3), (107.9, 39.7), (107.67, 39.7)]))}}]}
            """)
        try p.write("layers/towns.yaml", "source: towns.gpkg\nlayer: towns\n")
        let job = try p.write("jobs/geo.yaml", """
            version: 1
            name: geo
            grid:
              preset: census-30s
              extent: hz
            layers:
              hz: { layer: hz, normalize: { linear: [0, 1] } }
              near: { layer: roads, normalize: { proximity: { linear: [0, 8000] } }, direction: negative }
            combine: { weighted-sum: { hz: 0.7, near: 0.3 } }
            classify: { scheme: four-colour, breaks: [0.3, 0.5, 0.7] }
            zoning:
              majority: 3
              min-area-ha: 250
              townships: { layer: towns, name: name, code: code }
              totals: { persons: { layer: pop, as: per-km2, units: persons } }
            outputs: { directory: out/geo, products: [risk-index, risk-class, risk-zones, statistics, maps] }

            """)
        return (p, job)
    }

    @Test func aCensusGridJobWithProximityAndZoningRunsAndItsAreasAreTheCellsEllipsoidalAreas() throws {
        let (p, job) = try project()
        let plan = try Planner().resolve(try JobLoader().load(job))
        #expect(plan.ellipsoid == .grs80)
        #expect(plan.summary.contains("areas: each cell's ellipsoidal area (a = 6378137 m, 1/f = 298.2572221): 66.17982982…66.40684831 ha by row"), "\(plan.summary)")
        #expect(plan.sources[1].proximity?.marginRows == 9 && plan.sources[1].proximity?.marginPixels == 12, "\(String(describing: plan.sources[1].proximity))")
        let result = try Runner(plan: plan, options: RunOptions(threads: 2)).run()
        let run = result.runDirectory
        for file in ["risk_zones.tif", "zones.gpkg", "stats.json", "stats.csv"] {
            #expect(FileManager.default.fileExists(atPath: "\(run)/\(file)"), "\(file)")
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: run)
        #expect(files.contains { $0.hasSuffix(".pdf") } && files.contains { $0.hasSuffix(".png") }, "maps: \(files)")
        // The sieve threshold: 250 ha over the mean cell area of the grid's rows.
        let threshold = try #require(result.manifest.zoning?.sieveThresholdPixels)
        #expect(threshold == Int((250 * 10_000 / plan.cellAreas.mean).rounded(.up)) && threshold == 4)

        // numpy: per township (gdal_rasterize, pixel-centre rule) and class, Σ cell areas by the
        // closed form; per class of risk_zones.tif the same, against the polygons' area_ha.
        let towns = p.path("towns.tif")
        let te = ["-te", "107.5", "39.4", "107.8", "39.65", "-tr", "\(Self.res)", "\(Self.res)"]
        try shell("/usr/bin/gdal_rasterize", ["-q", "-a", "tid", "-l", "towns"] + te + ["-ot", "UInt16", "-init", "0", p.path("layers/towns.gpkg"), towns])
        let out = try shell("/usr/bin/python3", ["-c", """
            import sys, json, numpy as np
            from osgeo import gdal, ogr
            run, towns = sys.argv[1], sys.argv[2]
            ds = gdal.Open(f"{run}/risk_class.tif"); gt = ds.GetGeoTransform()
            cls = ds.ReadAsArray(); zones = gdal.Open(f"{run}/risk_zones.tif").ReadAsArray()
            town = gdal.Open(towns).ReadAsArray()
            \(Self.cellAreasPython)
            cell = cell_areas(gt, cls.shape)
            stats = {f"{t}-{c}": float(cell[(town == t) & (cls == c)].sum() / 1e4) for t in (1, 2) for c in range(0, 5)}
            stats.update({f"{t}-persons": float(cell[town == t].sum() / 1e6 * 100) for t in (1, 2)})
            zoneArea = {str(c): float(cell[zones == c].sum() / 1e4) for c in range(1, 5)}
            poly = {}
            src = ogr.Open(f"{run}/zones.gpkg"); lyr = src.GetLayerByName("risk_zones")
            for feat in lyr: poly[str(feat["class"])] = poly.get(str(feat["class"]), 0) + feat["area_ha"]
            # The minimum mapping unit: no region of the zones (8-connected) left below 250 ha.
            from scipy import ndimage
            smallest = min(float(cell[lab == i].sum() / 1e4) for c in range(1, 5)
                           for lab, n in [ndimage.label(zones == c, structure=np.ones((3, 3)))] for i in range(1, n + 1))
            zoneArea["smallest"] = smallest
            print(json.dumps({"stats": stats, "zones": zoneArea, "polygons": poly}))
            """, run, towns])
        let oracle = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: [String: Double]]
        let rows = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(run)/stats.json"))) as! [[String: Any]]
        #expect(rows.count == 2)
        var worst = 0.0
        func compare(_ ours: Double, _ theirs: Double, _ what: String) {
            let rel = theirs == 0 ? abs(ours) : abs(ours - theirs) / theirs
            worst = max(worst, rel)
            #expect(rel < 1e-9, "\(what): ours \(ours), numpy \(theirs)")
        }
        for row in rows {
            let t = row["id"] as! Int
            var valid = 0.0
            for c in row["classes"] as! [[String: Any]] {
                let v = c["value"] as! Int, ha = (c["areaHa"] ?? c["area_ha"]) as! Double
                compare(ha, oracle["stats"]!["\(t)-\(v)"]!, "township \(t) class \(v)")
                valid += oracle["stats"]!["\(t)-\(v)"]!
            }
            compare((row["validAreaHa"] ?? row["valid_area_ha"]) as! Double, valid, "township \(t) valid area")
            compare(row["persons_total"] as! Double, oracle["stats"]!["\(t)-persons"]!, "township \(t) persons")
        }
        #expect(oracle["zones"]!["smallest"]! >= 250, "a region of \(oracle["zones"]!["smallest"]!) ha survived min-area-ha 250")
        for c in 1...4 where oracle["zones"]!["\(c)"]! > 0 {
            compare(oracle["polygons"]!["\(c)"] ?? 0, oracle["zones"]!["\(c)"]!, "zone polygons of class \(c)")
        }
        print("geographic job: township and zone areas vs numpy, max relative error \(worst)")
    }

    @Test func theProximityLayerIsGeodesicMetres() throws {
        let (p, job) = try project()
        let text = try String(contentsOfFile: job, encoding: .utf8)
            .replacingOccurrences(of: "combine: { weighted-sum: { hz: 0.7, near: 0.3 } }", with: "combine: { weighted-sum: { near: 1 } }")
            .replacingOccurrences(of: "  hz: { layer: hz, normalize: { linear: [0, 1] } }\n", with: "")
            .replacingOccurrences(of: ", direction: negative", with: "")
        try text.write(toFile: job, atomically: true, encoding: .utf8)
        let result = try Runner(plan: try Planner().resolve(try JobLoader().load(job)), options: RunOptions(threads: 2)).run()
        let index = try readFloat("\(result.runDirectory)/risk_index.tif")
        // The road burnt (all touched) on the grid grown by the margin, as the run burns it.
        let burnt = p.path("burnt.tif")
        let (mx, my) = (12.0, 9.0)
        try shell("/usr/bin/gdal_rasterize", ["-q", "-burn", "1", "-at", "-l", "roads", "-te", "\(Self.x0 - mx * Self.res)", "\(39.4 - my * Self.res)",
                                              "\(107.8 + mx * Self.res)", "\(Self.y1 + my * Self.res)", "-tr", "\(Self.res)", "\(Self.res)",
                                              "-ot", "Byte", "-init", "0", p.path("layers/roads.gpkg"), burnt])
        let flags = try readBytes(burnt)
        let ew = Self.w + 24
        var sites: [(Double, Double)] = []
        for (i, f) in flags.enumerated() where f != 0 {
            sites.append((Self.x0 - mx * Self.res + (Double(i % ew) + 0.5) * Self.res, Self.y1 + my * Self.res - (Double(i / ew) + 0.5) * Self.res))
        }
        var pairs: [((Double, Double), (Double, Double))] = []
        let cells = stride(from: 0, to: Self.w * Self.h, by: 7).map { $0 }
        for i in cells {
            let c = (Self.x0 + (Double(i % Self.w) + 0.5) * Self.res, Self.y1 - (Double(i / Self.w) + 0.5) * Self.res)
            for s in sites { pairs.append((c, s)) }
        }
        let geod = try geodDistances(pairs)
        var worst = 0.0
        for (k, i) in cells.enumerated() {
            let d = geod[(k * sites.count)..<((k + 1) * sites.count)].min()!
            guard d > 0, d < 7900 else { continue }
            let ours = Double(index[i]) * 8000
            worst = max(worst, abs(ours - d) / d)
        }
        print("proximity on a census-30s job vs geod: max relative error \(worst) over \(cells.count) cells")
        #expect(worst < 1e-3)
    }

    /// The change tables between two runs on the grid: each transition's area is the sum of its
    /// cells' own areas (numpy over the two class rasters).
    @Test func changeTablesCountEachCellsOwnArea() throws {
        let (p, job) = try project()
        let text = try String(contentsOfFile: job, encoding: .utf8).replacingOccurrences(of: ", maps] }", with: "] }")
        try text.write(toFile: job, atomically: true, encoding: .utf8)
        let first = try Runner(plan: try Planner().resolve(try JobLoader().load(job)), options: RunOptions(threads: 2)).run()
        try text.replacingOccurrences(of: "breaks: [0.3, 0.5, 0.7]", with: "breaks: [0.25, 0.55, 0.8]").write(toFile: job, atomically: true, encoding: .utf8)
        let second = try Runner(plan: try Planner().resolve(try JobLoader().load(job)), options: RunOptions(threads: 2)).run()
        let out = try shell("/usr/bin/python3", ["-c", """
            import sys, json, numpy as np
            from osgeo import gdal
            ds = gdal.Open(f"{sys.argv[1]}/risk_class.tif"); gt = ds.GetGeoTransform()
            a = ds.ReadAsArray().astype(int); b = gdal.Open(f"{sys.argv[2]}/risk_class.tif").ReadAsArray().astype(int)
            \(Self.cellAreasPython)
            cell = cell_areas(gt, a.shape)
            print(json.dumps({f"{x}-{y}": float(cell[(a == x) & (b == y)].sum() / 1e4) for x in range(1, 5) for y in range(1, 5)}))
            """, first.runDirectory, second.runDirectory])
        let oracle = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: Double]
        let changes = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(second.runDirectory)/changes.json"))) as! [String: Any]
        let transitions = try #require(changes["transitions"] as? [[String: Any]])
        #expect(transitions.count > 4)
        var worst = 0.0
        for t in transitions {
            let key = "\(t["from"] as! Int)-\(t["to"] as! Int)", ha = t["area_ha"] as! Double
            worst = max(worst, abs(ha - oracle[key]!) / oracle[key]!)
        }
        print("change transitions vs numpy: max relative error \(worst)")
        #expect(worst < 1e-9)
        withExtendedLifetime(p) {}
    }

    /// Prevention zoning on the grid (a proximity factor in geodesic metres): its category areas
    /// per township are numpy's sums of the cells' areas over prevention_class.tif.
    @Test func preventionCategoryAreasAreTheCellsEllipsoidalAreas() throws {
        let (p, job) = try project()
        let text = try String(contentsOfFile: job, encoding: .utf8).replacingOccurrences(of: ", maps] }", with: ", prevention] }") + """
            prevention:
              factors:
                exposure: { layer: pop, breaks: [50, 150] }
                capacity: { layer: roads, proximity: [2000, 5000] }
              categories:
                - { value: 1, name: 重点防治区, english: key prevention zone, colour: [230, 0, 0] }
                - { value: 2, name: 次重点防治区, english: secondary prevention zone, colour: [255, 170, 0] }
                - { value: 3, name: 一般防治区, english: general prevention zone, colour: [56, 168, 0] }
              matrix:
                - { risk: [3, 4], exposure: any, capacity: [2, 3], category: 1 }
                - { risk: [2, 3, 4], exposure: any, capacity: any, category: 2 }
                - { risk: [1], exposure: any, capacity: any, category: 3 }

            """
        try text.write(toFile: job, atomically: true, encoding: .utf8)
        let result = try Runner(plan: try Planner().resolve(try JobLoader().load(job)), options: RunOptions(threads: 2)).run()
        let run = result.runDirectory
        let towns = p.path("towns.tif")
        try shell("/usr/bin/gdal_rasterize", ["-q", "-a", "tid", "-l", "towns", "-te", "107.5", "39.4", "107.8", "39.65", "-tr", "\(Self.res)", "\(Self.res)",
                                              "-ot", "UInt16", "-init", "0", p.path("layers/towns.gpkg"), towns])
        let out = try shell("/usr/bin/python3", ["-c", """
            import sys, json, numpy as np
            from osgeo import gdal
            ds = gdal.Open(f"{sys.argv[1]}/prevention_class.tif"); gt = ds.GetGeoTransform()
            cat = ds.ReadAsArray(); town = gdal.Open(sys.argv[2]).ReadAsArray()
            \(Self.cellAreasPython)
            cell = cell_areas(gt, cat.shape)
            print(json.dumps({f"{t}-{c}": float(cell[(town == t) & (cat == c)].sum() / 1e4) for t in (1, 2) for c in (1, 2, 3)}))
            """, run, towns])
        let oracle = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: Double]
        let rows = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(run)/prevention_stats.json"))) as! [[String: Any]]
        #expect(rows.count == 2)
        var worst = 0.0, categories = 0
        for row in rows {
            let t = row["id"] as! Int
            for c in row["categories"] as! [[String: Any]] {
                let key = "\(t)-\(c["value"] as! Int)", ha = (c["area_ha"] ?? c["areaHa"]) as! Double
                if oracle[key]! > 0 { categories += 1 }
                worst = max(worst, oracle[key]! == 0 ? ha : abs(ha - oracle[key]!) / oracle[key]!)
            }
        }
        print("prevention categories vs numpy: max relative error \(worst) over \(categories) non-empty township categories")
        #expect(worst < 1e-9 && categories >= 3)
    }

    /// The class-stability table on the grid: each township's valid area is its classified cells'
    /// ellipsoidal areas, the same number as stats.json's.
    @Test func sensitivityValidAreasAreTheCellsEllipsoidalAreas() throws {
        let (p, job) = try project()
        let text = try String(contentsOfFile: job, encoding: .utf8).replacingOccurrences(of: ", maps] }", with: ", sensitivity] }")
            + "sensitivity: { perturb: 0.2 }\n"
        try text.write(toFile: job, atomically: true, encoding: .utf8)
        let result = try Runner(plan: try Planner().resolve(try JobLoader().load(job)), options: RunOptions(threads: 2)).run()
        let rows = try JSONDecoder.snake.decode([TownshipSensitivity].self,
                                                from: Data(contentsOf: URL(fileURLWithPath: "\(result.runDirectory)/sensitivity.json")))
        let stats = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(result.runDirectory)/stats.json"))) as! [[String: Any]]
        #expect(rows.count == 2 && stats.count == 2)
        for (row, s) in zip(rows, stats) {
            let valid = (s["valid_area_ha"] ?? s["validAreaHa"]) as! Double
            #expect(abs(row.validAreaHa - valid) <= 1e-9 * valid, "\(row.name): \(row.validAreaHa) vs stats \(valid)")
            #expect(abs(row.validAreaHa - Double(row.validPixels) * 66.3) < 0.01 * row.validAreaHa, "ellipsoidal hectares, not square degrees")
        }
        withExtendedLifetime(p) {}
    }

    @Test func theSameNumbersWhateverTheThreadCount() throws {
        let (p, job) = try project()
        let text = try String(contentsOfFile: job, encoding: .utf8).replacingOccurrences(of: ", maps] }", with: "] }")
        try text.write(toFile: job, atomically: true, encoding: .utf8)
        var outputs: [String] = []
        for threads in [1, 3] {
            let plan = try Planner().resolve(try JobLoader().load(job), outputDirectory: p.path("out/t\(threads)"))
            let run = try Runner(plan: plan, options: RunOptions(threads: threads)).run().runDirectory
            let stats = try String(contentsOfFile: "\(run)/stats.json", encoding: .utf8)
            outputs.append(stats + "\(try readFloat("\(run)/risk_index.tif"))" + "\(try readBytes("\(run)/risk_zones.tif"))")
        }
        #expect(outputs[0] == outputs[1])
    }
}
