import Cartography
import Foundation
import FilePaths
import GDALKit
import RasterKernel

// Products that work in the analyst's own tools (QGIS, ArcGIS, PostGIS, STAC catalogues):
// GeoTIFF tags, exact colour tables, raster attribute tables and QGIS styles for every class
// raster and the index, GeoPackage metadata and column descriptions, a STAC Item per run and a
// STAC Catalog per job folder.

/// What a published raster is, for tags, styles, attribute tables and catalogues.
struct RasterProduct {
    struct Class {
        let value: Int
        let name: String
        let english: String
        let rgb: (UInt8, UInt8, UInt8)
        var label: String { english.isEmpty ? name : "\(name) \(english)" }
    }
    let file: String
    /// Chinese and English title (TIFFTAG_IMAGEDESCRIPTION with the job's title, the band description).
    let title: String
    let units: String
    /// nil for the continuous index.
    let classes: [Class]?
}

extension RunScoped {
    /// The rasters a run may publish, with what they hold.
    var rasterProducts: [RasterProduct] {
        let scheme = plan.job.classify.scheme
        let riskClasses = scheme.classes.map { RasterProduct.Class(value: Int($0.value), name: $0.name, english: $0.english, rgb: $0.rgb) }
        var result = [
            RasterProduct(file: "risk_index.tif", title: "风险指数 risk index (0..1)", units: "1", classes: nil),
            RasterProduct(file: "risk_class.tif", title: "风险等级 risk class (\(scheme.id))", units: "class", classes: riskClasses),
            RasterProduct(file: "risk_zones.tif", title: "风险区划 risk zones (\(scheme.id), generalised)", units: "class", classes: riskClasses),
        ]
        if let categories = plan.prevention?.spec.categories {
            let classes = categories.map { RasterProduct.Class(value: $0.value, name: $0.name, english: $0.english ?? "", rgb: ($0.red, $0.green, $0.blue)) }
            result += [
                RasterProduct(file: "prevention_class.tif", title: "综合防治分区 prevention category", units: "category", classes: classes),
                RasterProduct(file: "prevention_zones.tif", title: "综合防治区划 prevention zones (generalised)", units: "category", classes: classes),
            ]
        }
        return result
    }

    /// The time the TIFF tags carry (TIFFTAG_DATETIME): the newest modification time of the
    /// layers' local sources, so identical inputs give identical files. The run's own times are in the manifest and the STAC Item.
    var dataTime: Date {
        // The data, not the job or layer definition files: a rerun reads copies of those.
        var paths: [String] = []
        var defs = plan.job.layers.map(\.definition) + plan.job.auxiliary.values.map { $0 }
        defs += plan.prevention?.spec.factors.map(\.definition) ?? []
        for def in defs { paths.append(def.source) }
        let dates = paths.compactMap { try? FileManager.default.attributesOfItem(atPath: $0)[.modificationDate] as? Date }
        let newest = dates.max() ?? Date(timeIntervalSince1970: 0)
        return Date(timeIntervalSince1970: newest.timeIntervalSince1970.rounded(.down))
    }

    /// `gdal_translate -mo` arguments for a COG: the TIFF tags a catalogue or ArcGIS shows.
    func tiffTagArguments(for destination: String) -> [String] {
        let name = destination.fileName
        guard let product = rasterProducts.first(where: { $0.file == name }) else { return [] }
        let title = plan.job.title ?? plan.job.name
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy:MM:dd HH:mm:ss"
        return ["-mo", "TIFFTAG_IMAGEDESCRIPTION=\(title) · \(product.title)",
                "-mo", "TIFFTAG_SOFTWARE=\(ToolInfo.name) \(ToolInfo.version) (GDAL \(GDAL.version))",
                "-mo", "TIFFTAG_DATETIME=\(formatter.string(from: dataTime))"]
    }

    /// Band description and units of a product's source before it becomes a COG (kept in the
    /// TIFF's GDAL_METADATA tag).
    func describeBand(of source: Dataset, for destination: String) throws {
        let name = destination.fileName
        guard let product = rasterProducts.first(where: { $0.file == name }), source.bandCount >= 1 else { return }
        let band = try source.band(1)
        band.setDescription(product.title)
        try band.setUnitType(product.units)
    }

