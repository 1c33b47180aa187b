import Cartography
import Foundation
import FilePaths

extension MapMaker {
    /// The township boundaries drawn on the maps: the townships layer labelled by name, or for
    /// code-only townships (`TownshipSource.standardGridCodes`) the polygons made from the codes
    /// (`township_levels.gpkg` of the run folder, `codeTownships`) labelled by code.
    var townshipBoundary: ContextLayer? {
        switch plan.job.townshipSource {
        case .layer(let t):
            return ContextLayer(kind: .boundary, source: t.definition.source, layer: t.definition.layer, labelField: t.nameField)
        case .standardGridCodes:
            return codeTownships.map { ContextLayer(kind: .boundary, source: $0, layer: "township_levels", labelField: "township") }
        case nil:
            return nil
        }
    }

    /// This map maker drawing the code-only townships of the run folder `folder` (when it has them).
    func withCodeTownships(in folder: String) -> MapMaker {
        guard case .standardGridCodes? = plan.job.townshipSource else { return self }
        let path = folder.appendingComponent("township_levels.gpkg")
        guard FileManager.default.fileExists(atPath: path) else { return self }
        var maker = self
        maker.codeTownships = path
        return maker
    }
}
