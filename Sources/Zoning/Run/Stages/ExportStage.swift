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
        context.exports = try exportZones(staging: context.files.staging, runFolder: plan.outputDirectory.appendingComponent(context.runID))
    }
}

extension ExportStage {
    /// Writes the zones (`risk_zones`, then `prevention_zones`, those the run made) as ESRI
    /// Shapefiles into the staging folder: integer `class`, the names as UTF-8 (`.cpg`), the CRS
    /// (`.prj`), a fixed DBF date so identical runs give identical files.
    /// `runFolder` is where the run will be published (named in warnings).
    func exportZones(staging: String, runFolder: String) throws -> [Manifest.ExportInfo] {
        let zones = staging.appendingComponent("zones.gpkg")
        func has(_ path: String, _ layer: String) -> Bool {
            guard FileManager.default.fileExists(atPath: path), let ds = try? Dataset(open: path, flags: [.vector]) else { return false }
            return (try? ds.layer(named: layer)) != nil
        }
        let withCode = plan.job.townshipSource?.hasCodes == true
        var result: [Manifest.ExportInfo] = []
        for (product, name) in plan.plannedExports {
            // The prevention zones go to zones.gpkg next to the risk zones, else to prevention.gpkg.
            let gpkg = has(zones, product.rawValue) ? zones : staging.appendingComponent("prevention.gpkg")
            let path = staging.appendingComponent("\(name).shp")
            // Shapefile field names have at most 10 characters.
            let code = withCode ? ", township_code AS twp_code" : ""
            let select: String, texts: [(column: String, field: String)]
            switch product {
            case .riskZones:
                select = "SELECT class, class_name, area_ha, township\(code) FROM risk_zones"
                texts = [("class_name", "class_name"), ("township", "township")]
            case .preventionZones:
                select = "SELECT category AS class, name, english, area_ha, township\(code) FROM prevention_zones"
                texts = [("name", "name"), ("english", "english"), ("township", "township")]
            }
            do {
                let src = try Dataset(open: gpkg, flags: [.vector])
                try warnOfCutText(src, layer: product.rawValue, texts: texts + (withCode ? [("township_code", "twp_code")] : []),
                                  dbf: runFolder.appendingComponent("\(name).dbf"))
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

    /// The bytes a DBF text field holds. GDAL widens a text field to its longest value up to this;
    /// a longer value it cuts at a character boundary, with one warning per layer that does not
    /// reach the log.
    static let dbfTextLimit = 254

    /// One warning per text value the shapefile cannot hold whole (over `dbfTextLimit` bytes),
    /// naming the file, the field and the value: the shapefile keeps its first 254 bytes, the
    /// GeoPackage (`zones.gpkg`) and the statistics keep it whole.
    func warnOfCutText(_ source: Dataset, layer: String, texts: [(column: String, field: String)], dbf: String) throws {
        let limit = ExportStage.dbfTextLimit
        for (column, field) in texts {
            let rows = try source.query("SELECT DISTINCT \"\(column)\" AS v FROM \"\(layer)\" WHERE length(CAST(\"\(column)\" AS BLOB)) > \(limit)")
            for value in rows.compactMap({ $0["v"].text }) {
                logger.warning("a text is longer than a shapefile field holds: the shapefile keeps its first \(limit) bytes (zones.gpkg keeps it whole)",
                               metadata: ["file": "\(dbf)", "field": "\(field)", "bytes": "\(value.utf8.count)", "value": "\(value)"])
            }
        }
    }
}
