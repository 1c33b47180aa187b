import Foundation
import FilePaths
import GDALKit
import RasterKernel

// Exposure totals per township and class (`zoning.totals`): a raw, not normalised, layer — persons,
// GDP, building floor area — summed over the pixels of every township and risk class.
//
// A density (`per-km2`, `per-ha`) is warped onto the grid with `-r average` and multiplied by the
// grid's pixel area; a count (`count`, e.g. m² of floor area per source pixel) with `-r sum`, which
// distributes each source pixel over the grid pixels it overlaps in proportion to the overlapping
// area. Both conserve the source total (see docs/job-file.md, "Exposure totals", for the error).

/// The sums of one total: per township (row t = township id, 0 = none) and class (column c, 0 = nodata).
struct TotalSums {
    var byTownship: [[Double]]
    var inMask: [Double]
    var grid: Double
    var nodataInMask: Int
    /// With a previous run on the same grid: the total per township (index 0: the whole mask) and
    /// transition previous class → class, for the change products.
    var byTransition: [[[Double]]]? = nil
}

/// The totals stage: people, GDP, floor area … (`zoning.totals`) summed per township and class,
/// and per change of class since the previous run; added to the township rows.
struct TotalsStage: Stage {
    let env: RunEnvironment
    init(_ env: RunEnvironment) { self.env = env }

    var name: String { "totals" }
    var reads: [RunProduct] { [.classRaster, .townshipGrid, .townshipRows, .alignedLayers] }
    var produces: [RunProduct] { [.totals] }

    func run(_ context: RunContext) throws {
        guard let zoning = plan.job.zoning, !zoning.totals.isEmpty else { return }
        let grid = context.required(context.townshipGrid, .townshipGrid, by: name)
        var rows = context.required(context.townshipRows, .townshipRows, by: name)
        // The run `latest` points at (the lock is held): its classes give the totals per change.
        let previousClasses = Publisher(outputDirectory: plan.outputDirectory).latestRun
            .map { $0.appendingComponent("risk_class.tif") }
            .flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil }
        let layers = try alignTotals(work: context.files.work)
        context.totalLayers = layers
        let sums = try computeTotals(classPath: context.files.classRaster, townshipPath: grid.raster,
                                     townshipCount: grid.townships.names.count, mask: context.mask,
                                     previousClassPath: previousClasses, layers: layers)
        addTotals(sums, to: &rows)
        context.townshipRows = rows
        context.totals = totalsInfo(sums)
        context.totalTransitions = zip(zoning.totals, sums).compactMap { total, s in
            s.byTransition.map { ChangeReport.TotalTransitions(name: total.name, byTransition: $0) }
        }
    }
}

extension TotalsStage {
    /// Sums every total per township and class, block by block in grid order on this thread (the
    /// sums do not depend on `--threads`; the layers are read on all workers, `forEachTotalsBlock`).
    /// `classPath` is the published class raster's source.
    func computeTotals(classPath: String, townshipPath: String, townshipCount: Int, mask maskLayer: AlignedLayer?,
                       previousClassPath: String? = nil, layers: TotalLayers) throws -> [TotalSums] {
        let totals = plan.job.zoning?.totals ?? []
        guard !totals.isEmpty else { return [] }
        let k = plan.job.classify.scheme.classCount
        let factors = rowFactors()
        // The previous run's classes, when it is on this grid (pixel for pixel).
        let previousBand: RasterBand? = try previousClassPath.flatMap { path in
            let ds = try Dataset(open: path, flags: [.raster])
            guard ds.width == plan.grid.width, ds.height == plan.grid.height,
                  let gt = ds.geoTransform, zip(gt, plan.grid.geoTransform).allSatisfy({ abs($0 - $1) <= 1e-9 * max(1, abs($1)) }) else { return nil }
            return try ds.band(1)
        }
        let kp = 255
        var sums = totals.map { _ in
            TotalSums(byTownship: [[Double]](repeating: [Double](repeating: 0, count: k + 1), count: townshipCount + 1),
                      inMask: [Double](repeating: 0, count: k + 1), grid: 0, nodataInMask: 0,
                      byTransition: previousBand == nil ? nil
                          : [[[Double]]](repeating: [[Double]](repeating: [Double](repeating: 0, count: k + 1), count: kp + 1),
                                         count: townshipCount + 1))
        }
        let classBand = try Dataset(open: classPath, flags: [.raster]).band(1)
        let townBand = try Dataset(open: townshipPath, flags: [.raster]).band(1)
        let maskReader = try maskLayer.map { try $0.reader() }
        var maskValues = [Float](repeating: 0, count: maskLayer == nil ? 0 : plan.blockSize * plan.blockSize)
        let blockCount = plan.grid.blocks(width: plan.blockSize, height: plan.blockSize).count
        try forEachTotalsBlock(layers) { b, w, blockValues in
            let window = PixelWindow(x: w.x, y: w.y, width: w.width, height: w.height)
            let n = w.count
            let classes: [UInt8] = try classBand.read(window)
            let town: [Int32] = try townBand.read(window)
            var mask: [Bool]?
            if let maskReader {
                try maskValues.withUnsafeMutableBufferPointer { try maskReader.read(window, into: UnsafeMutableBufferPointer(rebasing: $0[0..<n])) }
                mask = maskValues[0..<n].map { $0 != 0 }
            }
            let previous: [UInt8]? = try previousBand?.read(window)
            for (i, values) in blockValues.enumerated() {
                let rowFactors = factors[i]
                var s = sums[i]
                for p in 0..<n {
                    let f = rowFactors[w.y + p / w.width]
                    let inside = mask.map { $0[p] } ?? true
                    let v = values[p]
                    guard v.isFinite else {
                        if inside { s.nodataInMask += 1 }
                        continue
                    }
                    let q = v * f
                    s.grid += q
                    let c = Int(classes[p])
                    if inside { s.inMask[c] += q }
                    let t = Int(town[p])
                    if t > 0 && t <= townshipCount { s.byTownship[t][c] += q }
                    if let previous, c != 0, previous[p] != 0 {
                        let a = Int(previous[p])
                        if inside { s.byTransition![0][a][c] += q }
                        if t > 0 && t <= townshipCount { s.byTransition![t][a][c] += q }
                    }
                }
                sums[i] = s
            }
            report("totals", b + 1, blockCount)
        }
        return sums
    }

