import Foundation
import GDALKit
import RasterKernel

/// The attribution stage: `attribution.json`, each township's mean index split exactly into the
/// contributions of the model's members and indicators (`Attribution.swift`), for the report's
/// 归因 section. One pass over the aligned layers, the published index and classes and the
/// township grid; partial sums per block, added in block order (independent of `--threads`).
struct AttributionStage: Stage {
    let env: RunEnvironment
    /// The main pass sums the attribution (a run's pipeline): this stage then makes no pass of its own.
    let inMainPass: Bool
    init(_ env: RunEnvironment, inMainPass: Bool = false) {
        self.env = env
        self.inMainPass = inMainPass
    }

    var name: String { "attribution" }
    var reads: [RunProduct] { [.alignedLayers, .model, .indexRaster, .classRaster, .townshipGrid, .townshipTables] }
    var produces: [RunProduct] { [.attribution] }
    var readsLayerUnits: Bool { !inMainPass }

    func run(_ context: RunContext) throws {
        guard plan.job.townshipSource != nil, let rows = context.townshipRows else { return }
        let info = context.required(context.modelInfo, .model, by: name)
        let grid = context.required(context.townshipGrid, .townshipGrid, by: name)
        let pass = AttributionPass(job: plan.job, info: info, towns: grid.townships.names.count)
        // The main pass summed them while the layers were in memory (an unsharded run), else a pass of its own.
        let sums = try context.attributionSums ?? sumBlocks(context, pass: pass, townships: grid)
        let attribution = Attribution.make(rows: rows, sums: sums, split: pass.split, job: plan.job, weights: pass.weights[plan.job.combine.node.name])
        try write(try Manifest.json(attribution), to: context.files.staged("attribution.json"))
    }
}

/// The attribution's sums over the pixels of one unit, made by the attribution stage's own pass
/// or inside the main pass (`ComputeStage`), where the unit's layers are already read: per
/// township (row = id, 0 unused) valid pixels, Σ index, Σ member values, Σ member parts, Σ
/// indicator parts; the units' sums are added in unit order (independent of `--threads`).
struct AttributionPass: Sendable {
    let kernel: ModelKernel
    let split: AttributionSplit
    let weights: [String: [Double]]
    /// Townships (ids 1…towns).
    let towns: Int

    init(job: JobSpec, info: Manifest.ModelInfo, towns: Int) {
        var weights: [String: [Double]] = [:]
        var resolution = ModelResolution()
        for node in info.indices + [info.combine] {
            if let w = node.weights { weights[node.name] = w; resolution.overrides[node.name] = w }
        }
        for layer in info.layers where layer.normalization == "min-max-data" {
            if let lo = layer.minimum, let hi = layer.maximum { resolution.ranges[layer.key] = (lo, hi) }
        }
        let targets = job.layers.map(\.key) + job.indices.map(\.name) + ["combine"]
        let (program, registers) = ModelCompiler(job: job).program(targets: targets, resolution: resolution)
        kernel = ModelKernel(program: program, layerCount: job.layers.count, output: registers["combine"]!, breaks: [])
        split = AttributionSplit(job: job, registers: registers, weights: weights)
        self.weights = weights
        self.towns = towns
    }

    /// Values per township row.
    var width: Int { 2 + 2 * (split.nodes.first?.members.count ?? 0) + split.indicators.count }

    /// One unit's sums, `(towns + 1) × width`: `valid(p)` says whether pixel p has a class (the
    /// published class raster's rule), `index` is the published index, `town` the township ids.
    /// The pixels a township counts are gathered (in pixel order, `gather` at a time) and only they
    /// are evaluated and split: each pixel's registers and parts are its own (the kernel and the
    /// split work pixel by pixel), and each sum takes its pixels in the unit's pixel order.
    func sums(count: Int, inputs: [UnsafeBufferPointer<Float>], index: UnsafeBufferPointer<Float>,
              town: UnsafeBufferPointer<Float>, valid: (Int) -> Bool) -> [Double] {
        let n = towns
        let m = split.nodes.first?.members.count ?? 0, k = split.indicators.count
        let width = self.width
        var sums = [Double](repeating: 0, count: (n + 1) * width)
        let scratch = AttributionSplit.Scratch(split)
        let S = ModelKernel.stripLength, C = Self.gather, layers = inputs.count
        let values = UnsafeMutablePointer<Float>.allocate(capacity: max(layers, 1) * C)
        let indices = UnsafeMutablePointer<Double>.allocate(capacity: C), ids = UnsafeMutablePointer<Int>.allocate(capacity: C)
        defer { values.deallocate(); indices.deallocate(); ids.deallocate() }
        let split = self.split
        sums.withUnsafeMutableBufferPointer { sums in
            func flush(_ g: Int) {
                let gathered = (0..<layers).map { UnsafeBufferPointer(start: values + $0 * C, count: g) }
                kernel.forEachStrip(count: g, inputs: gathered) { regs, start, count in
                    split.prepareStrip(n: count, registers: regs, scratch: scratch)
                    split.splitStrip(index: indices + start, n: count, registers: regs, scratch: scratch)
                    let top = scratch.stripTop, parts = scratch.stripParts
                    for q in 0..<count {
                        let base = ids[start + q] * width
                        sums[base] += 1
                        sums[base + 1] += indices[start + q]
                        for j in 0..<m { sums[base + 2 + j] += Double(regs[scratch.register[j] * S + q]) }
                        for j in 0..<m { sums[base + 2 + m + j] += top[j * S + q] }
                        for j in 0..<k { sums[base + 2 + 2 * m + j] += parts[j * S + q] }
                    }
                }
            }
            var g = 0
            for p in 0..<count {
                let t = town[p]
                guard t >= 1, t < Float(n + 1), valid(p) else { continue }
                for l in 0..<layers { values[l * C + g] = inputs[l][p] }
                indices[g] = Double(index[p])
                ids[g] = Int(t)
                g += 1
                if g == C { flush(g); g = 0 }
            }
            if g > 0 { flush(g) }
        }
        return sums
    }

    /// Pixels gathered before the model is evaluated over them (whole strips of the kernel).
    static let gather = 4 * ModelKernel.stripLength

    /// The units' sums added in unit order, as rows per township.
    func total(_ partials: [[Double]]) -> [[Double]] {
        let width = self.width
        var total = [Double](repeating: 0, count: (towns + 1) * width)
        for sums in partials {  // unit order: independent of the thread count
            for i in total.indices { total[i] += sums[i] }
        }
        return (0...towns).map { Array(total[($0 * width)..<(($0 + 1) * width)]) }
    }
}

extension AttributionStage {
    /// The sums in a pass of the stage's own over the aligned layers, the published index and
    /// classes and the township grid.
    func sumBlocks(_ context: RunContext, pass: AttributionPass, townships: TownshipGrid) throws -> [[Double]] {
        let layerCount = context.aligned.count
        // The index, classes and townships read by the engine beside the layers (as Float32: exact
        // for the index, the class bytes and township ids).
        let extra: [(layer: AlignedLayer, name: String)] = [(.file(context.files.indexForReading), "the risk index"),
                                                            (.file(context.files.classRaster), "risk class"),
                                                            (.file(townships.raster), "townships")]
        let partials = try mapBlocks(aligned: context.aligned, mask: nil, layers: nil, extra: extra) { block, buffers, _ -> [Double] in
            let classes = buffers[layerCount + 1]
            return pass.sums(count: block.window.count, inputs: Array(buffers.prefix(layerCount)), index: buffers[layerCount],
                             town: buffers[layerCount + 2], valid: { classes[$0] > 0 })
        }
        return pass.total(partials)
    }
}
