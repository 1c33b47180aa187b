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
}
