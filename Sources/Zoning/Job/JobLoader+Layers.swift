import Foundation
import RasterKernel

extension JobLoader {
    /// `layers:` — per key, the layer definition, resampling, normalisation, direction,
    /// all-touched and error threshold.
    func parseLayers(_ top: YObject, gridCRS: String?, file: String, sink: DiagnosticSink,
                     cache: inout [String: LayerDefinition?]) -> [JobSpec.LayerUse] {
        var layers: [JobSpec.LayerUse] = []
        guard let entries = top["layers"]?.entries() else { return layers }
        if entries.isEmpty { top["layers"]!.error("at least one layer is needed") }
        for (key, keyNode, value) in entries {
            guard let obj = value.object(allowed: ["layer", "resampling", "normalize", "direction", "all-touched", "error-threshold"],
                                         required: ["layer", "normalize"]) else { continue }
            let def = obj["layer"].flatMap { definition(named: $0, jobFile: file, sink: sink, cache: &cache) }
            let resampling = obj["resampling"].map(parseResampling) ?? .nearest
            let transformed = parseTransformedNormalization(obj["normalize"])
            let (normalization, proximity, dataMinMax) = transformed.map { ($0.0, false, $0.1) }
                ?? parseLayerNormalization(obj["normalize"], gridCRS: gridCRS)
            var negative = false
            if let d = obj["direction"], let text = d.string() {
                if text == "negative" { negative = true } else if text != "positive" {
                    d.error("direction is positive or negative, got \(d.describe)")
                }
            }
            let allTouched = obj["all-touched"]?.bool() ?? false
            let et = obj["error-threshold"]?.double() ?? 0.125
            if let e = obj["error-threshold"], et < 0 { e.error("error-threshold must be ≥ 0 (pixels)") }
            if let def, let normalization {
                let m = keyNode.mark
                var use = JobSpec.LayerUse(key: key, definition: def, resampling: resampling,
                                               normalization: normalization, allTouched: allTouched,
                                               errorThreshold: et,
                                               position: .init(file: file, line: m.line, column: m.column),
                                               proximity: proximity, dataMinMax: dataMinMax, negative: negative)
                use.transform = transformed?.2
                layers.append(use)
            }
        }
        return layers
    }

    /// The resampling a job names (`nearest` is `near`); an unknown name is reported with a
    /// suggestion and gives `near`.
    func parseResampling(_ node: YNode) -> Resampling {
        guard let text = node.string() else { return .nearest }
        if let resampling = Resampling(jobName: text) { return resampling }
        let hint = closest(to: text, in: Resampling.jobNames).map { " (did you mean \"\($0)\"?)" } ?? ""
        node.error("unknown resampling \"\(text)\"\(hint); expected one of: \(Resampling.jobNames.joined(separator: ", "))")
        return .nearest
    }

    func parseNormalization(_ node: YNode) -> Normalization? {
        guard let obj = node.object(allowed: ["curve", "linear", "table", "default", "min-max"]) else { return nil }
        let kinds = ["curve", "linear", "table"].filter { obj[$0] != nil }
        if kinds.count != 1 {
            node.error("give exactly one of curve, linear, table, min-max (got \(kinds.isEmpty ? "none" : kinds.joined(separator: ", ")))")
            return nil
        }
        if obj["default"] != nil && kinds[0] != "table" {
            obj.keys["default"]!.error("default only applies to table")
        }
        let result: Normalization?
        let at: YNode
        switch kinds[0] {
        case "curve":
            at = obj["curve"]!
            guard let items = at.sequence() else { return nil }
            let points = items.compactMap { item -> Normalization.CurvePoint? in
                guard let xy = item.doubles(count: 2) else { return nil }
                return .init(xy[0], xy[1])
            }
            result = points.count == items.count ? .curve(points) : nil
        case "linear":
            at = obj["linear"]!
            guard let v = at.doubles(count: 2) else { return nil }
            result = .linear(min: v[0], max: v[1])
        default:
            at = obj["table"]!
            guard let entries = at.entries() else { return nil }
            var table: [Normalization.TableEntry] = []
            for (_, keyNode, value) in entries {
                if let k = keyNode.double(), let v = value.double() { table.append(.init(k, v)) }
            }
            let def = obj["default"]?.double()
            result = table.count == entries.count ? .table(table, default: def) : nil
        }
        if let result, let problem = result.problem {
            at.error(problem)
            return nil
        }
        return result
    }
}

