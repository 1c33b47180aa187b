import Foundation
import GDALKit
import RasterKernel

/// Per township: area per class, mean and max index, dominant class and level.
public struct TownshipStatistics: Codable, Sendable, Equatable {
    public struct ClassArea: Codable, Sendable, Equatable {
        public var value: Int
        public var name: String
        public var pixels: Int
        public var areaHa: Double
        public var percent: Double
    }
    /// One extra numeric column: an exposure total per class or per township (see `Totals.swift`).
    public struct Column: Sendable, Equatable {
        public var name: String
        public var value: Double
    }
    public var id: Int
    /// The township's administrative code and English name (`zoning.townships.code`/`english`).
    public var code: String?
    public var name: String
    public var english: String?
    public var validPixels: Int
    public var validAreaHa: Double
    public var meanIndex: Double?
    public var maxIndex: Double?
    public var dominantClass: Int?
    public var dominantClassName: String?
    public var level: Int?
    public var levelName: String?
    public var classes: [ClassArea]
    /// Exposure totals, `<total>_class_<k>` and `<total>_total`: written as top-level keys of the
    /// JSON row and as CSV columns (decoding ignores them; read them from the JSON object).
    public var totals: [Column] = []

    enum CodingKeys: String, CodingKey {
        case id, code, name, english, validPixels, validAreaHa, meanIndex, maxIndex, dominantClass, dominantClassName, level, levelName, classes
    }

    struct ColumnKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encodeIfPresent(code, forKey: .code)
        try c.encode(name, forKey: .name)
        try c.encodeIfPresent(english, forKey: .english)
        try c.encode(validPixels, forKey: .validPixels)
        try c.encode(validAreaHa, forKey: .validAreaHa)
        try c.encodeIfPresent(meanIndex, forKey: .meanIndex)
        try c.encodeIfPresent(maxIndex, forKey: .maxIndex)
        try c.encodeIfPresent(dominantClass, forKey: .dominantClass)
        try c.encodeIfPresent(dominantClassName, forKey: .dominantClassName)
        try c.encodeIfPresent(level, forKey: .level)
        try c.encodeIfPresent(levelName, forKey: .levelName)
        try c.encode(classes, forKey: .classes)
        var extra = encoder.container(keyedBy: ColumnKey.self)
        for column in totals { try extra.encode(column.value, forKey: ColumnKey(stringValue: column.name)) }
    }
}

/// Township polygons in the grid CRS, in layer order (id = position + 1), with their names,
/// administrative codes and English names (empty when the job names no such field).
struct Townships {
    let names: [String]
    let codes: [String]
    let english: [String]
    let polygons: [[[[GeoPoint]]]]
}

