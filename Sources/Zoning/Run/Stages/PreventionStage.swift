import Foundation
import FilePaths
import GDALKit
import RasterKernel

/// The prevention stage: prevention categories from the risk classes and further factors by the
/// job's decision matrix, generalised and polygonised like the zones, with areas per township.
struct PreventionStage: Stage {
    let env: RunEnvironment
    init(_ env: RunEnvironment) { self.env = env }

    var name: String { "prevention" }
    var reads: [RunProduct] { [.classRaster] }
    var produces: [RunProduct] { [.prevention] }

    func run(_ context: RunContext) throws {
        guard let prevention = plan.prevention else { return }
        let files = context.files
        context.prevention = try runPrevention(prevention, classPath: files.classRaster, staging: files.staging, work: files.work)
    }
}

extension PreventionStage {
    /// Pixel counts of the matrix pass: per category, per factor level, factor nodata.
    struct MatrixCounts {
        var categoryPixels = [Int](repeating: 0, count: 256)
        var levelPixels: [[Int]]
        var factorNodata: [Int]
        /// Per category: its area (on a lat/long grid; `AreaTally`).
        var categoryAreas: AreaTally
    }

    /// Aligns the factors, applies the decision matrix block by block to the risk class, writes
    /// `prevention_class.tif`, generalises like the risk zones (when `zoning:` asks for it),
    /// polygonises into `zones.gpkg` (or `prevention.gpkg`) and counts areas per township.
    func runPrevention(_ pp: PreventionPlan, classPath: String, staging: String, work: String) throws -> Manifest.PreventionInfo {
        let spec = pp.spec
        let dir = work.appendingComponent("prevention")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var aligned: [String] = []
        for (i, source) in pp.sources.enumerated() {
            report("prevention-align", i, pp.sources.count)
            aligned.append(try align(source, work: dir))
        }
        let classTmp = dir.appendingComponent("prevention_class.tif")
        let counts = try applyMatrix(pp, classPath: classPath, factors: aligned, to: classTmp)
        try writeCOG(from: classTmp, to: staging.appendingComponent("prevention_class.tif"), resampling: "NEAREST", predictor: nil)

        // Generalisation (the zoning's majority filter and minimum mapping unit), polygons.
        let zoning = plan.job.zoning
        var zones: [UInt8]
        if let zoning, zoning.majority != nil || zoning.minAreaHectares != nil {
            let zonesTmp = dir.appendingComponent("prevention_zones.tif")
            zones = try generaliseCategories(classPath: classTmp, zonesPath: zonesTmp, majority: zoning.majority,
                                             minAreaHectares: zoning.minAreaHectares, connectivity: zoning.connectivity,
                                             colorTable: spec.colorTable, categoryNames: spec.categoryNames,
                                             description: "prevention zones (generalised)")
            try writeCOG(from: zonesTmp, to: staging.appendingComponent("prevention_zones.tif"),
                         resampling: "NEAREST", predictor: nil)
        } else {
            zones = try readGrid(classTmp)
        }
        let townships = try layerOrCodeTownships(work: dir)
        let zonesGpkg = staging.appendingComponent("zones.gpkg")
        let gpkg = FileManager.default.fileExists(atPath: zonesGpkg) ? zonesGpkg : staging.appendingComponent("prevention.gpkg")
        let features = try withFixedGeoPackageDate {
            let n = try polygonizeCategories(zones: &zones, gpkg: gpkg, layerName: "prevention_zones",
                                             categories: spec.categories, townships: townships,
                                             connectivity: zoning?.connectivity ?? 8)
            try MapMaker.storeDefaultStyle(gpkg: gpkg, layer: "prevention_zones", field: "category", legend: MapMaker.legend(spec.categories))
            return n
        }

        // Statistics per township.
        if let townships {
            let rows = try preventionStatistics(categoryPath: classTmp, townships: townships, categories: spec.categories)
            try write(try Manifest.json(rows), to: staging.appendingComponent("prevention_stats.json"))
            try write(Data(PreventionStage.preventionStatisticsCSV(rows, categories: spec.categories).utf8),
                      to: staging.appendingComponent("prevention_stats.csv"))
        }
        return preventionInfo(pp, counts: counts, gpkg: gpkg, features: features)
    }

