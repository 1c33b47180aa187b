import Cartography
import Foundation
import FilePaths
import GDALKit
import Logging
import RasterKernel
import RiskDatabase

/// One published (or staged) run as the change products see it.
struct RunFolder {
    let directory: String
    let job: String
    let runID: String
    let title: String?
    let scheme: ClassScheme
    /// The job as run (from the kept copy), when it can still be loaded: townships and map context.
    let spec: JobSpec?

    /// A published run: its manifest, and its job copy when the layers it names can still be read.
    init(directory: String, manifest: Manifest) {
        self.directory = directory
        job = manifest.job.name
        runID = manifest.runId
        title = manifest.applied?.title
        scheme = ClassScheme.named(manifest.classification.scheme) ?? .fiveLevel
        spec = manifest.applied.flatMap { applied in
            var loader = JobLoader(layersDirectory: directory.appendingComponent("job/layers"))
            loader.sourceDirectories = Dictionary(applied.layerCopies.map { ($0.name, $0.directory) }, uniquingKeysWith: { a, _ in a })
            return try? loader.load(directory.appendingComponent(applied.jobCopy))
        }
    }

    /// The run being staged by a runner.
    init(directory: String, plan: Plan, runID: String) {
        self.directory = directory
        job = plan.job.name
        self.runID = runID
        title = plan.job.title
        scheme = plan.job.classify.scheme
        spec = plan.job
    }

    /// Reads a published run folder; its job name and run id are checked (they name folders).
    static func open(_ directory: String) throws -> RunFolder {
        let path = directory.appendingComponent("manifest.json")
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RunError(.noInput, "\(path): cannot be read; \(directory) is not a published run folder")
        }
        let manifest: Manifest
        do { manifest = try Manifest.decode(data) } catch {
            throw RunError(.dataError, "\(path): not a run manifest: \(error)")
        }
        try Confinement.checkNames(of: manifest, at: path)
        return RunFolder(directory: directory, manifest: manifest)
    }

    var classRaster: String { directory.appendingComponent("risk_class.tif") }

    /// The rows of `stats.json`, empty when the run has none.
    var statisticsRows: [JSONValue] {
        guard let data = FileManager.default.contents(atPath: directory.appendingComponent("stats.json")),
              let value = try? JSONValue.parse(data) else { return [] }
        return value.array ?? []
    }

    func className(_ value: Int) -> String {
        scheme.classes.first { Int($0.value) == value }?.name ?? "\(value)"
    }
}

/// Changes between two runs on the same grid: `changes.csv`/`changes.json`, `risk_change.tif`
/// (value = 10 × previous class + current class where both are valid, 0 nodata) with its QML, and
/// the risk change map (风险变化图).
enum ChangeReport {
    struct GridMismatch: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    /// Colour of a transition: up = reds, down = greens (darker for more levels), same = grey.
    static func colour(from p: Int, to c: Int) -> RGB {
        let reds = [RGB(252, 187, 161), RGB(251, 106, 74), RGB(222, 45, 38), RGB(165, 15, 21)]
        let greens = [RGB(199, 233, 192), RGB(116, 196, 118), RGB(49, 163, 84), RGB(0, 109, 44)]
        if c > p { return reds[min(c - p, 4) - 1] }
        if c < p { return greens[min(p - c, 4) - 1] }
        return RGB(204, 204, 204)
    }

    static func arrow(from p: Int, to c: Int) -> String { c > p ? "↑" : c < p ? "↓" : "=" }

    struct Transition: Encodable {
        var from: Int
        var to: Int
        var pixels: Int
        var areaHa: Double
        /// Exposure totals (`zoning.totals`: persons, GDP, …) in the pixels of this transition,
        /// by total name; only in a run's own changes, where the totals are on the grid.
        var totals: [String: Double]? = nil
    }

    /// One exposure total per township (index 0: the whole mask) and transition from → to.
    struct TotalTransitions {
        let name: String
        let byTransition: [[[Double]]]
    }

