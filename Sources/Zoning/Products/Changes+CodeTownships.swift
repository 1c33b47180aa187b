import Foundation
import FilePaths

extension ChangeReport {
    /// The township polygons the change tables and map count and outline by (ids in their order,
    /// as in stats.json): the townships layer of the job as run, or for code-only townships
    /// (`TownshipSource.standardGridCodes`) the polygons made from the codes that the run folder
    /// keeps (`township_levels.gpkg`, labelled by code); nil without townships.
    static func changeTownships(from: RunFolder, to: RunFolder) -> (source: String, layer: String?, nameField: String)? {
        if let t = to.spec?.zoning?.townships ?? from.spec?.zoning?.townships {
            return (t.definition.source, t.definition.layer, t.nameField)
        }
        for run in [to, from] {
            guard case .standardGridCodes? = run.spec?.townshipSource else { continue }
            let path = run.directory.appendingComponent("township_levels.gpkg")
            if FileManager.default.fileExists(atPath: path) { return (path, "township_levels", "township") }
        }
        return nil
    }
}
