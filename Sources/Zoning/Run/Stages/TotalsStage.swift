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
    /// It reads the mask and the totals' own layers (or a layer's Float64 values), not the layers' units.
    var readsLayerUnits: Bool { false }

    func run(_ context: RunContext) throws {
        guard let zoning = plan.job.zoning, !zoning.totals.isEmpty else { return }
        let grid = context.required(context.townshipGrid, .townshipGrid, by: name)
        var rows = context.required(context.townshipRows, .townshipRows, by: name)
        // The run `latest` points at (the lock is held): its classes give the totals per change.
        let previousClasses = Publisher(outputDirectory: plan.outputDirectory).latestRun
            .map { $0.appendingComponent("risk_class.tif") }
            .flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil }
        let layers = try alignTotals(work: context.files.work, aligned: context.aligned)
        context.totalLayers = layers
        let sums = try computeTotals(classPath: context.files.classRaster, townshipPath: grid.raster,
                                     townshipCount: grid.townships.names.count, mask: context.mask,
                                     previousClassPath: previousClasses, layers: layers)
        // Which values each total summed: a model layer's warp it shares (the blocks the model's
        // passes kept), its own (blocks kept for the prevention totals), or its VRT read as it goes.
        for (t, total) in zoning.totals.enumerated() {
            let cache = layers.caches[t]
            logger.debug("totals read", metadata: ["total": "\(total.name)", "shared_warp": "\(layers.sharedWarps[t] ?? "none")",
                                                   "blocks_from_cache": "\(cache?.loaded ?? 0)", "blocks_kept": "\(cache?.stored ?? 0)"])
        }
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
        // The previous run's classes, when they are on this grid (pixel for pixel); the workers read them.
        let previous: String? = try previousClassPath.flatMap { path in
            let ds = try Dataset(open: path, flags: [.raster])
            guard ds.width == plan.grid.width, ds.height == plan.grid.height,
                  let gt = ds.geoTransform, zip(gt, plan.grid.geoTransform).allSatisfy({ abs($0 - $1) <= 1e-9 * max(1, abs($1)) }) else { return nil }
            return path
        }
        let kp = 255, k1 = k + 1, towns = townshipCount + 1
        // Flat accumulators per total (township × class, mask × class, township × previous class ×
        // class): the same additions in the same order as nested arrays, without their checks.
        var byTownship = [[Double]](repeating: [Double](repeating: 0, count: towns * k1), count: totals.count)
        var inMask = [[Double]](repeating: [Double](repeating: 0, count: k1), count: totals.count)
        var grid = [Double](repeating: 0, count: totals.count)
        var nodataInMask = [Int](repeating: 0, count: totals.count)
        var byTransition = [[Double]](repeating: [Double](repeating: 0, count: previous == nil ? 0 : towns * (kp + 1) * k1),
                                      count: totals.count)
        let blockCount = plan.grid.blocks(width: plan.blockSize, height: plan.blockSize).count
        try forEachTotalsBlock(layers, bytes: [classPath] + (previous.map { [$0] } ?? []), townships: townshipPath, mask: maskLayer) { b, w, block in
            let classes = block.bytes[0], town = block.townships!
            let previous: [UInt8]? = previous == nil ? nil : block.bytes[1]
            for (i, values) in block.values.enumerated() {
                let rowFactors = factors[i]
                var g = grid[i], nodata = nodataInMask[i]
                byTownship[i].withUnsafeMutableBufferPointer { township in
                inMask[i].withUnsafeMutableBufferPointer { masked in
                byTransition[i].withUnsafeMutableBufferPointer { transition in
                    for r in 0..<w.height {
                        let f = rowFactors[w.y + r]
                        for p in (r * w.width)..<((r + 1) * w.width) {
                            let inside = block.inside?[p] ?? true
                            let v = values[p]
                            guard v.isFinite else {
                                if inside { nodata += 1 }
                                continue
                            }
                            let q = v * f
                            g += q
                            let c = Int(classes[p])
                            if inside { masked[c] += q }
                            let t = Int(town[p])
                            let inTownship = t > 0 && t <= townshipCount
                            if inTownship { township[t * k1 + c] += q }
                            if let previous, c != 0, previous[p] != 0 {
                                let a = Int(previous[p])
                                if inside { transition[a * k1 + c] += q }
                                if inTownship { transition[(t * (kp + 1) + a) * k1 + c] += q }
                            }
                        }
                    }
                }
                }
                }
                grid[i] = g
                nodataInMask[i] = nodata
            }
            report("totals", b + 1, blockCount)
        }
        let sums = totals.indices.map { i in
            TotalSums(byTownship: (0..<towns).map { t in Array(byTownship[i][(t * k1)..<((t + 1) * k1)]) },
                      inMask: inMask[i], grid: grid[i], nodataInMask: nodataInMask[i],
                      byTransition: previous == nil ? nil : (0..<towns).map { t in
                          (0...kp).map { a in Array(byTransition[i][((t * (kp + 1) + a) * k1)..<((t * (kp + 1) + a + 1) * k1)]) }
                      })
        }
        return sums
    }

    /// Each total's layer warped onto the grid as a VRT in `work` (sum or average per its
    /// measure), with a cache of the values read for the prevention totals when the work folder has room.
    /// A total sharing a layer's warp (`Plan.totalsSharingALayerWarp`) reads the Float64 values
    /// the passes of the model kept (`aligned`, `AlignedLayer.float64`), its own VRT where they miss.
    func alignTotals(work: String, aligned: [AlignedLayer] = []) throws -> TotalLayers {
        let totals = plan.job.zoning?.totals ?? []
        var paths: [String] = []
        var kernels: [WarpKernel?] = []
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
                // Averages and sums by the own kernel, equal to the warper (`WarpKernel`).
                kernels.append(options.alignFastPaths ? try WarpKernel.make(vrt: path, what: what) : nil)
            } catch let error as GDALError {
                throw RunError(.ioError, "\(def.source): \(what): aligning onto the grid in \(work) failed: \(error.message)")
            }
        }
        // The layer (index) whose Float64 values each total shares, where the model's passes keep them.
        let shared = plan.totalsSharingALayerWarp.filter { $0.value < aligned.count && aligned[$0.value].float64 != nil }
        // Only the prevention totals read the others again.
        let cached = plan.makesPrevention
            && roomForCaches(layers: totals.count - shared.count, bytesPerPixel: MemoryLayout<Double>.size, work: work)
        return TotalLayers(paths: paths, caches: totals.indices.map { t in
            shared[t].map { aligned[$0].float64 } ?? (cached ? LayerBlockCache(folder: work, name: "total-\(totals[t].name)") : nil)
        }, sharedWarps: totals.indices.map { t in shared[t].map { "layers.\(plan.sources[$0].key)" } }, kernels: kernels)
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
