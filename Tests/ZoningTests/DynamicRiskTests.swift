import Foundation
import GDALKit
import Logging
import Testing
@testable import RiskDatabase
@testable import Zoning

/// Risk managed dynamically (issue 25): a previous round brought in as a baseline, the changes
/// since it in the database, explained changes and the planner's queries — against GDAL's
/// command-line tools, numpy and Python's sqlite3.
@Suite(.serialized) struct DynamicRiskTests {
    static let personsTotals = "  totals:\n    persons: { layer: pop, as: per-km2, units: persons }\n"

    /// The totals fixture (two townships with codes, persons per km²), township statistics, levels by mean index.
    func fixture() throws -> (Fixture, String) {
        try TotalsTests.fixture(zoning: Self.personsTotals, products: "  products: [risk-index, risk-class, statistics]\n",
                                level: ", level: mean-index")
    }

    /// Class polygons of an earlier round in EPSG:4326 (made in the grid CRS, reprojected by ogr2ogr):
    /// three overlapping boxes with classes 1, 4 and 2 in the attribute `cls`.
    func earlierPolygons(_ fx: Fixture) throws -> String {
        let (x0, y0) = (Fixture.xmin, Fixture.ymin)
        func box(_ a: Double, _ b: Double, _ c: Double, _ d: Double, _ cls: Int) -> String {
            let ring = [(x0 + a, y0 + c), (x0 + b, y0 + c), (x0 + b, y0 + d), (x0 + a, y0 + d), (x0 + a, y0 + c)]
            return "{\"type\":\"Feature\",\"properties\":{\"cls\":\(cls)},\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[\(ring.map { "[\($0.0),\($0.1)]" }.joined(separator: ","))]]}}"
        }
        try fx.project.vector("prev-4545.gpkg", layer: "prev", crs: "EPSG:4545", geojson: """
            {"type":"FeatureCollection","features":[\(box(-500, 6100, -300, 7600, 1)),\(box(3000, 9800, 1000, 5000, 4)),\(box(5200, 7300, 2500, 7000, 2))]}
            """)
        let out = fx.project.path("prev-4326.gpkg")
        try shell("/usr/bin/ogr2ogr", ["-f", "GPKG", "-t_srs", "EPSG:4326", out, fx.project.path("prev-4545.gpkg")])
        return out
    }

