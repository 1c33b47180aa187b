import Foundation
import GDALKit
import RasterKernel

extension JobLoader {
    /// `grid:` — the CRS and resolution (or `preset: census-30s`), the extent (bounds or a layer's),
    /// how it aligns, the mask, block size and max-pixels. Layers it names are added to `auxiliary`.
    func parseGrid(_ top: YObject, file: String, sink: DiagnosticSink, cache: inout [String: LayerDefinition?],
                   auxiliary: inout [String: LayerDefinition]) -> JobSpec.Grid? {
        if top["grid"]?.entries()?.contains(where: { $0.key == "standard-grid" }) == true {
            return parseStandardGrid(top, file: file, sink: sink, cache: &cache, auxiliary: &auxiliary)
        }
        guard let g = top["grid"]?.object(allowed: ["crs", "resolution", "extent", "mask", "block-size", "max-pixels", "align", "preset"],
                                          required: ["extent"]) else { return nil }
        let preset = parseGridPreset(g)
        let crs = preset != nil ? JobSpec.census30sCRS : g["crs"]?.string()
        if preset == nil, let crs, let node = g["crs"] {
            do { _ = try SpatialReference(definition: crs) } catch {
                node.error("unknown CRS \"\(crs)\" (\((error as? GDALError)?.message ?? "\(error)"))")
            }
        }
        let resolution = preset != nil ? 1 / JobSpec.census30sCellsPerDegree : g["resolution"]?.double()
        if preset == nil, let resolution, resolution <= 0 { g["resolution"]!.error("resolution must be positive") }
        var extent: JobSpec.Extent?
        if let e = g["extent"] {
            if case .sequence = e.node {
                if let v = e.doubles(count: 4) {
                    if v[0] < v[2] && v[1] < v[3] {
                        extent = .bounds(Bounds(minX: v[0], minY: v[1], maxX: v[2], maxY: v[3]))
                    } else {
                        e.error("extent must be [xmin, ymin, xmax, ymax] with xmin < xmax and ymin < ymax")
                    }
                }
            } else if let def = definition(named: e, jobFile: file, sink: sink, cache: &cache) {
                extent = .layer(def.name)
                auxiliary[def.name] = def
            }
        }
        let align = parseGridAlign(g, extent: extent, preset: preset)
        var mask: String?
        if let m = g["mask"], let def = definition(named: m, jobFile: file, sink: sink, cache: &cache) {
            mask = def.name
            auxiliary[def.name] = def
        }
        let (blockSize, maxPixels) = parseGridLimits(g)
        if let resolution, let extent, resolution > 0, maxPixels > 0, case .bounds(let b) = extent {
            // The grid as it will be computed: finite, addressable, within max-pixels.
            let alignment = JobSpec.Grid.alignment(align: align, preset: preset)
            do {
                _ = try GridGeometry.checked(minX: b.minX, minY: b.minY, maxX: b.maxX, maxY: b.maxY,
                                             resolution: resolution, alignment: alignment, maxPixels: maxPixels)
            } catch {
                g["extent"]!.error("\(error) at resolution \(formatNumber(resolution)); raise grid.max-pixels or coarsen grid.resolution")
            }
        }
        guard let crs, let resolution, let extent, resolution > 0 else { return nil }
        var grid = JobSpec.Grid(crs: crs, resolution: resolution, extent: extent, mask: mask,
                                blockSize: blockSize, maxPixels: maxPixels, align: align, preset: preset)
        let m = top.keys["grid"]?.mark ?? (line: 1, column: 1)
        grid.position = JobSpec.Position(file: file, line: m.line, column: m.column)
        return grid
    }

    /// `grid.block-size` and `grid.max-pixels`, with their defaults.
    func parseGridLimits(_ g: YObject) -> (blockSize: Int, maxPixels: Int) {
        let blockSize = g["block-size"]?.int() ?? 512
        if let b = g["block-size"], blockSize < 16 || blockSize > 4096 || blockSize % 16 != 0 {
            b.error("block-size must be a multiple of 16 between 16 and 4096")
        }
        let maxPixels = g["max-pixels"]?.int() ?? JobSpec.defaultMaxPixels
        if let m = g["max-pixels"], maxPixels <= 0 { m.error("max-pixels must be positive") }
        return (blockSize, maxPixels)
    }

    /// `grid.preset`: `census-30s` (then crs and resolution must not be given), nil without one;
    /// without a preset, crs and resolution are required.
    private func parseGridPreset(_ g: YObject) -> String? {
        var preset: String?
        if let p = g["preset"], let text = p.string() {
            if text == "census-30s" {
                preset = text
                for key in ["crs", "resolution"] {
                    if let n = g.keys[key] ?? g[key] {
                        n.error("grid.preset census-30s fixes the grid (EPSG:4490 at 30″ = 1/120°, corners on multiples of 30″); remove grid.\(key)")
                    }
                }
            } else {
                p.error("unknown grid preset \"\(text)\"; expected census-30s")
            }
        } else if g["preset"] == nil {
            for key in ["crs", "resolution"] where g[key] == nil {
                g.node.error("missing required key \"\(key)\" (or preset: census-30s)")
            }
        }
        return preset
    }

    /// `grid.align`, by default `none` for bounds and `resolution` for a layer's extent or a preset.
    private func parseGridAlign(_ g: YObject, extent: JobSpec.Extent?, preset: String?) -> JobSpec.GridAlign {
        // An explicit extent is honoured exactly (gdalwarp -te); a layer's extent snaps outwards.
        var align: JobSpec.GridAlign = { if case .bounds = extent { return .none } else { return .resolution } }()
        if preset != nil { align = .resolution }
        if let a = g["align"], let text = a.string() {
            if let value = JobSpec.GridAlign(rawValue: text) {
                if preset != nil && value != .resolution {
                    a.error("grid.preset census-30s snaps every corner outwards to 30″; align must be resolution")
                } else {
                    align = value
                }
            } else {
                a.error("unknown align \"\(text)\"; expected resolution (snap the corners outwards to multiples of the resolution, gdalwarp -tap) or none (the extent exactly, gdalwarp -te)")
            }
        }
        return align
    }
}
