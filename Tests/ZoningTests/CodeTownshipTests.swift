import Foundation
import FilePaths
import Testing
@testable import Zoning

/// A job on the census standard grid with `zoning:` but no townships layer: the township units are
/// the grid's 9-digit codes (`TownshipSource.standardGridCodes`), checked against numpy and GDAL.
@Suite(.serialized) struct CodeTownshipTests {
    /// The census fixture (`CensusJob`: codes 150625101 west, 150625102 east) with a population of
    /// 100 persons/km², zoning without `townships` (or, with `townships`, the layer joined by code)
    /// and statistics.
    func job(townshipsLayer: Bool) throws -> (CensusJob, String) {
        let job = try CensusJob()
        let gt = [CensusGrid.x0, CensusGrid.cell, 0, CensusGrid.y0, 0, -CensusGrid.cell]
        try job.project.raster("layers/pop.tif", width: job.grid.width, height: job.grid.height, geoTransform: gt, crs: "EPSG:4490",
                               nodata: nil, values: [Float](repeating: 100, count: job.grid.width * job.grid.height))
        try job.project.write("layers/pop.yaml", "source: pop.tif\n")
        var townships = ""
        if townshipsLayer {
            _ = try StandardGridTownshipTests().townships(job, features: [("150625102", "东镇"), ("150625101", "西镇")])
            townships = "  townships: { layer: towns, name: name, code: census_code }\n"
        }
        let text = CensusJob.text(census: "").replacingOccurrences(of: "products: [risk-index, risk-class]",
                                                                   with: "products: [risk-index, risk-class, risk-zones, statistics, maps]")
            + "zoning:\n  connectivity: 4\n" + townships + "  totals: { persons: { layer: pop, as: per-km2, units: persons } }\n"
        try job.project.write("jobs/census.yaml", text)
        return (job, job.project.path("out/census/latest"))
    }

    /// numpy: the standard grid's codes on the cells of a run raster `ds` (the county's window).
    static let countyCodesPython = """
        def county_codes(ds, grid):
            gt = ds.GetGeoTransform(); sg = gdal.Open(grid); sgt = sg.GetGeoTransform()
            c0 = round((gt[0] - sgt[0]) / sgt[1]); r0 = round((gt[3] - sgt[3]) / sgt[5])
            return sg.GetRasterBand(1).ReadAsArray(c0, r0, ds.RasterXSize, ds.RasterYSize).astype(np.int64)
        """

    /// numpy: `values` of the run raster `name` (the run folder is argv[1], the standard grid
    /// argv[2]), the standard grid's `codes` on its cells and their ellipsoidal areas `cell`.
    static func prelude(_ name: String) -> String {
        """
        import sys, json, numpy as np
        from osgeo import gdal
        run, grid = sys.argv[1], sys.argv[2]
        ds = gdal.Open(f"{run}/\(name)"); gt = ds.GetGeoTransform(); values = ds.ReadAsArray()
        \(countyCodesPython)
        codes = county_codes(ds, grid)
        \(GeographicZoningTests.cellAreasPython)
        cell = cell_areas(gt, values.shape)
        """
    }

    /// numpy over the run's rasters and the standard grid: per code, the valid cells, the class
    /// areas (ha, the cells' ellipsoidal areas) and the persons (100 per km²); and per code the
    /// cells `township_levels.gpkg`'s polygon of that code covers (gdal_rasterize, pixel centres)
    /// against the code's cells, and the polygon's area in square degrees against its cells'.
    static let oracle = """
        \(Self.prelude("risk_class.tif"))
        from osgeo import ogr
        cls = values
        rows = {}
        for code in sorted(set(codes[codes // 1000 == 150625].tolist())):
            m = (codes == code) & (cls > 0)
            rows[str(code)] = {"pixels": int(m.sum()), "persons": float(cell[m].sum() / 1e6 * 100),
                               "classes": {str(c): float(cell[m & (cls == c)].sum() / 1e4) for c in range(1, 6)}}
        src = ogr.Open(f"{run}/township_levels.gpkg"); lv = src.GetLayerByName("township_levels")
        polys = {}
        for f in lv:
            code = f["township_code"]
            out = gdal.GetDriverByName("MEM").Create("", ds.RasterXSize, ds.RasterYSize, 1, gdal.GDT_Byte)
            out.SetGeoTransform(gt); out.SetProjection(ds.GetProjection())
            mem = ogr.GetDriverByName("Memory").CreateDataSource(""); l = mem.CreateLayer("p", lv.GetSpatialRef())
            g = ogr.Feature(l.GetLayerDefn()); g.SetGeometry(f.GetGeometryRef().Clone()); l.CreateFeature(g)
            gdal.RasterizeLayer(out, [1], l, burn_values=[1])
            covered = out.ReadAsArray() == 1
            polys[code] = {"name": f["township"], "same_cells": bool((covered == (codes == int(code))).all()),
                           "area": f.GetGeometryRef().GetArea(), "cells_area": float((codes == int(code)).sum() * gt[1] * gt[1]),
                           "level": f["level"], "valid": f.GetGeometryRef().IsValid()}
        print(json.dumps({"rows": rows, "polygons": polys}))
        """

