import Foundation
import GDALKit

extension JobSpec {
    /// One box of `maps.insets` in the grid CRS, with where the job wrote it.
    public struct MapInset: Sendable {
        public let bounds: Bounds
        public let position: Position
    }
}

extension JobLoader {
    /// `maps.location: LAYER` — the province polygons of the location inset (区位图; the county is
    /// the grid mask, filled) — and `maps.insets: [[xmin, ymin, xmax, ymax], …]`, detail boxes in
    /// the grid CRS (`[]`: none; unset: automatic around the top class on a typed job).
    func parseMapInsets(_ m: YObject, into maps: inout JobSpec.Maps, file: String, sink: DiagnosticSink,
                        cache: inout [String: LayerDefinition?], auxiliary: inout [String: LayerDefinition]) {
        if let node = m["location"], let def = definition(named: node, jobFile: file, sink: sink, cache: &cache) {
            maps.location = def
            auxiliary[def.name] = def
        }
        guard let node = m["insets"], let items = node.sequence() else { return }
        var boxes: [JobSpec.MapInset] = []
        for item in items {
            guard let values = item.sequence() else { continue }
            guard values.count == 4 else {
                item.error("a detail inset is [xmin, ymin, xmax, ymax] in the grid CRS: 4 numbers, got \(values.count)")
                continue
            }
            guard let v = item.doubles(count: 4) else { continue }
            guard v[0] < v[2], v[1] < v[3] else {
                item.error("a detail inset is [xmin, ymin, xmax, ymax] with xmin < xmax and ymin < ymax, got [\(v.map { formatNumber($0) }.joined(separator: ", "))] (inverted)")
                continue
            }
            let mark = item.mark
            boxes.append(.init(bounds: Bounds(minX: v[0], minY: v[1], maxX: v[2], maxY: v[3]),
                               position: .init(file: file, line: mark.line, column: mark.column)))
        }
        maps.insets = boxes
    }
}

extension Planner {
    /// Every `maps.insets` box lies inside the grid (its extent in the grid CRS).
    func checkMapInsets(_ job: JobSpec, gridBounds g: Bounds) throws {
        for (i, inset) in (job.maps.insets ?? []).enumerated() {
            let b = inset.bounds
            guard b.minX >= g.minX, b.maxX <= g.maxX, b.minY >= g.minY, b.maxY <= g.maxY else {
                let p = inset.position
                throw RunError(.dataError, "\(p.file):\(p.line):\(p.column): maps.insets[\(i)]: the box [\(formatNumber(b.minX)), \(formatNumber(b.minY)), \(formatNumber(b.maxX)), \(formatNumber(b.maxY))] is not inside the grid [\(formatNumber(g.minX)), \(formatNumber(g.minY)), \(formatNumber(g.maxX)), \(formatNumber(g.maxY))] (grid CRS \(job.grid.crs))")
            }
        }
    }
}