    /// The decision matrix, block by block: the category of every pixel from its risk class and
    /// the levels of the aligned `factors`, written to the tiled GeoTIFF `path`.
    func applyMatrix(_ pp: PreventionPlan, classPath: String, factors aligned: [String], to classTmp: String) throws -> MatrixCounts {
        let spec = pp.spec
        let g = plan.grid, bs = plan.blockSize
        let srs = try SpatialReference(definition: plan.crsWKT)
        let out = try Dataset.create(driver: "GTiff", path: classTmp, width: g.width, height: g.height, bands: 1, type: .byte,
                                     options: ["TILED=YES", "BLOCKXSIZE=\(bs)", "BLOCKYSIZE=\(bs)", "SPARSE_OK=YES"])
        try out.setGeoTransform(g.geoTransform)
        try out.setSpatialReference(srs)
        let outBand = try out.band(1)
        try outBand.setNoDataValue(0)
        try outBand.setColorTable(spec.colorTable)
        try outBand.setCategoryNames(spec.categoryNames)
        outBand.setDescription("prevention category (综合防治区划)")
        let riskBand = try Dataset(open: classPath, flags: [.raster]).band(1)
        let factorDatasets = try aligned.map { try Dataset(open: $0, flags: [.raster]) }
        let factorBands = try factorDatasets.map { try $0.band(1) }
        let thresholds = spec.factors.map { $0.breaks.map(Float.init) }
        let levelCounts = spec.factors.map(\.levels)
        let table = spec.table
        let k = spec.riskLevels
        var counts = MatrixCounts(levelPixels: spec.factors.map { [Int](repeating: 0, count: $0.levels + 1) },
                                  factorNodata: [Int](repeating: 0, count: spec.factors.count),
                                  categoryAreas: AreaTally(plan.cellAreas, buckets: 256))
        var values = factorBands.map { _ in [Float](repeating: 0, count: bs * bs) }
        var risk = [UInt8](repeating: 0, count: bs * bs)
        var category = [UInt8](repeating: 0, count: bs * bs)
        let blocks = g.blocks(width: bs, height: bs)
        for (b, block) in blocks.enumerated() {
            let w = block.window
            let window = PixelWindow(x: w.x, y: w.y, width: w.width, height: w.height)
            let n = w.count
            try risk.withUnsafeMutableBufferPointer { try riskBand.read(window, into: UnsafeMutableBufferPointer(rebasing: $0[0..<n])) }
            for (f, band) in factorBands.enumerated() {
                do {
                    try values[f].withUnsafeMutableBufferPointer { try band.read(window, into: UnsafeMutableBufferPointer(rebasing: $0[0..<n])) }
                } catch let error as GDALError {
                    let def = pp.sources[f].definition
                    throw RunError(.ioError, "\(def.source) (layer \(def.name)): reading block \(w): \(error.message)")
                }
            }
            for p in 0..<n {
                let r = Int(risk[p])
                guard r >= 1 && r <= k else { category[p] = 0; counts.categoryPixels[0] += 1; continue }
                var index = r - 1
                var valid = true
                for f in 0..<thresholds.count {
                    let v = values[f][p]
                    guard v.isFinite else { valid = false; counts.factorNodata[f] += 1; continue }
                    var level = 1
                    for t in thresholds[f] where v >= t { level += 1 }
                    counts.levelPixels[f][level] += 1
                    index = index * levelCounts[f] + (level - 1)
                }
                let c = valid ? table[index] : 0
                category[p] = c
                counts.categoryPixels[Int(c)] += 1
                counts.categoryAreas.add(Int(c), row: w.y + p / w.width)
            }
            try category.withUnsafeBufferPointer { try outBand.write(window, from: UnsafeBufferPointer(rebasing: $0[0..<n])) }
            report("prevention", b + 1, blocks.count)
        }
        try out.close()
        return counts
    }

    /// The manifest's `prevention` section.
    func preventionInfo(_ pp: PreventionPlan, counts: MatrixCounts, gpkg: String, features: Int) -> Manifest.PreventionInfo {
        let spec = pp.spec, zoning = plan.job.zoning
        let categoryPixels = counts.categoryPixels
        let valid = categoryPixels[1...].reduce(0, +)
        return Manifest.PreventionInfo(
            riskLevels: spec.riskLevels, rules: spec.rules.count,
            categories: spec.categories.map { c in
                .init(value: c.value, name: c.name, english: c.english, colour: [Int(c.red), Int(c.green), Int(c.blue)],
                      cells: spec.table.filter { Int($0) == c.value }.count, pixels: categoryPixels[c.value],
                      areaHa: counts.categoryAreas.hectares(c.value, count: categoryPixels[c.value]), advice: c.advice)
            },
            factors: zip(spec.factors, pp.sources).enumerated().map { f, pair in
                .init(name: pair.0.name, layer: pair.0.definition.name, kind: pair.0.kind.rawValue, breaks: pair.0.breaks,
                      levelPixels: Array(counts.levelPixels[f][1...]), nodataPixels: counts.factorNodata[f], margin: pair.1.proximity?.margin)
            },
            validPixels: valid, nodataPixels: categoryPixels[0],
            majority: zoning?.majority, minAreaHa: zoning?.minAreaHectares,
            sieveThresholdPixels: zoning?.minAreaHectares.map(sieveThreshold(hectares:)),
            zonesFile: gpkg.fileName, zonesLayer: "prevention_zones", zoneFeatures: features)
    }