extension Runner {
    /// Reads the township layer in the grid CRS and rasterises it (value = id) onto the grid.
    func prepareTownships(_ spec: JobSpec.Townships, work: String) throws -> (Townships, String) {
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
            let path = (work as NSString).appendingPathComponent("townships.tif")
            let g = plan.grid
            let out = try Utilities.rasterize(memory, to: path, arguments: [
                "-a", "hz_id", "-l", layer.name, "-te", "\(g.minX)", "\(g.minY)", "\(g.maxX)", "\(g.maxY)",
                "-tr", "\(g.pixelWidth)", "\(g.pixelHeight)", "-ot", "UInt16", "-init", "0",
                "-of", "GTiff", "-co", "TILED=YES", "-co", "BLOCKXSIZE=\(plan.blockSize)", "-co", "BLOCKYSIZE=\(plan.blockSize)"])
            try out.close()
            return (townships, path)
        } catch let error as RunError { throw error } catch { throw inputError(error, file: def.source, what: what) }
    }

    /// Majority filter (streamed with a halo) and minimum mapping unit (sieve) of the class raster.
    func generalise(classPath: String, zonesPath: String, zoning: JobSpec.Zoning) throws {
        let scheme = plan.job.classify.scheme
        try generaliseCategories(classPath: classPath, zonesPath: zonesPath, majority: zoning.majority,
                                 minAreaHectares: zoning.minAreaHectares, connectivity: zoning.connectivity,
                                 colorTable: scheme.colorTable, categoryNames: scheme.categoryNames,
                                 description: "risk zones (\(scheme.id), generalised)", stage: "zones")
    }

    /// Pixels a region needs to survive the minimum mapping unit: ⌈area / pixel area⌉.
    /// A unit larger than the grid removes every region but the largest, so the threshold is capped
    /// at the grid's pixel count (and at GDAL's Int32); never a trap, whatever `min-area-ha` is.
    func sieveThreshold(hectares: Double) -> Int {
        let pixels = (hectares * 10_000 / plan.grid.pixelArea).rounded(.up)
        let cap = min(plan.grid.pixelCount + 1, Int(Int32.max))
        guard pixels.isFinite, pixels < Double(cap) else { return cap }
        return max(1, Int(pixels))
    }

    /// Polygons of the zones raster into `zones.gpkg`, layer `risk_zones`.
    func polygonize(zonesPath: String, gpkg: String, townships: (Townships, String)?, connectivity: Int) throws -> Int {
        let names = Dictionary(uniqueKeysWithValues: plan.job.classify.scheme.classes.map { (Int($0.value), "\($0.name) \($0.english)") })
        return try polygonizeZones(zonesPath: zonesPath, gpkg: gpkg, layer: "risk_zones", valueField: "class",
                                   labels: [("class_name", { names[$0] ?? "\($0)" })],
                                   townships: townships, connectivity: connectivity)
    }

    /// One polygon per connected region of a zones raster within one township, written to layer
    /// `layer` of a new or existing GeoPackage with the fields `valueField`, one text field per
    /// label, `area_ha`, `township_code`, `township` and `township_en`. Returns the number of polygons.
    ///
    /// With townships, the zones are cut by the township raster the statistics count with (the
    /// pixel-centre rule): the polygonised value is township id × 256 + class, so each polygon lies
    /// in exactly one township and the areas per township sum to the statistics' valid area.
    /// Polygons are GEOS-valid MultiPolygons: `MakeValid` repairs only the invalid ones (rings that
    /// touch themselves at a vertex, as 8-connected regions make), and the area must not change.
    func polygonizeZones(zonesPath: String, gpkg: String, layer layerName: String, valueField: String,
                         labels: [(field: String, text: (Int) -> String?)], townships: (Townships, String)?,
                         connectivity: Int) throws -> Int {
        let g = plan.grid, bs = plan.blockSize
        let srs = try SpatialReference(definition: plan.crsWKT)
        // The value to polygonise: township id × 256 + class (0 = nodata).
        let composite = (zonesPath as NSString).deletingPathExtension + "-\(layerName)-by-township.tif"
        do {
            let zonesBand = try Dataset(open: zonesPath, flags: [.raster]).band(1)
            let townBand = try townships.map { try Dataset(open: $0.1, flags: [.raster]).band(1) }
            let out = try Dataset.create(driver: "GTiff", path: composite, width: g.width, height: g.height, bands: 1, type: .int32,
                                         options: ["TILED=YES", "BLOCKXSIZE=\(bs)", "BLOCKYSIZE=\(bs)"])
            try out.setGeoTransform(g.geoTransform)
            try out.setSpatialReference(srs)
            let band = try out.band(1)
            try band.setNoDataValue(0)
            for block in g.blocks(width: bs, height: bs) {
                let w = block.window
                let window = PixelWindow(x: w.x, y: w.y, width: w.width, height: w.height)
                let zones: [UInt8] = try zonesBand.read(window)
                let town: [Int32] = try townBand?.read(window) ?? [Int32](repeating: 0, count: w.count)
                var values = [Int32](repeating: 0, count: w.count)
                for p in 0..<w.count where zones[p] != 0 { values[p] = town[p] * 256 + Int32(zones[p]) }
                try values.withUnsafeBufferPointer { try band.write(window, from: $0) }
            }
            try out.close()
        }
        let source = try Dataset(open: composite, flags: [.raster])
        let band = try source.band(1)
        let memory = try Dataset.createVector(driver: "Memory", path: "")
        let raw = try memory.createLayer(layerName, srs: srs, geometry: .polygon)
        try raw.createField("value", kind: .integer)
        try band.polygonize(into: raw, mask: band.maskBand(), field: 0, eightConnected: connectivity == 8)

        let out = FileManager.default.fileExists(atPath: gpkg)
            ? try Dataset(open: gpkg, flags: [.vector, .update])
            : try Dataset.createVector(driver: "GPKG", path: gpkg)
        let layer = try out.createLayer(layerName, srs: srs, geometry: .multiPolygon)
        try layer.createField(valueField, kind: .integer)
        for label in labels { try layer.createField(label.field, kind: .string) }
        try layer.createField("area_ha", kind: .real)
        try layer.createField("township_code", kind: .string)
        try layer.createField("township", kind: .string)
        try layer.createField("township_en", kind: .string)
        let areaField = labels.count + 1
        var count = 0, repaired = 0
        try layer.inTransaction {
            try layer.appendFeatures(from: raw) { src, f in
                count += 1
                let composite = src.integer(0)
                let value = composite % 256, town = composite / 256
                f.set(0, value)
                for (i, label) in labels.enumerated() {
                    if let text = label.text(value) { f.set(i + 1, text) }
                }
                let repair = try f.makeValidMultiPolygon()
                if !repair.wasValid {
                    repaired += 1
                    // MakeValid must not change the area (1e-6 ha = 0.01 m²).
                    guard abs(repair.areaAfter - repair.areaBefore) <= 0.01 else {
                        throw RunError(.software, "\(gpkg): \(layerName): repairing polygon \(count) changed its area from \(repair.areaBefore) to \(repair.areaAfter) m²")
                    }
                }
                f.set(areaField, repair.areaAfter / 10_000)
                if let (towns, _) = townships, town >= 1, town <= towns.names.count {
                    if !towns.codes[town - 1].isEmpty { f.set(areaField + 1, towns.codes[town - 1]) }
                    f.set(areaField + 2, towns.names[town - 1])
                    if !towns.english[town - 1].isEmpty { f.set(areaField + 3, towns.english[town - 1]) }
                }
            }
        }
        try out.close()
        try? FileManager.default.removeItem(atPath: composite)
        if repaired > 0 {
            logger.debug("repaired invalid polygons", metadata: ["layer": "\(layerName)", "count": "\(repaired)"])
        }
        return count
    }

    /// Statistics per township from the class, index and township rasters, block by block.
    func townshipStatistics(classPath: String, indexPath: String, townshipPath: String, townships: Townships,
                            level: JobSpec.TownshipLevel, thresholds: [Double]) throws -> [TownshipStatistics] {
        let scheme = plan.job.classify.scheme
        let k = scheme.classCount
        let n = townships.names.count
        var counts = [[Int]](repeating: [Int](repeating: 0, count: k + 1), count: n + 1)
        var sums = [Double](repeating: 0, count: n + 1)
        var maxima = [Float](repeating: -.infinity, count: n + 1)
        let classBand = try Dataset(open: classPath, flags: [.raster]).band(1)
        let indexBand = try Dataset(open: indexPath, flags: [.raster]).band(1)
        let townBand = try Dataset(open: townshipPath, flags: [.raster]).band(1)
        let blocks = plan.grid.blocks(width: plan.blockSize, height: plan.blockSize)
        for (i, block) in blocks.enumerated() {
            let w = block.window
            let window = PixelWindow(x: w.x, y: w.y, width: w.width, height: w.height)
            let classes: [UInt8] = try classBand.read(window)
            let index: [Float] = try indexBand.read(window)
            let town: [Int32] = try townBand.read(window)
            for p in 0..<w.count {
                let t = Int(town[p])
                guard t > 0 && t <= n else { continue }
                let c = Int(classes[p])
                counts[t][c] += 1
                if c > 0 {
                    sums[t] += Double(index[p])
                    maxima[t] = max(maxima[t], index[p])
                }
            }
            report("statistics", i + 1, blocks.count)
        }
        let pixelHa = plan.grid.pixelArea / 10_000
        return (1...max(n, 1)).prefix(n).map { t in
            let valid = counts[t][1...].reduce(0, +)
            let classes = scheme.classes.map { info -> TownshipStatistics.ClassArea in
                let px = counts[t][Int(info.value)]
                return .init(value: Int(info.value), name: "\(info.name) \(info.english)", pixels: px, areaHa: Double(px) * pixelHa,
                             percent: valid > 0 ? 100 * Double(px) / Double(valid) : 0)
            }
            let mean = valid > 0 ? sums[t] / Double(valid) : nil
            let dominant = valid > 0 ? classes.max { $0.pixels < $1.pixels || ($0.pixels == $1.pixels && $0.value > $1.value) }?.value : nil
            let levelValue = Runner.townshipLevel(level, counts: counts[t], sum: sums[t], valid: valid, thresholds: thresholds)
            let name: (Int?) -> String? = { v in v.flatMap { v in scheme.classes.first { Int($0.value) == v }.map { "\($0.name) \($0.english)" } } }
            return TownshipStatistics(id: t, code: townships.code(t), name: townships.names[t - 1], english: townships.englishName(t),
                                      validPixels: valid, validAreaHa: Double(valid) * pixelHa,
                                      meanIndex: mean, maxIndex: valid > 0 ? Double(maxima[t]) : nil,
                                      dominantClass: dominant, dominantClassName: name(dominant),
                                      level: levelValue, levelName: name(levelValue), classes: classes)
        }
    }

    /// A township's level from its class counts (index = class, 0 = nodata) and index sum.
    static func townshipLevel(_ rule: JobSpec.TownshipLevel, counts: [Int], sum: Double, valid: Int, thresholds: [Double]) -> Int? {
        guard valid > 0 else { return nil }
        switch rule {
        case .meanIndex:
            let mean = sum / Double(valid)
            return 1 + thresholds.filter { mean >= $0 }.count
        case .highShare(let share):
            var cumulative = 0
            for c in stride(from: counts.count - 1, through: 1, by: -1) {
                cumulative += counts[c]
                if Double(cumulative) >= share * Double(valid) { return c }
            }
            return 1
        }
    }

    /// `stats.csv`: one row per township; UTF-8 with a byte-order mark (so Excel on Chinese
    /// Windows reads it as UTF-8), headers in Chinese and English.
    static func statisticsCSV(_ rows: [TownshipStatistics], scheme: ClassScheme) -> String {
        let q = csvText, f = csvNumber
        var header = csvTownshipHeader + ["有效面积(公顷) valid_area_ha", "平均指数 mean_index", "最大指数 max_index",
                                          "主导等级 dominant_class", "主导等级名称 dominant_class_name", "乡镇风险等级 level", "等级名称 level_name"]
        for c in scheme.classes { header += ["\(c.name)面积(公顷) class_\(c.value)_area_ha", "\(c.name)占比(%) class_\(c.value)_pct"] }
        header += rows.first?.totals.map(\.name) ?? []
        var lines = [header.map(q).joined(separator: ",")]
        for r in rows {
            var cells = csvTownshipCells(id: r.id, code: r.code, name: r.name, english: r.english)
            cells += [f(r.validAreaHa), f(r.meanIndex), f(r.maxIndex),
                         r.dominantClass.map(String.init) ?? "", q(r.dominantClassName ?? ""), r.level.map(String.init) ?? "", q(r.levelName ?? "")]
            for c in r.classes { cells += [f(c.areaHa), f(c.percent)] }
            cells += r.totals.map { f($0.value) }
            lines.append(cells.joined(separator: ","))
        }
        return csvByteOrderMark + lines.joined(separator: "\n") + "\n"
    }
}

/// The UTF-8 byte-order mark that starts every CSV (Excel on Chinese Windows otherwise reads GBK).
let csvByteOrderMark = "\u{FEFF}"

/// The township columns every table starts with.
let csvTownshipHeader = ["township_id", "township_code", "乡镇 township", "乡镇英文名 township_en"]

func csvTownshipCells(id: Int, code: String?, name: String, english: String?) -> [String] {
    [String(id), csvText(code ?? ""), csvText(name), csvText(english ?? "")]
}

extension Townships {
    /// Code and English name of township `id` (1-based), nil when the job names no such field.
    func code(_ id: Int) -> String? { codes[id - 1].isEmpty ? nil : codes[id - 1] }
    func englishName(_ id: Int) -> String? { english[id - 1].isEmpty ? nil : english[id - 1] }
}

/// A CSV text cell, quoted when it holds a comma or a quote (RFC 4180).
func csvText(_ s: String) -> String {
    s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
}

/// A CSV number cell with six decimals; empty for nil.
func csvNumber(_ v: Double?) -> String { v.map { String(format: "%.6f", $0) } ?? "" }
