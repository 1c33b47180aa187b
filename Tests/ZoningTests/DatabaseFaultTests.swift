import Foundation
import GDALKit
import Testing
@testable import RiskDatabase
@testable import Zoning

/// The risk database under hostile job keys and damaged files: totals named like the database's
/// own columns, a damaged manifest of an old run, a truncated or corrupt database. No fault makes
/// every later run fail, each is named with what to do, and `db check --repair` / `db import`
/// bring the database back. Oracles: Python's sqlite3 and the CLI's exit status and output.
@Suite(.serialized) struct DatabaseFaultTests {
    let base = RiskDatabaseTests()

    func cli(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        let (status, out, err) = try runProcess(BadInputTests.executable, arguments)
        return (status, out, err)
    }

    /// A total whose columns (`<name>`, `<name>_total`) the database uses itself or SQLite and
    /// GeoPackage reserve, or another total makes, is an error at its key.
    @Test func totalsNamedLikeTheDatabasesColumnsAreRefusedAtTheirKey() throws {
        let (fx, job) = try TotalsTests.fixture(zoning: """
              totals:
                fid: { layer: pop, as: per-km2 }
                run_id: { layer: pop, as: per-km2 }
                job: { layer: pop, as: count }
                share: { layer: floor, as: count }
                geom: { layer: floor, as: count }
                persons: { layer: pop, as: per-km2 }
                persons_total: { layer: pop, as: per-km2 }
                floor_area: { layer: floor, as: count }

            """)
        _ = fx
        let lines = try String(contentsOfFile: job, encoding: .utf8).components(separatedBy: "\n")
        func line(_ key: String) -> Int { lines.firstIndex { $0.hasPrefix("    \(key):") }! + 1 }
        let error = try #require(throws: DiagnosticsError.self) { try JobLoader().load(job) }
        let found = error.diagnostics.map { "\($0.line):\($0.column)" }
        #expect(found == ["fid", "run_id", "job", "share", "geom", "persons_total"].map { "\(line($0)):5" }, "\(error.diagnostics)")
        for (d, column) in zip(error.diagnostics, ["fid", "run_id", "job", "share", "geom"]) {
            #expect(d.file == job && d.message.contains("a total named \(column) would make the risk database column \(column),")
                    && d.message.contains("reserved"), "\(d.message)")
        }
        #expect(error.diagnostics.last?.message.contains("which the total persons makes too") == true, "\(error.diagnostics)")
    }

    /// A run folder published before `validate` refused such totals (its stats.json has `fid_…`,
    /// `run_id_…`, `job_…` and `rowid_…` keys) is imported without them: no rows of no run, and every later
    /// run, `db import` and `db check --repair` work.
    @Test func anOldRunWithReservedColumnsIsImportedWithoutThem() throws {
        let fx = try base.databaseFixture()
        let first = try Runner(plan: try fx.plan(), options: RunOptions(threads: 2, runID: "r1")).run()
        let statsPath = first.runDirectory + "/stats.json"
        var rows = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: statsPath))) as! [[String: Any]]
        for i in rows.indices {
            rows[i]["fid_class_1"] = 5.0; rows[i]["fid_total"] = 5.0; rows[i]["run_id_class_2"] = 7.0; rows[i]["job_class_1"] = 9.0
            rows[i]["rowid_class_3"] = 1.0; rows[i]["persons_class_1"] = 3.0
        }
        try JSONSerialization.data(withJSONObject: rows).write(to: URL(fileURLWithPath: statsPath))
        let db = base.database(fx)
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + suffix) }

        let imported = try cli(["db", "import", fx.project.path("out"), "--database", db])
        #expect(imported.status == 0 && imported.out.contains("1 run(s) imported"), "\(imported)")
        let second = try cli(["run", fx.jobPath, "--threads", "2", "--force"])
        #expect(second.status == 0, "\(second.err)")
        let oracle = try base.python("""
            import sqlite3, sys, json
            c = sqlite3.connect(sys.argv[1])
            columns = [r[1] for r in c.execute("PRAGMA table_info(township_levels)")]
            orphans = c.execute("SELECT COUNT(*) FROM township_levels t WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.job = t.job AND r.run_id = t.run_id)").fetchone()[0]
            runs = c.execute("SELECT job, run_id, COUNT(*) FROM township_levels WHERE run_id = 'r1' GROUP BY job, run_id").fetchall()
            persons = c.execute("SELECT persons FROM township_levels WHERE run_id = 'r1' AND class = 1").fetchall()
            print(json.dumps([[columns.count(n) for n in ('fid', 'run_id', 'job', 'rowid', 'fid_total')], orphans, runs, persons]))
            """, [db])
        #expect(oracle.trimmingCharacters(in: .whitespacesAndNewlines) == "[[1, 1, 1, 0, 1], 0, [[\"fixture\", \"r1\", 8]], [[3.0], [3.0]]]", "\(oracle)")
        let check = try cli(["db", "check", "--repair", "--database", db])
        #expect(check.status == 0 && check.out.contains("ok (2 runs)"), "\(check)")
    }

    /// One damaged manifest.json (of an old recorded run, and of a published folder the database
    /// lacks) never makes a later run fail: the run warns naming the file and `db check --repair`;
    /// `db check` reports it, `--repair` marks it (runs stop warning), and unmarks it when it reads again.
    @Test func aDamagedManifestIsSkippedReportedAndMarked() throws {
        let fx = try base.databaseFixture()
        let db = base.database(fx)
        let first = try Runner(plan: try fx.plan(), options: RunOptions(threads: 2, runID: "20260101T000000Z")).run()
        let recordedManifest = first.runDirectory + "/manifest.json"
        let good = try Data(contentsOf: URL(fileURLWithPath: recordedManifest))
        try good.prefix(good.count / 2).write(to: URL(fileURLWithPath: recordedManifest))
        let orphan = fx.project.path("out/fixture/20260102T000000Z")
        try FileManager.default.copyItem(atPath: first.runDirectory, toPath: orphan)
        try Data("{\"run_id\": 3}".utf8).write(to: URL(fileURLWithPath: orphan + "/manifest.json"))

        let run = try cli(["run", fx.jobPath, "--threads", "2", "--force"])
        #expect(run.status == 0, "\(run.err)")
        #expect(run.err.contains("\(orphan)/manifest.json") && run.err.contains("db check --repair --database \(db)")
                && !run.err.contains(recordedManifest), "\(run.err)")
        #expect(try RiskDatabase(path: db).history(job: "fixture").count == 2)

        let check = try cli(["db", "check", "--database", db])
        #expect(check.status == 65 && check.out.contains("problem: \(orphan)/manifest.json: not a run manifest")
                && check.out.contains("problem: \(recordedManifest): not a run manifest")
                && check.out.contains("`db check --repair` marks the run unreadable"), "\(check)")
        let repair = try cli(["db", "check", "--repair", "--database", db])
        #expect(repair.status == 0 && repair.out.contains("repaired: \(orphan)/manifest.json: not a run manifest")
                && repair.out.contains("marked unreadable"), "\(repair)")
        #expect(try cli(["db", "check", "--database", db]).status == 0)
        let history = try RiskDatabase(path: db).history(job: "fixture")
        #expect(history.map(\.status) == ["unreadable", "unreadable", "ok"], "\(history.map { ($0.runID, $0.status) })")

        let quiet = try cli(["run", fx.jobPath, "--threads", "2", "--force"])
        #expect(quiet.status == 0 && !quiet.err.contains("manifest.json"), "\(quiet.err)")
        // Restored from a backup: reported, then unmarked by --repair.
        try good.write(to: URL(fileURLWithPath: recordedManifest))
        #expect(try cli(["db", "check", "--database", db]).out.contains("reads again"))
        let unmark = try cli(["db", "check", "--repair", "--database", db])
        #expect(unmark.status == 0 && unmark.out.contains("fixture 20260101T000000Z: \(first.runDirectory) reads again; unmarked"), "\(unmark)")
        #expect(try RiskDatabase(path: db).history(job: "fixture").map(\.status) == ["ok", "unreadable", "ok", "ok"])

        // db import into a new database skips the damaged folder, names it and says what marks it.
        let fresh = fx.project.path("fresh.gpkg")
        let imported = try cli(["db", "import", fx.project.path("out"), "--database", fresh])
        #expect(imported.status == 65 && imported.out.contains("skipped \(orphan)/manifest.json: not a run manifest")
                && imported.out.contains("3 run(s) imported") && imported.out.contains("db check --repair --database \(fresh)"), "\(imported)")
    }

    /// A truncated database stops the next run before it computes (no folder published, latest
    /// unchanged) with what to move aside; once moved, `db import` rebuilds it and runs go on.
    @Test func aTruncatedDatabaseStopsTheRunBeforeItPublishesAndIsRebuilt() throws {
        let fx = try base.databaseFixture()
        let db = base.database(fx)
        let first = try Runner(plan: try fx.plan(), options: RunOptions(threads: 2, runID: "20260101T000000Z")).run()
        let size = try #require(try FileManager.default.attributesOfItem(atPath: db)[.size] as? Int)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: db))
        try handle.truncate(atOffset: UInt64(size / 2))
        try handle.close()

        let run = try cli(["run", fx.jobPath, "--threads", "2", "--force"])
        let advice = ["\(db): the risk database is damaged (truncated: \(size / 2) bytes", "mv \(db) \(db).damaged", "db import"]
        #expect(run.status == 65 && advice.allSatisfy(run.err.contains), "\(run.err)")
        #expect(Publisher(outputDirectory: fx.project.path("out/fixture")).runs() == ["20260101T000000Z"])
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: fx.project.path("out/fixture/latest")) == "20260101T000000Z")
        for command in [["db", "check"], ["db", "check", "--repair"], ["history", "fixture"]] {
            let result = try cli(command + ["--database", db])
            #expect(result.status == 65 && advice.allSatisfy(result.err.contains), "\(command): \(result)")
        }

        try FileManager.default.moveItem(atPath: db, toPath: db + ".damaged")
        let rebuilt = try cli(["db", "import", fx.project.path("out"), "--database", db])
        #expect(rebuilt.status == 0 && rebuilt.out.contains("imported 20260101T000000Z (\(first.runDirectory))"), "\(rebuilt)")
        let again = try cli(["run", fx.jobPath, "--threads", "2", "--force"])
        #expect(again.status == 0, "\(again.err)")
        #expect(try RiskDatabase(path: db).history(job: "fixture").count == 2)
    }

    /// A database whose pages are corrupt (its header sound) is found before a run computes; when
    /// recording a published run fails all the same (it went bad meanwhile), the message says that
    /// the run is published, that latest is not switched, and what to move aside.
    @Test func aCorruptDatabaseSaysWhatToMoveAsideAndThatTheRunIsPublished() throws {
        let fx = try base.databaseFixture()
        let db = base.database(fx)
        let first = try Runner(plan: try fx.plan(), options: RunOptions(threads: 2, runID: "20260101T000000Z")).run()
        // Every page after the first overwritten: the header stays sound, the schema and tables are garbage.
        let data = try Data(contentsOf: URL(fileURLWithPath: db))
        let pageSize = Int(data[16]) << 8 | Int(data[17])
        var corrupt = data
        for i in pageSize..<data.count { corrupt[i] = UInt8(truncatingIfNeeded: (i &* 2_654_435_761) >> 13) }
        try corrupt.write(to: URL(fileURLWithPath: db))
        let damaged = ["\(db): the risk database is damaged (", "mv \(db) \(db).damaged", "db import", "db check --repair --database \(db)"]

        let run = try cli(["run", fx.jobPath, "--threads", "2", "--force"])
        #expect(run.status == 65 && damaged.allSatisfy(run.err.contains), "\(run.err)")
        #expect(Publisher(outputDirectory: fx.project.path("out/fixture")).runs() == ["20260101T000000Z"])

        let runner = Runner(plan: try fx.plan())
        let error = try #require(throws: RunError.self) { try runner.recordInDatabase(runDirectory: first.runDirectory) }
        #expect(error.status == .dataError && error.message.hasPrefix("\(first.runDirectory): the run is published but not recorded in the risk database (latest is not switched to it): ")
                && damaged.allSatisfy(error.message.contains), "\(error)")

        // Moved aside, the database is rebuilt by db check --repair as well.
        try FileManager.default.moveItem(atPath: db, toPath: db + ".damaged")
        let repair = try cli(["db", "check", "--repair", "--database", db])
        #expect(repair.status == 0 && repair.out.contains("repaired: fixture 20260101T000000Z: imported from \(first.runDirectory)"), "\(repair)")
        #expect(try cli(["db", "check", "--database", db]).out.contains("ok (1 runs)"))
    }
}
