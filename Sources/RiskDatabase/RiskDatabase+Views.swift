import Foundation
import GDALKit

/// The planner's views: `township_levels_now` (one row per township of every job's newest ok
/// run, the people … per class as columns) and `level_changes_since_baseline` (every job's newest
/// ok run against its newest baseline). Their columns follow the totals the runs carry, so they
/// are made again after every import.
extension RiskDatabase {
    func refreshChangeViews(_ ds: Dataset) throws {
        guard let levels = ds.layerIfPresent("township_levels"), let changes = ds.layerIfPresent("township_changes") else { return }
        let base = Set(RiskDatabase.townshipFields.map(\.0))
        let extras = levels.fields.map(\.name).filter { !base.contains($0) }.sorted()
        let maxClass = max(5, try ds.query("SELECT MAX(class) AS k FROM township_levels").first?["k"].int ?? 0)
        var columns = ["SUM(t.area_ha) AS area_ha", "SUM(t.pixels) AS pixels"]
        for c in 1...maxClass { columns.append("SUM(CASE WHEN t.class = \(c) THEN t.area_ha END) AS area_ha_class_\(c)") }
        for name in extras {
            if name.hasSuffix("_total") { columns.append("MAX(t.\"\(name)\") AS \"\(name)\""); continue }
            for c in 1...maxClass { columns.append("SUM(CASE WHEN t.class = \(c) THEN t.\"\(name)\" END) AS \"\(name)_class_\(c)\"") }
            columns.append("SUM(t.\"\(name)\") AS \"\(name)\"")
        }
        let now = """
            SELECT t.job, t.run_id, r.title, r.product_type, r.hazard, t.township_id, t.township_code, t.township, \
            MAX(t.level) AS level, MAX(t.level_name) AS level_name, MAX(t.mean_index) AS mean_index, \(columns.joined(separator: ", ")) \
            FROM township_levels t JOIN latest_runs r ON t.job = r.job AND t.run_id = r.run_id \
            GROUP BY t.job, t.run_id, t.township_id, t.township_code, t.township
            """
        let changeBase = Set(RiskDatabase.changeFields.map(\.0))
        let changeTotals = changes.fields.map(\.name).filter { !changeBase.contains($0) }.sorted()
        func up(_ expression: String, _ alias: String) -> String {
            "(SELECT SUM(c.\(expression)) FROM township_changes c WHERE c.job = l.job AND c.run_id = l.run_id AND c.previous_run_id = b.run_id AND c.township_code = n.township_code AND c.township = n.township AND c.to_class > c.from_class) AS \"\(alias)\""
        }
        let upColumns = [up("area_ha", "area_up_ha")] + changeTotals.map { up("\"\($0)\"", "\($0)_in_area_up") }
        let since = """
            SELECT b.job, b.run_id AS baseline_run_id, b.baseline_label, b.baseline_date, l.run_id, n.township_code, n.township, \
            o.level AS level_baseline, n.level AS level_now, n.level - o.level AS levels_changed, \
            CASE WHEN n.level > o.level THEN 'up' WHEN n.level < o.level THEN 'down' ELSE 'same' END AS direction, \
            \(upColumns.joined(separator: ", ")) \
            FROM runs b JOIN latest_runs l ON l.job = b.job \
            JOIN (SELECT DISTINCT job, run_id, township_code, township, level FROM township_levels) o ON o.job = b.job AND o.run_id = b.run_id \
            JOIN (SELECT DISTINCT job, run_id, township_code, township, level FROM township_levels) n ON n.job = l.job AND n.run_id = l.run_id \
            AND n.township_code = o.township_code AND n.township = o.township \
            WHERE b.status = 'baseline' AND b.run_id = (SELECT MAX(b2.run_id) FROM runs b2 WHERE b2.job = b.job AND b2.status = 'baseline')
            """
        let views = [("township_levels_now", "one row per township of the newest ok run of every job: level, area and totals per class as columns", now),
                     ("level_changes_since_baseline", "township levels of the newest ok run of every job against its newest baseline; area and totals that went up when that run compared against the baseline", since)]
        let timestamp = "strftime('%Y-%m-%dT%H:%M:%fZ','now')"
        for (name, description, select) in views {
            _ = try ds.query("DROP VIEW IF EXISTS \(name)")
            _ = try ds.query("CREATE VIEW \(name) AS \(select)")
            _ = try ds.query("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, last_change) VALUES ('\(name)', 'attributes', '\(name)', \(RiskDatabase.quote(description)), \(timestamp))")
        }
        for name in extras where !name.hasSuffix("_total") {
            try describeColumn(ds, table: "township_levels_now", column: name, description: "\(name) in the township, classified area (units: see the run's manifest totals)")
        }
    }
}