    func python(_ script: String, _ args: [String]) throws -> String {
        try shell("/usr/bin/python3", ["-c", script] + args).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static let gridArgs = "-te \(Fixture.xmin) \(Fixture.ymin) \(Fixture.xmax) \(Fixture.ymax) -tr 30 30"

    /// `baseline import` of polygons in EPSG:4326 and of a class raster in EPSG:4326: the class
    /// raster equals gdal_rasterize (onto an empty EPSG:4545 grid made by gdal_create, the tool
    /// reprojecting the polygons itself) and gdalwarp -r near; the township levels are the dominant
    /// classes numpy counts; the database has the run with status baseline and the file's SHA-256.
    @Test func baselineFromPolygonsAndRasterInAnotherCRSEqualsGDAL() throws {
        let (fx, job) = try fixture()
        let polygons = try earlierPolygons(fx)
        let (code, _, err) = try runProcess(BadInputTests.executable, ["baseline", "import", job, "--from", polygons, "--field", "cls",
                                                                       "--date", "2022-06-30", "--label", "2022普查"])
        #expect(code == 0, "\(err)")
        let out = fx.project.path("out/totals")
        let first = try FileManager.default.destinationOfSymbolicLink(atPath: "\(out)/latest")
        let check = try python("""
            import sys, subprocess, hashlib, json, sqlite3, numpy as np
            from osgeo import gdal
            run, polygons, work, towns, db = sys.argv[1:6]
            te = sys.argv[6].split()
            w, h = \(Fixture.width), \(Fixture.height)
            subprocess.run(['gdal_create', '-q', '-of', 'GTiff', '-outsize', str(w), str(h), '-a_srs', 'EPSG:4545', '-a_ullr',
                            te[1], te[4], te[3], te[2], '-ot', 'Byte', '-burn', '0', f'{work}/oracle.tif'], check=True)
            subprocess.run(['gdal_rasterize', '-q', '-a', 'cls', polygons, f'{work}/oracle.tif'], check=True)
            want = gdal.Open(f'{work}/oracle.tif').ReadAsArray()
            got = gdal.Open(f'{run}/risk_class.tif').ReadAsArray()
            subprocess.run(['gdal_rasterize', '-q', '-a', 'tid', '-l', 'towns', *te, '-ot', 'UInt16', '-init', '0', towns, f'{work}/t.tif'], check=True)
            t = gdal.Open(f'{work}/t.tif').ReadAsArray()
            levels = []
            for town in (1, 2):
                counts = [int(((t == town) & (got == c)).sum()) for c in range(1, 5)]
                levels.append(max(range(4), key=lambda i: (counts[i], i)) + 1)
            stats = [r['level'] for r in json.load(open(f'{run}/stats.json'))]
            row = sqlite3.connect(db).execute("SELECT status, baseline_label, baseline_date, source_sha256, product_type FROM runs").fetchall()
            sha = hashlib.sha256(open(polygons, 'rb').read()).hexdigest()
            print(int((want != got).sum()), int((got > 0).sum()), len(np.unique(got)), levels == stats, stats,
                  row == [('baseline', '2022普查', '2022-06-30', sha, 'hazard')], row)
            """, ["\(out)/\(first)", polygons, fx.project.path(""), fx.project.path("layers/towns.gpkg"),
                  fx.project.path("out/risk-database.gpkg"), Self.gridArgs])
        let parts = check.components(separatedBy: " ")
        #expect(parts[0] == "0" && Int(parts[1])! > 10_000 && parts[2] == "4", "pixels differing from gdal_rasterize, valid, values: \(check)")
        #expect(!check.contains("False"), "levels = dominant classes, database row: \(check)")

        // A class raster in EPSG:4326: the same as gdalwarp -r near onto the grid.
        let raster = fx.project.path("prev-4326.tif")
        try shell("/usr/bin/gdalwarp", ["-q", "-t_srs", "EPSG:4326", "-r", "near", "-tr", "0.0004", "0.0003", "-dstnodata", "0",
                                        "\(out)/\(first)/risk_class.tif", raster])
        try Operations.importBaseline(job: try JobLoader().load(job), BaselineOptions(source: raster), logger: Logger(label: "test"))
        let second = try FileManager.default.destinationOfSymbolicLink(atPath: "\(out)/latest")
        #expect(second != first)
        let warped = try python("""
            import sys, subprocess
            from osgeo import gdal
            src, run, work = sys.argv[1:4]
            subprocess.run(['gdalwarp', '-q', '-t_srs', 'EPSG:4545', *sys.argv[4].split(), '-r', 'near', '-ot', 'Byte', '-dstnodata', '0',
                            src, f'{work}/warped.tif'], check=True)
            a = gdal.Open(f'{work}/warped.tif').ReadAsArray(); b = gdal.Open(f'{run}/risk_class.tif').ReadAsArray()
            print(int((a != b).sum()), int((b > 0).sum()))
            """, [raster, "\(out)/\(second)", fx.project.path(""), Self.gridArgs])
        #expect(warped.hasPrefix("0 ") && warped != "0 0", "pixels differing from gdalwarp -r near: \(warped)")

        // Bad input: names the file and what was expected; nothing is published.
        let (badCode, _, badErr) = try runProcess(BadInputTests.executable, ["baseline", "import", job, "--from", polygons, "--field", "nope"])
        #expect(badCode == 65 && badErr.contains(polygons) && badErr.contains("nope") && badErr.contains("no such attribute"), "\(badErr)")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(out)/latest") == second)
    }

    /// The run after a baseline: `township_changes` equals numpy over the baseline's and the run's
    /// class rasters, the townships by gdal_rasterize and the persons by gdalwarp -r average, read
    /// back with Python's sqlite3; `zone_changes` covers exactly the changed pixels; the views
    /// answer; `db import` rebuilds the same rows and `db check` is ok.
    @Test func townshipChangesEqualNumpyAndSqlite() throws {
        let (fx, job) = try fixture()
        let polygons = try earlierPolygons(fx)
        try Operations.importBaseline(job: try JobLoader().load(job), BaselineOptions(source: polygons, field: "cls", date: "2022-06-30", label: "2022"),
                                      logger: Logger(label: "test"))
        let baseline = try FileManager.default.destinationOfSymbolicLink(atPath: fx.project.path("out/totals/latest"))
        let run = try Runner(plan: try Planner().resolve(try JobLoader().load(job)), options: RunOptions(threads: 2, runID: "r1")).run()
        #expect(run.manifest.applied?.previousRun?.runId == baseline)
        let db = fx.project.path("out/risk-database.gpkg")
        let check = try python("""
            import sys, subprocess, json, sqlite3, numpy as np
            from osgeo import gdal
            layers, work, prev, cur, db, run_id = sys.argv[1:7]
            te = sys.argv[7].split()
            subprocess.run(['gdalwarp', '-q', '-t_srs', 'EPSG:4545', *te, '-r', 'average', '-ot', 'Float64', '-dstnodata', 'nan',
                            '-et', '0.125', '-srcnodata', '-9999', f'{layers}/pop.tif', f'{work}/pop.tif'], check=True)
            persons = gdal.Open(f'{work}/pop.tif').ReadAsArray() * (30 * 30 / 1e6)
            subprocess.run(['gdal_rasterize', '-q', '-a', 'tid', '-l', 'towns', *te, '-ot', 'UInt16', '-init', '0',
                            f'{layers}/towns.gpkg', f'{work}/t.tif'], check=True)
            t = gdal.Open(f'{work}/t.tif').ReadAsArray()
            a = gdal.Open(prev).ReadAsArray().astype(int); b = gdal.Open(cur).ReadAsArray().astype(int)
            want = {}
            for town, code in ((1, '150625101'), (2, '150625102')):
                for i in range(1, 5):
                    for j in range(1, 5):
                        m = (t == town) & (a == i) & (b == j)
                        if m.any():
                            p = persons[m & np.isfinite(persons)].sum()
                            want[(code, i, j)] = (int(m.sum()), m.sum() * 0.09, float(p))
            con = sqlite3.connect(db)
            got = {(c, i, j): (n, ha, p) for c, i, j, n, ha, p in con.execute(
                "SELECT township_code, from_class, to_class, pixels, area_ha, persons FROM township_changes WHERE run_id = ?", (run_id,))}
            bad = [k for k in want if k not in got or got[k][0] != want[k][0] or abs(got[k][1] - want[k][1]) > 1e-6
                   or abs(got[k][2] - want[k][2]) > 1e-6 * max(1, want[k][2])]
            prev_levels = {r['code']: r['level'] for r in json.load(open(prev.replace('risk_class.tif', 'stats.json')))}
            cur_levels = {r['code']: r['level'] for r in json.load(open(cur.replace('risk_class.tif', 'stats.json')))}
            levels = con.execute("SELECT DISTINCT township_code, level_before, level_after, direction, previous_run_id FROM township_changes WHERE run_id = ?", (run_id,)).fetchall()
            lv_ok = all(lb == prev_levels[c] and la == cur_levels[c] and d == ('up' if la > lb else 'down' if la < lb else 'same') for c, lb, la, d, _ in levels)
            changed = int(((a > 0) & (b > 0) & (a != b)).sum())
            zone_ha = con.execute("SELECT SUM(area_ha), COUNT(*) FROM zone_changes WHERE run_id = ? AND from_class <> to_class", (run_id,)).fetchone()
            since = con.execute("SELECT township_code, level_baseline, level_now FROM level_changes_since_baseline ORDER BY township_code").fetchall()
            since_ok = since == [(c, prev_levels[c], cur_levels[c]) for c in sorted(cur_levels)]
            now = con.execute("SELECT COUNT(*), SUM(persons) FROM township_levels_now").fetchone()
            units = con.execute("SELECT description FROM gpkg_data_columns WHERE table_name = 'township_changes' AND column_name = 'persons'").fetchone()
            print(len(bad), len(want), len(got), lv_ok, len(levels), abs(zone_ha[0] - changed * 0.09) < 1e-6, changed > 0,
                  since_ok, now[0] == 2, 'persons' in (units or [''])[0], bad[:3], since, zone_ha)
            """, [fx.project.path("layers"), fx.project.path(""), fx.project.path("out/totals/\(baseline)/risk_class.tif"),
                  "\(run.runDirectory)/risk_class.tif", db, "r1", Self.gridArgs])
        #expect(check.hasPrefix("0 ") && !check.contains("False"), "township_changes vs numpy/sqlite: \(check)")
        let counts = check.components(separatedBy: " ")
        #expect(counts[1] == counts[2] && Int(counts[1])! > 2, "one row per township and transition: \(check)")

        // GDAL's validate_gpkg.py passes (gpkg_data_columns, the views, zone_changes).
        let (status, out, err) = try runProcess("/usr/bin/python3", ["\(RiskDatabaseTests.samples)/validate_gpkg.py", db])
        #expect(status == 0 && out.isEmpty, "validate_gpkg.py: \(out) \(err)")

        // db import rebuilds the same rows from the run folders; db check covers the new tables.
        let rebuilt = fx.project.path("rebuilt.gpkg")
        try RiskDatabase(path: rebuilt).importAll(from: fx.project.path("out"))
        let same = try python("""
            import sys, sqlite3
            q = "SELECT run_id, township_code, from_class, to_class, pixels, area_ha, persons, level_before, level_after FROM township_changes ORDER BY 1, 2, 3, 4"
            z = "SELECT run_id, from_class, to_class, ROUND(SUM(area_ha), 6), COUNT(*) FROM zone_changes GROUP BY 1, 2, 3"
            r = "SELECT run_id, status, product_type, hazard FROM runs ORDER BY 1"
            a, b = sqlite3.connect(sys.argv[1]), sqlite3.connect(sys.argv[2])
            print(all(a.execute(s).fetchall() == b.execute(s).fetchall() for s in (q, z, r)), len(a.execute(q).fetchall()))
            """, [db, rebuilt])
        #expect(same.hasPrefix("True") && !same.hasSuffix(" 0"), "db import rebuilds township_changes, zone_changes, runs: \(same)")
        #expect(try RiskDatabase(path: db).check(repair: false).ok)
        try shell("/usr/bin/sqlite3", [db, "DELETE FROM runs WHERE run_id = 'r1'"])
        let report = try RiskDatabase(path: db).check(repair: false)
        #expect(report.problems.contains { $0.hasPrefix("township_changes:") } && report.problems.contains { $0.hasPrefix("zone_changes:") },
                "\(report.problems)")
    }

