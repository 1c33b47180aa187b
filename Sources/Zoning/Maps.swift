import Cartography
import Foundation
import GDALKit

/// Print maps of a run's classified products, and the QGIS styles beside them.
struct MapMaker {
    let plan: Plan
    let runID: String

    /// One map: the class raster, the map's file base name, title, legend title and legend.
    struct Target {
        let raster: String
        let base: String
        let title: String
        let legendTitle: String
        let legend: [LegendEntry]
    }

    /// The classified rasters of a run folder that get a map, with their map file base names.
    func targets(in folder: String) -> [Target] {
        let title = plan.job.maps.title ?? plan.job.title ?? plan.job.name
        func path(_ name: String) -> String? {
            let p = (folder as NSString).appendingPathComponent(name)
            return FileManager.default.fileExists(atPath: p) ? p : nil
        }
        let riskLegendTitle = plan.job.classify.scheme.id == "five-level" ? "风险等级 Risk level" : "风险等级 Risk class"
        var result: [Target] = []
        let zones = path("risk_zones.tif")
        let prevention = path("prevention_zones.tif") ?? path("prevention_class.tif")
        if let classes = path("risk_class.tif") {
            let generalised = zones != nil || prevention != nil
            result.append(Target(raster: classes, base: "risk_map",
                                 title: generalised ? "\(title) · 综合风险等级 comprehensive risk" : title,
                                 legendTitle: riskLegendTitle, legend: legend))
        }
        if let zones {
            result.append(Target(raster: zones, base: "zoning_map", title: prevention == nil ? title : "\(title) · 综合风险区划 risk zoning",
                                 legendTitle: riskLegendTitle, legend: legend))
        }
        if let prevention, let categories = plan.prevention?.spec.categories {
            result.append(Target(raster: prevention, base: "prevention_map", title: title,
                                 legendTitle: "防治分区 Prevention zones", legend: MapMaker.legend(categories)))
        }
        return result
    }

    /// The risk classes, highest first.
    var legend: [LegendEntry] {
        plan.job.classify.scheme.classes.reversed().map {
            LegendEntry(value: Int($0.value), label: "\($0.name) \($0.english)", color: RGB($0.rgb))
        }
    }

    /// Prevention categories in their order (the first is the most urgent).
    static func legend(_ categories: [JobSpec.Category]) -> [LegendEntry] {
        categories.map { LegendEntry(value: $0.value, label: $0.label, color: RGB($0.red, $0.green, $0.blue)) }
    }

    var context: [ContextLayer] {
        if let context = plan.job.maps.context {
            return context.map {
                ContextLayer(kind: $0.style, source: $0.definition.source, layer: $0.definition.layer,
                             labelField: $0.label, legendLabel: $0.legend)
            }
        }
        var layers: [ContextLayer] = []
        if let name = plan.job.grid.mask, let def = plan.job.auxiliary[name] {
            layers.append(ContextLayer(kind: .outline, source: def.source, layer: def.layer))
        }
        if let t = plan.job.zoning?.townships {
            layers.append(ContextLayer(kind: .boundary, source: t.definition.source, layer: t.definition.layer, labelField: t.nameField))
        }
        return layers
    }

    /// One line per layer: its name and the first sentence of its description (licences included
    /// there), unless the job lists the sources itself.
    var sources: [String] {
        if let sources = plan.job.maps.sources { return sources }
        var defs = plan.job.layers.map(\.definition)
        for def in plan.job.auxiliary.keys.sorted().compactMap({ plan.job.auxiliary[$0] }) where !defs.contains(where: { $0.name == def.name }) {
            defs.append(def)
        }
        return defs.map { def in
            let text = (def.description ?? "").replacingOccurrences(of: "\n", with: " ")
            var sentence = text.components(separatedBy: ". ").first?.trimmingCharacters(in: .whitespaces) ?? ""
            if sentence.count > 90 { sentence = String(sentence.prefix(88)) + "…" }
            return sentence.isEmpty ? def.name : "\(def.name): \(sentence)"
        }
    }

