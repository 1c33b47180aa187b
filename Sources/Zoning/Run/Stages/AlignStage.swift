import Foundation
import FilePaths
import GDALKit
import Logging
import RasterKernel

/// The align stage: every source checked (a raster's statistics into the inputs) and aligned onto
/// the grid (`LayerReading.swift`): a raster the warper aligns is scanned here (an all-nodata one
/// refused before any computing); a raster read as a shifted window is counted while the passes
/// read it (refused after the first pass that reads all its blocks).
struct AlignStage: Stage {
    let env: RunEnvironment
    /// Whether the layers' blocks are kept for later passes (`LayerBlockCache`): only when more
    /// than one pass reads the layers (`Pipeline.layerPasses`).
    var cachesBlocks = false
    /// Whether a total may share a layer's warp (`Plan.totalsSharingALayerWarp`): only when a
    /// pass of the model reads the layer before the totals stage does.
    var sharesTotalWarps = false
    init(_ env: RunEnvironment) { self.env = env }

    var name: String { "align" }
    var reads: [RunProduct] { [] }
    var produces: [RunProduct] { [.alignedLayers] }

    func run(_ context: RunContext) throws {
        var all = plan.sources
        if let mask = plan.mask { all.append(mask) }
        var aligned: [AlignedLayer] = []
        let shared = sharesTotalWarps ? sharedWarpCaches(work: context.files.work) : [:]
        let distances = proximityAside(all, work: context.files.work)
        defer { distances.forEach { $0.wait() } }
        for (i, source) in all.enumerated() {
            report("align", i, all.count)
            var layer = try distances.isEmpty || source.kind != .proximity
                ? alignLayer(source, work: context.files.work, float64: shared[i] != nil)
                : alignedAside(i, all, distances)
            if layer.readsFloat64 { layer.float64 = shared[i] }
            if source.kind == .raster, layer.tally == nil {
                context.inputs[i].statistics = try scanSource(source).statistics
            }
            context.inputs[i].alignment = layer.alignment.rawValue
            aligned.append(layer)
        }
        report("align", all.count, all.count)
        if cachesBlocks { aligned = cachingBlocks(aligned, work: context.files.work, names: all.map(\.key)) }
        context.mask = plan.mask == nil ? nil : aligned.removeLast()
        context.aligned = aligned
    }
}

extension AlignStage {
    typealias Distances = BackgroundTask<[Int: Result<AlignedLayer, any Error>]>

    /// The proximity layers of `all` computed two at a time beside the other layers' alignment
    /// (each sweep on all workers; a sweep's serial upward pass overlaps the other's): two tasks,
    /// each aligning every other proximity layer in order until one fails. None when there are
    /// fewer than two, or when GDAL aligns every layer (`--align-with-gdal`).
    func proximityAside(_ all: [SourcePlan], work: String) -> [Distances] {
        let indices = all.indices.filter { all[$0].kind == .proximity }
        guard indices.count > 1, options.alignFastPaths else { return [] }
        var halved = options
        halved.proximityBandRows = max(1, plan.blockSize / 2)
        let stage = AlignStage(RunEnvironment(plan: plan, options: halved, logger: logger))
        return (0..<2).map { k in
            let mine = stride(from: k, to: indices.count, by: 2).map { indices[$0] }
            return Distances(gdalConfig: plan.job.gdalConfig) {
                var out: [Int: Result<AlignedLayer, any Error>] = [:]
                for i in mine {
                    let r = Result { try stage.alignLayer(all[i], work: work) }
                    out[i] = r
                    if case .failure = r { break }
                }
                return out
            }
        }
    }

    /// Proximity layer `i` as its task aligned it (its error, as the loop in layer order would meet it).
    func alignedAside(_ i: Int, _ all: [SourcePlan], _ tasks: [Distances]) throws -> AlignedLayer {
        let position = all.indices.filter { all[$0].kind == .proximity }.firstIndex(of: i) ?? 0
        guard let result = try tasks[position % tasks.count].value()[i] else {
            throw RunError(.software, "internal error: layers.\(all[i].key) was not aligned")
        }
        return try result.get()
    }