    /// After the COGs are written: every class raster gets a colour table of exactly its classes
    /// (+ transparent nodata), its category names and a raster attribute table (value, class
    /// name, English name, R, G, B, pixel count) in its `.aux.xml`, and a paletted QGIS style
    /// (`.qml`); the index gets a colour-ramp style.
    func finishRasters(in folder: String) throws {
        for product in rasterProducts {
            let path = folder.appendingComponent(product.file)
            guard FileManager.default.fileExists(atPath: path) else { continue }
            let qml = path.removingExtension + ".qml"
            guard let classes = product.classes else {
                try write(Data(QGISStyle.rampQML(stops: IndexStyle.ramp, min: 0, max: 1).utf8), to: qml)
                continue
            }
            try finishClassRaster(at: path, classes: classes)
        }
    }

    /// One class raster's colour table, category names and attribute table (in its `.aux.xml`)
    /// and its paletted QGIS style (`.qml`).
    func finishClassRaster(at path: String, classes: [RasterProduct.Class]) throws {
        let qml = path.removingExtension + ".qml"
        do {
            let ds = try Dataset(open: path, flags: [.raster])
            let band = try ds.band(1)
            let counts = try Self.valueCounts(band, width: ds.width, height: ds.height)
            let top = classes.map(\.value).max() ?? 0
            let byValue = Dictionary(uniqueKeysWithValues: classes.map { ($0.value, $0) })
            try band.setColorTable((0...top).map { v in byValue[v].map { ($0.rgb.0, $0.rgb.1, $0.rgb.2, 255) } ?? (0, 0, 0, 0) })
            try band.setCategoryNames((0...top).map { v in v == 0 ? "nodata" : byValue[v]?.label ?? "" })
            try band.setAttributeTable([
                .init("value", usage: .value, integers: classes.map(\.value)),
                .init("class_name", usage: .name, strings: classes.map(\.name)),
                .init("english", usage: .generic, strings: classes.map(\.english)),
                .init("red", usage: .red, integers: classes.map { Int($0.rgb.0) }),
                .init("green", usage: .green, integers: classes.map { Int($0.rgb.1) }),
                .init("blue", usage: .blue, integers: classes.map { Int($0.rgb.2) }),
                .init("count", usage: .pixelCount, integers: classes.map { counts[$0.value] }),
            ])
            try ds.close()
        } catch let error as GDALError {
            throw RunError(.ioError, "\(path): cannot write the colour table and attribute table: \(error.message)")
        }
        let legend = classes.map { LegendEntry(value: $0.value, label: $0.label, color: RGB($0.rgb)) }
        try write(Data(QGISStyle.palettedQML(entries: legend).utf8), to: qml)
    }

