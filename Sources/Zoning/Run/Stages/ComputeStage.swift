import COGWriter
import Foundation
import GDALKit
import Logging
import RasterKernel

/// One block's results, handed from a worker to the writer.
struct BlockResult: Sendable {
    let block: Block
    var index: [Float]
    var classes: [UInt8]
    let classCounts: [Int]
    let indexSum: Double
    /// Σ index², for standard-deviation breaks (summed in block order like `indexSum`).
    let indexSumSquares: Double
    /// The model kernel's counts (non-finite results, values outside 0..1).
    let counters: ModelKernel.Counters
    let indexMin: Float
    let indexMax: Float
    /// Per input layer: pixels that are neither NaN nor ±inf after alignment.
    let layerValid: [Int]
    /// The block's index histogram, when breaks are computed from the data.
    let histogram: Histogram?
    /// Weight scenarios: their classes against this block's (fixed breaks), or their index
    /// statistics (data-driven breaks, classified in a later pass).
    var sensitivity: SensitivityBlock? = nil
    var scenarioStatistics: UnitStatistics? = nil
    /// The attribution's sums over the block (`AttributionPass`).
    var attribution: [Double]? = nil
}

/// What the main pass counted (and the merge of a sharded run adds up from its shards).
struct StreamStats {
    var histogram: Histogram?
    var layerValid: [Int]
    var classCounts: [Int]
    var indexSum: Double
    var indexSumSquares: Double = 0
    var counters = ModelKernel.Counters()
    var indexMin: Float
    var indexMax: Float
    /// Σ index and Σ index² per unit, by unit index (what `indexSum`/`indexSumSquares` add up in
    /// unit order; a shard stores them so that the merge adds them in the same order).
    var unitSums: [Double] = []
    var unitSquares: [Double] = []
    /// The merge of a sharded run: source counts of the window-read layers, by layer index.
    var sourceCounts: [Int: SourceTally.Counts] = [:]
}

/// The compute stage: the main pass, the grid's units through the kernel on worker threads; the
/// index and class COGs streamed as blocks finish, the counts and the histogram of data-driven
/// breaks, the weight scenarios of `sensitivity:` inside the same pass. A shard computes its
/// band's units into its own rasters.
struct ComputeStage: Stage {
    let env: RunEnvironment
    /// A shard's units and rasters; nil: the whole grid into the run's products.
    let units: Range<Int>?
    let shardRasters: ShardRasters?

    init(_ env: RunEnvironment, units: Range<Int>? = nil, shardRasters: ShardRasters? = nil) {
        self.env = env
        self.units = units
        self.shardRasters = shardRasters
    }

    var name: String { units == nil ? "compute" : "compute (shard units)" }
    var reads: [RunProduct] { [.alignedLayers, .model, .townshipGrid] }
    var produces: [RunProduct] { units == nil ? [.mainPass, .indexRaster, .classRaster] : [.mainPass, .shards] }

    func run(_ context: RunContext) throws {
        let model = context.required(context.model, .model, by: name)
        let products = plan.job.outputs.products
        if units == nil, let spec = plan.job.sensitivity, products.contains(.sensitivity) {
            // Weight scenarios (sensitivity:) run inside the main pass.
            var setup = try prepareSensitivity(spec, resolution: model.resolution,
                                               towns: context.townshipGrid?.townships.names.count ?? 0)
            setup.statisticsBatch = try sensitivityBatch(setup)
            let accumulator = try SensitivityAccumulator(self, scenarios: setup.scenarioCount, files: context.files)
            if !setup.classified { try accumulator.begin(batch: 0..<min(setup.weightSets, setup.statisticsBatch)) }
            context.sensitivity = (setup, accumulator)
        }
        let files = context.files
        let aligned = context.aligned
        // The attribution summed here while the layers are in memory (a run's main pass, not a shard's).
        var attribution: AttributionPass?
        if units == nil, shardRasters == nil, plan.makesAttribution, let grid = context.townshipGrid, let info = context.modelInfo {
            attribution = AttributionPass(job: plan.job, info: info, towns: grid.townships.names.count)
        }
        var attributionSums: [[Double]]?
        context.stats = try checkingSources(aligned) {
            try stream(aligned: aligned, mask: context.mask, kernel: model.kernel,
                       files: shardRasters == nil ? files : nil, sensitivity: context.sensitivity,
                       townshipPath: context.townshipGrid?.raster, attribution: attribution, attributionSums: &attributionSums)
        }
        context.attributionSums = attributionSums
        for (l, layer) in aligned.enumerated() {
            guard let t = layer.tally?.total else { continue }
            context.inputs[l].statistics = t.statistics
        }
        if let (setup, accumulator) = context.sensitivity, setup.classified { try accumulator.finishCOGs(self) }
    }
}

extension ComputeStage {

