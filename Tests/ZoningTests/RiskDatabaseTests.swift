import Foundation
import GDALKit
import Testing
@testable import RiskDatabase
@testable import Zoning

#if canImport(Glibc)
import Glibc
#endif

/// The risk database, the change products, reruns and fault safety, against independent oracles:
/// Python's sqlite3 (the database as SQLite sees it), numpy over the published class rasters
/// (GDAL's Python bindings), ogrinfo and GDAL's validate_gpkg.py / validate_cloud_optimized_geotiff.py.
@Suite(.serialized) struct RiskDatabaseTests {
    static let samples = "/usr/lib/python3/dist-packages/osgeo_utils/samples"

    /// The fixture with two townships, zones and statistics per township, fixed four-colour breaks.
    func databaseFixture(name: String = "fixture", products: String = "[risk-index, risk-class, risk-zones, statistics]",
                         extraOutputs: String = "") throws -> Fixture {
        let fx = try Fixture(name: name)
        let (x0, y0, x1, y1) = (Fixture.xmin - 100, Fixture.ymin - 100, Fixture.xmax + 100, Fixture.ymax + 100)
        let mid0 = Fixture.xmin + 4000, mid1 = Fixture.xmin + 5500
        func poly(_ pts: [(Double, Double)]) -> String { "[[" + (pts + [pts[0]]).map { "[\($0.0),\($0.1)]" }.joined(separator: ",") + "]]" }
        try fx.project.vector("layers/towns.gpkg", layer: "towns", crs: "EPSG:4545", geojson: """
            {"type":"FeatureCollection","features":[
            {"type":"Feature","properties":{"name":"西乡","tid":1},"geometry":{"type":"Polygon","coordinates":\(poly([(x0, y0), (mid0, y0), (mid1, y1), (x0, y1)]))}},
            {"type":"Feature","properties":{"name":"东乡","tid":2},"geometry":{"type":"Polygon","coordinates":\(poly([(mid0, y0), (x1, y0), (x1, y1), (mid1, y1)]))}}]}
            """)
        try fx.project.write("layers/towns.yaml", "source: towns.gpkg\nlayer: towns\nattribute: tid\n")
        let text = try String(contentsOfFile: fx.jobPath, encoding: .utf8)
            .replacingOccurrences(of: "  products: [risk-index, risk-class]\n", with: "  products: \(products)\n\(extraOutputs)")
        try fx.project.write("jobs/fixture.yaml", text + "zoning:\n  connectivity: 8\n  townships: { layer: towns, name: name, level: mean-index }\n")
        return fx
    }

    /// Rewrites the flood layer with depths scaled by `factor` (a changed input).
    func changeFlood(_ fx: Fixture, factor: Float) throws {
        let ds = try Dataset(open: fx.project.path("layers/flood.tif"), flags: [.raster, .update])
        let band = try ds.band(1)
        let window = PixelWindow(x: 0, y: 0, width: ds.width, height: ds.height)
        var values: [Float] = try band.read(window)
        for i in values.indices where values[i].isFinite && values[i] != -9999 { values[i] *= factor }
        try values.withUnsafeBufferPointer { try band.write(window, from: $0) }
        try ds.close()
    }

    func python(_ script: String, _ args: [String] = []) throws -> String {
        try shell("/usr/bin/python3", ["-c", script] + args)
    }

    func database(_ fx: Fixture) -> String { fx.project.path("out/risk-database.gpkg") }