    struct TownshipChange: Encodable {
        var townshipCode: String
        var township: String
        var previousLevel: Int?
        var previousLevelName: String?
        var level: Int?
        var levelName: String?
        /// up, down, same, new (no previous level), gone (no current level).
        var change: String
        var transitions: [Transition]
        /// The explanation of the change (`ChangeExplanation.swift`): mean index before and after,
        /// its change split into data, weights and interaction (`changes --explain`), the level
        /// under the previous run's breaks.
        var townshipId: Int? = nil
        var meanIndexBefore: Double? = nil
        var meanIndexAfter: Double? = nil
        var deltaIndex: Double? = nil
        var deltaIndexData: Double? = nil
        var deltaIndexWeights: Double? = nil
        var deltaIndexInteraction: Double? = nil
        var levelByOldBreaks: Int? = nil
        var key: String { townshipCode.isEmpty ? "name:\(township)" : "code:\(townshipCode)" }
    }

    struct Document: Encodable {
        /// `directory` only when written outside a run (`changes`): a run's own products do not
        /// depend on where the runs are kept.
        struct Side: Encodable { var job: String; var runId: String; var directory: String? }
        var from: Side
        var to: Side
        var pixelAreaHa: Double
        var validPixels: Int
        var changedPixels: Int
        var transitions: [Transition]
        var townships: [TownshipChange]
        var files: [String]
        /// How the change of mean index was split (`changes --explain`), nil when it was not.
        var explanation: String? = nil
    }

    /// Writes the change products of `from` → `to` into `folder`; returns the files written
    /// (relative to `folder`). Throws `GridMismatch` when the two class rasters are not on one grid.
    static func write(from: RunFolder, to: RunFolder, into folder: String, threads: Int, map drawMap: Bool = true,
                      withDirectories: Bool = true, totals given: [TotalTransitions] = [], summingTotals: Bool = false,
                      explanation: [String: ChangeExplanation.Split]? = nil) throws -> [String] {
        GDAL.ensureRegistered()
        let grid = try ChangeGrid(from: from, to: to)
        let work: String
        do { work = try SafeFiles.makeFreshDirectory(in: folder, prefix: ".changes-work") } catch { throw RunError(.cantCreate, error) }
        defer { try? FileManager.default.removeItem(atPath: work) }

        // Townships on the grid (ids = layer order, as in stats.json).
        let townshipLayer = changeTownships(from: from, to: to)
        var townshipBand: RasterBand?   // keeps its dataset open
        var townshipCount = 0
        if let townshipLayer {
            let path = work.appendingComponent("townships.tif")
            if let (ds, n) = try? rasteriseTownships(townshipLayer.source, layer: townshipLayer.layer, srs: grid.srs, geoTransform: grid.geoTransform,
                                                     width: grid.width, height: grid.height, path: path) {
                townshipBand = try ds.band(1)
                townshipCount = n
            }
        }

        var tally = Tally(from: from, to: to, townshipCount: townshipCount)
        // Between two jobs (`changes`) the totals are summed here; a run's own come from its totals stage.
        let totals = summingTotals && given.isEmpty
            ? try crossJobTotals(from: from, to: to, grid: grid, townships: townshipBand, townshipCount: townshipCount, k: tally.k, work: work)
            : given
        tally.areas = grid.geographicCellAreas.map { AreaTally($0, buckets: (townshipCount + 1) * (tally.k + 1) * (tally.k + 1)) }
        let tmp = work.appendingComponent("risk_change.tif")
        try tally.count(grid, townships: townshipBand, writingTo: tmp)
        var files = try writeChangeCOG(tmp, into: folder, threads: threads)
        let legend = tally.legend
        let allEntries = (1...tally.k).flatMap { a in (1...tally.k).map { b in
            LegendEntry(value: 10 * a + b, label: tally.names[10 * a + b], color: colour(from: a, to: b)) } }
        try Data(QGISStyle.palettedQML(entries: allEntries).utf8).write(to: URL(fileURLWithPath: folder.appendingComponent("risk_change.qml")))
        files.append("risk_change.qml")

        let pixelHa = grid.meanCellHectares
        var (townships, labels) = townshipChanges(tally, pixelHa: pixelHa, totals: totals)
        try annotate(&townships, tally: tally, townshipBand: townshipBand, grid: grid, explanation: explanation)
        let valid = tally.counts.joined().reduce(0, +)
        let k = tally.k
        let changed = (1...k).reduce(0) { s, a in s + (1...k).filter { $0 != a }.reduce(0) { $0 + tally.counts[a][$1] } }
        let all = transitions(tally.counts, k: k, township: 0, pixelHa: pixelHa, totals: totals, areas: tally.areas)
        var document = Document(
            from: .init(job: from.job, runId: from.runID, directory: withDirectories ? from.directory : nil),
            to: .init(job: to.job, runId: to.runID, directory: withDirectories ? to.directory : nil),
            pixelAreaHa: pixelHa, validPixels: valid, changedPixels: changed,
            transitions: all, townships: townships,
            files: files + ["changes.csv", "changes.json"] + (drawMap && valid > 0 ? ["risk_change_map.pdf", "risk_change_map.png"] : []))
        if explanation != nil { document.explanation = ChangeExplanation.method }
        try Manifest.json(document).write(to: URL(fileURLWithPath: folder.appendingComponent("changes.json")))
        try writeChangesCSV(all, townships: townships, totalNames: totals.map(\.name), to: folder.appendingComponent("changes.csv"))
        files += ["changes.csv", "changes.json"]

        if drawMap && !legend.isEmpty {
            let context = changeMapContext(from: from, to: to, srs: grid.srs, labels: labels, work: work)
            try drawChangeMap(from: from, to: to, legend: legend, context: context, cog: folder.appendingComponent("risk_change.tif"), folder: folder,
                              notes: explanationLines(townships))
            files += ["risk_change_map.pdf", "risk_change_map.png"]
        }
        return files.sorted()
    }