    /// Pixels per value 0…255 of a Byte band, in full-width strips.
    static func valueCounts(_ band: RasterBand, width: Int, height: Int) throws -> [Int] {
        var counts = [Int](repeating: 0, count: 256)
        let rows = max(1, min(height, (1 << 22) / max(1, width)))
        let values = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: rows * width)
        defer { values.deallocate() }
        var y = 0
        while y < height {
            let h = min(rows, height - y)
            try band.read(PixelWindow(x: 0, y: y, width: width, height: h), into: values)
            for v in values[0..<(h * width)] { counts[Int(v)] += 1 }
            y += h
        }
        return counts
    }

    // MARK: GeoPackage metadata

    /// Layer and column descriptions (`gpkg_contents`, `gpkg_data_columns`) of the zone layers
    /// and the run's manifest in `gpkg_metadata` (without the run-specific times and the product
    /// checksums, so identical inputs give an identical file).
    func describeGeoPackage(_ gpkg: String, manifest: Manifest) throws {
        let title = plan.job.title ?? plan.job.name
        let layers: [(String, String)] = [
            ("risk_zones", "\(title) · 风险区划 risk zones: one polygon per zone and township"),
            ("prevention_zones", "\(title) · 综合防治区划 prevention zones: one polygon per zone and township"),
        ]
        let columns: [String: (String, String)] = [
            "class": ("风险等级 risk class", "risk class value (1 = lowest) of the scheme \(plan.job.classify.scheme.id)"),
            "class_name": ("等级名称 class name", "the class's Chinese and English name"),
            "category": ("防治分区 prevention category", "prevention category value from the job's decision matrix"),
            "name": ("分区名称 category name", "the category's Chinese name"),
            "english": ("英文名称 English name", "the category's English name"),
            "area_ha": ("面积(公顷) area (ha)", "polygon area in hectares, in the grid CRS"),
            "township_code": ("乡镇代码 township code", "administrative code of the township holding the polygon"),
            "township": ("乡镇 township", "name of the township holding the polygon (each polygon lies in one township)"),
            "township_en": ("乡镇英文名 township (English)", "English name of the township"),
        ]
        func sql(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }
        do {
            let ds = try Dataset(open: gpkg, flags: [.vector, .update])
            // GDAL creates gpkg_metadata, gpkg_metadata_reference and their extension rows.
            try ds.setMetadataItem("TITLE", title)
            try ds.setMetadataItem("SOFTWARE", "\(ToolInfo.name) \(ToolInfo.version)")
            try ds.close()
            let db = try Dataset(open: gpkg, flags: [.vector, .update])
            let names = (0..<db.layerCount).compactMap { try? db.layer($0).name }
            try db.executeSQL("""
                CREATE TABLE IF NOT EXISTS gpkg_data_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL,
                name TEXT, title TEXT, description TEXT, mime_type TEXT, constraint_name TEXT,
                CONSTRAINT pk_gdc PRIMARY KEY (table_name, column_name), CONSTRAINT gdc_tn UNIQUE (table_name, name))
                """)
            try db.executeSQL("""
                CREATE TABLE IF NOT EXISTS gpkg_data_column_constraints (constraint_name TEXT NOT NULL,
                constraint_type TEXT NOT NULL, value TEXT, min NUMERIC, min_is_inclusive BOOLEAN, max NUMERIC,
                max_is_inclusive BOOLEAN, description TEXT, CONSTRAINT gdcc_ntv UNIQUE (constraint_name, constraint_type, value))
                """)
            for table in ["gpkg_data_columns", "gpkg_data_column_constraints"] {
                try db.executeSQL("""
                    INSERT INTO gpkg_extensions (table_name, column_name, extension_name, definition, scope)
                    SELECT '\(table)', NULL, 'gpkg_schema', 'http://www.geopackage.org/spec121/#extension_schema', 'read-write'
                    WHERE NOT EXISTS (SELECT 1 FROM gpkg_extensions WHERE table_name = '\(table)' AND extension_name = 'gpkg_schema')
                    """)
            }
            for (layer, description) in layers where names.contains(layer) {
                try db.executeSQL("UPDATE gpkg_contents SET identifier = \(sql(layer)), description = \(sql(description)) WHERE table_name = \(sql(layer))")
                let fields = try db.layer(named: layer).fields.map(\.name)
                for field in fields {
                    guard let (t, d) = columns[field] else { continue }
                    try db.executeSQL("""
                        INSERT OR REPLACE INTO gpkg_data_columns (table_name, column_name, name, title, description)
                        VALUES (\(sql(layer)), \(sql(field)), \(sql(field)), \(sql(t)), \(sql(d)))
                        """)
                }
            }
            try db.executeSQL("""
                INSERT INTO gpkg_metadata (md_scope, md_standard_uri, mime_type, metadata)
                VALUES ('dataset', 'https://github.com/hazard-zoning/manifest', 'application/json', \(sql(try manifestForCatalogue(manifest))))
                """)
            try db.executeSQL("""
                INSERT INTO gpkg_metadata_reference (reference_scope, table_name, column_name, row_id_value, timestamp, md_file_id, md_parent_id)
                VALUES ('geopackage', NULL, NULL, NULL, '2000-01-01T00:00:00.000Z', (SELECT MAX(id) FROM gpkg_metadata), NULL)
                """)
            try db.executeSQL("UPDATE gpkg_metadata_reference SET timestamp = '2000-01-01T00:00:00.000Z'")
            try db.close()
        } catch let error as GDALError {
            throw RunError(.ioError, "\(gpkg): cannot write the GeoPackage metadata: \(error.message)")
        }
    }

    /// The manifest as JSON without the fields that differ between runs of identical inputs.
    func manifestForCatalogue(_ manifest: Manifest) throws -> String {
        var object = try JSONSerialization.jsonObject(with: try manifest.encoded()) as? [String: Any] ?? [:]
        for key in ["run_id", "started", "finished", "timings", "threads", "products", "applied"] { object.removeValue(forKey: key) }
        // Where the job and layer definitions were read from differs between a run and its rerun
        // (`hazard-zoning rerun` reads the copies in the run folder); their hashes stay.
        if var job = object["job"] as? [String: Any] { job.removeValue(forKey: "file"); object["job"] = job }
        if let inputs = object["inputs"] as? [[String: Any]] {
            object["inputs"] = inputs.map { input -> [String: Any] in
                var input = input
                if var definition = input["definition"] as? [String: Any] {
                    definition.removeValue(forKey: "path"); definition.removeValue(forKey: "mtime")
                    input["definition"] = definition
                }
                return input
            }
        }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }

    /// The last steps of a run folder's files: GeoPackage metadata, the manifest (its product
    /// checksums refreshed), then the STAC Item describing them all.
    func writeManifestAndCatalogue(_ manifest: Manifest, staging: String) throws -> Manifest {
        var manifest = manifest
        for (i, product) in manifest.products.enumerated() where product.path.hasSuffix(".gpkg") {
            let path = staging.appendingComponent(product.path)
            try withFixedGeoPackageDate {
                try describeGeoPackage(path, manifest: manifest)
            }
            manifest.products[i] = try fileEntry(path, relativeTo: staging)
        }
        try write(try manifest.encoded(), to: staging.appendingComponent("manifest.json"))
        try STAC.writeItem(plan: plan, manifest: manifest, folder: staging, classes: rasterProducts)
        return manifest
    }
}

