import Foundation
import FilePaths
import GDALKit

/// What changed between a run and its previous run (or baseline), in the database: the table
/// `township_changes` (one row per run, township and class transition, from the run's
/// `changes.json`), the polygons `zone_changes` (pixels whose class changed, from the run's
/// `risk_change.tif`), the views `township_levels_now` and `level_changes_since_baseline`, the
/// runs' `product_type`, `hazard` and baseline columns, and units in `gpkg_data_columns`.
extension RiskDatabase {
    /// Columns of `runs` added after the first schema (added to older databases on open).
    static let runExtraFields: [(String, VectorLayer.FieldKind)] = [
        ("product_type", .string), ("hazard", .string), ("baseline_label", .string), ("baseline_date", .string),
        ("source_sha256", .string),
    ]
    static let changeFields: [(String, VectorLayer.FieldKind)] = [
        ("run_id", .string), ("job", .string), ("previous_run_id", .string), ("township_id", .integer),
        ("township_code", .string), ("township", .string), ("level_before", .integer), ("level_before_name", .string),
        ("level_after", .integer), ("level_after_name", .string), ("direction", .string), ("from_class", .integer),
        ("to_class", .integer), ("pixels", .integer), ("area_ha", .real), ("mean_index_before", .real),
        ("mean_index_after", .real), ("delta_index", .real), ("delta_index_data", .real), ("delta_index_weights", .real),
        ("delta_index_interaction", .real), ("level_by_old_breaks", .integer),
    ]
    static let zoneChangeFields = ["run_id", "job", "previous_run_id", "from_class", "to_class", "area_ha"]

    /// Units and meanings of the columns (`gpkg_data_columns.description`), by table.
    static let columnDescriptions: [String: [String: String]] = [
        "township_changes": [
            "level_before": "township level of the previous run (or baseline), 1 = lowest", "level_after": "township level of this run",
            "direction": "up, down, same, new (no level before), gone (no level now)",
            "from_class": "class of the pixels in the previous run", "to_class": "class of the same pixels in this run",
            "pixels": "pixels of this transition in the township (count)", "area_ha": "area of this transition (hectares, ha)",
            "mean_index_before": "mean risk index of the township, previous run (0..1, dimensionless)",
            "mean_index_after": "mean risk index of the township, this run (0..1, dimensionless)",
            "delta_index": "change of the mean index (after - before, dimensionless)",
            "delta_index_data": "part of delta_index from the input data: f(new data, old weights) - f(old data, old weights)",
            "delta_index_weights": "part of delta_index from the weights: f(old data, new weights) - f(old data, old weights)",
            "delta_index_interaction": "rest of delta_index: data and weights changed together (delta - data - weights)",
            "level_by_old_breaks": "township level this run would have under the previous run's breaks",
        ],
        "township_levels": [
            "area_ha": "area of the class in the township (hectares, ha)", "share": "share of the township's classified area (0..1)",
            "mean_index": "mean risk index of the township (0..1, dimensionless)", "pixels": "pixels (count)",
        ],
        "zone_changes": ["area_ha": "area of the polygon (hectares, ha; empty on a lat/long grid)", "from_class": "class in the previous run", "to_class": "class in this run"],
        "runs": [
            "product_type": "hazard, risk or prevention-zoning (from the manifest, else derived: see README)",
            "hazard": "the job's hazard-code (ZH comprehensive, ...), else the hazard its name names (flood, fire, seismic, ...), else multi-hazard",
            "baseline_date": "baseline runs: when the previous round's result was made (YYYY-MM-DD)",
            "source_sha256": "baseline runs: SHA-256 of the delivered file",
        ],
    ]

    /// The change tables, the new columns of `runs`, `gpkg_data_columns` and the views.
    func ensureChangeSchema(_ ds: Dataset) throws {
        let runs = try ds.layer(named: "runs")
        for (field, kind) in RiskDatabase.runExtraFields where runs.fieldIndex(field) == nil { try runs.ensureField(field, kind: kind) }
        if ds.layerIfPresent("township_changes") == nil {
            let layer = try ds.createLayer("township_changes", srs: nil, geometry: .none, options: ["FID=fid"])
            for (field, kind) in RiskDatabase.changeFields { try layer.ensureField(field, kind: kind) }
            try layer.syncToDisk()
            _ = try ds.query("CREATE INDEX IF NOT EXISTS township_changes_job_run_id ON township_changes (job, run_id)")
        }
        try ensureDataColumns(ds)
        try refreshChangeViews(ds)
    }

