import Cartography
import Foundation

extension JobLoader {
    /// `maps:` — title, subtitle, page, context layers and source lines; every key has a default.
    func parseMaps(_ top: YObject, file: String, sink: DiagnosticSink, cache: inout [String: LayerDefinition?],
                   auxiliary: inout [String: LayerDefinition]) -> JobSpec.Maps {
        guard let m = top["maps"]?.object(allowed: ["title", "subtitle", "page", "context", "sources", "location", "insets"] + MapFurniture.keys) else {
            return JobSpec.Maps(title: nil, subtitle: nil, page: .a3Landscape, context: nil, sources: nil)
        }
        var page = PageSetup.a3Landscape
        if let p = m["page"], let text = p.string() {
            let parts = text.lowercased().split(separator: "-").map(String.init)
            let sizes: [String: PageSetup.Size] = ["a3": .a3, "a4": .a4]
            if parts.count == 2, let size = sizes[parts[0]], let orientation = PageSetup.Orientation(rawValue: parts[1]) {
                page = PageSetup(size, orientation)
            } else {
                p.error("page is a3-landscape, a3-portrait, a4-landscape or a4-portrait, got \(p.describe)")
            }
        }
        var context: [JobSpec.MapContext]?
        if let c = m["context"], let items = c.sequence() {
            context = []
            for item in items {
                guard let o = item.object(allowed: ["layer", "style", "label", "legend"], required: ["layer", "style"]) else { continue }
                let def = o["layer"].flatMap { definition(named: $0, jobFile: file, sink: sink, cache: &cache) }
                var style: ContextLayer.Kind?
                if let st = o["style"], let text = st.string() {
                    style = ContextLayer.Kind(rawValue: text)
                    if style == nil {
                        st.error("unknown style \"\(text)\"; expected one of: \(ContextLayer.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                }
                if let def, let style {
                    context?.append(JobSpec.MapContext(definition: def, style: style, label: o["label"]?.string(),
                                                       legend: o["legend"]?.string()))
                    auxiliary[def.name] = def
                }
            }
        }
        let sources = m["sources"]?.sequence()?.compactMap { $0.string() }
        var maps = JobSpec.Maps(title: m["title"]?.line(), subtitle: m["subtitle"]?.line(), page: page,
                                context: context, sources: sources)
        maps.furniture = parseFurniture(m)
        parseMapInsets(m, into: &maps, file: file, sink: sink, cache: &cache, auxiliary: &auxiliary)
        return maps
    }
}