    @Test func twoRunsWithAChangedInputAreKeptAndCompared() throws {
        let fx = try databaseFixture()
        let first = try Runner(plan: try fx.plan(), options: RunOptions(threads: 2, runID: "r1")).run()
        try changeFlood(fx, factor: 1.8)
        let second = try Runner(plan: try fx.plan(), options: RunOptions(threads: 2, runID: "r2")).run()
        let db = database(fx)

        // Nothing is written for a job's first run; the second names the first as its previous run.
        #expect(first.manifest.applied?.previousRun == nil && first.manifest.applied?.changes == [])
        #expect(!FileManager.default.fileExists(atPath: "\(first.runDirectory)/changes.csv"))
        #expect(second.manifest.applied?.previousRun?.runId == "r1")
        #expect(second.manifest.applied?.changes.contains("risk_change.tif") == true)
        #expect(second.manifest.products.contains { $0.path == "job/job.yaml" })
        #expect(second.manifest.applied?.weights.fixed?.map(\.weight) == [0.45, 0.25, 0.30])

        // runs has both, with the job text as run; township_levels equal stats.json of each run.
        let oracle = try python("""
            import sqlite3, sys, json
            c = sqlite3.connect(sys.argv[1])
            runs = c.execute("SELECT run_id, job, status, job_text, pruned FROM runs ORDER BY run_id").fetchall()
            rows = c.execute("SELECT run_id, township_id, township, class, area_ha, share, mean_index, max_index, level FROM township_levels ORDER BY run_id, township_id, class").fetchall()
            latest = c.execute("SELECT run_id FROM latest_runs").fetchall()
            latest_levels = c.execute("SELECT DISTINCT run_id FROM latest_township_levels").fetchall()
            print(json.dumps({"runs": runs, "rows": rows, "latest": latest, "latest_levels": latest_levels,
                              "integrity": c.execute("PRAGMA integrity_check").fetchall(),
                              "journal": c.execute("PRAGMA journal_mode").fetchall()}))
            """, [db])
        let result = try #require(try JSONSerialization.jsonObject(with: Data(oracle.utf8)) as? [String: Any])
        let runs = try #require(result["runs"] as? [[Any]])
        #expect(runs.count == 2)
        #expect(runs.map { $0[0] as? String } == ["r1", "r2"])
        let jobText = try String(contentsOfFile: fx.jobPath, encoding: .utf8)
        #expect(runs.allSatisfy { $0[1] as? String == "fixture" && $0[2] as? String == "ok" && $0[3] as? String == jobText })
        #expect((result["latest"] as? [[Any]])?.map { $0[0] as? String } == ["r2"])
        #expect((result["latest_levels"] as? [[Any]])?.map { $0[0] as? String } == ["r2"])
        #expect((result["integrity"] as? [[Any]])?.first?.first as? String == "ok")
        #expect((result["journal"] as? [[Any]])?.first?.first as? String == "wal")
        let rows = try #require(result["rows"] as? [[Any]])
        var expectedRows = 0
        for run in [first, second] {
            let stats = try JSONDecoder.snake.decode([TownshipStatistics].self,
                                                     from: try Data(contentsOf: URL(fileURLWithPath: "\(run.runDirectory)/stats.json")))
            #expect(stats.count == 2)
            for town in stats {
                for c in town.classes {
                    expectedRows += 1
                    let row = rows.first { $0[0] as? String == run.runID && ($0[1] as? Int) == town.id && ($0[3] as? Int) == c.value }
                    guard let row else { Issue.record("no row for \(run.runID) \(town.name) class \(c.value)"); continue }
                    #expect(row[2] as? String == town.name)
                    #expect(abs((row[4] as? Double ?? -1) - c.areaHa) < 1e-9)
                    #expect(abs((row[5] as? Double ?? -1) * 100 - c.percent) < 1e-9)
                    #expect(abs((row[6] as? Double ?? -1) - (town.meanIndex ?? -2)) < 1e-12)
                    #expect(row[8] as? Int == town.level)
                }
            }
        }
        #expect(rows.count == expectedRows)
        // The two runs differ in at least one township level or class area (the input changed).
        #expect(second.manifest.statistics.classes != first.manifest.statistics.classes)

        // risk_change.tif = 10·prev + cur where both are valid, 0 elsewhere (numpy over the
        // published class rasters); changes.csv areas = numpy counts × pixel area.
        let check = try python("""
            import sys, csv, numpy
            from osgeo import gdal
            p = gdal.Open(sys.argv[1]).ReadAsArray().astype(int)
            c = gdal.Open(sys.argv[2]).ReadAsArray().astype(int)
            ch = gdal.Open(sys.argv[3])
            expected = numpy.where((p > 0) & (c > 0), 10 * p + c, 0)
            got = ch.ReadAsArray().astype(int)
            gt = ch.GetGeoTransform()
            ha = abs(gt[1] * gt[5]) / 10000
            bad = 0
            n = 0
            for row in csv.DictReader(open(sys.argv[4], encoding="utf-8")):
                if row["township"] != "(all)":
                    continue
                a, b = int(row["from_class"]), int(row["to_class"])
                count = int(((p == a) & (c == b)).sum())
                n += 1
                if int(row["pixels"]) != count or abs(float(row["area_ha"]) - count * ha) > 1e-6:
                    bad += 1
            transitions = int(sum(1 for a in range(1, 5) for b in range(1, 5) if ((p == a) & (c == b)).any()))
            ct = ch.GetRasterBand(1).GetColorTable()
            print(int((got != expected).sum()), bad, n, transitions, int((expected % 11 != 0).sum()),
                  ch.GetRasterBand(1).GetNoDataValue(), ct.GetColorEntry(12)[:3], ct.GetColorEntry(21)[:3], ct.GetColorEntry(33)[:3])
            """, ["\(first.runDirectory)/risk_class.tif", "\(second.runDirectory)/risk_class.tif",
                  "\(second.runDirectory)/risk_change.tif", "\(second.runDirectory)/changes.csv"])
        let parts = check.trimmingCharacters(in: .whitespacesAndNewlines).components(separatedBy: " ")
        #expect(parts[0] == "0", "pixels differing from numpy: \(check)")
        #expect(parts[1] == "0", "changes.csv rows differing from numpy: \(check)")
        #expect(parts[2] == parts[3], "one (all) row per transition present: \(check)")
        #expect(Int(parts[4])! > 0, "the changed input must change some classes: \(check)")
        #expect(check.contains("0.0 (252, 187, 161) (199, 233, 192) (204, 204, 204)"), "nodata 0, up red, down green, same grey: \(check)")
        #expect(FileManager.default.fileExists(atPath: "\(second.runDirectory)/risk_change.qml"))
        let cog = try shell("/usr/bin/python3", ["\(Self.samples)/validate_cloud_optimized_geotiff.py", "\(second.runDirectory)/risk_change.tif"])
        #expect(cog.contains("is a valid cloud optimized GeoTIFF"), "\(cog)")

        // changes.json per township: previous level → level as the two stats.json say.
        let changes = try JSONValue.parse(try Data(contentsOf: URL(fileURLWithPath: "\(second.runDirectory)/changes.json")))
        let s1 = try JSONValue.parse(try Data(contentsOf: URL(fileURLWithPath: "\(first.runDirectory)/stats.json"))).array ?? []
        let s2 = try JSONValue.parse(try Data(contentsOf: URL(fileURLWithPath: "\(second.runDirectory)/stats.json"))).array ?? []
        for (i, town) in (changes["townships"]?.array ?? []).enumerated() {
            #expect(town["previous_level"]?.int == s1[i]["level"]?.int && town["level"]?.int == s2[i]["level"]?.int)
            let area = (town["transitions"]?.array ?? []).compactMap { $0["area_ha"]?.number }.reduce(0, +)
            #expect(abs(area - (s2[i]["valid_area_ha"]?.number ?? -1)) < 1e-6, "transitions cover the township's valid area")
        }

        // ogrinfo lists the layers and the views; GDAL's validate_gpkg.py passes.
        let info = try shell("/usr/bin/ogrinfo", ["-ro", "-q", db])
        for layer in ["runs", "township_levels", "inputs", "risk_zones", "latest_runs", "latest_township_levels"] {
            #expect(info.contains(" \(layer) ("), "\(layer) not listed: \(info)")
        }
        let (status, out, err) = try runProcess("/usr/bin/python3", ["\(Self.samples)/validate_gpkg.py", db])
        #expect(status == 0 && out.isEmpty, "validate_gpkg.py: \(out) \(err)")

        // The zones of both runs, with their run id, as many as each zones.gpkg holds.
        for run in [first, second] {
            let n = try Dataset(open: "\(run.runDirectory)/zones.gpkg", flags: [.vector]).layer(named: "risk_zones").featureCount
            let rows = try Dataset(open: db, flags: [.vector]).query("SELECT COUNT(*) AS n FROM risk_zones WHERE run_id = '\(run.runID)'")
            #expect(rows.first?["n"].int == n && n > 0)
        }

        // history lists both runs; db check is clean.
        let history = try RiskDatabase(path: db).history(job: "fixture")
        #expect(history.map(\.runID) == ["r1", "r2"] && history.allSatisfy { $0.breaks == Fixture.breaks })
        #expect(try RiskDatabase(path: db).check(repair: false).ok)
    }