    /// The job's subtitle (default: its name) and the run date.
    var subtitle: String {
        let digits = runID.prefix(8)
        let date = digits.count == 8 && digits.allSatisfy(\.isNumber)
            ? "\(digits.prefix(4))-\(digits.dropFirst(4).prefix(2))-\(digits.dropFirst(6))" : runID
        return "\(plan.job.maps.subtitle ?? plan.job.name) · \(date)"
    }

    /// The map of one class raster.
    func spec(raster: String, title: String, legendTitle: String? = nil, legend: [LegendEntry]? = nil) -> MapSpec {
        var spec = MapSpec(title: title, subtitle: subtitle, page: plan.job.maps.page,
                legendTitle: legendTitle ?? (plan.job.classify.scheme.id == "five-level" ? "风险等级 Risk level" : "风险等级 Risk class"),
                legend: legend ?? self.legend, classRaster: raster, context: context, crsName: nil, sources: sources,
                footer: "\(ToolInfo.name) \(ToolInfo.version) · GDAL \(GDAL.version) · run \(runID)")
        spec.pdfDate = MapMaker.pdfDate(runID: runID)
        return spec
    }

    /// The PDF creation date of a run's maps: the run id's time (`20261130T093325Z`), or a fixed date.
    static func pdfDate(runID: String) -> String {
        let c = Array(runID)
        guard c.count >= 16, c[8] == "T", c[15] == "Z", c[0..<8].allSatisfy(\.isNumber), c[9..<15].allSatisfy(\.isNumber) else {
            return "2000-01-01T00:00:00Z"
        }
        let s = String(c)
        func part(_ a: Int, _ b: Int) -> Substring { s.dropFirst(a).prefix(b - a) }
        return "\(part(0, 4))-\(part(4, 6))-\(part(6, 8))T\(part(9, 11)):\(part(11, 13)):\(part(13, 15))Z"
    }

    /// Renders every map of the run folder and writes a `.qml` beside every class raster.
    /// Returns the files written.
    func render(folder: String) throws -> [String] {
        var written: [String] = []
        for target in targets(in: folder) {
            let (raster, base) = (target.raster, target.base)
            let qml = (raster as NSString).deletingPathExtension + ".qml"
            try Data(QGISStyle.palettedQML(entries: target.legend).utf8).write(to: URL(fileURLWithPath: qml), options: .atomic)
            written.append(qml)
            let spec = self.spec(raster: raster, title: target.title, legendTitle: target.legendTitle, legend: target.legend)
            let pdf = (folder as NSString).appendingPathComponent("\(base).pdf")
            let png = (folder as NSString).appendingPathComponent("\(base).png")
            do {
                _ = try MapRenderer.render(spec, pdf: pdf, png: png)
            } catch {
                throw RunError(.ioError, "\(pdf): cannot draw the map: \(error)")
            }
            written += [pdf, png]
        }
        return written
    }

    /// Stores the zones' categorized style as the default style in `zones.gpkg` (`layer_styles`,
    /// the table QGIS reads), so QGIS opens the polygons looking like the printed map.
    static func storeDefaultStyle(gpkg: String, layer: String, legend: [LegendEntry]) throws {
        let qml = QGISStyle.categorizedPolygonQML(field: "class", entries: legend).replacingOccurrences(of: "'", with: "''")
        let ds = try Dataset(open: gpkg, flags: [.vector, .update])
        try ds.executeSQL("""
            CREATE TABLE IF NOT EXISTS layer_styles (id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT(256),
            f_table_schema TEXT(256), f_table_name TEXT(256), f_geometry_column TEXT(256), styleName TEXT(30),
            styleQML TEXT, styleSLD TEXT, useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT,
            update_time DATETIME)
            """)
        try ds.executeSQL("""
            INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, styleName,
            styleQML, styleSLD, useAsDefault, description, owner, ui, update_time)
            VALUES ('', '', '\(layer)', 'geom', '\(layer)', '\(qml)', '', 1, 'HazardZoning default style', '', NULL,
            '2000-01-01T00:00:00.000Z')
            """)
        try ds.close()
    }
}