    /// A run of the job with the given run id.
    func run(_ job: String, _ id: String) throws -> RunResult {
        try Runner(plan: try Planner().resolve(try JobLoader().load(job)), options: RunOptions(threads: 2, runID: id)).run()
    }

    func setWeights(_ job: String, _ from: String, _ to: String) throws {
        let text = try String(contentsOfFile: job, encoding: .utf8)
        try text.replacingOccurrences(of: from, with: to).write(toFile: job, atomically: true, encoding: .utf8)
    }

    static let (w0, w1) = ("weighted-sum: { flood: 0.45, fire: 0.25, seismic: 0.30 }", "weighted-sum: { flood: 0.25, fire: 0.45, seismic: 0.30 }")

    /// `changes FROM TO --explain` into `folder`: the method and the townships of its changes.json.
    func explained(_ fx: Fixture, _ from: String, _ to: String, _ folder: String) throws -> [[String: Any]] {
        let out = fx.project.path(folder)
        _ = try Operations.changes(from: from, to: to, output: out, database: fx.project.path("out/risk-database.gpkg"), explain: true)
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(out)/changes.json"))) as? [String: Any])
        #expect((doc["explanation"] as? String)?.contains("f(D1,W0)") == true)
        return try #require(doc["townships"] as? [[String: Any]])
    }