/// STAC (SpatioTemporal Asset Catalog) 1.0.0: an Item per run folder, a Catalog per job folder.
enum STAC {
    static let version = "1.0.0"
    static let extensions = [
        "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
        "https://stac-extensions.github.io/file/v2.1.0/schema.json",
        "https://stac-extensions.github.io/classification/v1.1.0/schema.json",
    ]

    /// Media type and roles of a run's file.
    static func describe(_ name: String) -> (type: String, roles: [String]) {
        if name.hasSuffix(".tif") { return ("image/tiff; application=geotiff; profile=cloud-optimized", ["data"]) }
        if name.hasSuffix(".gpkg") { return ("application/geopackage+sqlite3", ["data"]) }
        if name.hasSuffix(".csv") { return ("text/csv", ["data"]) }
        if name.hasSuffix(".pdf") { return ("application/pdf", ["visual"]) }
        if name.hasSuffix(".png") { return ("image/png", ["overview", "visual"]) }
        if name.hasSuffix(".qml") { return ("application/xml", ["style"]) }
        if name.hasSuffix(".aux.xml") { return ("application/xml", ["metadata"]) }
        if name == "manifest.json" { return ("application/json", ["metadata"]) }
        if name.hasSuffix(".json") { return ("application/json", ["data"]) }
        if name.hasSuffix(".shp") { return ("application/x-shapefile", ["data"]) }
        return ("application/octet-stream", ["data"])
    }

    /// The asset key of a file: its name with `.` → `_`, the `.tif` of a raster dropped.
    static func key(_ name: String) -> String {
        let base = name.hasSuffix(".tif") ? String(name.dropLast(4)) : name
        return base.replacingOccurrences(of: ".", with: "_")
    }

