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

extension Manifest {
    /// The risk model as applied: every normalisation with its range, every combination with the
    /// weights actually used (fixed, AHP or computed from the data), and what the kernel counted.
    public struct ModelInfo: Codable, Sendable, Equatable {
        public struct Layer: Codable, Sendable, Equatable {
            public var key: String
            /// curve, linear, table, proximity-curve, proximity-linear or min-max-data.
            public var normalization: String
            /// linear and min-max: the bounds applied.
            public var minimum: Double?
            public var maximum: Double?
            public var direction: String
            public var resampling: String
            public var errorThreshold: Double
        }
        public struct Node: Codable, Sendable, Equatable {
            public var name: String
            public var form: String
            public var members: [String]
            public var weights: [Double]?
            public var formula: String
            public var direction: String
            public var ahpConsistencyRatio: Double?
            /// Entropy: the subjective prior, the entropies eⱼ, divergences dⱼ, objective weights and pixels used.
            public var prior: [Double]?
            public var entropy: [Double]?
            public var divergence: [Double]?
            public var objectiveWeights: [Double]?
            public var entropyPixels: Int?
        }
        /// `fixed` (the v1 kernel) or `model` (the compiled model kernel).
        public var kernel: String
        public var layers: [Layer]
        public var indices: [Node]
        public var combine: Node
        /// Pixels whose every input was valid but whose result was NaN or ±inf (written as nodata).
        public var nonFiniteResults: Int
        /// Statistics passes over the aligned layers before the main pass.
        public var statisticsPasses: Int
    }
}