    /// The GeoPackages' fixed timestamp is the run's own (a thread-local GDAL option): another
    /// thread setting `OGR_CURRENT_DATE` process-wide meanwhile (another run in this process,
    /// scoped as the runs scoped it before) neither replaces nor removes it.
    @Test func theFixedGeoPackageDateHoldsWhileAnotherThreadSetsItsOwn() throws {
        let fx = try databaseFixture()
        final class Stop: @unchecked Sendable { let lock = NSLock(); var set = false
            var isSet: Bool { lock.lock(); defer { lock.unlock() }; return set } }
        let stop = Stop()
        let other = Thread {
            while !stop.isSet {
                ConfigOptions.withOptions(["OGR_CURRENT_DATE": "2011-11-11T11:11:11.000Z"]) { _ = usleep(500) }
            }
        }
        other.start()
        let run = try Runner(plan: try fx.plan(), options: RunOptions(threads: 2, runID: "a")).run()
        stop.lock.lock(); stop.set = true; stop.lock.unlock()
        let rows = try Dataset(open: "\(run.runDirectory)/zones.gpkg", flags: [.vector]).query("SELECT table_name, last_change FROM gpkg_contents")
        #expect(!rows.isEmpty)
        for row in rows {
            #expect(row["last_change"].text?.hasPrefix("2000") == true, "\(row)")
        }
    }

