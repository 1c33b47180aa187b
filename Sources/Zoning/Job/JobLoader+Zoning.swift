import Foundation
import GDALKit

extension JobLoader {
    /// `zoning:` — majority filter, minimum area, connectivity, townships and exposure totals.
    func parseZoning(_ top: YObject, gridCRS: String?, file: String, sink: DiagnosticSink,
                     cache: inout [String: LayerDefinition?], auxiliary: inout [String: LayerDefinition]) -> JobSpec.Zoning? {
        guard let z = top["zoning"]?.object(allowed: ["majority", "min-area-ha", "connectivity", "townships", "totals"]) else {
            return nil
        }
        let majority = z["majority"]?.int()
        if let m = z["majority"], let majority, majority != 3 && majority != 5 { m.error("majority is a window size: 3 or 5") }
        let minArea = z["min-area-ha"]?.double()
        if let m = z["min-area-ha"], let minArea, minArea <= 0 { m.error("min-area-ha must be positive") }
        let connectivity = z["connectivity"]?.int() ?? 8
        if let c = z["connectivity"], connectivity != 4 && connectivity != 8 { c.error("connectivity is 4 or 8") }
        let townships = z["townships"].flatMap {
            parseTownships($0, file: file, sink: sink, cache: &cache, auxiliary: &auxiliary)
        }
        var zoning = JobSpec.Zoning(majority: majority, minAreaHectares: minArea, connectivity: connectivity, townships: townships)
        if let node = z["totals"] {
            zoning.totals = parseTotals(node, townships: z["townships"] != nil || namesStandardGrid(top), jobFile: file, sink: sink, cache: &cache,
                                        auxiliary: &auxiliary)
        }
        return zoning
    }

    /// `zoning.townships:` — the layer, its name (and code, English name) attributes and the level rule.
    private func parseTownships(_ node: YNode, file: String, sink: DiagnosticSink, cache: inout [String: LayerDefinition?],
                                auxiliary: inout [String: LayerDefinition]) -> JobSpec.Townships? {
        guard let t = node.object(allowed: ["layer", "name", "code", "english", "level", "high-share"], required: ["layer", "name"]) else {
            return nil
        }
        let def = t["layer"].flatMap { definition(named: $0, jobFile: file, sink: sink, cache: &cache) }
        let nameField = t["name"]?.string()
        var level = JobSpec.TownshipLevel.meanIndex
        if let l = t["level"], let text = l.string() {
            switch text {
            case "mean-index": level = .meanIndex
            case "high-share": level = .highShare(0.3)
            default: l.error("unknown level rule \"\(text)\"; expected mean-index or high-share")
            }
        }
        if let h = t["high-share"], let share = h.double() {
            if share <= 0 || share > 1 { h.error("high-share is a share of the area, in (0, 1]") }
            if case .highShare = level { level = .highShare(share) } else { h.error("high-share goes with level: high-share") }
        }
        let codeField = t["code"]?.string(), englishField = t["english"]?.string()
        guard let def, let nameField else { return nil }
        var townships = JobSpec.Townships(definition: def, nameField: nameField, level: level)
        townships.codeField = codeField
        townships.englishField = englishField
        auxiliary[def.name] = def
        return townships
    }
}
