import Foundation
import FilePaths
import GDALKit

// `township_levels.gpkg`: the township polygons in the grid CRS with their risk level, mean index,
// code and exposure totals — the attribute table behind the township risk-level map (乡镇风险等级图).

/// The township tables stage: `stats.json`, `stats.csv` and `township_levels.gpkg` from the
/// township statistics (with their totals).
struct TownshipTablesStage: Stage {
    let env: RunEnvironment
    init(_ env: RunEnvironment) { self.env = env }

    var name: String { "township tables" }
    var reads: [RunProduct] { [.townshipRows, .totals] }
    var produces: [RunProduct] { [.townshipTables] }

    func run(_ context: RunContext) throws {
        guard let polygons = townshipPolygons(context.townshipGrid) else { return }
        let rows = context.required(context.townshipRows, .townshipRows, by: name)
        let files = context.files
        try writeTownshipLevels(rows, townships: polygons, staging: files.staging)
        try write(try Manifest.json(rows), to: files.staged("stats.json"))
        try write(Data(TownshipTablesStage.statisticsCSV(rows, scheme: plan.job.classify.scheme).utf8), to: files.staged("stats.csv"))
    }
}

extension TownshipTablesStage {
    /// The label of a township on the risk-level map: its name and, with totals, the first total in
    /// the two highest classes (e.g. "锡尼镇" / "高+较高 12,345 persons").
    func townshipLabel(_ row: TownshipStatistics) -> String {
        let scheme = plan.job.classify.scheme
        guard let total = plan.job.zoning?.totals.first, scheme.classCount >= 2 else { return row.name }
        let top = scheme.classes.suffix(2).reversed()
        let value = top.reduce(0.0) { sum, c in sum + (row.totals.first { $0.name == "\(total.name)_class_\(c.value)" }?.value ?? 0) }
        return "\(row.name)\n\(top.map(\.name).joined(separator: "+")) \(groupedInteger(value)) \(total.units ?? total.name)"
    }

    /// Writes `township_levels.gpkg` (layer `township_levels`) into the staging folder: the township
    /// polygons reprojected to the grid CRS, in the layer's order, with `township_id`, `township`,
    /// `township_code` (with `code:`), `level`, `level_name`, `mean_index`, every total column and `label`.
    func writeTownshipLevels(_ rows: [TownshipStatistics], townships spec: TownshipPolygons, staging: String) throws {
        let path = staging.appendingComponent("township_levels.gpkg")
        let what = spec.what
        do {
            try withFixedGeoPackageDate {
                let src = try Dataset(open: spec.source, flags: [.vector])
                let layer = try spec.layer.map { try src.layer(named: $0) } ?? src.layer(0)
                func quoted(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
                var select = "SELECT \(quoted(spec.nameField)) AS township"
                // The declared width is the longest code (CAST … AS character alone declares TEXT(1)).
                let width = max(1, rows.map { ($0.code ?? "").count }.max() ?? 1)
                if let code = spec.codeField { select += ", CAST(\(quoted(code)) AS character(\(width))) AS township_code" }
                select += " FROM \(quoted(layer.name))"
                let out = try Utilities.vectorTranslate(src, to: path, arguments: [
                    "-f", "GPKG", "-dialect", "OGRSQL", "-sql", select, "-t_srs", plan.job.grid.crs,
                    "-nln", "township_levels", "-nlt", "MULTIPOLYGON",
                ])
                let levels = try out.layer(named: "township_levels")
                let base = levels.fields.count
                try levels.createField("township_id", kind: .integer)
                try levels.createField("level", kind: .integer)
                try levels.createField("level_name", kind: .string)
                try levels.createField("mean_index", kind: .real)
                let columns = rows.first?.totals.map(\.name) ?? []
                for name in columns { try levels.createField(name, kind: .real) }
                try levels.createField("label", kind: .string)
                try levels.createField("level_rule", kind: .string)
                var i = 0
                try levels.inTransaction {
                    try levels.updateFeatures { f in
                        guard i < rows.count else { return }
                        let row = rows[i]
                        i += 1
                        f.set(base, row.id)
                        if let level = row.level { f.set(base + 1, level) }
                        if let name = row.levelName { f.set(base + 2, name) }
                        if let mean = row.meanIndex { f.set(base + 3, mean) }
                        for (j, column) in row.totals.enumerated() { f.set(base + 4 + j, column.value) }
                        f.set(base + 4 + columns.count, townshipLabel(row))
                        if let rule = row.levelRule { f.set(base + 5 + columns.count, rule) }
                    }
                }
                guard i == rows.count else {
                    throw RunError(.software, "\(spec.source): \(what): \(i) polygons written for \(rows.count) townships")
                }
                try out.close()
            }
        } catch let error as RunError { throw error } catch {
            throw RunError(.ioError, "\(path): cannot write the township levels: \((error as? GDALError)?.message ?? "\(error)")")
        }
    }
}

/// An integer with thousands separators: 12345.6 → "12,346".
func groupedInteger(_ v: Double) -> String {
    let n = Int(v.rounded())
    let digits = String(abs(n))
    var out = ""
    for (i, ch) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(ch)
    }
    return (n < 0 ? "-" : "") + out
}

extension TownshipTablesStage {
    /// `stats.csv`: one row per township; UTF-8 with a byte-order mark (so Excel on Chinese
    /// Windows reads it as UTF-8), headers in Chinese and English.
    static func statisticsCSV(_ rows: [TownshipStatistics], scheme: ClassScheme) -> String {
        let q = csvText, f = csvNumber
        var header = csvTownshipHeader + ["有效面积(公顷) valid_area_ha", "平均指数 mean_index", "最大指数 max_index",
                                          "主导等级 dominant_class", "主导等级名称 dominant_class_name", "乡镇风险等级 level", "等级名称 level_name"]
        let rule = rows.first?.levelRule != nil
        if rule { header.append("等级规则 level_rule") }
        for c in scheme.classes { header += ["\(c.name)面积(公顷) class_\(c.value)_area_ha", "\(c.name)占比(%) class_\(c.value)_pct"] }
        header += rows.first?.totals.map(\.name) ?? []
        var lines = [header.map(q).joined(separator: ",")]
        for r in rows {
            var cells = csvTownshipCells(id: r.id, code: r.code, name: r.name, english: r.english)
            cells += [f(r.validAreaHa), f(r.meanIndex), f(r.maxIndex),
                         r.dominantClass.map(String.init) ?? "", q(r.dominantClassName ?? ""), r.level.map(String.init) ?? "", q(r.levelName ?? "")]
            if rule { cells.append(q(r.levelRule ?? "")) }
            for c in r.classes { cells += [f(c.areaHa), f(c.percent)] }
            cells += r.totals.map { f($0.value) }
            lines.append(cells.joined(separator: ","))
        }
        return csvByteOrderMark + lines.joined(separator: "\n") + "\n"
    }
}