    /// The main pass over the grid (or the shard's `units`): into the run's index and class
    /// rasters (`files`), or a shard's `shardRasters`; the merge streams those into the COGs.
    func stream(aligned: [AlignedLayer], mask: AlignedLayer?, kernel: BlockKernel, files: RunFiles?,
                sensitivity: (setup: SensitivitySetup, accumulator: SensitivityAccumulator)?, townshipPath: String?,
                attribution: AttributionPass? = nil, attributionSums: inout [[Double]]?) throws -> StreamStats {
        let grid = plan.grid
        let memory = memoryPlan
        // The main pass only: the later stages hold other buffers than the plan's.
        MemoryPlan.fitHeap(to: memory, budget: options.maxMemory)
        defer { MemoryPlan.fitHeap(to: nil, budget: options.maxMemory) }
        logger.info("memory plan", metadata: ["unit": "\(memory.width)x\(memory.height)", "workers": "\(memory.workers)",
                                              "in-flight": "\(memory.inFlight)", "estimate-mib": "\(memory.estimate >> 20)"])
        let (indexWriter, indexRaw, classWriter, classRaw) = try mainPassWriters(files: files, shardRasters: shardRasters)

        let blocks = grid.blocks(width: memory.width, height: memory.height)
        let wantsHistogram = plan.job.classify.method != nil
        // What to name in a read error: the layer's own source, not the aligned copy.
        let names = (plan.sources + (plan.mask.map { [$0] } ?? [])).map { "\($0.definition.source) (layer \($0.definition.name))" }
        let classCount = plan.job.classify.scheme.classCount
        let scenarios = sensitivity?.0
        let layerCount = aligned.count
        var rasters = aligned.indices.map { (aligned[$0], names[$0]) }
        let withTownships = (scenarios != nil || attribution != nil) && townshipPath != nil
        let attribution = withTownships ? attribution : nil
        // Which pixels the class raster gives a class: the kernel's classes with fixed breaks, else
        // the classify stage's rule on the index.
        let kernelClasses = plan.job.classify.method == nil
        var attributionPartials = [[Double]?](repeating: nil, count: attribution == nil ? 0 : blocks.count)
        if withTownships, let townshipPath { rasters.append((.file(townshipPath), "zoning.townships")) }

        var stats = StreamStats(histogram: plan.job.classify.method == nil ? nil : Histogram(), layerValid: [Int](repeating: 0, count: aligned.count), classCounts: [Int](repeating: 0, count: classCount + 1), indexSum: 0,
                                indexMin: .infinity, indexMax: -.infinity)
        var sums = [Double](repeating: 0, count: blocks.count)
        var squares = [Double](repeating: 0, count: blocks.count)
        var writtenCount = 0
        let unitCount = units?.count ?? blocks.count
        // Data-driven breaks: each worker gathers the first batch of weight sets into its own histograms.
        let statistics = scenarios?.classified == false
        try streamBlocks(rasters: rasters, mask: mask.map { ($0, names[aligned.count]) },
                         state: { SensitivitySetup.Scratch(histograms: statistics ? sensitivity?.1.histograms() : nil) }, units: units) {
            scratch, block, buffers, maskValues in
            var result = try ComputeStage.compute(block: block, inputs: Array(buffers.prefix(layerCount)), mask: maskValues, kernel: kernel,
                                                  histogram: wantsHistogram, classCount: classCount, sensitivity: scenarios,
                                                  town: withTownships ? buffers[layerCount] : nil, scratch: &scratch)
            if let attribution {
                let town = buffers[layerCount]
                result.attribution = result.index.withUnsafeBufferPointer { index in
                    result.classes.withUnsafeBufferPointer { classes in
                        attribution.sums(count: block.window.count, inputs: Array(buffers.prefix(layerCount)), index: index, town: town,
                                         valid: kernelClasses ? { classes[$0] > 0 }
                                                              : { RiskKernel.isIndex(index[$0]) })
                    }
                }
            }
            // Tiles are predicted and compressed here, on the worker; the pixels need not wait for the writer.
            try indexWriter?.write(block, result.index)
            try indexRaw?.write(block, result.index)
            try classWriter?.write(block, result.classes)
            try classRaw?.write(block, result.classes)
            result.index = []
            result.classes = []
            // The weight scenarios' stability and range too.
            if let part = result.sensitivity, let accumulator = sensitivity?.1 { result.sensitivity = try accumulator.write(block, part) }
            return result
        } consume: { block, result in
            for c in 0..<stats.classCounts.count { stats.classCounts[c] += result.classCounts[c] }
            for l in 0..<stats.layerValid.count { stats.layerValid[l] += result.layerValid[l] }
            if let h = result.histogram { stats.histogram?.merge(h) }
            if let part = result.sensitivity { try sensitivity?.1.add(block, part) }
            if let part = result.scenarioStatistics { try sensitivity?.1.add(block, part) }
            if let part = result.attribution { attributionPartials[block.index] = part }
            sums[block.index] = result.indexSum
            squares[block.index] = result.indexSumSquares
            stats.counters.merge(result.counters)
            stats.indexMin = min(stats.indexMin, result.indexMin)
            stats.indexMax = max(stats.indexMax, result.indexMax)
            writtenCount += 1
            report("compute", writtenCount, unitCount)
        }
        if let attribution, attributionPartials.allSatisfy({ $0 != nil }) {
            attributionSums = attribution.total(attributionPartials.map { $0! })
        }
        // Sum in block order, so the mean does not depend on which thread finished first.
        stats.indexSum = sums.reduce(0, +)
        stats.indexSumSquares = squares.reduce(0, +)
        stats.unitSums = sums
        stats.unitSquares = squares
        if let indexWriter { try finishCOG(indexWriter) }
        if let classWriter { try finishCOG(classWriter) }
        return stats
    }