    /// The layers whose warp a total shares (`Plan.totalsSharingALayerWarp`), each with the cache
    /// of its Float64 values: only where the fast paths read the layers, the model's units are the
    /// totals' blocks, the source reaches the warper unchanged in Float32 and Float64 (Byte, Int16,
    /// UInt16 or Float32 values, a nodata exact in Float32, no mask band) and the work folder has room.
    func sharedWarpCaches(work: String) -> [Int: LayerBlockCache] {
        let layers = Set(plan.totalsSharingALayerWarp.values)
        let units = memoryPlan
        guard !layers.isEmpty, options.alignFastPaths, units.width == plan.blockSize, units.height == plan.blockSize,
              roomForCaches(layers: layers.count, bytesPerPixel: MemoryLayout<Double>.size, work: work) else { return [:] }
        var caches: [Int: LayerBlockCache] = [:]
        for i in layers.sorted() {
            let source = plan.sources[i], def = source.definition
            guard let ds = try? Dataset(open: def.source, flags: [.raster]), def.band >= 1, def.band <= ds.bandCount,
                  let band = try? ds.band(def.band), band.readsAsTheWarperDoes else { continue }
            if let n = source.warp?.sourceNoData ?? band.noDataValue, !n.isNaN, Double(Float(n)) != n { continue }
            caches[i] = LayerBlockCache(folder: work, name: "\(source.key)-float64")
        }
        if !caches.isEmpty {
            logger.debug("warps shared with totals", metadata: ["layers": "\(caches.keys.sorted().map { plan.sources[$0].key })"])
        }
        return caches
    }
}

extension RunScoped {

    /// Aligns a source onto the grid. Rasters become a warped VRT (warping happens block by block
    /// as workers read); vectors are rasterised once into a tiled GeoTIFF.
    /// `float64`: a raster warped to Float64 instead of the plan's type (a warp a total shares).
    func align(_ source: SourcePlan, work: String, float64: Bool = false) throws -> String {
        let def = source.definition
        let what = source.key == "mask" ? "grid.mask (layer \(def.name))" : "layers.\(source.key) (layer \(def.name))"
        let ds: Dataset
        do { ds = try Dataset(open: def.source) } catch { throw inputError(error, file: def.source, what: what) }
        do {
            switch source.kind {
            case .raster:
                var input = ds
                if ds.bandCount > 1 || def.band != 1 {
                    input = try Utilities.translate(ds, to: work.appendingComponent("\(source.key)-band.vrt"),
                                                    arguments: ["-of", "VRT", "-b", "\(def.band)"])
                    try input.flush()
                }
                let path = work.appendingComponent("\(source.key).vrt")
                // Warped in units of the compute stage (whole blocks unless the memory budget cuts them).
                let bs = "\(plan.blockSize)", rows = "\(memoryPlan.height)"
                var arguments = source.arguments
                if float64, var spec = source.warp {
                    spec.outputType = .float64
                    arguments = spec.gdalwarpArguments
                }
                let vrt = try Utilities.warp([input], to: path, arguments: arguments
                    + ["-of", "VRT", "-co", "BLOCKXSIZE=\(bs)", "-co", "BLOCKYSIZE=\(rows)"])
                guard vrt.width == plan.grid.width, vrt.height == plan.grid.height else {
                    throw RunError(.software, "\(def.source): warped size \(vrt.width)×\(vrt.height) differs from the grid \(plan.grid.width)×\(plan.grid.height)")
                }
                try vrt.close()
                try input.close()
                return path
            case .vector:
                let path = work.appendingComponent("\(source.key).tif")
                let bs = "\(plan.blockSize)"
                var vector = ds
                if let reproject = source.reprojectArguments {
                    // Reprojected in memory: gdal_rasterize does not reproject into a new raster.
                    vector = try Utilities.vectorTranslate(ds, to: "", arguments: ["-f", "Memory"] + reproject
                        + [source.layerName ?? ""])
                }
                let out = try Utilities.rasterize(vector, to: path, arguments: source.arguments
                    + ["-of", "GTiff", "-co", "TILED=YES", "-co", "BLOCKXSIZE=\(bs)", "-co", "BLOCKYSIZE=\(bs)", "-co", "SPARSE_OK=YES"])
                guard out.width == plan.grid.width, out.height == plan.grid.height else {
                    throw RunError(.software, "\(def.source): rasterised size \(out.width)×\(out.height) differs from the grid \(plan.grid.width)×\(plan.grid.height)")
                }
                try out.close()
                return path
            case .proximity:
                return try alignProximity(source, work: work)
            }
        } catch let error as GDALError {
            // The source was opened (and a raster's every pixel read) before: what fails here is
            // GDAL moving data into the staging area (a full disk, a file-size limit, a read error
            // deep inside a vector source). GDAL's drivers report these with mixed numbers
            // (libtiff's write errors are CPLE_AppDefined), so the stage decides: an I/O error.
            throw RunError(.ioError, "\(def.source): \(what): aligning onto the grid in \(work) failed: \(error.readingMessage)")
        }
    }
}