    /// The two class rasters, open, checked to be on one grid.
    struct ChangeGrid {
        /// A lat/long grid's cell areas (each row's own, `CellAreas`); nil on a projected grid.
        var geographicCellAreas: CellAreas? {
            let gt = geoTransform
            guard srs.isGeographic, let axes = srs.ellipsoidAxes, gt[2] == 0, gt[4] == 0 else { return nil }
            let g = GridGeometry(width: width, height: height, originX: gt[0], originY: gt[3], pixelWidth: abs(gt[1]), pixelHeight: abs(gt[5]))
            return CellAreas(geographic: g, ellipsoid: Ellipsoid(a: axes.semiMajor, f: axes.flattening))
        }
        /// `pixelAreaHa`: the pixel area of a projected grid, the mean cell area of a lat/long one
        /// (whose transitions' areas sum each cell's own area, `Tally.areas`).
        var meanCellHectares: Double {
            if let areas = geographicCellAreas { return areas.mean / 10_000 }
            return abs(geoTransform[1] * geoTransform[5] - geoTransform[2] * geoTransform[4]) / 10_000
        }

        let previous: Dataset
        let current: Dataset
        let width: Int
        let height: Int
        let geoTransform: [Double]
        let srs: SpatialReference

        init(from: RunFolder, to: RunFolder) throws {
            for run in [from, to] where !FileManager.default.fileExists(atPath: run.classRaster) {
                throw GridMismatch(message: "\(run.classRaster) does not exist (the job makes no risk-class product)")
            }
            previous = try Dataset(open: from.classRaster, flags: [.raster])
            current = try Dataset(open: to.classRaster, flags: [.raster])
            width = current.width
            height = current.height
            guard let gt = current.geoTransform, let srs = current.spatialReference else {
                throw GridMismatch(message: "\(to.classRaster) has no georeferencing")
            }
            geoTransform = gt
            self.srs = srs
            let sameSRS = previous.spatialReference.map { $0.isSame(as: srs) } ?? false
            let sameTransform = previous.geoTransform.map { p in zip(p, gt).allSatisfy { abs($0 - $1) <= 1e-9 * max(1, abs($1)) } } ?? false
            guard previous.width == width, previous.height == height, sameSRS, sameTransform else {
                throw GridMismatch(message: "\(from.classRaster) (\(previous.width)×\(previous.height)) and \(to.classRaster) (\(width)×\(height)) are not on the same grid (size, geotransform and CRS must be equal)")
            }
        }
    }

    /// Transition counts overall and per township, and the names of the transitions (10 × from + to).
    struct Tally {
        let from: RunFolder
        let to: RunFolder
        let k: Int
        let townshipCount: Int
        var names: [String]
        var counts: [[Int]]
        var perTownship: [[[Int]]]
        /// On a lat/long grid: the area of every transition, bucket (township × (k+1) + a) × (k+1) + b
        /// (township 0: the whole grid).
        var areas: AreaTally? = nil

