import Foundation

/// The township polygons the tables, the sensitivity's level changes and the maps are written
/// from: the job's townships layer, or the polygons made from the standard grid's codes
/// (`TownshipGrid.codePolygons`, their code as the name).
struct TownshipPolygons {
    let source: String
    let layer: String?
    /// The attribute holding the name, and the one holding the code (nil = none).
    let nameField: String
    let codeField: String?
    /// What the polygons are, for errors.
    let what: String
}

extension RunScoped {
    /// The township polygons of the job's `TownshipSource`; nil without townships, or for code-only
    /// townships before the township grid made them.
    func townshipPolygons(_ grid: TownshipGrid?) -> TownshipPolygons? {
        switch plan.job.townshipSource {
        case .layer(let t):
            return TownshipPolygons(source: t.definition.source, layer: t.definition.layer, nameField: t.nameField,
                                    codeField: t.codeField, what: "zoning.townships (layer \(t.definition.name))")
        case .standardGridCodes:
            return grid?.codePolygons.map {
                TownshipPolygons(source: $0, layer: "townships", nameField: "code", codeField: "code",
                                 what: "grid.standard-grid (the townships of its codes)")
            }
        case nil:
            return nil
        }
    }
}
