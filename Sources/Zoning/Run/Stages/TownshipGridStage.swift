import Foundation
import FilePaths
import GDALKit
import RasterKernel

/// Township polygons in the grid CRS, in layer order (id = position + 1), with their names,
/// administrative codes and English names (empty when the job names no such field).
struct Townships {
    let names: [String]
    let codes: [String]
    let english: [String]
    let polygons: [[[[GeoPoint]]]]
}

extension Townships {
    /// Code and English name of township `id` (1-based), nil when the job names no such field.
    func code(_ id: Int) -> String? { codes[id - 1].isEmpty ? nil : codes[id - 1] }
    func englishName(_ id: Int) -> String? { english[id - 1].isEmpty ? nil : english[id - 1] }
}


/// The township grid stage: the township polygons read in the grid CRS and rasterised onto the
/// grid (value = township id), for the township statistics, the zones cut by township and the
/// weight scenarios' tallies.
struct TownshipGridStage: Stage {
    let env: RunEnvironment
    init(_ env: RunEnvironment) { self.env = env }

    var name: String { "township grid" }
    var reads: [RunProduct] { [] }
    var produces: [RunProduct] { [.townshipGrid] }

    func run(_ context: RunContext) throws {
        let products = plan.job.outputs.products
        guard let source = plan.job.townshipSource,
              products.contains(.statistics) || products.contains(.riskZones) || products.contains(.sensitivity) else { return }
        switch source {
        case .layer(let t):
            context.townshipGrid = plan.job.grid.standardGrid != nil ? try prepareStandardGridTownships(t, work: context.files.work)
                : try prepareTownships(t, work: context.files.work)
        case .standardGridCodes(let sg):
            context.townshipGrid = try prepareCodeTownships(sg, work: context.files.work)
        }
    }
}

extension RunScoped {
    /// Reads the township layer in the grid CRS and rasterises it (value = id) onto the grid.
    func prepareTownships(_ spec: JobSpec.Townships, work: String) throws -> TownshipGrid {
        let def = spec.definition
        let what = "zoning.townships (layer \(def.name))"
        do {
            let ds = try Dataset(open: def.source, flags: [.vector])
            let layer = try def.layer.map { try ds.layer(named: $0) } ?? ds.layer(0)
            guard layer.fields.contains(where: { $0.name == spec.nameField }) else {
                throw RunError(.dataError, "\(def.source): \(what): no attribute \"\(spec.nameField)\" (fields: \(layer.fields.map(\.name).joined(separator: ", ")))")
            }
            let memory = try Utilities.vectorTranslate(ds, to: "", arguments: ["-f", "Memory", "-t_srs", plan.job.grid.crs, layer.name])
            let copy = try memory.layer(named: layer.name)
            try copy.createField("hz_id", kind: .integer)
            let idField = copy.fieldIndex("hz_id")!
            var next = 0
            try copy.updateFeatures { f in next += 1; f.set(idField, next) }
            let features = try copy.features(attribute: spec.nameField)
            func column(_ field: String?) throws -> [String] {
                guard let field else { return features.map { _ in "" } }
                guard layer.fields.contains(where: { $0.name == field }) else {
                    throw RunError(.dataError, "\(def.source): \(what): no attribute \"\(field)\" (fields: \(layer.fields.map(\.name).joined(separator: ", ")))")
                }
                return try copy.features(attribute: field).map { $0.attribute ?? "" }
            }
            let townships = Townships(names: features.map { $0.attribute ?? "township \($0.id)" },
                                      codes: try column(spec.codeField), english: try column(spec.englishField),
                                      polygons: features.map(\.geometry.polygons))
            let path = work.appendingComponent("townships.tif")
            let g = plan.grid
            let out = try Utilities.rasterize(memory, to: path, arguments: [
                "-a", "hz_id", "-l", layer.name, "-te", "\(g.minX)", "\(g.minY)", "\(g.maxX)", "\(g.maxY)",
                "-tr", "\(g.pixelWidth)", "\(g.pixelHeight)", "-ot", "UInt16", "-init", "0",
                "-of", "GTiff", "-co", "TILED=YES", "-co", "BLOCKXSIZE=\(plan.blockSize)", "-co", "BLOCKYSIZE=\(plan.blockSize)"])
            try out.close()
            return TownshipGrid(townships: townships, raster: path)
        } catch let error as RunError { throw error } catch { throw inputError(error, file: def.source, what: what) }
    }
}