        init(from: RunFolder, to: RunFolder, townshipCount: Int) {
            self.from = from
            self.to = to
            self.townshipCount = townshipCount
            k = max(from.scheme.classCount, to.scheme.classCount)
            names = [String](repeating: "", count: 10 * k + k + 1)
            names[0] = "nodata"
            for p in 1...k {
                for c in 1...k { names[10 * p + c] = "\(arrow(from: p, to: c)) \(from.className(p)) → \(to.className(c))" }
            }
            counts = [[Int]](repeating: [Int](repeating: 0, count: k + 1), count: k + 1)
            perTownship = [[[Int]]](repeating: counts, count: townshipCount + 1)
        }

        /// Streams the grid in strips: counts the transitions and writes the change raster to `path`.
        mutating func count(_ grid: ChangeGrid, townships townshipBand: RasterBand?, writingTo path: String) throws {
            let (width, height) = (grid.width, grid.height)
            let out = try Dataset.create(driver: "GTiff", path: path, width: width, height: height, bands: 1, type: .byte,
                                         options: ["TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256"])
            try out.setGeoTransform(grid.geoTransform)
            try out.setSpatialReference(grid.srs)
            let band = try out.band(1)
            try band.setNoDataValue(0)
            var table = [(UInt8, UInt8, UInt8, UInt8)](repeating: (0, 0, 0, 0), count: 10 * k + k + 1)
            for p in 1...k {
                for c in 1...k {
                    let rgb = colour(from: p, to: c)
                    table[10 * p + c] = (rgb.r, rgb.g, rgb.b, 255)
                }
            }
            try band.setColorTable(table)
            try band.setCategoryNames(names)
            band.setDescription("risk class change (10 × previous + current)")
            let previousBand = try grid.previous.band(1), currentBand = try grid.current.band(1)
            let strip = 256
            var y = 0
            while y < height {
                let h = min(strip, height - y)
                let window = PixelWindow(x: 0, y: y, width: width, height: h)
                let p: [UInt8] = try previousBand.read(window)
                let c: [UInt8] = try currentBand.read(window)
                let t: [UInt16] = try townshipBand.map { try readUInt16($0, window) } ?? []
                var v = [UInt8](repeating: 0, count: window.count)
                for i in 0..<window.count {
                    let a = Int(p[i]), b = Int(c[i])
                    guard a > 0, b > 0, a <= k, b <= k else { continue }
                    v[i] = UInt8(10 * a + b)
                    counts[a][b] += 1
                    areas?.add(a * (k + 1) + b, row: y + i / width)
                    if !t.isEmpty, Int(t[i]) > 0, Int(t[i]) <= townshipCount {
                        perTownship[Int(t[i])][a][b] += 1
                        areas?.add((Int(t[i]) * (k + 1) + a) * (k + 1) + b, row: y + i / width)
                    }
                }
                try v.withUnsafeBufferPointer { try band.write(window, from: $0) }
                y += h
            }
            try out.close()
        }

        /// Legend: transitions present, up first (most levels first), then unchanged, then down.
        /// Unchanged pixels share one grey entry (the raster's colour table colours every one of them).
        var legend: [LegendEntry] {
            var present: [(Int, Int)] = []
            for a in 1...k { for b in 1...k where counts[a][b] > 0 { present.append((a, b)) } }
            present.sort { x, y in
                let dx = x.1 - x.0, dy = y.1 - y.0
                return dx != dy ? dx > dy : (x.0, x.1) < (y.0, y.1)
            }
            var legend: [LegendEntry] = []
            for (a, b) in present {
                if a == b {
                    if !legend.contains(where: { $0.value / 10 == $0.value % 10 }) {
                        legend.append(LegendEntry(value: 10 * a + b, label: "= 等级不变 unchanged", color: colour(from: a, to: b)))
                    }
                } else {
                    legend.append(LegendEntry(value: 10 * a + b, label: names[10 * a + b], color: colour(from: a, to: b)))
                }
            }
            return legend
        }
    }

    /// `risk_change.tif` (and its .aux.xml when GDAL writes one) as a COG from the streamed GeoTIFF.
    static func writeChangeCOG(_ tmp: String, into folder: String, threads: Int) throws -> [String] {
        let cog = folder.appendingComponent("risk_change.tif")
        do {
            let src = try Dataset(open: tmp, flags: [.raster])
            let copy = try Utilities.translate(src, to: cog, arguments: [
                "-of", "COG", "-co", "COMPRESS=DEFLATE", "-co", "BLOCKSIZE=512", "-co", "OVERVIEW_RESAMPLING=NEAREST",
                "-co", "NUM_THREADS=\(threads)"])
            try copy.close()
        } catch {
            throw RunError(.ioError, "\(cog): cannot write the Cloud-Optimized GeoTIFF: \((error as? GDALError)?.message ?? "\(error)")")
        }
        return ["risk_change.tif"] + (FileManager.default.fileExists(atPath: cog + ".aux.xml") ? ["risk_change.tif.aux.xml"] : [])
    }

