import Cartography
import Foundation
import FilePaths
import GDALKit

/// Print maps of a run's classified products, and the QGIS styles beside them.
struct MapMaker {
    let plan: Plan
    let runID: String
    /// Code-only townships: the run folder's `township_levels.gpkg` (`withCodeTownships(in:)`).
    var codeTownships: String? = nil

    /// One map: the class raster, the map's file base name, title, legend title and legend.
    struct Target {
        let raster: String
        let base: String
        var title: String
        var legendTitle: String
        let legend: [LegendEntry]
        /// Layers drawn over the job's context (e.g. the townships whose level is not stable).
        var extraContext: [ContextLayer] = []
        /// The township risk-level map: polygons filled by level instead of the raster.
        var areas: AreaLayer? = nil
        var kind: Kind = .risk
        enum Kind { case risk, zoning, prevention }
        /// The figure number printed on the sheet (`maps.figure`, counted on per map).
        var figure: String? = nil
        /// Lines printed before the sources (e.g. the township level rule).
        var notes: [String] = []
    }

    /// What the job's risk is of, for titles: comprehensive (综合) when its layers cover more than
    /// one hazard, that hazard's name when they cover one (a flood job's map is not called
    /// comprehensive), nothing when no layer definition names its hazard.
    var riskKind: (String, String) {
        let hazards = Set(plan.job.layers.compactMap(\.definition.hazard).filter { !["context", "exposure", "vulnerability", "capacity"].contains($0) })
        if hazards.isEmpty { return ("", "") }
        guard hazards.count == 1, let h = hazards.first else { return ("综合", "comprehensive ") }
        let names = ["flood": "洪水", "fire": "火灾", "seismic": "地震", "earthquake": "地震", "drought": "干旱",
                     "landslide": "地质灾害", "storm": "风雹", "snow": "雪灾", "sandstorm": "沙尘暴"]
        return (names[h] ?? "", "\(h) ")
    }