    @Test func rerunReproducesTheProductsBitForBit() throws {
        let fx = try databaseFixture(products: "[risk-index, risk-class, risk-zones, statistics, maps]")
        _ = try Runner(plan: try fx.plan(), options: RunOptions(threads: 2, runID: "a")).run()
        try changeFlood(fx, factor: 1.5)
        let second = try Runner(plan: try fx.plan(), options: RunOptions(threads: 2, runID: "b")).run()
        #expect(FileManager.default.fileExists(atPath: "\(second.runDirectory)/risk_change_map.png"))
        // The layer definitions move away: the run's own copies are what the rerun reads.
        try FileManager.default.removeItem(atPath: fx.project.path("layers/flood-depth.yaml"))
        let report = try Operations.rerun(second.runDirectory, output: fx.project.path("rerun"), threads: 1)
        #expect(report.bitIdentical, "\(report.summary)")
        #expect(report.identical.contains("risk_change.tif") && report.identical.contains("risk_index.tif")
                && report.identical.contains("zones.gpkg") && report.identical.contains("risk_change_map.pdf"))
        // The rerun wrote its own database, not the project's.
        #expect(try RiskDatabase(path: database(fx)).history(job: nil).count == 2)
    }

    @Test func pruningMarksRowsAndImportRebuildsTheDatabase() throws {
        let fx = try databaseFixture(extraOutputs: "  keep: 1\n")
        for id in ["p1", "p2", "p3"] {
            _ = try Runner(plan: try fx.plan(), options: RunOptions(threads: 2, runID: id)).run()
        }
        let db = RiskDatabase(path: database(fx))
        let history = try db.history(job: "fixture")
        #expect(history.map(\.runID) == ["p1", "p2", "p3"])
        #expect(history.map(\.pruned) == [true, true, false])
        #expect(try db.check(repair: false).ok)

        // Losing the database loses nothing that is still on disk: import rebuilds it.
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: database(fx) + suffix) }
        let imported = try db.importAll(from: fx.project.path("out"))
        #expect(imported.imported.count == 1 && imported.skipped.isEmpty)
        #expect(try db.history(job: nil).map(\.runID) == ["p3"])
        let rows = try Dataset(open: database(fx), flags: [.vector]).query("SELECT COUNT(*) AS n FROM township_levels")
        #expect(rows.first?["n"].int == 2 * 4)
        #expect(try db.importAll(from: fx.project.path("out")).imported.isEmpty, "import is idempotent")
    }

    /// A run killed after its folder was published but before it was recorded leaves a run folder
    /// the database lacks (and `latest` not switched): the next run of the job imports it, even
    /// one that finds nothing to do.
    @Test func theNextRunImportsARunFolderTheDatabaseLacks() throws {
        let fx = try databaseFixture()
        let first = try Runner(plan: try fx.plan(), options: RunOptions(threads: 2, runID: "20260101T000000Z")).run()
        // The folder of a run "killed" between publishing and recording: same products, new id.
        let orphan = fx.project.path("out/fixture/20260102T000000Z")
        try FileManager.default.copyItem(atPath: first.runDirectory, toPath: orphan)
        var manifest = try Manifest.decode(try Data(contentsOf: URL(fileURLWithPath: "\(orphan)/manifest.json")))
        manifest.runId = "20260102T000000Z"
        try manifest.encoded().write(to: URL(fileURLWithPath: "\(orphan)/manifest.json"))
        let db = database(fx)
        let (checkStatus, checkOut, _) = try runProcess(BadInputTests.executable, ["db", "check", "--database", db])
        #expect(checkStatus == 65 && checkOut.contains("20260102T000000Z") && checkOut.contains("missing from the database"), "\(checkOut)")

        let again = try Runner(plan: try fx.plan(), options: RunOptions(threads: 2, skipIfUpToDate: true)).run()
        #expect(again.upToDate)
        #expect(try RiskDatabase(path: db).history(job: "fixture").map(\.runID) == ["20260101T000000Z", "20260102T000000Z"])
        let (status, out, err) = try runProcess(BadInputTests.executable, ["history", "fixture", "--database", db])
        #expect(status == 0 && out.contains("20260102T000000Z") && out.contains("[0.25,0.5,0.75]"), "\(out) \(err)")
        let (okStatus, okOut, _) = try runProcess(BadInputTests.executable, ["db", "check", "--database", db])
        #expect(okStatus == 0 && okOut.contains("ok (2 runs)"), "\(okOut)")

        // A vanished folder: reported, then marked pruned by --repair; history outlives files.
        try FileManager.default.removeItem(atPath: orphan)
        #expect(try !RiskDatabase(path: db).check(repair: false).ok)
        let repaired = try RiskDatabase(path: db).check(repair: true)
        #expect(repaired.repaired.count == 1 && repaired.ok)
        #expect(try RiskDatabase(path: db).history(job: "fixture").map(\.pruned) == [false, true])
    }

    /// `outputs.database`: a path inside the project ending in .gpkg, else an error at its position.
    @Test func theDatabaseKeyIsValidated() throws {
        let fx = try Fixture()
        let text = try String(contentsOfFile: fx.jobPath, encoding: .utf8)
        for (value, message) in [("../elsewhere.gpkg", "must not contain \"..\""), ("out/db.sqlite", "ending in .gpkg"),
                                 ("/var/tmp/db.gpkg", "must lie inside the project")] {
            let job = try fx.project.write("jobs/db.yaml", text.replacingOccurrences(
                of: "  products: [risk-index, risk-class]\n", with: "  products: [risk-index, risk-class]\n  database: \(value)\n"))
            let error = try #require(throws: DiagnosticsError.self) { try JobLoader().load(job) }
            let line = text.components(separatedBy: "\n").firstIndex { $0.hasPrefix("  products:") }! + 2
            #expect(error.diagnostics.count == 1 && error.diagnostics[0].line == line && error.diagnostics[0].column == 13
                    && error.diagnostics[0].message.contains(message), "\(error)")
        }
        let job = try fx.project.write("jobs/db.yaml", text.replacingOccurrences(
            of: "  products: [risk-index, risk-class]\n", with: "  products: [risk-index, risk-class]\n  database: out/shared.gpkg\n"))
        let plan = try Planner().resolve(try JobLoader().load(job))
        #expect(Runner(plan: plan).databasePath == fx.project.path("out/shared.gpkg"))
        var options = RunOptions()
        options.database = "/var/tmp/other.gpkg"
        #expect(Runner(plan: plan, options: options).databasePath == "/var/tmp/other.gpkg")
        #expect(Runner(plan: try fx.plan(output: fx.project.path("a/b"))).databasePath == fx.project.path("a/risk-database.gpkg"))
    }

    @Test func extraNumericStatisticsColumnsAreCarried() throws {
        let project = try Project()
        try project.write("run/stats.json", """
            [{"id": 1, "name": "西乡", "code": "150625100", "valid_pixels": 10, "valid_area_ha": 0.9, "mean_index": 0.4,
              "max_index": 0.9, "level": 2, "level_name": "黄", "persons_total": 120.5, "persons_class_2": 80, "gdp_class_1": 3.5,
              "classes": [{"value": 1, "name": "蓝", "pixels": 4, "area_ha": 0.36, "percent": 40},
                          {"value": 2, "name": "黄", "pixels": 6, "area_ha": 0.54, "percent": 60, "buildings": 7}]}]
            """)
        let rows = RiskDatabase.townshipRows(folder: project.path("run"))
        #expect(rows.count == 2)
        func value(_ row: [(String, FieldValue)], _ name: String) -> FieldValue? { row.first { $0.0 == name }?.1 }
        #expect(value(rows[0], "township_code") == .string("150625100"))
        #expect(value(rows[0], "persons_total") == .real(120.5) && value(rows[1], "persons_total") == .real(120.5))
        #expect(value(rows[1], "persons") == .real(80) && value(rows[0], "persons") == nil)
        #expect(value(rows[0], "gdp") == .real(3.5) && value(rows[1], "gdp") == nil)
        #expect(value(rows[1], "buildings") == .real(7))
        #expect(value(rows[1], "share") == .real(0.6))
    }

    /// The JSON text columns of `runs` (grid, breaks, weights, classes) are read from manifest.json
    /// as published, not through `Manifest`; they equal what encoding the typed manifest gives, also
    /// for values a generic reading could change: -0, reals of 2^53 and above, AHP and entropy weights.
    @Test func theJSONColumnsEqualTheTypedManifestEncoding() throws {
        let fx = try databaseFixture()
        let text = try String(contentsOfFile: fx.jobPath, encoding: .utf8)
        try text.replacingOccurrences(of: "  breaks: [0.25, 0.5, 0.75]\n", with: "  method: quantile\n")
            .write(toFile: fx.jobPath, atomically: true, encoding: .utf8)
        let run = try Runner(plan: try fx.plan(), options: RunOptions(threads: 2, runID: "q1")).run()
        let manifest = try Manifest.decode(try Data(contentsOf: URL(fileURLWithPath: "\(run.runDirectory)/manifest.json")))
        #expect(manifest.classification.methodBreaks != nil && manifest.applied?.weights.fixed != nil)
        func typed(_ m: Manifest) -> [String] {
            [RiskDatabase.jsonText(m.grid), RiskDatabase.jsonText(m.classification),
             m.applied.map { RiskDatabase.jsonText($0.weights) } ?? "{}", RiskDatabase.jsonText(m.statistics.classes)]
        }
        let ds = try Dataset(open: database(fx), flags: [.vector], allowedDrivers: ["GPKG"])
        let row = try #require(try ds.query("SELECT grid, breaks, weights, classes FROM runs WHERE run_id = 'q1'").first)
        #expect(["grid", "breaks", "weights", "classes"].map { row[$0].text ?? "" } == typed(manifest))

        var edge = manifest
        edge.grid.geoTransform[2] = -0.0
        edge.grid.geoTransform[0] = 1e16
        edge.classification.breaks = [-0.0, 0.1, 1e16, 2.5e-7, 1e300]
        edge.applied?.weights.ahp = [.init(key: "flood", weight: 0.4), .init(key: "fire", weight: 0.6)]
        edge.applied?.weights.ahpConsistencyRatio = 0.0332
        edge.applied?.weights.entropy = [.init(key: "flood", weight: -0.0)]
        let read = try RunManifest.decode(try edge.encoded())
        #expect([RiskDatabase.jsonText(read.grid), RiskDatabase.jsonText(read.classification),
                  read.applied.map { RiskDatabase.jsonText($0.weights) } ?? "{}", RiskDatabase.jsonText(read.statistics.classes)] == typed(edge))
        #expect(RiskDatabase.jsonText(read.classification).contains("[-0,0.1,1e+16,"))
    }

    @Test func changesBetweenTwoJobsAndAGridMismatch() throws {
        let fx = try databaseFixture()
        let base = try Runner(plan: try fx.plan(), options: RunOptions(threads: 2, runID: "base")).run()
        let scenario = try String(contentsOfFile: fx.jobPath, encoding: .utf8)
            .replacingOccurrences(of: "name: fixture", with: "name: scenario")
            .replacingOccurrences(of: "out/fixture", with: "out/scenario")
            .replacingOccurrences(of: "flood: 0.45, fire: 0.25, seismic: 0.30", with: "flood: 0.65, fire: 0.15, seismic: 0.20")
        let scenarioJob = try fx.project.write("jobs/scenario.yaml", scenario)
        let other = try Runner(plan: try Planner().resolve(try JobLoader().load(scenarioJob)), options: RunOptions(threads: 2, runID: "s1")).run()
        let out = fx.project.path("cmp")
        let (folder, files) = try Operations.changes(from: "fixture", to: "scenario@s1", output: out, database: database(fx))
        #expect(folder == out)
        #expect(files.contains("risk_change.tif") && files.contains("changes.csv") && files.contains("risk_change_map.png"))
        let json = try JSONValue.parse(try Data(contentsOf: URL(fileURLWithPath: "\(out)/changes.json")))
        #expect(json["from"]?["run_id"]?.string == "base" && json["to"]?["job"]?.string == "scenario")
        #expect(json["from"]?["directory"]?.string == base.runDirectory && json["to"]?["directory"]?.string == other.runDirectory)

        // Another grid: one clear error, exit status 65.
        let coarse = try String(contentsOfFile: fx.jobPath, encoding: .utf8)
            .replacingOccurrences(of: "name: fixture", with: "name: coarse").replacingOccurrences(of: "out/fixture", with: "out/coarse")
            .replacingOccurrences(of: "resolution: 30", with: "resolution: 60")
        let coarseJob = try fx.project.write("jobs/coarse.yaml", coarse)
        _ = try Runner(plan: try Planner().resolve(try JobLoader().load(coarseJob)), options: RunOptions(threads: 2, runID: "c1")).run()
        #expect {
            try Operations.changes(from: "fixture", to: "coarse", output: fx.project.path("bad"), database: database(fx))
        } throws: { error in
            guard let e = error as? RunError else { return false }
            return e.status == .dataError && e.message.contains("not on the same grid")
        }
    }

    @Test func twoProcessesAppendToOneDatabaseAtOnce() throws {
        let fx = try databaseFixture()
        let second = try String(contentsOfFile: fx.jobPath, encoding: .utf8)
            .replacingOccurrences(of: "name: fixture", with: "name: second").replacingOccurrences(of: "out/fixture", with: "out/second")
        let secondJob = try fx.project.write("jobs/second.yaml", second)
        let db = database(fx)
        // Both write the same database at once, three times each.
        nonisolated(unsafe) var statuses: [Int32] = []
        let lock = NSLock()
        let threads = [fx.jobPath, secondJob].map { job in
            Thread {
                for _ in 0..<3 {
                    let (status, _, err) = (try? runProcess(BadInputTests.executable, ["run", job, "--threads", "1", "--force", "--database", db])) ?? (-1, "", "")
                    lock.lock(); statuses.append(status); lock.unlock()
                    if status != 0 { print(err) }
                }
            }
        }
        threads.forEach { $0.start() }
        while threads.contains(where: { !$0.isFinished }) { usleep(50_000) }
        #expect(statuses == [Int32](repeating: 0, count: 6))
        let history = try RiskDatabase(path: db).history(job: nil)
        #expect(history.filter { $0.job == "fixture" }.count == 3 && history.filter { $0.job == "second" }.count == 3)
        #expect(try RiskDatabase(path: db).check(repair: false).ok)
    }

    /// SIGKILL at random moments of runs that write the database: SQLite stays intact, no run is
    /// half in it, and `db check --repair` brings every published run folder in.
    @Test func killedRunsLeaveTheDatabaseIntact() throws {
        let fx = try databaseFixture()
        let db = database(fx)
        // One uninterrupted run measures how long a run takes.
        let started = Date()
        let (status, _, err) = try runProcess(BadInputTests.executable, ["run", fx.jobPath, "--threads", "1", "--force"])
        #expect(status == 0, "\(err)")
        // (Under a loaded machine the first run can take longer than the next: a kill that comes
        // after a run ended shortens the estimate, so the kills keep landing mid-run.)
        var duration = Date().timeIntervalSince(started)
        var generator = SystemRandomNumberGenerator()
        var midRun = 0
        for trial in 0..<10 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: BadInputTests.executable)
            p.arguments = ["run", fx.jobPath, "--threads", "1", "--force"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            let delay = Double.random(in: 0.05...max(0.1, duration * 1.05), using: &generator)
            usleep(UInt32(delay * 1_000_000))
            if p.isRunning { midRun += 1 } else { duration = min(duration, delay) }
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            let oracle = try python("""
                import sqlite3, sys, os, json
                c = sqlite3.connect(sys.argv[1])
                ok = c.execute("PRAGMA integrity_check").fetchall()
                half = []
                for job, run, folder in c.execute("SELECT job, run_id, run_directory FROM runs"):
                    levels = c.execute("SELECT COUNT(*) FROM township_levels WHERE job=? AND run_id=?", (job, run)).fetchone()[0]
                    inputs = c.execute("SELECT COUNT(*) FROM inputs WHERE job=? AND run_id=?", (job, run)).fetchone()[0]
                    zones = c.execute("SELECT COUNT(*) FROM risk_zones WHERE job=? AND run_id=?", (job, run)).fetchone()[0]
                    kept = sqlite3.connect(os.path.join(folder, "zones.gpkg")).execute("SELECT COUNT(*) FROM risk_zones").fetchone()[0]
                    if levels != 8 or inputs == 0 or zones != kept:
                        half.append(run)
                orphans = c.execute("SELECT COUNT(*) FROM township_levels t WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.run_id = t.run_id)").fetchone()[0]
                print(json.dumps([ok[0][0], half, orphans]))
                """, [db])
            #expect(oracle.trimmingCharacters(in: .whitespacesAndNewlines) == "[\"ok\", [], 0]", "trial \(trial): \(oracle)")
        }
        #expect(midRun >= 6, "only \(midRun) of 10 kills landed mid-run")
        // Every published run folder has its rows after a repair.
        let (code, out, errors) = try runProcess(BadInputTests.executable, ["db", "check", "--repair", "--database", db])
        #expect(code == 0, "\(out) \(errors)")
        let publisher = Publisher(outputDirectory: fx.project.path("out/fixture"))
        let recorded = Set(try RiskDatabase(path: db).history(job: "fixture").map(\.runID))
        #expect(Set(publisher.runs()) == recorded)
        #expect(try RiskDatabase(path: db).check(repair: false).ok)
    }
}