    /// The transitions of one count matrix (township 0: the whole grid), with their exposure totals.
    static func transitions(_ m: [[Int]], k: Int, township: Int, pixelHa: Double, totals: [TotalTransitions],
                            areas: AreaTally? = nil) -> [Transition] {
        var list: [Transition] = []
        for a in 1...k { for b in 1...k where m[a][b] > 0 {
            let sums = totals.filter { township < $0.byTransition.count }
                .map { ($0.name, a < $0.byTransition[township].count && b < $0.byTransition[township][a].count ? $0.byTransition[township][a][b] : 0) }
            list.append(Transition(from: a, to: b, pixels: m[a][b], areaHa: areas?.hectares((township * (k + 1) + a) * (k + 1) + b, count: m[a][b]) ?? Double(m[a][b]) * pixelHa,
                                   totals: sums.isEmpty ? nil : Dictionary(uniqueKeysWithValues: sums)))
        } }
        return list
    }

    /// Per township: levels from the two runs' stats.json, transitions from the pixels; and the
    /// map labels ("name ↑ 中 → 较高") of the townships whose level changed, by township id.
    static func townshipChanges(_ tally: Tally, pixelHa: Double, totals: [TotalTransitions]) -> ([TownshipChange], [Int: String]) {
        let (from, to) = (tally.from, tally.to)
        let previousByKey = Dictionary(from.statisticsRows.map { (townshipKey($0), $0) }, uniquingKeysWith: { a, _ in a })
        var townships: [TownshipChange] = []
        var labels: [Int: String] = [:]
        for row in to.statisticsRows {
            let previous = previousByKey[townshipKey(row)]
            let before = previous?["level"]?.int, after = row["level"]?.int
            let change: String
            switch (before, after) {
            case let (b?, a?): change = a > b ? "up" : a < b ? "down" : "same"
            case (nil, .some): change = "new"
            case (.some, nil): change = "gone"
            default: change = "same"
            }
            let id = row["id"]?.int ?? 0
            if let b = before, let a = after, a != b {
                labels[id] = "\(row["name"]?.string ?? "") \(arrow(from: b, to: a)) \(from.className(b)) → \(to.className(a))"
            }
            let pixels = id > 0 && id <= tally.townshipCount
                ? transitions(tally.perTownship[id], k: tally.k, township: id, pixelHa: pixelHa, totals: totals, areas: tally.areas) : []
            townships.append(TownshipChange(
                townshipCode: row["code"]?.string ?? "", township: row["name"]?.string ?? "",
                previousLevel: before, previousLevelName: before.map(from.className), level: after, levelName: after.map(to.className),
                change: change, transitions: pixels, townshipId: row["id"]?.int))
        }
        return (townships, labels)
    }