extension Runner {
    /// Resolves the data-driven parts of the model (min-max ranges, entropy weights) with
    /// statistics passes over the aligned layers, and compiles the kernel.
    func resolveModel(aligned: [AlignedLayer], mask: AlignedLayer?) throws -> (BlockKernel, Manifest.ModelInfo, ModelResolution) {
        let job = plan.job
        var resolution = ModelResolution()
        var passes = 0
        if let kernel = plan.kernel {
            return (.fixed(kernel), modelInfo(resolution, passes: 0, kernel: "fixed"), resolution)
        }
        let compiler = ModelCompiler(job: job)

        // Pass: min and max of every `min-max: data` layer over its valid pixels inside the mask.
        let minMax = job.layers.indices.filter { job.layers[$0].dataMinMax }
        if !minMax.isEmpty {
            let partials = try mapBlocks(aligned: aligned, mask: mask, layers: minMax) { _, inputs, maskValues in
                minMax.indices.map { i in ModelKernel.finiteRange(inputs[i], mask: maskValues) }
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
            let partials = try mapBlocks(aligned: aligned, mask: mask, layers: nil) { block, inputs, maskValues in
                kernel.entropySums(count: block.window.count, inputs: inputs, mask: maskValues, groups: groups)
            }
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
        let (program, registers) = compiler.program(targets: ["combine"], resolution: resolution)
        let kernel = ModelKernel(program: program, layerCount: job.layers.count, output: registers["combine"]!,
                                 breaks: job.classify.breaks)
        return (.model(kernel), modelInfo(resolution, passes: passes, kernel: "model"), resolution)
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

    /// Runs `body` on every block of the grid on worker threads (each with its own datasets) and
    /// returns the results in block order. `layers` limits which aligned layers are read (`body`
    /// gets their buffers in that order); nil reads all.
    func mapBlocks<T: Sendable>(aligned: [AlignedLayer], mask: AlignedLayer?, layers: [Int]?,
                                _ body: @escaping @Sendable (Block, [UnsafeBufferPointer<Float>], UnsafeBufferPointer<Float>?) -> T) throws -> [T] {
        let memory = memoryPlan
        var slots = [T?](repeating: nil, count: plan.grid.blocks(width: memory.width, height: memory.height).count)
        // What to name in a read error: the layer's own source, not the aligned copy.
        let names = (plan.sources + (plan.mask.map { [$0] } ?? [])).map { "\($0.definition.source) (layer \($0.definition.name))" }
        let wanted = layers ?? Array(aligned.indices)
        try streamBlocks(rasters: wanted.map { (aligned[$0], names[$0]) }, mask: mask.map { ($0, names[aligned.count]) }, body) { block, result in
            slots[block.index] = result
        }
        return slots.map { $0! }
    }

    /// Runs `body` on every block on worker threads, each reading `rasters` (as Float32; any
    /// aligned layer of the grid, `LayerReading.swift`) and the mask with readers of its own, and
    /// hands the results to `consume` on the calling thread as they finish. Units, workers and
    /// units in flight follow the run's memory plan (`MemoryBudget.swift`): memory is bounded by
    /// it, never by the grid. `rasters` and `mask` are (layer, the name a read error gives).
    func streamBlocks<T: Sendable>(rasters: [(layer: AlignedLayer, name: String)], mask: (layer: AlignedLayer, name: String)?,
                                   _ body: @escaping @Sendable (Block, [UnsafeBufferPointer<Float>], UnsafeBufferPointer<Float>?) -> T,
                                   consume: (Block, T) throws -> Void) throws {
        try streamBlocks(rasters: rasters, mask: mask, state: {}, { (_: inout Void, block, buffers, maskValues) in
            body(block, buffers, maskValues)
        }, consume: consume)
    }

    /// Units in the order the run's COG writers hold least in (`TileOrder`: the overview
    /// quadtree's Z order over the tiles; row-major when the writers go row by row): a unit is
    /// placed by the tile holding its top-left pixel, strips of one tile top to bottom.
    func unitOrder(_ blocks: [Block]) -> [Block] {
        let t = cogTileSize
        let order = TileOrder(width: plan.grid.width, height: plan.grid.height, tileSize: t)
        guard order.quadtreeLevels > 0 else { return blocks }
        return blocks.map { (order.key(column: $0.window.x / t, row: $0.window.y / t), $0) }
            .sorted { ($0.0.band, $0.0.position, $0.1.window.y, $0.1.window.x) < ($1.0.band, $1.0.position, $1.1.window.y, $1.1.window.x) }
            .map(\.1)
    }

    /// The same with state of each worker's own (scratch buffers reused from unit to unit), made
    /// by `state` on the worker's thread.
    func streamBlocks<State, T: Sendable>(rasters: [(layer: AlignedLayer, name: String)], mask: (layer: AlignedLayer, name: String)?,
                                          state makeState: @escaping @Sendable () -> State,
                                          units: Range<Int>? = nil,
                                          _ body: @escaping @Sendable (inout State, Block, [UnsafeBufferPointer<Float>], UnsafeBufferPointer<Float>?) throws -> T,
                                          consume: (Block, T) throws -> Void) throws {
        let memory = memoryPlan
        // `units`: only these units of the grid (a shard's band, Shards.swift); their indices stay the grid's.
        let grid = plan.grid.blocks(width: memory.width, height: memory.height)
        // Handed out in the COG writers' tile order (a permutation: results are keyed by block).
        let blocks = unitOrder(units.map { Array(grid[$0]) } ?? grid)
        let workers = min(memory.workers, max(1, blocks.count))
        let pipeline = BlockPipeline<(Int, T)>(total: blocks.count, workers: workers, capacity: memory.inFlight)
        let capacity = memory.width * memory.height
        var threads: [Thread] = []
        for _ in 0..<workers {
            let thread = Thread {
                defer { pipeline.workerFinished() }
                do {
                    let readers = try rasters.map { try $0.layer.reader() }
                    let maskReader = try mask.map { try $0.layer.reader() }
                    var buffers = rasters.map { _ in [Float](repeating: 0, count: capacity) }
                    var maskBuffer = [Float](repeating: 1, count: capacity)
                    var state = makeState()
                    while let i = pipeline.take() {
                        let w = blocks[i].window
                        let window = PixelWindow(x: w.x, y: w.y, width: w.width, height: w.height)
                        let n = w.count
                        for (k, reader) in readers.enumerated() {
                            do {
                                try buffers[k].withUnsafeMutableBufferPointer { try reader.read(window, into: UnsafeMutableBufferPointer(rebasing: $0[0..<n])) }
                            } catch let error as GDALError {
                                throw RunError(.ioError, "\(rasters[k].name): reading block \(w): \(error.message)")
                            }
                        }
                        if let maskReader {
                            do {
                                try maskBuffer.withUnsafeMutableBufferPointer { try maskReader.read(window, into: UnsafeMutableBufferPointer(rebasing: $0[0..<n])) }
                            } catch let error as GDALError {
                                throw RunError(.ioError, "\(mask!.name): reading block \(w): \(error.message)")
                            }
                        }
                        let result = try withUnsafeInputs(buffers) { pointers in
                            try maskBuffer.withUnsafeBufferPointer { m in
                                try body(&state, blocks[i], pointers.map { UnsafeBufferPointer(rebasing: $0[0..<n]) },
                                         maskReader == nil ? nil : UnsafeBufferPointer(rebasing: m[0..<n]))
                            }
                        }
                        pipeline.submit((i, result))
                    }
                } catch let error as RunError {
                    pipeline.fail(error)
                } catch let error as GDALError {
                    pipeline.fail(RunError(.ioError, "reading aligned layers: \(error.message)"))
                } catch {
                    pipeline.fail(RunError(.software, "\(error)"))
                }
            }
            thread.stackSize = 1 << 20
            threads.append(thread)
        }
        threads.forEach { $0.start() }
        var done = 0
        do {
            while let (i, result) = pipeline.next() {
                try consume(blocks[i], result)
                pipeline.written()
                done += 1
            }
        } catch {
            pipeline.fail(RunError(.software, "cancelled"))
            pipeline.waitForWorkers()
            throw error
        }
        pipeline.waitForWorkers()
        if let error = pipeline.error { throw error }
        guard done == blocks.count else { throw RunError(.software, "internal error: \(done) of \(blocks.count) blocks were processed") }
    }
}