    /// Each total's layer warped onto the grid as a VRT in `work` (sum or average per its
    /// measure), with a cache of the values read for the prevention totals when the work folder has room.
    func alignTotals(work: String) throws -> TotalLayers {
        let totals = plan.job.zoning?.totals ?? []
        var paths: [String] = []
        for (total, source) in zip(totals, plan.totals) {
            let def = source.definition
            let what = "zoning.totals.\(total.name) (layer \(def.name))"
            let ds: Dataset
            do { ds = try Dataset(open: def.source, flags: [.raster]) } catch { throw inputError(error, file: def.source, what: what) }
            do {
                var input = ds
                if ds.bandCount > 1 || def.band != 1 {
                    input = try Utilities.translate(ds, to: work.appendingComponent("total-\(total.name)-band.vrt"),
                                                    arguments: ["-of", "VRT", "-b", "\(def.band)"])
                    try input.flush()
                }
                let bs = "\(plan.blockSize)"
                let path = work.appendingComponent("total-\(total.name).vrt")
                let vrt = try Utilities.warp([input], to: path,
                                             arguments: source.arguments + ["-of", "VRT", "-co", "BLOCKXSIZE=\(bs)", "-co", "BLOCKYSIZE=\(bs)"])
                guard vrt.width == plan.grid.width, vrt.height == plan.grid.height else {
                    throw RunError(.software, "\(def.source): warped size \(vrt.width)×\(vrt.height) differs from the grid \(plan.grid.width)×\(plan.grid.height)")
                }
                // Written to disk and reopened: the warped VRT then opens its own source.
                try vrt.close()
                try input.close()
                paths.append(path)
            } catch let error as GDALError {
                throw RunError(.ioError, "\(def.source): \(what): aligning onto the grid in \(work) failed: \(error.message)")
            }
        }
        // Only the prevention totals read them again.
        let cached = plan.makesPrevention && roomForCaches(layers: paths.count, bytesPerPixel: MemoryLayout<Double>.size, work: work)
        return TotalLayers(paths: paths, caches: totals.map { cached ? LayerBlockCache(folder: work, name: "total-\($0.name)") : nil })
    }

    /// The manifest's account of the totals.
    func totalsInfo(_ sums: [TotalSums]) -> [Manifest.TotalInfo] {
        let scheme = plan.job.classify.scheme
        return zip(plan.job.zoning?.totals ?? [], sums).map { total, s in
            Manifest.TotalInfo(
                name: total.name, layer: total.definition.name, measure: total.measure.rawValue, units: total.units,
                resampling: total.resampling.rawValue, pixelFactor: total.factor(pixelAreaSquareMetres: plan.cellAreas.mean),
                total: s.inMask.reduce(0, +),
                classes: scheme.classes.map { .init(value: Int($0.value), name: "\($0.name) \($0.english)", total: s.inMask[Int($0.value)]) },
                unclassified: s.inMask[0], townships: s.byTownship.dropFirst().map { $0.reduce(0, +) }.reduce(0, +),
                grid: s.grid, nodataPixels: s.nodataInMask)
        }
    }

    /// Adds the total columns to the township rows: `<name>_class_<k>` for every class, then
    /// `<name>_total` (every pixel of the township, classified or not).
    func addTotals(_ sums: [TotalSums], to rows: inout [TownshipStatistics]) {
        let scheme = plan.job.classify.scheme
        for i in rows.indices {
            let t = rows[i].id
            for (total, s) in zip(plan.job.zoning?.totals ?? [], sums) {
                for c in scheme.classes {
                    rows[i].totals.append(.init(name: "\(total.name)_class_\(c.value)", value: s.byTownship[t][Int(c.value)]))
                }
                rows[i].totals.append(.init(name: "\(total.name)_total", value: s.byTownship[t].reduce(0, +)))
            }
        }
    }
}

extension TotalsStage {
    /// Per total and row, the factor from a cell's density to its amount (a lat/long grid's cell
    /// area depends on its row; a projected grid's does not).
    func rowFactors() -> [[Double]] {
        let rows = plan.cellAreas.rows
        return (plan.job.zoning?.totals ?? []).map { t in rows.map { t.factor(pixelAreaSquareMetres: $0) } }
    }
}
