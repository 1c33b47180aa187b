import Foundation
import GDALKit
import RasterKernel

/// The attribution stage: `attribution.json`, each township's mean index split exactly into the
/// contributions of the model's members and indicators (`Attribution.swift`), for the report's
/// 归因 section. One pass over the aligned layers, the published index and classes and the
/// township grid; partial sums per block, added in block order (independent of `--threads`).
struct AttributionStage: Stage {
    let env: RunEnvironment
    init(_ env: RunEnvironment) { self.env = env }

    var name: String { "attribution" }
    var reads: [RunProduct] { [.alignedLayers, .model, .indexRaster, .classRaster, .townshipGrid, .townshipTables] }
    var produces: [RunProduct] { [.attribution] }

    func run(_ context: RunContext) throws {
        guard plan.job.townshipSource != nil, let rows = context.townshipRows else { return }
        let info = context.required(context.modelInfo, .model, by: name)
        let grid = context.required(context.townshipGrid, .townshipGrid, by: name)
        let job = plan.job
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
        let kernel = ModelKernel(program: program, layerCount: job.layers.count, output: registers["combine"]!, breaks: [])
        let split = AttributionSplit(job: job, registers: registers, weights: weights)
        let sums = try sumBlocks(context, kernel: kernel, split: split, townships: grid)
        let attribution = Attribution.make(rows: rows, sums: sums, split: split, job: job, weights: weights[job.combine.node.name])
        try write(try Manifest.json(attribution), to: context.files.staged("attribution.json"))
    }
}

extension AttributionStage {
    /// The per-township sums, block by block over the aligned layers on the block engine: per
    /// township (row = id, 0 unused) valid pixels, Σ index, Σ member values, Σ member parts, Σ indicator parts.
    func sumBlocks(_ context: RunContext, kernel: ModelKernel, split: AttributionSplit, townships: TownshipGrid) throws -> [[Double]] {
        let n = townships.townships.names.count
        let m = split.nodes.first?.members.count ?? 0, k = split.indicators.count
        let width = 2 + 2 * m + k
        let layerCount = context.aligned.count
        // The index, classes and townships read by the engine beside the layers (as Float32: exact
        // for the index, the class bytes and township ids).
        let extra: [(layer: AlignedLayer, name: String)] = [(.file(context.files.indexForReading), "the risk index"),
                                                            (.file(context.files.classRaster), "risk class"),
                                                            (.file(townships.raster), "townships")]
        let partials = try mapBlocks(aligned: context.aligned, mask: nil, layers: nil, extra: extra) { block, buffers, _ -> [Double] in
            let w = block.window
            let inputs = Array(buffers.prefix(layerCount))
            let (index, classes, town) = (buffers[layerCount], buffers[layerCount + 1], buffers[layerCount + 2])
            var sums = [Double](repeating: 0, count: (n + 1) * width)
            var top = [Double](repeating: 0, count: max(m, 1)), parts = [Double](repeating: 0, count: max(k, 1))
            let scratch = AttributionSplit.Scratch(split)
            let S = ModelKernel.stripLength
            sums.withUnsafeMutableBufferPointer { sums in
                top.withUnsafeMutableBufferPointer { top in
                    parts.withUnsafeMutableBufferPointer { parts in
                        kernel.forEachStrip(count: w.count, inputs: inputs) { regs, start, count in
                            split.prepareStrip(n: count, value: { Double(regs[$0 * S + $1]) }, scratch: scratch)
                            for q in 0..<count {
                                let p = start + q, t = Int(town[p])
                                guard t > 0, t <= n, classes[p] > 0 else { continue }
                                for j in 0..<m { top[j] = 0 }
                                for j in 0..<k { parts[j] = 0 }
                                split.split(index: Double(index[p]), pixel: q, value: { Double(regs[$0 * S + q]) }, scratch: scratch,
                                            into: parts.baseAddress!, top: top.baseAddress!)
                                let base = t * width
                                sums[base] += 1
                                sums[base + 1] += Double(index[p])
                                for j in 0..<m { sums[base + 2 + j] += Double(regs[scratch.register[j] * S + q]) }
                                for j in 0..<m { sums[base + 2 + m + j] += top[j] }
                                for j in 0..<k { sums[base + 2 + 2 * m + j] += parts[j] }
                            }
                        }
                    }
                }
            }
            return sums
        }
        var total = [Double](repeating: 0, count: (n + 1) * width)
        for sums in partials {  // block order: independent of the thread count
            for i in total.indices { total[i] += sums[i] }
        }
        return (0...n).map { Array(total[($0 * width)..<(($0 + 1) * width)]) }
    }
}
