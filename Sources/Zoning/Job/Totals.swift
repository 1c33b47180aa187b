import Foundation
import FilePaths
import GDALKit
import RasterKernel
import RiskDatabase

extension JobSpec {
    /// One exposure total, `zoning.totals.<name>`.
    public struct Total: Sendable {
        /// What a pixel of the layer holds.
        public enum Measure: String, Sendable, CaseIterable {
            /// A quantity per source pixel (persons, m² of floor area): warped with `sum`.
            case count
            /// A quantity per km² (persons/km², 10⁴ CNY/km²): warped with `average`, times the pixel area in km².
            case perKm2 = "per-km2"
            /// A quantity per hectare: warped with `average`, times the pixel area in ha.
            case perHa = "per-ha"
        }

        /// The key in `totals:`; names the columns `<name>_class_<k>` and `<name>_total`.
        public let name: String
        public let definition: LayerDefinition
        public let measure: Measure
        /// Units of the summed quantity (e.g. "persons"), for tables and map labels.
        public let units: String?
        public let position: Position

        /// gdalwarp's resampling for this measure.
        public var resampling: Resampling { measure == .count ? .sum : .average }

        /// What a warped pixel value is multiplied by to give the quantity in the pixel.
        public func factor(pixelAreaSquareMetres a: Double) -> Double {
            switch measure {
            case .count: return 1
            case .perKm2: return a / 1_000_000
            case .perHa: return a / 10_000
            }
        }
    }
}

extension JobLoader {
    /// `totals: { name: { layer: L, as: count | per-km2 | per-ha, units: TEXT } }`.
    func parseTotals(_ node: YNode, townships: Bool, jobFile: String, sink: DiagnosticSink,
                     cache: inout [String: LayerDefinition?], auxiliary: inout [String: LayerDefinition]) -> [JobSpec.Total] {
        guard let entries = node.entries() else { return [] }
        if entries.isEmpty { node.error("list at least one total, e.g. persons: { layer: population-density, as: per-km2, units: persons }") }
        if !townships { node.error("totals are summed per township: they need zoning.townships") }
        var totals: [JobSpec.Total] = []
        for (name, keyNode, value) in entries {
            if name.range(of: "^[a-z][a-z0-9_]{0,23}$", options: .regularExpression) == nil {
                keyNode.error("a total's name must be a lower-case letter followed by up to 23 lower-case letters, digits or '_' (it names table columns such as \(name.lowercased())_total)")
            } else if let problem = databaseColumnProblem(name, among: entries.map(\.0)) {
                keyNode.error(problem)
            }
            guard let obj = value.object(allowed: ["layer", "as", "units"], required: ["layer", "as"]) else { continue }
            let def = obj["layer"].flatMap { definition(named: $0, jobFile: jobFile, sink: sink, cache: &cache) }
            var measure: JobSpec.Total.Measure?
            if let a = obj["as"], let text = a.string() {
                measure = JobSpec.Total.Measure(rawValue: text)
                if measure == nil {
                    let names = JobSpec.Total.Measure.allCases.map(\.rawValue)
                    let hint = closest(to: text, in: names).map { " (did you mean \"\($0)\"?)" } ?? ""
                    a.error("unknown measure \"\(text)\"\(hint); expected count (a quantity per pixel), per-km2 or per-ha (densities)")
                }
            }
            let units = obj["units"]?.string()
            if let def, let measure {
                let m = keyNode.mark
                totals.append(JobSpec.Total(name: name, definition: def, measure: measure, units: units,
                                            position: .init(file: jobFile, line: m.line, column: m.column)))
                auxiliary[def.name] = def
            }
        }
        return totals
    }

    /// Why a total's name cannot name its columns of the risk database (`township_levels`: `<name>`
    /// per class, `<name>_total` per township): a column the database uses itself or SQLite and
    /// GeoPackage reserve (`RiskDatabase.reservedColumnNames`), or the `<other>_total` of another
    /// total. nil when it can.
    func databaseColumnProblem(_ name: String, among names: [String]) -> String? {
        for column in [name, name + "_total"] where RiskDatabase.reservedColumnNames.contains(column) {
            return "a total named \(name) would make the risk database column \(column), a name the database uses itself (reserved are its own columns, such as run_id, job, township, class, share, pixels, and SQLite's and GeoPackage's fid, geom, rowid); choose another name, e.g. \(name)_sum"
        }
        if name.hasSuffix("_total"), names.contains(String(name.dropLast("_total".count))) {
            return "a total named \(name) would make the risk database column \(name), which the total \(name.dropLast("_total".count)) makes too (its \(name)); choose another name"
        }
        return nil
    }
}
