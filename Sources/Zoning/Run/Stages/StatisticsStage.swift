import COGWriter
import Foundation
import GDALKit
import RasterKernel

/// The kernel a run streams its blocks through: the fixed v1 kernel, or the compiled risk model.
enum BlockKernel: Sendable {
    case fixed(RiskKernel)
    case model(ModelKernel)

    func run(count: Int, inputs: [UnsafeBufferPointer<Float>], mask: UnsafeBufferPointer<Float>?,
             index: UnsafeMutableBufferPointer<Float>, classes: UnsafeMutableBufferPointer<UInt8>) -> ModelKernel.Counters {
        switch self {
        case .fixed(let k):
            k.run(count: count, inputs: inputs, mask: mask, index: index, classes: classes)
            return ModelKernel.Counters()
        case .model(let k):
            return k.run(count: count, inputs: inputs, mask: mask, index: index, classes: classes)
        }
    }
}

/// The statistics stage: the data-driven parts of the model (min-max ranges, entropy weights)
/// from statistics passes over the aligned layers, and the kernel compiled.
struct StatisticsStage: Stage {
    let env: RunEnvironment
    init(_ env: RunEnvironment) { self.env = env }

    var name: String { "statistics" }
    var reads: [RunProduct] { [.alignedLayers] }
    var produces: [RunProduct] { [.model] }
    /// Its passes are counted by `passes(plan)`.
    var readsLayerUnits: Bool { false }

    func run(_ context: RunContext) throws {
        context.aligned = try transformedLayers(context.aligned, mask: context.mask)
        if let shared = context.sharedStatistics {
            // A shard of a sharded run whose statistics were computed once (`run --shard-statistics`).
            let resolution = shared.resolution
            context.model = ResolvedModel(kernel: compile(resolution), resolution: resolution)
            context.modelInfo = shared.model
            return
        }
        let (kernel, info, resolution) = try checkingSources(context.aligned) {
            try resolveModel(aligned: context.aligned, mask: context.mask)
        }
        context.model = ResolvedModel(kernel: kernel, resolution: resolution)
        context.modelInfo = info
        // The pass of the value transforms (`transformedLayers`: ranks, the log's domain).
        if plan.job.layers.contains(where: { $0.transform?.needsPass == true }) { context.modelInfo?.statisticsPasses += 1 }
    }

    /// The statistics passes the plan needs before the main pass: one for the min-max ranges
    /// taken from the data, one per level of entropy weights (0 for fixed ranges and weights).
    static func passes(_ plan: Plan) -> Int {
        let transformPass = plan.job.layers.contains { $0.transform?.needsPass == true } ? 1 : 0
        guard plan.kernel == nil else { return transformPass }
        var passes = transformPass + (plan.job.layers.contains(where: \.dataMinMax) ? 1 : 0)
        let compiler = ModelCompiler(job: plan.job)
        var resolved = Set<String>()
        while case let nodes = compiler.nextEntropyNodes(resolved: resolved), !nodes.isEmpty {
            passes += 1
            resolved.formUnion(nodes.map(\.name))
        }
        return passes
    }
}

