import Foundation
import GDALKit

/// The planner's views: `township_levels_now` (one row per township of every job's newest ok
/// run, the people … per class as columns) and `level_changes_since_baseline` (every job's newest
/// ok run against its newest baseline). Their columns follow the totals the runs carry, so they
/// are made again after every import.
extension RiskDatabase {
    enum ColumnType { case text, integer, real }

    /// A view's column: its name, type and the expression computing it.
    typealias ViewColumn = (name: String, type: ColumnType, expression: String)

    /// `SELECT … FROM township_levels WHERE 0 UNION ALL body`: SQLite gives a compound select's
    /// columns the declared types of its first select, so every column of the view has a type
    /// (GeoPackage readers and validate_gpkg.py require one, and a unique INTEGER first column:
    /// `fid`, the row number; an aggregate alone has no type).
    static func typedSelect(_ columns: [ViewColumn], from body: String) -> String {
        let template = columns.map { c -> String in
            let typed = c.type == .text ? "township" : c.type == .integer ? "level" : "mean_index"
            return "\(typed) AS \"\(c.name)\""
        }
        return "SELECT \(template.joined(separator: ", ")) FROM township_levels WHERE 0 UNION ALL SELECT \(columns.map(\.expression).joined(separator: ", ")) \(body)"
    }

    func refreshChangeViews(_ ds: Dataset) throws {
        guard let levels = ds.layerIfPresent("township_levels"), let changes = ds.layerIfPresent("township_changes") else { return }
        let base = Set(RiskDatabase.townshipFields.map(\.0))
        let extras = levels.fields.map(\.name).filter { !base.contains($0) }.sorted()
        let maxClass = max(5, try ds.query("SELECT MAX(class) AS k FROM township_levels").first?["k"].int ?? 0)
        var now: [ViewColumn] = [
            ("fid", .integer, "ROW_NUMBER() OVER ()"), ("job", .text, "t.job"), ("run_id", .text, "t.run_id"), ("title", .text, "r.title"), ("product_type", .text, "r.product_type"),
            ("hazard", .text, "r.hazard"), ("township_id", .integer, "t.township_id"), ("township_code", .text, "t.township_code"),
            ("township", .text, "t.township"), ("level", .integer, "MAX(t.level)"), ("level_name", .text, "MAX(t.level_name)"),
            ("mean_index", .real, "MAX(t.mean_index)"), ("area_ha", .real, "SUM(t.area_ha)"), ("pixels", .integer, "SUM(t.pixels)"),
        ]
        for c in 1...maxClass { now.append(("area_ha_class_\(c)", .real, "SUM(CASE WHEN t.class = \(c) THEN t.area_ha END)")) }
        for name in extras {
            if name.hasSuffix("_total") { now.append((name, .real, "MAX(t.\"\(name)\")")); continue }
            for c in 1...maxClass { now.append(("\(name)_class_\(c)", .real, "SUM(CASE WHEN t.class = \(c) THEN t.\"\(name)\" END)")) }
            now.append((name, .real, "SUM(t.\"\(name)\")"))
        }
        let nowSelect = RiskDatabase.typedSelect(now, from: """
            FROM township_levels t JOIN latest_runs r ON t.job = r.job AND t.run_id = r.run_id \
            GROUP BY t.job, t.run_id, t.township_id, t.township_code, t.township
            """)
        let changeBase = Set(RiskDatabase.changeFields.map(\.0))
        let changeTotals = changes.fields.map(\.name).filter { !changeBase.contains($0) }.sorted()
        func up(_ expression: String) -> String {
            "(SELECT SUM(c.\(expression)) FROM township_changes c WHERE c.job = l.job AND c.run_id = l.run_id AND c.previous_run_id = b.run_id AND c.township_code = n.township_code AND c.township = n.township AND c.to_class > c.from_class)"
        }
        let since: [ViewColumn] = [
            ("fid", .integer, "ROW_NUMBER() OVER ()"), ("job", .text, "b.job"), ("baseline_run_id", .text, "b.run_id"), ("baseline_label", .text, "b.baseline_label"),
            ("baseline_date", .text, "b.baseline_date"), ("run_id", .text, "l.run_id"), ("township_code", .text, "n.township_code"),
            ("township", .text, "n.township"), ("level_baseline", .integer, "o.level"), ("level_now", .integer, "n.level"),
            ("levels_changed", .integer, "n.level - o.level"),
            ("direction", .text, "CASE WHEN n.level > o.level THEN 'up' WHEN n.level < o.level THEN 'down' ELSE 'same' END"),
            ("area_up_ha", .real, up("area_ha")),
        ] + changeTotals.map { ("\($0)_in_area_up", .real, up("\"\($0)\"")) }
        let sinceSelect = RiskDatabase.typedSelect(since, from: """
            FROM runs b JOIN latest_runs l ON l.job = b.job \
            JOIN (SELECT DISTINCT job, run_id, township_code, township, level FROM township_levels) o ON o.job = b.job AND o.run_id = b.run_id \
            JOIN (SELECT DISTINCT job, run_id, township_code, township, level FROM township_levels) n ON n.job = l.job AND n.run_id = l.run_id \
            AND n.township_code = o.township_code AND n.township = o.township \
            WHERE b.status = 'baseline' AND b.run_id = (SELECT MAX(b2.run_id) FROM runs b2 WHERE b2.job = b.job AND b2.status = 'baseline')
            """)
        let views = [("township_levels_now", "one row per township of the newest ok run of every job: level, area and totals per class as columns", nowSelect),
                     ("level_changes_since_baseline", "township levels of the newest ok run of every job against its newest baseline; area and totals that went up when that run compared against the baseline", sinceSelect)]
        let timestamp = "strftime('%Y-%m-%dT%H:%M:%fZ','now')"
        for (name, description, select) in views {
            _ = try ds.query("DROP VIEW IF EXISTS \(name)")
            _ = try ds.query("CREATE VIEW \(name) AS \(select)")
            _ = try ds.query("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, last_change) VALUES ('\(name)', 'attributes', '\(name)', \(RiskDatabase.quote(description)), \(timestamp))")
        }
        try describeColumns(ds)
        for name in extras where !name.hasSuffix("_total") {
            try describeColumn(ds, table: "township_levels_now", column: name, description: "\(name) in the township, classified area (units: see the run's manifest totals)")
        }
    }
}