    /// changes.csv: the whole grid's transitions (township "(all)"), then every township's.
    static func writeChangesCSV(_ all: [Transition], townships: [TownshipChange], totalNames: [String], to path: String) throws {
        func totalCells(_ t: Transition) -> [String] { totalNames.map { csvNumber(t.totals?[$0]) } }
        var lines = [(["township_code", "township", "previous_level", "previous_level_name", "level", "level_name", "change",
                       "from_class", "to_class", "pixels", "area_ha"] + totalNames).map(csvText).joined(separator: ",")]
        for t in all {
            lines.append((["", "(all)", "", "", "", "", t.to > t.from ? "up" : t.to < t.from ? "down" : "same",
                           String(t.from), String(t.to), String(t.pixels), csvNumber(t.areaHa)] + totalCells(t)).joined(separator: ","))
        }
        for town in townships {
            let head = [csvText(town.townshipCode), csvText(town.township), town.previousLevel.map(String.init) ?? "",
                        csvText(town.previousLevelName ?? ""), town.level.map(String.init) ?? "", csvText(town.levelName ?? ""), csvText(town.change)]
            if town.transitions.isEmpty { lines.append((head + ["", "", "", ""] + totalNames.map { _ in "" }).joined(separator: ",")) }
            for t in town.transitions {
                lines.append((head + [String(t.from), String(t.to), String(t.pixels), csvNumber(t.areaHa)] + totalCells(t)).joined(separator: ","))
            }
        }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: path))
    }

    /// The change map's context: the study area, the townships, those whose level changed outlined
    /// and labelled "↑ 中 → 较高".
    static func changeMapContext(from: RunFolder, to: RunFolder, srs: SpatialReference, labels: [Int: String], work: String) -> [ContextLayer] {
        guard let spec = to.spec ?? from.spec else { return [] }
        var context: [ContextLayer] = []
        if let mask = spec.grid.mask, let def = spec.auxiliary[mask] {
            context.append(ContextLayer(kind: .outline, source: def.source, layer: def.layer, legendLabel: "研究区范围 Study area"))
        }
        if let towns = changeTownships(from: from, to: to) {
            context.append(ContextLayer(kind: .boundary, source: towns.source, layer: towns.layer,
                                        labelField: labels.isEmpty ? towns.nameField : nil))
            if !labels.isEmpty,
               let changed = try? changedTownships(towns.source, layer: towns.layer, srs: srs, labels: labels,
                                                   path: work.appendingComponent("changed.gpkg")) {
                context.append(ContextLayer(kind: .outline, source: changed, layer: "changed", labelField: "label",
                                            legendLabel: "等级变化的乡镇 Township level changed"))
            }
        }
        return context
    }

    /// The risk change map (风险变化图), PDF and PNG, of the change raster `cog`.
    static func drawChangeMap(from: RunFolder, to: RunFolder, legend: [LegendEntry], context: [ContextLayer], cog: String, folder: String,
                              notes: [String] = []) throws {
        let title = "风险变化图 risk change map · \(to.title ?? to.job)"
        let subtitle = from.job == to.job
            ? "\(to.job) · \(from.runID) → \(to.runID)"
            : "\(from.job) \(from.runID) → \(to.job) \(to.runID)"
        let job = jobFurniture(to.spec ?? from.spec)
        var spec = MapSpec(title: title, subtitle: subtitle, legendTitle: "风险等级变化 Change of risk level",
                           legend: groupedLegend(legend), classRaster: cog, context: context + job.context,
                           sources: ["Change of the risk class between two HazardZoning runs on one grid: value = 10 × previous class + current class",
                                     "Townships outlined: level changed (↑ up, ↓ down)"] + notes + job.sources,
                           footer: "\(ToolInfo.name) \(ToolInfo.version) · GDAL \(GDAL.version) · \(from.runID) → \(to.runID)")
        spec.pdfDate = MapMaker.pdfDate(runID: to.runID)
        spec.furniture = job.furniture
        if let jobSpec = to.spec ?? from.spec, let location = MapMaker.locationInset(of: jobSpec) {
            spec.location = location
            spec.sources += MapMaker.locationSource(of: jobSpec)
        }
        let pdf = folder.appendingComponent("risk_change_map.pdf")
        let png = folder.appendingComponent("risk_change_map.png")
        do { _ = try MapRenderer.render(spec, pdf: pdf, png: png) } catch {
            throw RunError(.ioError, "\(pdf): cannot draw the risk change map: \(error)")
        }
    }

    static func readUInt16(_ band: RasterBand, _ window: PixelWindow) throws -> [UInt16] {
        let values: [Int32] = try band.read(window)
        return values.map { UInt16(clamping: $0) }
    }

    /// The township layer in the grid CRS, rasterised onto the grid (value = 1-based layer order).
    static func rasteriseTownships(_ source: String, layer name: String?, srs: SpatialReference, geoTransform gt: [Double],
                                   width: Int, height: Int, path: String) throws -> (Dataset, Int) {
        let ds = try Dataset(open: source, flags: [.vector])
        let layer = try name.map { try ds.layer(named: $0) } ?? ds.layer(0)
        let memory = try Utilities.vectorTranslate(ds, to: "", arguments: ["-f", "Memory", "-t_srs", srs.wkt, layer.name])
        let copy = try memory.layer(named: layer.name)
        try copy.createField("hz_id", kind: .integer)
        let idField = copy.fieldIndex("hz_id")!
        var next = 0
        try copy.updateFeatures { f in next += 1; f.set(idField, next) }
        let minX = gt[0], maxY = gt[3], maxX = gt[0] + gt[1] * Double(width), minY = gt[3] + gt[5] * Double(height)
        let out = try Utilities.rasterize(memory, to: path, arguments: [
            "-a", "hz_id", "-l", layer.name, "-te", "\(minX)", "\(minY)", "\(maxX)", "\(maxY)",
            "-tr", "\(gt[1])", "\(abs(gt[5]))", "-ot", "UInt16", "-init", "0", "-of", "GTiff"])
        try out.close()
        return (try Dataset(open: path, flags: [.raster]), next)
    }

    /// The townships whose level changed (by 1-based layer order), with their label, as a GeoPackage.
    static func changedTownships(_ source: String, layer name: String?, srs: SpatialReference, labels: [Int: String], path: String) throws -> String {
        let ds = try Dataset(open: source, flags: [.vector])
        let layer = try name.map { try ds.layer(named: $0) } ?? ds.layer(0)
        let memory = try Utilities.vectorTranslate(ds, to: "", arguments: ["-f", "Memory", "-t_srs", srs.wkt, "-nln", "changed", layer.name])
        let copy = try memory.layer(named: "changed")
        try copy.createField("label", kind: .string)
        let field = copy.fieldIndex("label")!
        var next = 0
        try copy.updateFeatures { f in
            next += 1
            if let text = labels[next] { f.set(field, text) }
        }
        let out = try Utilities.vectorTranslate(memory, to: path, arguments: ["-f", "GPKG", "-where", "label IS NOT NULL", "changed"])
        try out.close()
        return path
    }
}