extension StatisticsStage {
    /// Resolves the data-driven parts of the model (min-max ranges, entropy weights) with
    /// statistics passes over the aligned layers, and compiles the kernel.
    func resolveModel(aligned: [AlignedLayer], mask: AlignedLayer?) throws -> (BlockKernel, Manifest.ModelInfo, ModelResolution) {
        let job = plan.job
        var resolution = ModelResolution()
        resolution.overrides = options.weightOverrides  // the counterfactual runs of `changes --explain`
        var passes = 0
        if let kernel = plan.kernel {
            return (.fixed(reweighted(kernel, resolution)), modelInfo(resolution, passes: 0, kernel: "fixed"), resolution)
        }
        let compiler = ModelCompiler(job: job)

        // Pass: min and max of every `min-max: data` layer over its valid pixels inside the mask.
        let minMax = job.layers.indices.filter { job.layers[$0].dataMinMax }
        if !minMax.isEmpty {
            let partials = try timed("min-max pass") {
                try mapBlocks(aligned: aligned, mask: mask, layers: minMax) { _, inputs, maskValues in
                    minMax.indices.map { i in ModelKernel.finiteRange(inputs[i], mask: maskValues) }
                }
            }
            passes += 1
            for (i, l) in minMax.enumerated() {
                var lo = Float.infinity, hi = -Float.infinity, n = 0
                for p in partials { lo = min(lo, p[i].minimum); hi = max(hi, p[i].maximum); n += p[i].count }
                let use = job.layers[l]
                let what = "\(use.definition.source): layers.\(use.key) (layer \(use.definition.name))"
                guard n > 0 else { throw RunError(.dataError, "\(what): min-max: data: no valid pixel on the grid inside the mask") }
                guard hi > lo else {
                    throw RunError(.dataError, "\(what): min-max: data: the layer is constant (\(formatNumber(Double(lo))) at all \(n) valid pixels inside the mask); a constant indicator cannot be normalised by its range — drop it or give linear: [min, max]")
                }
                resolution.ranges[use.key] = (Double(lo), Double(hi))
            }
        }

        // Passes: entropy weights, innermost first (an entropy index over other entropy indices
        // needs their weights before its members can be computed).
        while true {
            let nodes = compiler.nextEntropyNodes(resolution)
            if nodes.isEmpty { break }
            let targets = Array(Set(nodes.flatMap(\.members))).sorted()
            let (program, registers) = compiler.program(targets: targets, resolution: resolution)
            let kernel = ModelKernel(program: program, layerCount: job.layers.count, output: registers[targets[0]]!, breaks: [])
            let groups = nodes.map { $0.members.map { registers[$0]! } }
            // Only the layers the members are computed from are read; the others stand in as NaN
            // (no step of this program loads them, and a sum's validity is its members').
            let needed = Set(program.steps.compactMap { step -> Int? in
                if case .normalize(let layer, _) = step { return layer } else { return nil }
            }).sorted()
            let layerCount = job.layers.count, unit = memoryPlan.width * memoryPlan.height
            let filler = [Float](repeating: .nan, count: unit)
            let partials = try timed("entropy pass") { try mapBlocks(aligned: aligned, mask: mask, layers: needed) { block, inputs, maskValues in
                filler.withUnsafeBufferPointer { nan in
                    var all = [UnsafeBufferPointer<Float>](repeating: UnsafeBufferPointer(rebasing: nan[0..<block.window.count]), count: layerCount)
                    for (k, layer) in needed.enumerated() { all[layer] = inputs[k] }
                    return kernel.entropySums(count: block.window.count, inputs: all, mask: maskValues, groups: groups)
                }
            } }
            passes += 1
            for (g, node) in nodes.enumerated() {
                var sums = EntropySums(members: node.members.count)
                for p in partials { sums.merge(p[g]) }  // block order: independent of the thread count
                do {
                    resolution.entropy[node.name] = try EntropyWeights(sums, prior: node.prior)
                } catch {
                    throw RunError(.dataError, "\(job.file): \(node.key): entropy weights over \(node.members.joined(separator: ", ")): \(error)")
                }
            }
        }
        return (compile(resolution), modelInfo(resolution, passes: passes, kernel: "model"), resolution)
    }

    /// The kernel of the job's model with its data-driven parts resolved.
    func compile(_ resolution: ModelResolution) -> BlockKernel {
        if let kernel = plan.kernel { return .fixed(reweighted(kernel, resolution)) }
        let (program, registers) = ModelCompiler(job: plan.job).program(targets: ["combine"], resolution: resolution)
        return .model(ModelKernel(program: program, layerCount: plan.job.layers.count, output: registers["combine"]!,
                                  breaks: plan.job.classify.breaks))
    }

    func modelInfo(_ resolution: ModelResolution, passes: Int, kernel: String) -> Manifest.ModelInfo {
        let job = plan.job
        let layers = job.layers.map { use -> Manifest.ModelInfo.Layer in
            var form: String
            var lo: Double?, hi: Double?
            switch use.normalization {
            case .curve: form = "curve"
            case .linear(let a, let b): form = "linear"; lo = a; hi = b
            case .table: form = "table"
            }
            if use.proximity { form = "proximity-" + form }
            if use.dataMinMax {
                form = "min-max-data"
                lo = resolution.ranges[use.key]?.minimum
                hi = resolution.ranges[use.key]?.maximum
            }
            if let transform = use.transform { form = transform.form }
            return .init(key: use.key, normalization: form, minimum: lo, maximum: hi,
                         direction: use.negative ? "negative" : "positive", resampling: use.resampling.rawValue,
                         errorThreshold: use.errorThreshold)
        }
        func info(_ node: ModelNode) -> Manifest.ModelInfo.Node {
            let entropy = resolution.entropy[node.name]
            let weights: [Double]? = entropy?.weights ?? (node.weights.isEmpty ? nil : node.weights)
            return .init(name: node.name, form: node.form.rawValue, members: node.members, weights: weights,
                         formula: node.formula(weights: entropy?.weights), direction: node.negative ? "negative" : "positive",
                         ahpConsistencyRatio: node.ahpConsistencyRatio, prior: node.prior, entropy: entropy?.entropy,
                         divergence: entropy?.divergence, objectiveWeights: entropy?.objective, entropyPixels: entropy?.pixels)
        }
        return .init(kernel: kernel, layers: layers, indices: job.indices.map(info), combine: info(job.combine.node),
                     nonFiniteResults: 0, statisticsPasses: passes)
    }
}
