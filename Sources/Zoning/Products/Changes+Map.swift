import Cartography
import Foundation

extension ChangeReport {
    /// The change map's legend: one row per colour, i.e. per number of levels up or down, naming
    /// the transitions that occur in it ("↑ 升1级 up 1 level: 中 → 中高, 低 → 中低"), up first,
    /// then unchanged, then down. `legend` lists the transitions present (see `Tally.legend`).
    static func groupedLegend(_ legend: [LegendEntry]) -> [LegendEntry] {
        var groups: [(step: Int, entry: LegendEntry, names: [String])] = []
        for entry in legend {
            let step = entry.value % 10 - entry.value / 10
            let name = entry.label.drop { $0 == "↑" || $0 == "↓" || $0 == " " }
            if let i = groups.firstIndex(where: { $0.step == step }) {
                if step != 0 { groups[i].names.append(String(name)) }
            } else {
                groups.append((step, entry, step == 0 ? [] : [String(name)]))
            }
        }
        return groups.map { g in
            var e = g.entry
            if g.step != 0 {
                let n = abs(g.step)
                let head = g.step > 0 ? "↑ 升\(n)级 up \(n) level\(n > 1 ? "s" : "")" : "↓ 降\(n)级 down \(n) level\(n > 1 ? "s" : "")"
                e.label = "\(head): \(g.names.joined(separator: ", "))"
            }
            return e
        }
    }

    /// What the job's own maps draw besides the classes and townships (river, faults, places),
    /// its source lines and its furniture (producer, usage line, data date; no figure number):
    /// the change map reads like the maps it compares.
    static func jobFurniture(_ spec: JobSpec?) -> (context: [ContextLayer], sources: [String], furniture: MapFurniture) {
        guard let spec else { return ([], [], MapFurniture()) }
        let context = (spec.maps.context ?? []).filter { [.river, .fault, .place].contains($0.style) }.map {
            ContextLayer(kind: $0.style, source: $0.definition.source, layer: $0.definition.layer, labelField: $0.label,
                         legendLabel: $0.legend)
        }
        var furniture = spec.maps.furniture
        furniture.figure = nil
        return (context, spec.maps.sources ?? [], furniture)
    }
}
