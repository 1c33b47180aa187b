import Foundation
import FilePaths
import GDALKit

#if canImport(Glibc)
import Glibc
#endif

/// The disaster-risk database (灾害风险数据库): one GeoPackage, written through GDAL/OGR, holding
/// every published run of every job — `runs`, `township_levels`, `inputs` (attribute tables),
/// `risk_zones` and `prevention_zones` (polygons) — with the views `latest_runs` and
/// `latest_township_levels` registered in `gpkg_contents` so that QGIS lists them.
///
/// A run is appended in one transaction, after its folder is published and before `latest`
/// switches. SQLite runs in WAL mode with a busy timeout; writers of different jobs are further
/// serialised by an `flock` on `<database>.lock`, so a batch never fails with "database is locked".
/// Everything in it can be rebuilt from the run folders (`import`): it reads their published files
/// (`manifest.json` through `RunManifest`, `stats.json`, `zones.gpkg`, the job copies), never the
/// runner's types. Faults stay local: a run folder whose manifest cannot be read is skipped and
/// marked by `db check --repair` (`RiskDatabase+Folders.swift`); a damaged database file is
/// named with what to move aside before it is rebuilt (`RiskDatabase+Damage.swift`).
///
/// Its files are never reached through a link and are only ever plain files (`SafeFiles`): the
/// database, SQLite's `-wal`/`-shm`/`-journal` beside it and the lock are refused when they are
/// symbolic links (they would be written through), FIFOs (opening one blocks for ever), devices
/// or folders, before they are opened; with `root`, the database's folder must resolve inside it.
public struct RiskDatabase: Sendable {
    public let path: String
    /// The folder the database's folder must resolve inside (every link followed): the project,
    /// for a job's database; nil when the operator named it (`--database`).
    public let root: String?

    public init(path: String, confinedTo root: String? = nil) {
        self.path = absolutePath(path)
        self.root = root
    }

    static let busyTimeoutMs = 120_000

    /// Base fields of the attribute tables, in column order.
    static let runFields: [(String, VectorLayer.FieldKind)] = [
        ("run_id", .string), ("job", .string), ("title", .string), ("status", .string), ("started", .string),
        ("finished", .string), ("job_sha256", .string), ("job_text", .string), ("layers_text", .string),
        ("tool_version", .string), ("gdal_version", .string), ("proj_version", .string), ("grid", .string),
        ("breaks", .string), ("weights", .string), ("classes", .string), ("previous_run_id", .string),
        ("run_directory", .string), ("pruned", .integer), ("pruned_at", .string), ("recorded", .string),
    ]
    static let townshipFields: [(String, VectorLayer.FieldKind)] = [
        ("run_id", .string), ("job", .string), ("township_id", .integer), ("township_code", .string), ("township", .string),
        ("class", .integer), ("class_name", .string), ("pixels", .integer), ("area_ha", .real), ("share", .real),
        ("mean_index", .real), ("max_index", .real), ("level", .integer), ("level_name", .string),
    ]
    static let inputFields: [(String, VectorLayer.FieldKind)] = [
        ("run_id", .string), ("job", .string), ("key", .string), ("layer", .string), ("path", .string),
        ("size", .integer), ("sha256", .string),
    ]
    static let zoneLayers = ["risk_zones", "prevention_zones"]
    /// Fields of the zone layers: `run_id`, `job`, then those of the run's `zones.gpkg` layers.
    static let zoneFields = ["run_id", "job", "class", "class_name", "category", "name", "english", "area_ha",
                             "township_code", "township", "township_en"]

    /// Column names a job must not give a column of its own (a total `<name>` is the column
    /// `<name>` and `<name>_total` of `township_levels`): every column of the database's tables and
    /// views, and the names SQLite and GeoPackage give a meaning (`fid` the feature id, `geom` the
    /// geometry, `rowid`/`oid`/`_rowid_` SQLite's row id). Such a column would replace the table's
    /// own (`run_id`, `job`: rows of no run) or fail every import (`fid`).
    public static let reservedColumnNames: Set<String> = {
        var names: Set<String> = ["fid", "geom", "rowid", "oid", "_rowid_"]
        for fields in [runFields, townshipFields, inputFields, runExtraFields, changeFields] { names.formUnion(fields.map(\.0)) }
        return names.union(zoneFields).union(zoneChangeFields)
    }()