    /// Mean index per township code of a run's stats.json.
    func means(_ r: RunResult) throws -> [String: Double] {
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(r.runDirectory)/stats.json"))) as? [[String: Any]])
        return Dictionary(uniqueKeysWithValues: rows.map { ($0["code"] as! String, $0["mean_index"] as! Double) })
    }

    /// `run --explain-changes` when only the weights changed: data + weights + interaction = the
    /// change of the mean index (the two runs' stats.json, 1e-9), the whole change on the weights
    /// (data and interaction exactly 0), in the run's changes.json and its `township_changes` rows
    /// (Python's sqlite3); `level_by_old_breaks` = 1 + the old breaks at or below the new mean.
    @Test func explanationPutsAWeightsOnlyChangeOnWeights() throws {
        let (fx, job) = try fixture()
        let r1 = try run(job, "r1")
        try setWeights(job, Self.w0, Self.w1)
        var options = RunOptions(threads: 2, runID: "r2")
        options.explainChanges = true
        let r2 = try Runner(plan: try Planner().resolve(try JobLoader().load(job)), options: options).run()
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(r2.runDirectory)/changes.json"))) as? [String: Any])
        #expect((doc["explanation"] as? String)?.contains("f(D1,W0)") == true)
        // The report's 变化 section states the split and carries its columns.
        let html = try String(contentsOfFile: "\(r2.runDirectory)/report.html", encoding: .utf8)
        #expect(html.contains("How the change of the mean index splits") && html.contains("f(D1,W0)")
                && html.contains("权重所致 Δ from weights") && html.contains("按上次分级的等级 level by the previous breaks"))
        let weightsOnly = try #require(doc["townships"] as? [[String: Any]])
        let (m1, m2) = (try means(r1), try means(r2))
        #expect(weightsOnly.count == 2)
        for t in weightsOnly {
            let code = t["township_code"] as! String
            let delta = t["delta_index"] as! Double, data = t["delta_index_data"] as! Double
            let weights = t["delta_index_weights"] as! Double, interaction = t["delta_index_interaction"] as! Double
            #expect(abs(delta - (m2[code]! - m1[code]!)) <= 1e-12 && abs(delta) > 1e-4, "\(code): \(delta) vs stats.json")
            #expect(abs(data + weights + interaction - delta) <= 1e-9)
            #expect(data == 0 && interaction == 0 && weights == delta, "\(code): weights only: \(t)")
            #expect(t["level_by_old_breaks"] as? Int == 1 + Fixture.breaks.filter { m2[code]! >= $0 }.count)
        }
        // The same split in township_changes (read back through JSON: equal to 1e-15).
        let stored = try python("""
            import sys, sqlite3, json
            rows = sqlite3.connect(sys.argv[1]).execute(
                "SELECT DISTINCT township_code, delta_index, delta_index_data, delta_index_weights, delta_index_interaction FROM township_changes WHERE run_id = 'r2' ORDER BY 1").fetchall()
            print(json.dumps(rows))
            """, [fx.project.path("out/risk-database.gpkg")])
        let dbRows = try #require(try JSONSerialization.jsonObject(with: Data(stored.utf8)) as? [[Any]])
        #expect(dbRows.count == 2)
        for row in dbRows {
            let t = try #require(weightsOnly.first { $0["township_code"] as? String == row[0] as? String })
            for (i, key) in ["delta_index", "delta_index_data", "delta_index_weights", "delta_index_interaction"].enumerated() {
                #expect(abs((row[i + 1] as! Double) - (t[key] as! Double)) <= 1e-15, "\(key): \(row) vs \(t)")
            }
        }
    }

    /// New data in a new file (flood depths × 1.6) and new weights: both parts non-zero, the terms
    /// sum to the change (1e-9); the earlier data rewritten in place: refused before computing.
    @Test func explanationOfNewDataAndNewWeightsSumsToTheChange() throws {
        let (fx, job) = try fixture()
        let m2 = try means(try run(job, "r2"))
        let layers = fx.project.path("layers")
        try FileManager.default.copyItem(atPath: "\(layers)/flood.tif", toPath: "\(layers)/flood2.tif")
        try scale("\(layers)/flood2.tif", by: 1.6)
        let definition = try String(contentsOfFile: "\(layers)/flood-depth.yaml", encoding: .utf8)
        try definition.replacingOccurrences(of: "source: flood.tif", with: "source: flood2.tif")
            .write(toFile: "\(layers)/flood-depth.yaml", atomically: true, encoding: .utf8)
        try setWeights(job, Self.w0, Self.w1)
        let m3 = try means(try run(job, "r3"))
        let both = try explained(fx, "totals@r2", "totals@r3", "explain-2")
        #expect(both.count == 2)
        for t in both {
            let code = t["township_code"] as! String
            let delta = t["delta_index"] as! Double, data = t["delta_index_data"] as! Double
            let weights = t["delta_index_weights"] as! Double, interaction = t["delta_index_interaction"] as! Double
            #expect(abs(delta - (m3[code]! - m2[code]!)) <= 1e-12)
            #expect(abs(data + weights + interaction - delta) <= 1e-9, "\(code): \(t)")
            #expect(abs(data) > 1e-4 && abs(weights) > 1e-4, "\(code): both parts: \(t)")
        }
        // The earlier run's data rewritten in place: the split is refused, naming the file.
        try scale("\(layers)/flood.tif", by: 1.3)
        do {
            _ = try Operations.changes(from: "totals@r2", to: "totals@r3", output: fx.project.path("explain-3"),
                                       database: fx.project.path("out/risk-database.gpkg"), explain: true)
            Issue.record("an explanation without the earlier data")
        } catch let error as RunError {
            #expect("\(error)".contains("flood.tif") && "\(error)".contains("changed since run r2"), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: fx.project.path("explain-3")))
    }

    /// Multiplies a raster's valid values by `factor` in place (numpy through GDAL's Python bindings).
    func scale(_ path: String, by factor: Float) throws {
        _ = try python("""
            import sys, numpy as np
            from osgeo import gdal
            ds = gdal.Open(sys.argv[1], gdal.GA_Update)
            b = ds.GetRasterBand(1)
            a = b.ReadAsArray()
            ok = np.isfinite(a) & (a != -9999)
            a[ok] *= np.float32(sys.argv[2])
            b.WriteArray(a)
            ds = None
            """, [path, "\(factor)"])
    }

    /// The README's "What changed" queries, run with the sqlite3 command line against a database
    /// made as scripts/demo makes it: the risk zoning (five levels, persons, townships with codes)
    /// and a prevention zoning run, scripts/earlier-round makes the earlier round from the risk
    /// zoning's result, `baseline import --levels` brings it in, the risk zoning runs again. Every
    /// query returns rows; query 1 names exactly the townships scripts/earlier-round lowered.
    @Test func readmeQueriesAnswerOnADatabaseMadeLikeTheDemos() throws {
        let (fx, totalsJob) = try TotalsTests.fixture(zoning: Self.personsTotals,
                                                      products: "  products: [risk-index, risk-class, risk-zones, statistics, prevention]\n",
                                                      prevention: true, level: ", level: mean-index")
        let text = try String(contentsOfFile: totalsJob, encoding: .utf8)
            .replacingOccurrences(of: "scheme: four-colour", with: "scheme: five-level")
            .replacingOccurrences(of: "breaks: [0.25, 0.5, 0.75]", with: "breaks: [0.2, 0.35, 0.5, 0.65]")
            .replacingOccurrences(of: "risk: [3, 4]", with: "risk: [4, 5]").replacingOccurrences(of: "risk: [1, 2]", with: "risk: [1, 2, 3]")
        func job(_ name: String) throws -> String {
            try fx.project.write("jobs/\(name).yaml", text.replacingOccurrences(of: "name: totals", with: "name: \(name)")
                .replacingOccurrences(of: "out/totals", with: "out/\(name)"))
        }
        let (risk, prevention) = (try job("hangjin-risk-zoning"), try job("hangjin-prevention-zoning"))
        _ = try run(prevention, "p1")
        let first = try run(risk, "r1")
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let (csv, tif) = (fx.project.path("earlier-levels.csv"), fx.project.path("earlier.tif"))
        try shell("\(root)/scripts/earlier-round", [first.runDirectory, fx.project.path("layers/towns.gpkg"), "towns", tif, csv])
        let (code, _, err) = try runProcess(BadInputTests.executable, ["baseline", "import", risk, "--from", tif, "--date", "2022-06-30",
                                                                       "--label", "2022", "--levels", csv, "--level-field", "level"])
        #expect(code == 0, "\(err)")
        let second = try run(risk, "r2")
        #expect(second.manifest.applied?.previousRun?.runId != "r1", "the second run compares against the baseline")

        let readme = try String(contentsOfFile: "\(root)/README.md", encoding: .utf8)
        let section = try #require(readme.components(separatedBy: "## What changed").dropFirst().first?.components(separatedBy: "\n## ").first)
        let queries = section.components(separatedBy: "```sql\n").dropFirst().map { $0.components(separatedBy: "```")[0] }
        #expect(queries.count == 3)
        let db = fx.project.path("out/risk-database.gpkg")
        var answers: [[String]] = []
        for query in queries {
            let out = try shell("/usr/bin/sqlite3", ["-separator", "|", db, "\n" + query])  // a leading "--" would read as an option
            answers.append(out.split(separator: "\n").map(String.init))
            #expect(!answers.last!.isEmpty, "no rows: \(query)")
        }
        // Query 1: the townships lowered in the earlier round whose level is above 1 now, with people.
        let levels = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(second.runDirectory)/stats.json"))) as? [[String: Any]])
        let expectedUp = Set(levels.filter { ($0["level"] as? Int ?? 0) > 1 }.map { $0["name"] as! String })
        #expect(Set(answers[0].map { String($0.split(separator: "|")[0]) }) == expectedUp, "\(answers[0])")
        #expect(answers[0].allSatisfy { Double($0.split(separator: "|").last!)! > 0 }, "people in the area that went up: \(answers[0])")
        #expect(answers[1].last?.hasPrefix("(county total)|") == true && answers[1].count == 3, "\(answers[1])")
        #expect(answers[2].count >= 2, "\(answers[2])")
    }
}