extension Operations {
    /// `hazard-zoning changes FROM TO`: FROM and TO are run folders or `JOB[@RUN]` (looked up in
    /// the database; `JOB` alone is its newest ok run). Writes the change products into `output`
    /// (default: `changes/<from>_to_<to>/` beside the database). Returns the folder and its files.
    public static func changes(from: String, to: String, output: String?, database: String, explain: Bool = false) throws -> (String, [String]) {
        let db = RiskDatabase(path: database)
        let a = try RunFolder.open(try db.resolveRun(from))
        let b = try RunFolder.open(try db.resolveRun(to))
        let folder = try changesFolder(output: output, database: db.path, name: "\(a.job)-\(a.runID)_to_\(b.job)-\(b.runID)")
        // Written into a new folder of its own beside the target, then renamed into place: no file
        // is written where a link may have been planted, and an existing target is never replaced.
        let staging: String
        do { staging = try SafeFiles.makeFreshDirectory(in: folder.parentPath, prefix: ".\(folder.fileName).tmp") } catch {
            throw RunError(.cantCreate, error)
        }
        do {
            let threads = ProcessInfo.processInfo.activeProcessorCount
            let explanation = explain ? try ChangeExplanation.explain(from: a, to: b, threads: threads, logger: Logger(label: "hazard-zoning")) : nil
            let files = try ChangeReport.write(from: a, to: b, into: staging, threads: threads, summingTotals: true,
                                               explanation: explanation)
            guard rename(staging, folder) == 0 else {
                throw RunError(.cantCreate, "\(folder): cannot put the change products in place: \(String(cString: strerror(errno))) (remove it, or name another folder with --output)")
            }
            return (folder, files)
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            if let mismatch = error as? ChangeReport.GridMismatch { throw RunError(.dataError, mismatch.message) }
            throw error
        }
    }

    /// The folder of `changes`: `output`, or `changes/<name>` beside the database (every link
    /// resolved, inside the database's folder); not there yet, or an empty folder (checked before
    /// anything is computed); its parent is created.
    static func changesFolder(output: String?, database: String, name: String) throws -> String {
        var folder = output.map(absolutePath) ?? database.parentPath.appendingComponent("changes").appendingComponent(name)
        if output == nil {
            do { folder = try SafeFiles.confined(folder, to: database.parentPath) } catch { throw RunError(.cantCreate, error) }
        }
        if let type = (try? FileManager.default.attributesOfItem(atPath: folder))?[.type] as? FileAttributeType,
           type != .typeDirectory || (try? FileManager.default.contentsOfDirectory(atPath: folder))?.isEmpty != true {
            throw RunError(.cantCreate, "\(folder): exists; remove it, or name another folder with --output (change products are never written into an existing folder)")
        }
        do { try FileManager.default.createDirectory(atPath: folder.parentPath, withIntermediateDirectories: true) } catch {
            throw RunError(.cantCreate, "\(folder.parentPath): cannot create the folder: \(error.localizedDescription)")
        }
        return folder
    }
}