    /// Polygons of a category raster into a (new or existing) GeoPackage: category, name, english,
    /// area_ha, township.
    func polygonizeCategories(zones: inout [UInt8], gpkg: String, layerName: String, categories: [JobSpec.Category],
                              townships: TownshipGrid?, connectivity: Int) throws -> Int {
        let byValue = Dictionary(uniqueKeysWithValues: categories.map { ($0.value, $0) })
        return try polygonizeZones(zones: &zones, gpkg: gpkg, layer: layerName, valueField: "category",
                                   labels: [("name", { byValue[$0]?.name ?? "\($0)" }), ("english", { byValue[$0]?.english })],
                                   townships: townships, connectivity: connectivity)
    }

    /// Area per category and township from the category and township rasters, block by block.
    func preventionStatistics(categoryPath: String, townships grid: TownshipGrid,
                              categories: [JobSpec.Category]) throws -> [TownshipPreventionStatistics] {
        let townships = grid.townships
        let n = townships.names.count
        var counts = [[Int]](repeating: [Int](repeating: 0, count: 256), count: n + 1)
        var tally = AreaTally(plan.cellAreas, buckets: (n + 1) * 256)   // bucket t·256 + category
        let categoryBand = try Dataset(open: categoryPath, flags: [.raster]).band(1)
        let townBand = try Dataset(open: grid.raster, flags: [.raster]).band(1)
        let blocks = plan.grid.blocks(width: plan.blockSize, height: plan.blockSize)
        for (i, block) in blocks.enumerated() {
            let w = block.window
            let window = PixelWindow(x: w.x, y: w.y, width: w.width, height: w.height)
            let cats: [UInt8] = try categoryBand.read(window)
            let town: [Int32] = try townBand.read(window)
            for p in 0..<w.count {
                let t = Int(town[p])
                guard t > 0 && t <= n else { continue }
                counts[t][Int(cats[p])] += 1
                tally.add(t * 256 + Int(cats[p]), row: w.y + p / w.width)
            }
            report("prevention-statistics", i + 1, blocks.count)
        }
        return (0..<n).map { i in
            let t = i + 1
            let valid = categories.reduce(0) { $0 + counts[t][$1.value] }
            let areas = categories.map { c -> TownshipPreventionStatistics.CategoryArea in
                let px = counts[t][c.value]
                return .init(value: c.value, name: c.label, pixels: px, areaHa: tally.hectares(t * 256 + c.value, count: px),
                             percent: valid > 0 ? 100 * Double(px) / Double(valid) : 0)
            }
            // Ties go to the lower value (the more urgent category when 1 is the key zone).
            let dominant = valid > 0 ? areas.max { $0.pixels < $1.pixels || ($0.pixels == $1.pixels && $0.value > $1.value) } : nil
            return TownshipPreventionStatistics(id: t, code: townships.code(t), name: townships.names[i], english: townships.englishName(t),
                                                validPixels: valid, validAreaHa: tally.areas.constant.map { Double(valid) * ($0 / 10_000) }
                                                    ?? categories.reduce(0) { $0 + tally.hectares(t * 256 + $1.value, count: 0) },
                                                dominantCategory: dominant?.value, dominantCategoryName: dominant?.name,
                                                categories: areas)
        }
    }

    /// `prevention_stats.csv`: one row per township.
    static func preventionStatisticsCSV(_ rows: [TownshipPreventionStatistics], categories: [JobSpec.Category]) -> String {
        let q = csvText, f = csvNumber
        var header = csvTownshipHeader + ["有效面积(公顷) valid_area_ha", "主导防治分区 dominant_category", "分区名称 dominant_category_name"]
        for c in categories { header += ["\(c.name)面积(公顷) category_\(c.value)_area_ha", "\(c.name)占比(%) category_\(c.value)_pct"] }
        var lines = [header.map(q).joined(separator: ",")]
        for r in rows {
            var cells = csvTownshipCells(id: r.id, code: r.code, name: r.name, english: r.english)
            cells += [f(r.validAreaHa), r.dominantCategory.map(String.init) ?? "", q(r.dominantCategoryName ?? "")]
            for c in r.categories { cells += [f(c.areaHa), f(c.percent)] }
            lines.append(cells.joined(separator: ","))
        }
        return csvByteOrderMark + lines.joined(separator: "\n") + "\n"
    }
}