    /// `item.json` in the run folder: geometry and bbox in EPSG:4326, the grid (`proj:`), the run's
    /// time, and one asset per file with its checksum (multihash sha2-256) and, for class rasters,
    /// the classes. Links point at the job folder's `catalog.json`.
    static func writeItem(plan: Plan, manifest: Manifest, folder: String, classes products: [RasterProduct]) throws {
        let grid = plan.grid
        let srs = try SpatialReference(definition: plan.crsWKT)
        let wgs84 = try SpatialReference(definition: "EPSG:4326")
        let b = try srs.transformBounds(Bounds(minX: grid.minX, minY: grid.minY, maxX: grid.maxX, maxY: grid.maxY), to: wgs84)
        let ring: [[Double]] = [[b.minX, b.minY], [b.maxX, b.minY], [b.maxX, b.maxY], [b.minX, b.maxY], [b.minX, b.minY]]
        var properties: [String: Any] = [
            "datetime": manifest.finished,
            "start_datetime": manifest.started,
            "end_datetime": manifest.finished,
            "title": plan.job.title ?? plan.job.name,
            "description": "\(plan.job.title ?? plan.job.name): run \(manifest.runId) of job \(plan.job.name) (\(ToolInfo.name) \(ToolInfo.version), GDAL \(manifest.tool.gdal)). Illustrative results where the inputs are illustrative.",
            "proj:shape": [grid.height, grid.width],
            "proj:transform": [grid.pixelWidth, 0, grid.originX, 0, -grid.pixelHeight, grid.originY, 0, 0, 1],
            "proj:bbox": [grid.minX, grid.minY, grid.maxX, grid.maxY],
            "proj:wkt2": plan.crsWKT,
        ]
        if let code = srs.authorityCode, code.hasPrefix("EPSG:"), let epsg = Int(code.dropFirst(5)) {
            properties["proj:epsg"] = epsg
        } else {
            properties["proj:epsg"] = NSNull()
        }
        var assets: [String: Any] = [:]
        for product in manifest.products.sorted(by: { $0.path < $1.path }) {
            let (type, roles) = describe(product.path)
            var asset: [String: Any] = ["href": "./\(product.path)", "type": type, "roles": roles,
                                        "file:size": product.size, "file:checksum": "1220" + product.sha256]
            if let raster = products.first(where: { $0.file == product.path }) {
                asset["title"] = raster.title
                if let classes = raster.classes {
                    asset["classification:classes"] = classes.map { c -> [String: Any] in
                        ["value": c.value, "name": slug(c.english.isEmpty ? "class-\(c.value)" : c.english),
                         "description": c.label,
                         "color_hint": String(format: "%02X%02X%02X", c.rgb.0, c.rgb.1, c.rgb.2)]
                    }
                }
            } else {
                asset["title"] = product.path
            }
            assets[key(product.path)] = asset
        }
        let manifestPath = folder.appendingComponent("manifest.json")
        if let size = (try? FileManager.default.attributesOfItem(atPath: manifestPath)[.size] as? NSNumber)?.intValue {
            assets["manifest"] = ["href": "./manifest.json", "type": "application/json", "roles": ["metadata"], "title": "run manifest",
                                  "file:size": size, "file:checksum": "1220" + (try SHA256.hex(fileAt: manifestPath))]
        }
        let item: [String: Any] = [
            "type": "Feature",
            "stac_version": version,
            "stac_extensions": extensions,
            "id": "\(plan.job.name)-\(manifest.runId)",
            "geometry": ["type": "Polygon", "coordinates": [ring]],
            "bbox": [b.minX, b.minY, b.maxX, b.maxY],
            "properties": properties,
            "links": [
                ["rel": "root", "href": "../catalog.json", "type": "application/json"],
                ["rel": "parent", "href": "../catalog.json", "type": "application/json"],
            ],
            "assets": assets,
        ]
        let data = try JSONSerialization.data(withJSONObject: item, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try writeAtomically(data, to: folder.appendingComponent("item.json"))
    }

    /// `catalog.json` in the job's output folder, linking the Item of every complete run.
    static func writeCatalog(outputDirectory: String, job: JobSpec) throws {
        let runs = Publisher(outputDirectory: outputDirectory).runs().filter {
            FileManager.default.fileExists(atPath: outputDirectory.appendingComponent("\($0)/item.json"))
        }
        var links: [[String: Any]] = [["rel": "root", "href": "./catalog.json", "type": "application/json"]]
        for run in runs {
            links.append(["rel": "item", "href": "./\(run)/item.json", "type": "application/geo+json", "title": "run \(run)"])
        }
        let catalog: [String: Any] = [
            "type": "Catalog", "stac_version": version, "id": job.name,
            "title": job.title ?? job.name,
            "description": "Runs of the job \(job.name) (\(ToolInfo.name)): one STAC Item per run folder.",
            "links": links,
        ]
        let data = try JSONSerialization.data(withJSONObject: catalog, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try writeAtomically(data, to: outputDirectory.appendingComponent("catalog.json"))
    }

    /// Lower-case letters, digits and `-` (the classification extension's name pattern in later versions).
    static func slug(_ text: String) -> String {
        let mapped = text.lowercased().map { $0.isLetter && $0.isASCII || $0.isNumber && $0.isASCII ? $0 : "-" }
        return String(mapped).split(separator: "-").joined(separator: "-")
    }

    static func writeAtomically(_ data: Data, to path: String) throws {
        do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw RunError(.ioError, "\(path): cannot write: \(error.localizedDescription)")
        }
    }
}

/// Runs `body` with GDAL's GeoPackage timestamps fixed (`OGR_CURRENT_DATE`), so a GeoPackage is
/// the same file for the same inputs. Set on the calling thread only, where the GeoPackage work
/// runs: a process-wide option could be replaced or removed meanwhile by a run on another thread.
func withFixedGeoPackageDate<R>(_ body: () throws -> R) rethrows -> R {
    try ConfigOptions.withThreadLocalOptions(["OGR_CURRENT_DATE": "2000-01-01T00:00:00.000Z"], body)
}

/// The risk index's style.
enum IndexStyle {
    /// The index's colour ramp (green → yellow → red), shared by the QML and the legend.
    static let ramp: [(Double, RGB)] = [(0, RGB(26, 150, 65)), (0.25, RGB(166, 217, 106)), (0.5, RGB(255, 255, 191)),
                                        (0.75, RGB(253, 174, 97)), (1, RGB(215, 25, 28))]
}
