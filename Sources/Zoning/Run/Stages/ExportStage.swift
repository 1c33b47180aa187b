import Foundation
import FilePaths
import GDALKit

/// The export stage: the zones the run made as the shapefiles `outputs.export` names.
struct ExportStage: Stage {
    let env: RunEnvironment
    init(_ env: RunEnvironment) { self.env = env }

    var name: String { "export" }
    var reads: [RunProduct] { [.zones, .prevention] }
    var produces: [RunProduct] { [.exports] }

    func run(_ context: RunContext) throws {
        context.exports = try exportZones(staging: context.files.staging)
    }
}

extension ExportStage {
    /// Writes the zones (`risk_zones`, then `prevention_zones`, those the run made) as ESRI
    /// Shapefiles into the staging folder: integer `class`, the names as UTF-8 (`.cpg`), the CRS
    /// (`.prj`), a fixed DBF date so identical runs give identical files.
    func exportZones(staging: String) throws -> [Manifest.ExportInfo] {
        let zones = staging.appendingComponent("zones.gpkg")
        func has(_ path: String, _ layer: String) -> Bool {
            guard FileManager.default.fileExists(atPath: path), let ds = try? Dataset(open: path, flags: [.vector]) else { return false }
            return (try? ds.layer(named: layer)) != nil
        }
        let withCode = plan.job.zoning?.townships?.codeField != nil
        var result: [Manifest.ExportInfo] = []
        for (product, name) in plan.plannedExports {
            // The prevention zones go to zones.gpkg next to the risk zones, else to prevention.gpkg.
            let gpkg = has(zones, product.rawValue) ? zones : staging.appendingComponent("prevention.gpkg")
            let path = staging.appendingComponent("\(name).shp")
            // Shapefile field names have at most 10 characters.
            let code = withCode ? ", township_code AS twp_code" : ""
            let select: String
            switch product {
            case .riskZones:
                select = "SELECT class, class_name, area_ha, township\(code) FROM risk_zones"
            case .preventionZones:
                select = "SELECT category AS class, name, english, area_ha, township\(code) FROM prevention_zones"
            }
            do {
                let src = try Dataset(open: gpkg, flags: [.vector])
                let out = try Utilities.vectorTranslate(src, to: path, arguments: [
                    "-f", "ESRI Shapefile", "-dialect", "OGRSQL", "-sql", select, "-nln", name, "-nlt", "POLYGON",
                    "-lco", "ENCODING=UTF-8", "-lco", "DBF_DATE_LAST_UPDATE=2000-01-01",
                ])
                let features = try out.layer(0).featureCount
                try out.close()
                result.append(.init(format: ExportFormat.shapefile.rawValue, product: product.rawValue, productCode: product.code,
                                    name: name, layer: product.rawValue, features: features))
            } catch let error as RunError { throw error } catch {
                throw RunError(.ioError, "\(path): cannot write the shapefile of \(product.rawValue): \((error as? GDALError)?.message ?? "\(error)")")
            }
        }
        return result
    }
}