    /// The GeoPackage schema extension's `gpkg_data_columns`, with the columns' units.
    func ensureDataColumns(_ ds: Dataset) throws {
        _ = try ds.query("CREATE TABLE IF NOT EXISTS gpkg_data_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL, name TEXT, title TEXT, description TEXT, mime_type TEXT, constraint_name TEXT, CONSTRAINT pk_gdc PRIMARY KEY (table_name, column_name), CONSTRAINT gdc_tn UNIQUE (table_name, name))")
        _ = try ds.query("CREATE TABLE IF NOT EXISTS gpkg_data_column_constraints (constraint_name TEXT NOT NULL, constraint_type TEXT NOT NULL, value TEXT, min NUMERIC, min_is_inclusive BOOLEAN, max NUMERIC, max_is_inclusive BOOLEAN, description TEXT, CONSTRAINT gdcc_ntv UNIQUE (constraint_name, constraint_type, value))")
        _ = try ds.query("CREATE TABLE IF NOT EXISTS gpkg_extensions (table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL, definition TEXT NOT NULL, scope TEXT NOT NULL, CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name))")
        for table in ["gpkg_data_columns", "gpkg_data_column_constraints"] {
            // Once (a NULL column_name never makes a UNIQUE conflict, so OR IGNORE would add a row each time).
            _ = try ds.query("INSERT INTO gpkg_extensions (table_name, column_name, extension_name, definition, scope) SELECT '\(table)', NULL, 'gpkg_schema', 'http://www.geopackage.org/spec/#extension_schema', 'read-write' WHERE NOT EXISTS (SELECT 1 FROM gpkg_extensions WHERE table_name = '\(table)' AND extension_name = 'gpkg_schema')")
        }
    }

    /// The units and meanings of the columns there are (`columnDescriptions`).
    func describeColumns(_ ds: Dataset) throws {
        for (table, columns) in RiskDatabase.columnDescriptions {
            for (column, description) in columns { try describeColumn(ds, table: table, column: column, description: description) }
        }
    }

    /// A column's description in `gpkg_data_columns`, when the table (or view) has the column.
    func describeColumn(_ ds: Dataset, table: String, column: String, description: String) throws {
        let q = RiskDatabase.quote
        let present = try ds.query("SELECT COUNT(*) AS n FROM pragma_table_info(\(q(table))) WHERE name = \(q(column))")
        guard present.first?["n"].int == 1 else { return }
        _ = try ds.query("INSERT OR REPLACE INTO gpkg_data_columns (table_name, column_name, name, title, description) VALUES (\(q(table)), \(q(column)), \(q(column)), \(q(column)), \(q(description)))")
    }

    /// `product_type`, `hazard` and the baseline's columns of a run's `runs` row.
    static func runExtras(_ manifest: RunManifest, jobText: String) -> [(String, FieldValue)] {
        let text: (String?) -> FieldValue = { $0.map { .string($0) } ?? .null }
        return [("product_type", .string(manifest.productType ?? derivedProductType(manifest))),
                ("hazard", .string(manifest.hazard ?? manifest.baseline?.hazardCode ?? hazardCode(jobText) ?? derivedHazard(job: manifest.job.name))),
                ("baseline_label", text(manifest.baseline?.label)), ("baseline_date", text(manifest.baseline?.date)),
                ("source_sha256", text(manifest.baseline?.sourceSha256))]
    }

    /// A manifest that does not name its product type: `prevention-zoning` for a run with a
    /// prevention zoning, `hazard` for a four-level scheme (the census: hazard in 4 levels), else `risk`.
    static func derivedProductType(_ manifest: RunManifest) -> String {
        if manifest.prevention != nil { return "prevention-zoning" }
        let classes = manifest.statistics.classes.array?.count ?? 0
        return classes == 4 ? "hazard" : "risk"
    }

    /// The job's `hazard-code` (the census's hazard code: ZH comprehensive, HS flood, …), if it has one.
    static func hazardCode(_ jobText: String) -> String? {
        for line in jobText.split(separator: "\n") where line.hasPrefix("hazard-code:") {
            let value = line.dropFirst("hazard-code:".count).split(separator: "#").first ?? ""
            let code = value.trimmingCharacters(in: CharacterSet(charactersIn: " \t\"'"))
            if !code.isEmpty { return code }
        }
        return nil
    }

    /// The hazard named in the job's name, else `multi-hazard`.
    static func derivedHazard(job: String) -> String {
        let words: [(String, String)] = [("flood", "flood"), ("fire", "fire"), ("seismic", "seismic"), ("earthquake", "seismic"),
                                         ("drought", "drought"), ("landslide", "geological"), ("geolog", "geological"),
                                         ("typhoon", "typhoon"), ("storm", "storm"), ("hail", "hail"), ("snow", "snow"), ("wind", "wind")]
        let name = job.lowercased()
        return words.first { name.contains($0.0) }?.1 ?? "multi-hazard"
    }
}

extension RiskDatabase {
    /// The units of a run's exposure totals, on the columns named after them.
    func describeTotals(_ manifest: RunManifest, in ds: Dataset) throws {
        for total in manifest.totals ?? [] {
            guard let column = RiskDatabase.totalColumn(total.name) else { continue }
            let units = total.units.map { "units: \($0)" } ?? "units: as the layer's (see the run's manifest totals)"
            try describeColumn(ds, table: "township_levels", column: column, description: "\(total.name) in the township's area of the row's class (\(units))")
            try describeColumn(ds, table: "township_changes", column: column, description: "\(total.name) in the area of the row's transition (\(units))")
            try describeColumn(ds, table: "township_levels_now", column: column, description: "\(total.name) in the township's classified area (\(units))")
        }
    }
}