    /// One unit of the main pass on a worker: the kernel, the counts, the histogram and the weight
    /// scenarios, while the unit's layers are in memory.
    static func compute(block: Block, inputs: [UnsafeBufferPointer<Float>], mask: UnsafeBufferPointer<Float>?, kernel: BlockKernel,
                        histogram wantsHistogram: Bool, classCount: Int, sensitivity: SensitivitySetup?,
                        town: UnsafeBufferPointer<Float>?, scratch: inout SensitivitySetup.Scratch) throws -> BlockResult {
        let n = block.window.count
        var index = [Float](repeating: 0, count: n)
        var classes = [UInt8](repeating: 0, count: n)
        let counters = index.withUnsafeMutableBufferPointer { ip in
            classes.withUnsafeMutableBufferPointer { cp in
                kernel.run(count: n, inputs: inputs, mask: mask, index: ip, classes: cp)
            }
        }
        let layerValid = inputs.map(countFinite)
        var counts = [Int](repeating: 0, count: classCount + 1)
        var sum = 0.0, sumSquares = 0.0
        var lo = Float.infinity, hi = -Float.infinity
        for p in 0..<n {
            let c = Int(classes[p])
            counts[c] += 1
            if c != 0 {
                let v = index[p]
                sum += Double(v)
                sumSquares += Double(v) * Double(v)
                lo = min(lo, v); hi = max(hi, v)
            }
        }
        var result = BlockResult(block: block, index: index, classes: classes, classCounts: counts,
                                 indexSum: sum, indexSumSquares: sumSquares, counters: counters, indexMin: lo, indexMax: hi,
                                 layerValid: layerValid,
                                 histogram: wantsHistogram ? index.withUnsafeBufferPointer { values in
                                     var h = Histogram()
                                     h.add(values)
                                     return h
                                 } : nil)
        if let sensitivity {
            if sensitivity.classified {
                result.sensitivity = classes.withUnsafeBufferPointer { c in
                    index.withUnsafeBufferPointer { x in
                        sensitivity.block(count: n, inputs: inputs, mask: mask, baseline: c, baselineIndex: x, town: town, scratch: &scratch)
                    }
                }
            } else {
                result.scenarioStatistics = sensitivity.statistics(count: n, inputs: inputs, mask: mask, scratch: &scratch)
            }
        }
        return result
    }
}

extension RunScoped {
    /// The rasters the main pass writes: the index COG, and the class COG when the kernel's fixed
    /// breaks classify (data-driven breaks: the classify pass writes it), streamed as the workers
    /// finish blocks; the uncompressed index later stages read. A shard writes uncompressed index
    /// and class rasters of the whole grid holding its band's tiles only.
    func mainPassWriters(files: RunFiles?, shardRasters: ShardRasters?) throws
        -> (COGWriter<Float>?, TiledTIFFWriter<Float>?, COGWriter<UInt8>?, TiledTIFFWriter<UInt8>?) {
        let grid = plan.grid
        let indexTemplate = try cogTemplate(.index)
        func raw<S: COGSample>(_ path: String, _ template: TIFFTemplate, as: S.Type) throws -> TiledTIFFWriter<S> {
            do {
                return try TiledTIFFWriter<S>(path: path, width: grid.width, height: grid.height, tileSize: cogTileSize, template: template)
            } catch { throw RunError(.ioError, "\(path): cannot write the temporary raster: \(error)") }
        }
        guard let files else {
            guard let shardRasters else { preconditionFailure("the main pass writes a run's files or a shard's rasters") }
            return (nil, try raw(shardRasters.index, indexTemplate, as: Float.self), nil,
                    try raw(shardRasters.classes, try cogTemplate(.classes), as: UInt8.self))
        }
        let work = files.work
        let indexWriter = try files.indexCOG.map { try cogWriter(.index, path: $0, work: work, as: Float.self, template: indexTemplate) }
        let indexRaw = try files.indexTemporary.map { try raw($0, indexTemplate, as: Float.self) }
        let classWriter = plan.job.classify.method == nil
            ? try cogWriter(.classes, path: files.classRaster, work: work, as: UInt8.self) : nil
        return (indexWriter, indexRaw, classWriter, nil)
    }
}
