import Foundation
import RasterKernel

/// One block's account of a transformed layer's untransformed values inside the mask.
struct TransformPartial: Sendable {
    /// `quantile`: run-length counts, ascending.
    var runs: [(value: Float, count: Int)] = []
    /// `log`: values with v + offset ≤ 0, and the smallest value.
    var outOfDomain = 0
    var minimum = Float.infinity
}

extension StatisticsStage {
    /// The aligned layers with their value transforms set (`LayerTransform`), before any statistics
    /// pass reads them: one pass over the untransformed values of the layers that need one builds
    /// the exact rank tables of `quantile: data` and checks the domain of `log: data`. Every pass
    /// after this one (min-max ranges, entropy, the main pass, sensitivity) reads transformed values.
    func transformedLayers(_ aligned: [AlignedLayer], mask: AlignedLayer?) throws -> [AlignedLayer] {
        let job = plan.job
        var out = aligned
        let targets = job.layers.indices.filter { job.layers[$0].transform != nil }
        for l in targets { out[l].transform = job.layers[l].transform }
        let passing = targets.filter { job.layers[$0].transform!.needsPass }
        guard !passing.isEmpty else { return out }
        let transforms = passing.map { job.layers[$0].transform! }
        let partials = try checkingSources(aligned) {
            try mapBlocks(aligned: aligned, mask: mask, layers: passing) { _, inputs, maskValues in
                transforms.indices.map { i in StatisticsStage.partial(transforms[i], inputs[i], mask: maskValues) }
            }
        }
        for (i, l) in passing.enumerated() {
            let use = job.layers[l]
            let what = "\(use.definition.source): layers.\(use.key) (layer \(use.definition.name))"
            switch transforms[i] {
            case .log(let offset):
                let bad = partials.reduce(0) { $0 + $1[i].outOfDomain }
                if bad > 0 {
                    let smallest = partials.map { $0[i].minimum }.min() ?? .nan
                    throw RunError(.dataError, "\(what): log: data takes ln(v + \(formatNumber(offset))) and needs v > \(formatNumber(-offset)); \(bad) valid pixels inside the mask are not (smallest \(formatNumber(Double(smallest)))); give a larger offset or clean the layer")
                }
            case .quantile:
                let table = RankTable(merging: partials.map { $0[i].runs })
                guard table.total > 0 else { throw RunError(.dataError, "\(what): quantile: data: no valid pixel on the grid inside the mask") }
                guard table.values.count > 1 else {
                    throw RunError(.dataError, "\(what): quantile: data: the layer is constant (\(formatNumber(Double(table.values[0]))) at all \(table.total) valid pixels inside the mask); a constant indicator cannot be ranked — drop it")
                }
                out[l].transform = .quantile(table)
            case .cbrt:
                break
            }
        }
        return out
    }

    static func partial(_ transform: LayerTransform, _ values: UnsafeBufferPointer<Float>, mask: UnsafeBufferPointer<Float>?) -> TransformPartial {
        var p = TransformPartial()
        switch transform {
        case .quantile:
            p.runs = RankTable.runs(values, mask: mask)
        case .log(let offset):
            for i in values.indices where values[i].isFinite && (mask.map { $0[i] != 0 } ?? true) {
                p.minimum = min(p.minimum, values[i])
                if !(Double(values[i]) + offset > 0) { p.outOfDomain += 1 }
            }
        case .cbrt:
            break
        }
        return p
    }
}