    // MARK: opening

    /// Runs `body` on the database opened for update (created with its schema when missing), holding
    /// the writer lock.
    func write<R>(_ body: (Dataset) throws -> R) throws -> R {
        try checkFolder()
        let folder = path.parentPath
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw DatabaseError(.cantCreate, "\(folder): cannot create the database folder: \(error.localizedDescription)")
        }
        let fd: Int32
        do { fd = try SafeFiles.openLockFile(path + ".lock") } catch { throw DatabaseError(.cantCreate, error.description) }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw DatabaseError(.ioError, "\(path).lock: cannot lock: \(String(cString: strerror(errno)))") }
        }
        defer { flock(fd, LOCK_UN) }
        try checkFiles(.cantCreate)
        try checkNotDamaged()
        do {
            let ds = try ConfigOptions.withThreadLocalOptions(["OGR_SQLITE_JOURNAL": "WAL"]) { () throws -> Dataset in
                FileManager.default.fileExists(atPath: path)
                    ? try Dataset(open: path, flags: [.vector, .update], allowedDrivers: ["GPKG"])
                    : try Dataset.createVector(driver: "GPKG", path: path)
            }
            _ = try ds.query("PRAGMA busy_timeout = \(RiskDatabase.busyTimeoutMs)")
            _ = try ds.query("PRAGMA journal_mode = WAL")
            try ensureSchema(ds)
            let result = try body(ds)
            try ds.close()
            return result
        } catch let error as GDALError {
            throw failure(error, status: .ioError)
        }
    }

    /// Runs `body` on the database opened read-only.
    func read<R>(_ body: (Dataset) throws -> R) throws -> R {
        try checkFiles(.noInput)
        guard FileManager.default.fileExists(atPath: path) else {
            throw DatabaseError(.noInput, "\(path): no risk database (runs create it; `hazard-zoning db import DIR` rebuilds it from run folders)")
        }
        try checkNotDamaged()
        do {
            let ds = try Dataset(open: path, flags: [.vector], allowedDrivers: ["GPKG"])
            _ = try ds.query("PRAGMA busy_timeout = \(RiskDatabase.busyTimeoutMs)")
            return try body(ds)
        } catch let error as GDALError {
            throw failure(error, status: .dataError)
        }
    }

    /// The files SQLite opens by name beside the database.
    static let sidecars = ["-wal", "-shm", "-journal"]

    /// Checks, creating nothing, that the database can be written safely: its folder inside `root`,
    /// and the database, SQLite's files beside it and the lock absent or plain files. A run calls
    /// it before computing, so a database it could not record in fails the run before anything
    /// is published; `write` checks again, under the lock.
    public func checkWritable() throws {
        try checkFolder()
        try checkFiles(.cantCreate)
        do { try SafeFiles.checkPlainFile(path + ".lock", what: "the database lock") } catch {
            throw DatabaseError(.cantCreate, "\(error); \(RiskDatabase.moveAside)")
        }
    }

    /// The database's folder, every link resolved, inside `root`.
    func checkFolder() throws {
        guard let root else { return }
        do { _ = try SafeFiles.confined(path.parentPath, to: root) } catch {
            throw DatabaseError(.cantCreate, "\(path): its folder \(error.reason); the database is written only inside \(root) — name another with --database")
        }
    }

    /// The database and SQLite's files beside it: absent or plain files, never opened through a
    /// link, never a FIFO (the open would block for ever), a device or a folder.
    func checkFiles(_ status: DatabaseError.Status) throws {
        do {
            try SafeFiles.checkPlainFile(path, what: "the risk database")
            for suffix in RiskDatabase.sidecars { try SafeFiles.checkPlainFile(path + suffix, what: "SQLite's \(suffix) file of the risk database") }
        } catch {
            throw DatabaseError(status, "\(error); \(RiskDatabase.moveAside)")
        }
    }

    static let moveAside = "move it aside, or name another database with --database"

    func ensureSchema(_ ds: Dataset) throws {
        for (name, fields) in [("runs", RiskDatabase.runFields), ("township_levels", RiskDatabase.townshipFields),
                               ("inputs", RiskDatabase.inputFields)] where ds.layerIfPresent(name) == nil {
            let layer = try ds.createLayer(name, srs: nil, geometry: .none, options: ["FID=fid"])
            for (field, kind) in fields { try layer.ensureField(field, kind: kind) }
            try layer.syncToDisk()
        }
        let now = "strftime('%Y-%m-%dT%H:%M:%fZ','now')"
        let views = [
            ("latest_runs", "the newest ok run of every job",
             "SELECT r.* FROM runs r WHERE r.status = 'ok' AND r.run_id = (SELECT MAX(r2.run_id) FROM runs r2 WHERE r2.job = r.job AND r2.status = 'ok')"),
            ("latest_township_levels", "township levels of the newest ok run of every job",
             "SELECT t.* FROM township_levels t JOIN latest_runs l ON t.job = l.job AND t.run_id = l.run_id"),
        ]
        for (name, description, select) in views {
            _ = try ds.query("CREATE VIEW IF NOT EXISTS \(name) AS \(select)")
            _ = try ds.query("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, last_change) VALUES ('\(name)', 'attributes', '\(name)', '\(description)', \(now))")
        }
        for table in ["runs", "township_levels", "inputs"] {
            _ = try ds.query("CREATE INDEX IF NOT EXISTS \(table)_job_run_id ON \(table) (job, run_id)")
        }
        try ensureChangeSchema(ds)
    }

    // MARK: recording runs

    /// Imports the run folders (a job's published runs, oldest first) the database lacks, each in
    /// one transaction. Returns the imported run ids and the folders skipped because a file of
    /// theirs cannot be read (`UnreadableRunFolder`).
    @discardableResult
    public func record(runFolders folders: [String]) throws -> Recorded {
        try write { ds in try record(folders: folders, into: ds) { id, _ in id } }
    }

    /// Imports every run folder found under `folder` (itself, or up to two levels down) that the
    /// database lacks. Returns "run (folder)" of each imported run and the folders skipped.
    @discardableResult
    public func importAll(from folder: String) throws -> Recorded {
        let folders = RiskDatabase.runFolders(under: absolutePath(folder))
        guard !folders.isEmpty else { throw DatabaseError(.noInput, "\(folder): no run folders (folders holding manifest.json) found") }
        return try write { ds in try record(folders: folders, into: ds) { id, f in "\(id) (\(f))" } }
    }

    /// Folders holding a `manifest.json` at or below `root` (depth ≤ 2), not hidden, sorted.
    static func runFolders(under root: String, depth: Int = 2) -> [String] {
        let fm = FileManager.default
        if fm.fileExists(atPath: root.appendingComponent("manifest.json")) { return [root] }
        guard depth > 0, let names = try? fm.contentsOfDirectory(atPath: root) else { return [] }
        var result: [String] = []
        for name in names.sorted() where !name.hasPrefix(".") && name != "latest" {
            let child = root.appendingComponent(name)
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: child, isDirectory: &isDirectory), isDirectory.boolValue,
                  (try? fm.destinationOfSymbolicLink(atPath: child)) == nil else { continue }
            result += runFolders(under: child, depth: depth - 1)
        }
        return result
    }

    static func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }

    static func jsonText<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    /// Whether the database has the run.
    func has(job: String, runID: String, in ds: Dataset) throws -> Bool {
        let rows = try ds.query("SELECT COUNT(*) AS n FROM runs WHERE job = \(RiskDatabase.quote(job)) AND run_id = \(RiskDatabase.quote(runID))")
        return (rows.first?["n"].int ?? 0) > 0
    }

    /// Appends one run folder in one transaction, unless the database has it. Returns its run id
    /// when it was imported; throws `UnreadableRunFolder` when its manifest or zones cannot be read.
    func importRun(_ folder: String, into ds: Dataset) throws -> String? {
        let manifest = try RiskDatabase.readManifest(folder)
        let job = manifest.job.name, runID = manifest.runId
        if try has(job: job, runID: runID, in: ds) { return nil }

        // Everything read and every column or layer added before the transaction starts.
        let fm = FileManager.default
        let applied = manifest.applied
        let jobText = applied.flatMap { fm.contents(atPath: folder.appendingComponent($0.jobCopy)) }
            .map { String(decoding: $0, as: UTF8.self) } ?? ""
        var layerTexts: [String: String] = [:]
        for copy in applied?.layerCopies ?? [] {
            if let text = fm.contents(atPath: folder.appendingComponent(copy.copy)) {
                layerTexts[copy.name] = String(decoding: text, as: UTF8.self)
            }
        }
        let townshipRows = RiskDatabase.townshipRows(folder: folder)
        let levels = try ds.layer(named: "township_levels")
        for row in townshipRows { for (name, _) in row where levels.fieldIndex(name) == nil {
            try levels.ensureField(name, kind: .real)
        } }
        var zoneSources: [(VectorLayer, VectorLayer)] = []
        let zonesPath = folder.appendingComponent("zones.gpkg")
        var zones: Dataset?
        do { zones = fm.fileExists(atPath: zonesPath) ? try Dataset(open: zonesPath, flags: [.vector], allowedDrivers: ["GPKG"]) : nil } catch let error as GDALError {
            throw UnreadableRunFolder(folder: folder, file: zonesPath, reason: "cannot be read (\(error.message))")
        }
        for name in RiskDatabase.zoneLayers {
            guard let source = zones?.layerIfPresent(name) else { continue }
            var target = ds.layerIfPresent(name)
            if target == nil {
                target = try ds.createLayer(name, srs: source.spatialReference, geometry: .multiPolygon, options: ["FID=fid", "GEOMETRY_NAME=geom"])
                try target!.ensureField("run_id", kind: .string)
                try target!.ensureField("job", kind: .string)
            }
            for field in source.fields { try target!.ensureField(field.name, kind: field.kind) }
            try target!.syncToDisk()
            _ = try ds.query("CREATE INDEX IF NOT EXISTS \(name)_job_run_id ON \(name) (job, run_id)")
            zoneSources.append((source, target!))
        }

        let changes = try prepareChanges(folder: folder, into: ds)
        try describeTotals(manifest, in: ds)
        let iso = ISO8601DateFormatter()
        try ds.inTransaction {
            try ds.layer(named: "runs").insert([
                ("run_id", .string(runID)), ("job", .string(job)), ("title", applied?.title.map { .string($0) } ?? .null),
                ("status", .string(manifest.baseline == nil ? "ok" : "baseline")), ("started", .string(manifest.started)), ("finished", .string(manifest.finished)),
                ("job_sha256", .string(manifest.job.fileSha256)), ("job_text", .string(jobText)),
                ("layers_text", .string(RiskDatabase.jsonText(layerTexts))),
                ("tool_version", .string(manifest.tool.version)), ("gdal_version", .string(manifest.tool.gdal)),
                ("proj_version", .string(manifest.tool.proj)), ("grid", .string(RiskDatabase.jsonText(manifest.grid))),
                ("breaks", .string(RiskDatabase.jsonText(manifest.classification))),
                ("weights", .string(applied.map { RiskDatabase.jsonText($0.weights) } ?? "{}")),
                ("classes", .string(RiskDatabase.jsonText(manifest.statistics.classes))),
                ("previous_run_id", applied?.previousRun.map { .string($0.runId) } ?? .null),
                ("run_directory", .string(folder)), ("pruned", .integer(0)), ("recorded", .string(iso.string(from: Date()))),
            ] + RiskDatabase.runExtras(manifest, jobText: jobText))
            let inputs = try ds.layer(named: "inputs")
            for input in manifest.inputs {
                for file in [input.definition] + input.files {
                    try inputs.insert([("run_id", .string(runID)), ("job", .string(job)), ("key", .string(input.key)),
                                       ("layer", .string(input.layer)), ("path", .string(file.path)),
                                       ("size", .integer(file.size)), ("sha256", .string(file.sha256))])
                }
            }
            for row in townshipRows {
                try levels.insert([("run_id", .string(runID)), ("job", .string(job))] + row)
            }
            for (source, target) in zoneSources {
                try target.append(from: source, setting: [("run_id", .string(runID)), ("job", .string(job))])
            }
            try insertChanges(changes, runID: runID, job: job, into: ds)
        }
        return runID
    }

    /// `township_levels` rows of a run: one per township and class, from `stats.json`. Numeric keys
    /// of a stats row beyond the known ones are carried as extra columns: `<total>_class_<n>` as
    /// column `<total>` on the row of class n, others as they are on every row of the township;
    /// numeric keys of a class entry beyond the known ones on that class's row. An extra column
    /// with a reserved name (`reservedColumnNames`: a total named `fid` or `run_id` in a run made
    /// before `validate` refused them) is left out: its values stay in the run's `stats.json`.
    static func townshipRows(folder: String) -> [[(String, FieldValue)]] {
        guard let data = FileManager.default.contents(atPath: folder.appendingComponent("stats.json")),
              let rows = (try? JSONValue.parse(data))?.array else { return [] }
        let known: Set<String> = ["id", "name", "code", "valid_pixels", "valid_area_ha", "mean_index", "max_index",
                                  "dominant_class", "dominant_class_name", "level", "level_name", "classes"]
        let knownClass: Set<String> = ["value", "name", "pixels", "area_ha", "percent"]
        let column = totalColumn
        func number(_ v: JSONValue?) -> FieldValue {
            guard let v, let d = v.number else { return .null }
            return .real(d)
        }
        var result: [[(String, FieldValue)]] = []
        for row in rows {
            guard case .object(let object) = row else { continue }
            var perClass: [Int: [(String, FieldValue)]] = [:]
            var common: [(String, FieldValue)] = []
            for key in object.keys.sorted() where !known.contains(key) {
                guard let value = object[key]?.number else { continue }
                if let match = key.range(of: "_class_[0-9]+$", options: .regularExpression),
                   let n = Int(key[match].dropFirst("_class_".count)) {
                    if let name = column(String(key[..<match.lowerBound])) { perClass[n, default: []].append((name, .real(value))) }
                } else if let name = column(key) {
                    common.append((name, .real(value)))
                }
            }
            let level = object["level"]?.int
            for entry in object["classes"]?.array ?? [] {
                guard case .object(let c) = entry, let value = c["value"]?.int else { continue }
                var cells: [(String, FieldValue)] = [
                    ("township_id", object["id"]?.int.map { .integer($0) } ?? .null),
                    ("township_code", .string(object["code"]?.string ?? "")),
                    ("township", .string(object["name"]?.string ?? "")),
                    ("class", .integer(value)),
                    ("class_name", c["name"]?.string.map { .string($0) } ?? .null),
                    ("pixels", c["pixels"]?.int.map { .integer($0) } ?? .null),
                    ("area_ha", number(c["area_ha"])),
                    ("share", c["percent"]?.number.map { .real($0 / 100) } ?? .null),
                    ("mean_index", number(object["mean_index"])),
                    ("max_index", number(object["max_index"])),
                    ("level", level.map { .integer($0) } ?? .null),
                    ("level_name", object["level_name"]?.string.map { .string($0) } ?? .null),
                ]
                for key in c.keys.sorted() where !knownClass.contains(key) {
                    if let v = c[key]?.number, let name = column(key) { cells.append((name, .real(v))) }
                }
                cells += common
                cells += perClass[value] ?? []
                // A name may come twice (class entry and row key): the first wins.
                var seen = Set<String>()
                result.append(cells.filter { seen.insert($0.0).inserted })
            }
        }
        return result
    }

    /// Marks runs pruned (their folders were removed by `outputs.keep`); their rows stay.
    public func markPruned(job: String, runIDs: [String]) throws {
        guard !runIDs.isEmpty else { return }
        let q = RiskDatabase.quote
        let now = ISO8601DateFormatter().string(from: Date())
        try write { ds in
            _ = try ds.query("UPDATE runs SET pruned = 1, pruned_at = \(q(now)) WHERE job = \(q(job)) AND run_id IN (\(runIDs.map(q).joined(separator: ", ")))")
        }
    }

    // MARK: queries

    /// A run folder from a path or `JOB[@RUN]` (`JOB` alone: its newest ok run).
    public func resolveRun(_ reference: String) throws -> String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: reference, isDirectory: &isDirectory), isDirectory.boolValue {
            return absolutePath(reference)
        }
        let parts = reference.split(separator: "@", maxSplits: 1).map(String.init)
        guard let job = parts.first, !job.isEmpty else { throw DatabaseError(.usage, "\(reference): expected a run folder or JOB[@RUN]") }
        let q = RiskDatabase.quote
        let sql = parts.count == 2
            ? "SELECT run_directory, pruned FROM runs WHERE job = \(q(job)) AND run_id = \(q(parts[1]))"
            : "SELECT run_directory, pruned FROM latest_runs WHERE job = \(q(job))"
        let rows = try read { try $0.query(sql) }
        guard let row = rows.first, let directory = row["run_directory"].text else {
            throw DatabaseError(.noInput, "\(reference): no such run in \(path) (and no such folder)")
        }
        guard FileManager.default.fileExists(atPath: directory.appendingComponent("manifest.json")) else {
            throw DatabaseError(.noInput, "\(reference): the run folder \(directory) is gone\(row["pruned"].int == 1 ? " (pruned)" : "")")
        }
        return directory
    }

    public struct HistoryEntry: Sendable {
        public let job: String
        public let runID: String
        public let started: String
        public let status: String
        public let breaks: [Double]
        public let pruned: Bool
        public let directory: String
        /// Townships per level (level → count), when the run has statistics.
        public let townshipsPerLevel: [Int: Int]
        /// Pixels per class.
        public let classPixels: [Int: Int]
    }

    /// The runs of a job (or of every job), oldest first within each job.
    public func history(job: String?) throws -> [HistoryEntry] {
        try read { ds in
            let filter = job.map { " WHERE job = \(RiskDatabase.quote($0))" } ?? ""
            let runs = try ds.query("SELECT job, run_id, started, status, breaks, classes, pruned, run_directory FROM runs\(filter) ORDER BY job, run_id")
            let levelRows = try ds.query("SELECT job, run_id, level, COUNT(DISTINCT township_id) AS n FROM township_levels\(filter) GROUP BY job, run_id, level")
            var levels: [String: [Int: Int]] = [:]
            for r in levelRows {
                guard let level = r["level"].int else { continue }
                levels["\(r["job"].text ?? "")@\(r["run_id"].text ?? "")", default: [:]][level] = r["n"].int ?? 0
            }
            return runs.map { r in
                let breaks = (r["breaks"].text.flatMap { try? JSONValue.parse(Data($0.utf8)) })?["breaks"]?.array?.compactMap(\.number) ?? []
                var classes: [Int: Int] = [:]
                for c in (r["classes"].text.flatMap { try? JSONValue.parse(Data($0.utf8)) })?.array ?? [] {
                    if let v = c["value"]?.int { classes[v] = c["pixels"]?.int ?? 0 }
                }
                let key = "\(r["job"].text ?? "")@\(r["run_id"].text ?? "")"
                return HistoryEntry(job: r["job"].text ?? "", runID: r["run_id"].text ?? "", started: r["started"].text ?? "",
                                    status: r["status"].text ?? "", breaks: breaks, pruned: r["pruned"].int == 1,
                                    directory: r["run_directory"].text ?? "", townshipsPerLevel: levels[key] ?? [:], classPixels: classes)
            }
        }
    }

    public struct CheckReport: Sendable {
        public var problems: [String] = []
        public var repaired: [String] = []
        public var runs = 0
        public var ok: Bool { problems.isEmpty }
    }

    /// Integrity (`PRAGMA integrity_check`), every published run folder present, every row's run
    /// folder still there or marked pruned, no rows of unknown runs. With `repair`: imports the
    /// missing runs and marks rows of vanished folders pruned; what remains is reported.
    /// Run folders are looked for in the output folders of recorded runs, in the database's own
    /// folder (`out/<job>/`) and in `roots`.
    public func check(repair: Bool, roots: [String] = []) throws -> CheckReport {
        var report = CheckReport()
        let body: (Dataset) throws -> Void = { ds in
            let integrity = try ds.query("PRAGMA integrity_check")
            let verdict = integrity.map { $0.values.first?.text ?? "" }
            if verdict != ["ok"] { report.problems.append("integrity_check: \(verdict.joined(separator: "; "))") }
            let outputFolders = try checkRows(ds, repair: repair, report: &report)
            var known = Set<String>()
            for r in try ds.query("SELECT job, run_id FROM runs WHERE status <> \(RiskDatabase.quote(RiskDatabase.unreadableStatus))") {
                known.insert("\(r["job"].text ?? "")@\(r["run_id"].text ?? "")")
            }
            let recorded = try recordedFolders(in: ds)
            var folders: [String] = []
            for root in Set([path.parentPath] + roots.map(absolutePath)).sorted() + outputFolders.sorted() {
                for f in RiskDatabase.runFolders(under: root) where !folders.contains(f) { folders.append(f) }
            }
            for folder in folders {
                try checkFolder(folder, status: recorded[folder], known: known, repair: repair, in: ds, report: &report)
            }
        }
        if repair { try write(body) } else { try read(body) }
        return report
    }

    /// Every row's run folder still there or marked pruned (with `repair`: marked), no rows of
    /// unknown runs. Returns the output folders of the recorded runs.
    func checkRows(_ ds: Dataset, repair: Bool, report: inout CheckReport) throws -> Set<String> {
        let q = RiskDatabase.quote
        let runs = try ds.query("SELECT job, run_id, run_directory, pruned FROM runs")
        report.runs = runs.count
        var outputFolders = Set<String>()
        for r in runs {
            let job = r["job"].text ?? "", id = r["run_id"].text ?? "", dir = r["run_directory"].text ?? ""
            outputFolders.insert(dir.parentPath)
            let present = FileManager.default.fileExists(atPath: dir.appendingComponent("manifest.json"))
            if !present && r["pruned"].int != 1 {
                if repair {
                    _ = try ds.query("UPDATE runs SET pruned = 1, pruned_at = \(q(ISO8601DateFormatter().string(from: Date()))) WHERE job = \(q(job)) AND run_id = \(q(id))")
                    report.repaired.append("\(job) \(id): folder \(dir) is gone; marked pruned")
                } else {
                    report.problems.append("\(job) \(id): folder \(dir) is gone but the run is not marked pruned")
                }
            }
        }
        for table in ["township_levels", "inputs", "township_changes", "zone_changes"] + RiskDatabase.zoneLayers where ds.layerIfPresent(table) != nil {
            let orphans = try ds.query("SELECT COUNT(*) AS n FROM \(table) t WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.job = t.job AND r.run_id = t.run_id)")
            if let n = orphans.first?["n"].int, n > 0 { report.problems.append("\(table): \(n) row(s) of runs missing from runs") }
        }
        return outputFolders
    }
}

/// `path` made absolute against the working folder (as Zoning's `absolutePath`: the same run
/// folder is the same `run_directory`).
func absolutePath(_ path: String) -> String {
    path.hasPrefix("/") ? path : URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(path).standardizedFileURL.path
}