    func stats(_ run: String) throws -> [String: [String: Any]] {
        let rows = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(run)/stats.json"))) as! [[String: Any]]
        return Dictionary(uniqueKeysWithValues: rows.map { ($0["code"] as? String ?? "?", $0) })
    }

    @Test func codeOnlyTownshipsGiveStatisticsPerCodeEqualToNumpy() throws {
        let (job, run) = try job(townshipsLayer: false)
        let (status, _, err) = try runProcess(BadInputTests.executable, ["run", job.jobPath])
        #expect(status == 0, "\(err)")
        let out = try shell("/usr/bin/python3", ["-c", Self.oracle, run, job.grid.path])
        let oracle = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: [String: [String: Any]]]
        let rows = try stats(run)
        #expect(rows.keys.sorted() == ["150625101", "150625102"] && oracle["rows"]!.keys.sorted() == rows.keys.sorted())
        var worst = 0.0
        func compare(_ ours: Double, _ theirs: Double, _ what: String) {
            let rel = theirs == 0 ? abs(ours) : abs(ours - theirs) / theirs
            worst = max(worst, rel)
            #expect(rel < 1e-9, "\(what): ours \(ours), numpy \(theirs)")
        }
        for (code, row) in rows {
            let o = oracle["rows"]![code]!
            #expect(row["name"] as? String == code && row["english"] == nil, "\(row)")
            #expect((row["validPixels"] ?? row["valid_pixels"]) as? Int == o["pixels"] as? Int, "\(code)")
            let classes = o["classes"] as! [String: Double]
            for c in row["classes"] as! [[String: Any]] {
                let v = c["value"] as! Int
                compare((c["areaHa"] ?? c["area_ha"]) as! Double, classes["\(v)"]!, "\(code) class \(v)")
            }
            compare((row["validAreaHa"] ?? row["valid_area_ha"]) as! Double, classes.values.reduce(0, +), "\(code) valid area")
            compare(row["persons_total"] as! Double, o["persons"] as! Double, "\(code) persons")
            let poly = oracle["polygons"]![code]!
            #expect(poly["name"] as? String == code && poly["same_cells"] as? Bool == true && poly["valid"] as? Bool == true, "\(poly)")
            compare(poly["area"] as! Double, poly["cells_area"] as! Double, "\(code) polygon area")
            #expect(poly["level"] as? Int == row["level"] as? Int)
        }
        print("code-only townships: stats and polygons vs numpy/GDAL, max relative error \(worst)")
        let csv = try String(contentsOfFile: "\(run)/stats.csv", encoding: .utf8)
        #expect(csv.contains("\n1,150625101,150625101,") && csv.contains("\n2,150625102,150625102,"), "\(csv)")
        let zones = try shell("/usr/bin/ogrinfo", ["-q", "-sql", "SELECT DISTINCT township_code FROM risk_zones ORDER BY township_code",
                                                   "\(run)/zones.gpkg"])
        #expect(zones.contains("township_code (String) = 150625101") && zones.contains("township_code (String) = 150625102"), "\(zones)")
        let words = try shell("/usr/bin/pdftotext", ["\(run)/risk_map.pdf", "-"])
        #expect(words.contains("150625101") && words.contains("150625102"), "\(words)")
    }

    @Test func theSameJobWithTheTownshipsLayerGivesTheSameNumbersPerCode() throws {
        let (codeJob, codeRun) = try job(townshipsLayer: false)
        let (layerJob, layerRun) = try job(townshipsLayer: true)
        for j in [codeJob, layerJob] {
            let (status, _, err) = try runProcess(BadInputTests.executable, ["run", j.jobPath])
            #expect(status == 0, "\(err)")
        }
        let byCode = try stats(codeRun), byLayer = try stats(layerRun)
        #expect(byCode.keys.sorted() == byLayer.keys.sorted() && byCode.count == 2)
        for (code, a) in byCode {
            let b = try #require(byLayer[code])
            #expect(b["name"] as? String == (code == "150625101" ? "西镇" : "东镇"))
            for key in ["validPixels", "valid_pixels", "validAreaHa", "valid_area_ha", "meanIndex", "mean_index", "maxIndex", "max_index",
                        "level", "dominantClass", "dominant_class", "persons_total"] where a[key] != nil || b[key] != nil {
                #expect("\(a[key]!)" == "\(b[key]!)", "\(code) \(key)")
            }
            let (ca, cb) = (a["classes"] as! [[String: Any]], b["classes"] as! [[String: Any]])
            #expect(ca.count == cb.count)
            for (x, y) in zip(ca, cb) {
                for key in ["value", "pixels", "area_ha", "areaHa", "percent"] where x[key] != nil || y[key] != nil {
                    #expect("\(x[key]!)" == "\(y[key]!)", "\(code) class \(x["value"]!) \(key)")
                }
            }
        }
    }

    /// Prevention and sensitivity with code-only townships: the prevention category areas per code
    /// are numpy's sums of the cells' ellipsoidal areas over prevention_class.tif, and the
    /// sensitivity table has one row per code with stats.json's valid area.
    @Test func preventionAndSensitivityCountPerCode() throws {
        let (job, run) = try job(townshipsLayer: false)
        let text = try String(contentsOfFile: job.jobPath, encoding: .utf8)
            .replacingOccurrences(of: "statistics, maps]", with: "statistics, prevention, sensitivity]") + """
            prevention:
              factors:
                exposure: { layer: pop, breaks: [50, 150] }
              categories:
                - { value: 1, name: 重点防治区, english: key prevention zone, colour: [230, 0, 0] }
                - { value: 2, name: 一般防治区, english: general prevention zone, colour: [56, 168, 0] }
              matrix:
                - { risk: [4, 5], exposure: any, category: 1 }
                - { risk: [1, 2, 3], exposure: any, category: 2 }
            sensitivity: { perturb: 0.2, index: people }

            """
        try job.project.write("jobs/census.yaml", text)
        let (status, _, err) = try runProcess(BadInputTests.executable, ["run", job.jobPath])
        #expect(status == 0, "\(err)")
        let out = try shell("/usr/bin/python3", ["-c", """
            \(Self.prelude("prevention_class.tif"))
            cat = values
            print(json.dumps({f"{t}-{c}": float(cell[(codes == t) & (cat == c)].sum() / 1e4) for t in (150625101, 150625102) for c in (1, 2)}))
            """, run, job.grid.path])
        let oracle = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: Double]
        let rows = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(run)/prevention_stats.json"))) as! [[String: Any]]
        #expect(rows.map { $0["code"] as? String } == ["150625101", "150625102"], "\(rows)")
        var worst = 0.0, nonEmpty = 0
        for row in rows {
            for c in row["categories"] as! [[String: Any]] {
                let key = "\(row["code"] as! String)-\(c["value"] as! Int)", ha = (c["area_ha"] ?? c["areaHa"]) as! Double
                if oracle[key]! > 0 { nonEmpty += 1 }
                worst = max(worst, oracle[key]! == 0 ? ha : abs(ha - oracle[key]!) / oracle[key]!)
            }
        }
        print("code-only prevention categories vs numpy: max relative error \(worst) over \(nonEmpty) non-empty")
        #expect(worst < 1e-9 && nonEmpty >= 3)
        let sensitivity = try JSONDecoder.snake.decode([TownshipSensitivity].self,
                                                       from: Data(contentsOf: URL(fileURLWithPath: "\(run)/sensitivity.json")))
        let stats = try stats(run)
        #expect(sensitivity.map(\.name) == ["150625101", "150625102"])
        for row in sensitivity {
            let valid = try #require((stats[row.name]?["valid_area_ha"] ?? stats[row.name]?["validAreaHa"]) as? Double)
            #expect(abs(row.validAreaHa - valid) <= 1e-9 * valid, "\(row.name): \(row.validAreaHa) vs stats \(valid)")
        }
        // The townships whose level changes, outlined by their polygons made from the codes.
        let changing = sensitivity.filter(\.levelChanges).map(\.name)
        #expect(!changing.isEmpty)
        let changes = try shell("/usr/bin/ogrinfo", ["-q", "-sql", "SELECT code FROM level_changes ORDER BY code", "\(run)/sensitivity.gpkg"])
        let listed = changes.split(separator: "\n").filter { $0.contains("code (String) = ") }.map { String($0.split(separator: " ").last!) }
        #expect(listed == changing, "\(changes)")
    }

    /// The changes since the previous run count per code: each code's transitions (from, to,
    /// pixels) in changes.csv are numpy's over the two runs' class rasters and the code cells.
    @Test func changesSinceThePreviousRunCountPerCode() throws {
        let (job, run) = try job(townshipsLayer: false)
        try shell(BadInputTests.executable, ["run", job.jobPath])
        let first = try FileManager.default.destinationOfSymbolicLink(atPath: run)
        let text = try String(contentsOfFile: job.jobPath, encoding: .utf8)
            .replacingOccurrences(of: "breaks: [0.2, 0.4, 0.6, 0.8]", with: "breaks: [0.1, 0.3, 0.5, 0.7]")
        try job.project.write("jobs/census.yaml", text)
        try shell(BadInputTests.executable, ["run", job.jobPath])
        let second = job.project.path("out/census").appendingComponent(try FileManager.default.destinationOfSymbolicLink(atPath: run))
        let out = try shell("/usr/bin/python3", ["-c", """
            import sys, json, numpy as np
            from osgeo import gdal
            a, b, grid = sys.argv[1:4]
            ds = gdal.Open(f"{b}/risk_class.tif"); gt = ds.GetGeoTransform()
            old = gdal.Open(f"{a}/risk_class.tif").ReadAsArray(); new = ds.ReadAsArray()
            \(Self.countyCodesPython)
            codes = county_codes(ds, grid)
            out = []
            for code in (150625101, 150625102):
                m = codes == code
                for f in range(1, 6):
                    for t in range(1, 6):
                        n = int((m & (old == f) & (new == t)).sum())
                        if n: out.append(f"{code},{f},{t},{n}")
            print("\\n".join(out))
            """, job.project.path("out/census").appendingComponent(first), second, job.grid.path])
        let csv = try String(contentsOfFile: "\(second)/changes.csv", encoding: .utf8)
        let ours = csv.split(separator: "\n").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
            .filter { $0[0].hasPrefix("150625") && !$0[7].isEmpty }.map { "\($0[0]),\($0[7]),\($0[8]),\($0[9])" }
        #expect(!ours.isEmpty && ours == out.split(separator: "\n").map(String.init), "\(csv)")
        #expect(csv.contains("150625101,150625101,") && csv.contains("150625102,150625102,"))
    }

    /// A baseline imported from an earlier class raster counts per code: its stats.json has one
    /// row per code with the class pixels of that raster, here the first run's own classes.
    @Test func aBaselineCountsPerCode() throws {
        let (job, run) = try job(townshipsLayer: false)
        try shell(BadInputTests.executable, ["run", job.jobPath])
        let first = try stats(run)
        let earlier = job.project.path("earlier.tif")
        try FileManager.default.copyItem(atPath: "\(run)/risk_class.tif", toPath: earlier)
        let (code, _, err) = try runProcess(BadInputTests.executable, ["baseline", "import", job.jobPath, "--from", earlier,
                                                                       "--date", "2022-06-30", "--label", "2022"])
        #expect(code == 0, "\(err)")
        let manifest = try String(contentsOfFile: "\(run)/manifest.json", encoding: .utf8)
        #expect(manifest.contains("\"baseline\""), "latest is the baseline")
        let baseline = try stats(run)
        #expect(baseline.keys.sorted() == ["150625101", "150625102"], "\(baseline)")
        for (code, row) in baseline {
            let pixels = { (r: [String: Any]) in (r["classes"] as! [[String: Any]]).map { "\($0["value"]!):\($0["pixels"]!)" } }
            #expect(pixels(row) == pixels(first[code]!), "\(code)")
        }
    }
}
