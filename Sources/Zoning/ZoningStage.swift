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
    public var id: Int
    public var name: String
    public var validPixels: Int
    public var validAreaHa: Double
    public var meanIndex: Double?
    public var maxIndex: Double?
    public var dominantClass: Int?
    public var dominantClassName: String?
    public var level: Int?
    public var levelName: String?
    public var classes: [ClassArea]
}

/// Township polygons in the grid CRS, in layer order (id = position + 1).
struct Townships {
    let names: [String]
    let polygons: [[[[GeoPoint]]]]

    /// The id (1-based) of the township containing the point, by the even-odd rule over every ring.
    func id(containing p: GeoPoint) -> Int? {
        for (i, shape) in polygons.enumerated() where shape.contains(where: { Townships.contains(p, $0) }) { return i + 1 }
        return nil
    }

    static func contains(_ p: GeoPoint, _ rings: [[GeoPoint]]) -> Bool {
        var inside = false
        for ring in rings where ring.count >= 3 {
            var j = ring.count - 1
            for i in 0..<ring.count {
                let a = ring[i], b = ring[j]
                if (a.y > p.y) != (b.y > p.y), p.x < (b.x - a.x) * (p.y - a.y) / (b.y - a.y) + a.x { inside.toggle() }
                j = i
            }
        }
        return inside
    }
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
            let townships = Townships(names: features.map { $0.attribute ?? "township \($0.id)" },
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
    func polygonize(zonesPath: String, gpkg: String, townships: Townships?, connectivity: Int) throws -> Int {
        let names = Dictionary(uniqueKeysWithValues: plan.job.classify.scheme.classes.map { (Int($0.value), "\($0.name) \($0.english)") })
        return try polygonizeZones(zonesPath: zonesPath, gpkg: gpkg, layer: "risk_zones", valueField: "class",
                                   labels: [("class_name", { names[$0] ?? "\($0)" })],
                                   townships: townships, connectivity: connectivity)
    }

    /// One polygon per connected region of a zones raster (`gdal_polygonize.py`, nodata skipped),
    /// written to layer `layer` of a new or existing GeoPackage with the fields `valueField`, one
    /// text field per label, `area_ha` and `township` (the township holding a point on the surface).
    /// Returns the number of polygons.
    func polygonizeZones(zonesPath: String, gpkg: String, layer layerName: String, valueField: String,
                         labels: [(field: String, text: (Int) -> String?)], townships: Townships?, connectivity: Int) throws -> Int {
        let band = try Dataset(open: zonesPath, flags: [.raster]).band(1)
        let out = FileManager.default.fileExists(atPath: gpkg)
            ? try Dataset(open: gpkg, flags: [.vector, .update])
            : try Dataset.createVector(driver: "GPKG", path: gpkg)
        let layer = try out.createLayer(layerName, srs: try SpatialReference(definition: plan.crsWKT), geometry: .polygon)
        try layer.createField(valueField, kind: .integer)
        for label in labels { try layer.createField(label.field, kind: .string) }
        try layer.createField("area_ha", kind: .real)
        try layer.createField("township", kind: .string)
        try layer.inTransaction {
            try band.polygonize(into: layer, mask: band.maskBand(), field: 0, eightConnected: connectivity == 8)
        }
        let areaField = labels.count + 1, townshipField = labels.count + 2
        var count = 0
        try layer.inTransaction {
            try layer.updateFeatures { f in
                count += 1
                let value = f.integer(0)
                for (i, label) in labels.enumerated() {
                    if let text = label.text(value) { f.set(i + 1, text) }
                }
                f.set(areaField, f.area / 10_000)
                if let townships, let (x, y) = f.pointOnSurface, let id = townships.id(containing: GeoPoint(x: x, y: y)) {
                    f.set(townshipField, townships.names[id - 1])
                }
            }
        }
        try out.close()
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
            var levelValue: Int?
            if valid > 0 {
                switch level {
                case .meanIndex:
                    levelValue = 1 + thresholds.filter { mean! >= $0 }.count
                case .highShare(let share):
                    var reached = 1
                    var cumulative = 0
                    for c in stride(from: k, through: 1, by: -1) {
                        cumulative += counts[t][c]
                        if Double(cumulative) >= share * Double(valid) { reached = c; break }
                    }
                    levelValue = reached
                }
            }
            let name: (Int?) -> String? = { v in v.flatMap { v in scheme.classes.first { Int($0.value) == v }.map { "\($0.name) \($0.english)" } } }
            return TownshipStatistics(id: t, name: townships.names[t - 1], validPixels: valid, validAreaHa: Double(valid) * pixelHa,
                                      meanIndex: mean, maxIndex: valid > 0 ? Double(maxima[t]) : nil,
                                      dominantClass: dominant, dominantClassName: name(dominant),
                                      level: levelValue, levelName: name(levelValue), classes: classes)
        }
    }

    /// `stats.csv`: one row per township.
    static func statisticsCSV(_ rows: [TownshipStatistics], scheme: ClassScheme) -> String {
        let q = csvText, f = csvNumber
        var header = ["township_id", "township", "valid_area_ha", "mean_index", "max_index", "dominant_class", "dominant_class_name", "level", "level_name"]
        for c in scheme.classes { header += ["class_\(c.value)_area_ha", "class_\(c.value)_pct"] }
        var lines = [header.joined(separator: ",")]
        for r in rows {
            var cells = [String(r.id), q(r.name), f(r.validAreaHa), f(r.meanIndex), f(r.maxIndex),
                         r.dominantClass.map(String.init) ?? "", q(r.dominantClassName ?? ""), r.level.map(String.init) ?? "", q(r.levelName ?? "")]
            for c in r.classes { cells += [f(c.areaHa), f(c.percent)] }
            lines.append(cells.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// A CSV text cell, quoted when it holds a comma or a quote (RFC 4180).
func csvText(_ s: String) -> String {
    s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
}

/// A CSV number cell with six decimals; empty for nil.
func csvNumber(_ v: Double?) -> String { v.map { String(format: "%.6f", $0) } ?? "" }
