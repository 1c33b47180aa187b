import Foundation
import FilePaths
import RiskDatabase

/// The assessment report (风险评估报告) of a run, built once from the run folder's JSON products
/// (`manifest.json`, `stats.json`, `attribution.json`, `prevention_stats.json`, `sensitivity.json`,
/// `changes.json`) and written three ways: `report.html`, `report.pdf`, `tables.xlsx`. No number is
/// computed here that a product already holds; the report only rounds for display (people as
/// integers, areas in ha with one decimal, indices with three).
struct ReportContent {
    /// A number with the way it is shown (and the Excel number format of the workbook).
    enum Format { case integer, area, index, percent, text }
    struct Cell {
        var text: String
        var number: Double?
        var format: Format
        static func text(_ s: String) -> Cell { Cell(text: s, number: nil, format: .text) }
        static func number(_ v: Double?, _ f: Format) -> Cell {
            guard let v else { return Cell(text: "", number: nil, format: f) }
            return Cell(text: ReportContent.show(v, f), number: v, format: f)
        }
    }
    struct Table {
        /// Workbook sheet name and HTML id (`county`, `townships`, …).
        var key: String
        var number: Int
        var caption: String
        var header: [String]
        var rows: [[Cell]]
        var numbered: String { "表 \(number) Table \(number) \(caption)" }
    }
    enum Block {
        case subheading(String)
        case paragraph(String)
        case table(Table)
        case figure(file: String, number: Int, caption: String)
        /// The indicator tree, as the HTML draws it (SVG); the PDF prints the table that follows it.
        case tree(ReportTree)
    }
    struct Section {
        var title: String
        var blocks: [Block]
    }

    var title: String
    var unit: String?
    var date: String
    var runID: String
    var sections: [Section] = []
    /// The people total shown in the chart of the workbook, and per township per level.
    var chart: ReportChart?

    static func show(_ v: Double, _ f: Format) -> String {
        switch f {
        case .integer: return groupedInteger(v)
        case .area: return String(format: "%.1f", v)
        case .index: return String(format: "%.3f", v)
        case .percent: return String(format: "%.1f", v)
        case .text: return formatNumber(v)
        }
    }

    var tables: [Table] {
        sections.flatMap(\.blocks).compactMap { if case .table(let t) = $0 { return t } else { return nil } }
    }
}

/// The run folder's JSON products, as the report reads them.
struct ReportInputs {
    let folder: String
    let manifest: Manifest
    /// `stats.json` rows (objects: the exposure totals are top-level keys).
    let stats: [JSONValue]
    let attribution: Attribution?
    let prevention: [TownshipPreventionStatistics]?
    let sensitivity: [TownshipSensitivity]?
    let changes: JSONValue?

    init(folder: String) throws {
        self.folder = folder
        func data(_ name: String) -> Data? { FileManager.default.contents(atPath: folder.appendingComponent(name)) }
        func decode<T: Decodable>(_ type: T.Type, _ name: String) throws -> T? {
            guard let d = data(name) else { return nil }
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            do { return try decoder.decode(T.self, from: d) } catch {
                throw RunError(.dataError, "\(folder.appendingComponent(name)): cannot be read for the report: \(error)")
            }
        }
        guard let m = data("manifest.json") else {
            throw RunError(.noInput, "\(folder.appendingComponent("manifest.json")): missing; the report reads the run's manifest")
        }
        manifest = try Manifest.decode(m)
        stats = try data("stats.json").map { try JSONValue.parse($0).array ?? [] } ?? []
        attribution = try decode(Attribution.self, "attribution.json")
        prevention = try decode([TownshipPreventionStatistics].self, "prevention_stats.json")
        sensitivity = try decode([TownshipSensitivity].self, "sensitivity.json")
        changes = try data("changes.json").map { try JSONValue.parse($0) }
    }

    /// The exposure totals of the run (name, units), in job order.
    var totals: [(name: String, units: String)] { (manifest.totals ?? []).map { ($0.name, $0.units ?? $0.name) } }
}

/// The workbook's chart: people (the first total) per level (series, in the scheme's colours) per township.
struct ReportChart {
    var total: String
    var levels: [String]
    /// 0xRRGGBB per level.
    var colours: [UInt32]
    var townships: [String]
    /// values[level][township]
    var values: [[Double]]
}