    /// The classified rasters of a run folder that get a map, with their map file base names
    /// (with `work`, also the township prevention map whose polygons `render` writes there).
    func targets(in folder: String, work: String? = nil) -> [Target] {
        let title = plan.job.maps.title ?? plan.job.title ?? plan.job.name
        func path(_ name: String) -> String? {
            let p = folder.appendingComponent(name)
            return FileManager.default.fileExists(atPath: p) ? p : nil
        }
        let riskLegendTitle = plan.job.classify.scheme.id == "five-level" ? "风险等级 Risk level" : "风险等级 Risk class"
        var result: [Target] = []
        let zones = path("risk_zones.tif")
        let prevention = path("prevention_zones.tif") ?? path("prevention_class.tif")
        let (zh, en) = riskKind
        if let classes = path("risk_class.tif") {
            let generalised = zones != nil || prevention != nil
            result.append(Target(raster: classes, base: "risk_map",
                                 title: generalised ? "\(title) · \(zh)风险等级 \(en)risk level" : title,
                                 legendTitle: riskLegendTitle, legend: legend, kind: .risk))
        }
        if let zones {
            result.append(Target(raster: zones, base: "zoning_map", title: prevention == nil ? title : "\(title) · \(zh)风险区划 \(en)risk zoning",
                                 legendTitle: riskLegendTitle, legend: legend, kind: .zoning))
        }
        if let prevention, let categories = plan.prevention?.spec.categories {
            result.append(Target(raster: prevention, base: "prevention_map", title: title,
                                 legendTitle: "防治分区 Prevention zones", legend: MapMaker.legend(categories), kind: .prevention))
        }
        if let stability = path("class_stability.tif") {
            // The ramp comes from the raster's colour table; the legend names a few stops.
            let legend = [100, 90, 80, 65, 50, 25, 0].map { v -> LegendEntry in
                let c = stabilityColour(v)
                let label = v == 100 ? "100 % 各情景等级一致 same class in every scenario" : "\(v) % 情景同级 of scenarios agree"
                return LegendEntry(value: v, label: label, color: RGB(c.0, c.1, c.2))
            }
            var extra: [ContextLayer] = []
            if let changes = path("sensitivity.gpkg") {
                extra.append(ContextLayer(kind: .outline, source: changes, layer: "level_changes",
                                          legendLabel: "等级可能变化的乡镇 Township level changes in a scenario"))
            }
            result.append(Target(raster: stability, base: "stability_map", title: "\(title) · 风险等级稳定性图 class stability",
                                 legendTitle: "等级稳定性 Class stability", legend: legend, extraContext: extra))
        }
        // 乡镇风险等级图: townships coloured by their level (the class raster only frames the map).
        if let levels = path("township_levels.gpkg"), let frame = path("risk_class.tif") ?? zones {
            result.append(Target(raster: frame, base: "township_map", title: "\(title) · 乡镇风险等级图 township risk levels",
                                 legendTitle: "乡镇风险等级 Township risk level", legend: legend,
                                 areas: AreaLayer(source: levels, layer: "township_levels", classField: "level", labelField: "label")))
        }
        if let townships = townshipPreventionTarget(in: folder, work: work) { result.append(townships) }
        return furnished(result, folder: folder)
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
        if let boundary = townshipBoundary { layers.append(boundary) }
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

    /// The prevention map's extra context: the point layers of proximity factors (the emergency
    /// shelters the capacity factor measures the distance to), unless the job's context has them.
    var preventionContext: [ContextLayer] {
        guard let pp = plan.prevention else { return [] }
        var layers: [ContextLayer] = []
        for factor in pp.spec.factors where factor.kind == .proximity {
            let def = factor.definition
            if context.contains(where: { $0.source == def.source && $0.layer == def.layer }) { continue }
            let text = "\(def.name) \(def.description ?? "")".lowercased()
            let isShelter = text.contains("shelter") || text.contains("避难")
            layers.append(ContextLayer(kind: isShelter ? .shelter : .place, source: def.source, layer: def.layer,
                                       legendLabel: isShelter ? nil : def.name))
        }
        return layers
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

    /// The map of one class raster; with `areas`, of the polygons by class (the township labels of
    /// the context layers are left out there: the areas carry their own). `extraContext` is drawn
    /// over the job's context; a prevention map adds the shelters.
    func spec(raster: String, title: String, legendTitle: String? = nil, legend: [LegendEntry]? = nil,
              kind: Target.Kind = .risk, areas: AreaLayer? = nil, extraContext: [ContextLayer] = []) -> MapSpec {
        var context = self.context
        if areas?.labelField != nil, let towns = townshipBoundary {
            for i in context.indices where context[i].source == towns.source && context[i].layer == towns.layer {
                context[i].labelField = nil
            }
        }
        if kind == .prevention { context += preventionContext }
        var spec = MapSpec(title: title, subtitle: subtitle, page: plan.job.maps.page,
                           legendTitle: legendTitle ?? (plan.job.classify.scheme.id == "five-level" ? "风险等级 Risk level" : "风险等级 Risk class"),
                           legend: legend ?? self.legend, classRaster: raster, context: context + extraContext, crsName: nil, sources: sources,
                           footer: "\(ToolInfo.name) \(ToolInfo.version) · GDAL \(GDAL.version) · run \(runID)")
        spec.areas = areas
        spec.pdfDate = MapMaker.pdfDate(runID: runID)
        spec.furniture = plan.job.maps.furniture
        return spec
    }

    /// Renders every map of the run folder (the `.qml` styles are written with the rasters).
    /// Returns the files written.
    func render(folder: String) throws -> [String] {
        var written: [String] = []
        let maker = withCodeTownships(in: folder)
        let work: String
        do { work = try SafeFiles.makeFreshDirectory(in: folder, prefix: ".maps-work") } catch { throw RunError(.cantCreate, error) }
        defer { try? FileManager.default.removeItem(atPath: work) }
        for target in targets(in: folder, work: work) {
            let (raster, base) = (target.raster, target.base)
            if base == "township_prevention_map" { try writeTownshipPrevention(folder: folder, work: work) }
            var spec = maker.spec(raster: raster, title: target.title, legendTitle: target.legendTitle, legend: target.legend,
                                 kind: target.kind, areas: target.areas, extraContext: target.extraContext)
            spec.furniture.figure = target.figure
            spec.sources = target.notes + spec.sources
            spec.location = locationInset
            spec.sources += MapMaker.locationSource(of: plan.job)
            spec.details = detailInsets(base: base)
            let pdf = folder.appendingComponent("\(base).pdf")
            let png = folder.appendingComponent("\(base).png")
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
    static func storeDefaultStyle(gpkg: String, layer: String, field: String, legend: [LegendEntry]) throws {
        let qml = QGISStyle.categorizedPolygonQML(field: field, entries: legend).replacingOccurrences(of: "'", with: "''")
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
