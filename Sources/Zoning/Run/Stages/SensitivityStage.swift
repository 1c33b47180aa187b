import Cartography
import COGWriter
import Foundation
import FilePaths
import GDALKit
import RasterKernel

/// The stability colour ramp: red (0 %) → orange (50 %) → light green (80 %) → green (100 %).
let stabilityStops: [(Int, (UInt8, UInt8, UInt8))] = [(0, (215, 25, 28)), (50, (253, 174, 97)), (80, (166, 217, 106)), (100, (26, 150, 65))]

func stabilityColour(_ v: Int) -> (UInt8, UInt8, UInt8) {
    for (a, b) in zip(stabilityStops, stabilityStops.dropFirst()) where v <= b.0 {
        let t = Double(v - a.0) / Double(b.0 - a.0)
        func mix(_ x: UInt8, _ y: UInt8) -> UInt8 { UInt8((Double(x) + t * (Double(y) - Double(x))).rounded()) }
        return (mix(a.1.0, b.1.0), mix(a.1.1, b.1.1), mix(a.1.2, b.1.2))
    }
    return stabilityStops.last!.1
}

/// What the weight scenarios give on one unit besides the tallies the worker merged itself
/// (`SensitivityTallies`): the stability and range rasters (written by the worker), and the
/// index sums of the unit's townships per weight set (floating point: added in unit order).
struct SensitivityBlock: Sendable {
    var stability: [UInt8]
    var range: [UInt8]
    /// The unit's townships (ids) with valid pixels.
    var towns: [Int]
    /// Per township of `towns` and weight set: `townSums[i · weightSets + s]`.
    var townSums: [Double]
}

/// One weight set's index statistics over the grid, for its data-driven breaks.
struct ScenarioStatistics: Sendable {
    var histogram: Histogram
    var sum: Double
    var sumSquares: Double
    var valid: Int
}

/// One unit's statistics of a batch of weight sets (the histograms went into the worker's own):
/// per weight set the sum and the sum of squares (`sums[2i]`, `sums[2i + 1]`), and the valid pixels.
struct UnitStatistics: Sendable {
    var sums: [Double]
    var valid: [Int]
}

/// The weight scenarios of a run. Weight set 0 is the baseline (the model kernel reproduces the
/// published index bit for bit); 1…S are the scenarios. A weight set's kernel is compiled where a
/// unit needs it (`kernel`): a few microseconds against a unit's pixels, where 10⁴ kernels kept
/// for the run would hold tens of MiB.
struct SensitivitySetup: Sendable {
    let spec: JobSpec.Sensitivity
    let node: ModelNode
    let baseline: [Double]
    let scenarios: [WeightScenarios.Scenario]
    let compiler: ModelCompiler
    let resolution: ModelResolution
    /// Whether `thresholds` classify: fixed breaks at once, data-driven ones after their statistics.
    var classified: Bool
    var thresholds: [[Double]]
    let towns: Int
    let classes: Int
    /// Where the workers merge the units' integer tallies.
    let tallies: SensitivityTallies
    /// Weight sets whose statistics one pass gathers (data-driven breaks; `SensitivityMemory`).
    var statisticsBatch: Int

    var scenarioCount: Int { scenarios.count }
    var weightSets: Int { scenarios.count + 1 }

    /// The kernel of weight set `s`: the model with the node's weights replaced, classifying with
    /// `breaks` (none: the index only).
    func kernel(_ s: Int, breaks: [Double]) -> ModelKernel {
        var r = resolution
        r.overrides[node.name] = s == 0 ? baseline : scenarios[s - 1].weights
        let (program, registers) = compiler.program(targets: ["combine"], resolution: r)
        return ModelKernel(program: program, layerCount: compiler.job.layers.count, output: registers["combine"]!, breaks: breaks)
    }

    /// Every weight set in `sets` as a variant of set `sets[0]`'s kernel (`ModelKernel.runVariants`:
    /// the steps the node's weights do not reach evaluated once), classifying set s with
    /// `breaks(s)`; nil where a set's program differs otherwise (each set then runs its own kernel).
    func variants(_ sets: [Int], breaks: (Int) -> [Double]) -> (kernel: ModelKernel, variants: [ModelKernel.Variant])? {
        guard let first = sets.first else { return nil }
        let base = kernel(first, breaks: [])
        var variants: [ModelKernel.Variant] = []
        for s in sets {
            guard let v = base.variant(kernel(s, breaks: []).program, breaks: breaks(s)) else { return nil }
            variants.append(v)
        }
        return (base, variants)
    }

    /// Per-worker buffers, reused from unit to unit: one weight set's classes and index at a time,
    /// and per pixel the scenarios with the baseline's class, the lowest and highest class; the
    /// unit's townships (`local`: township id → its place among them, −1 elsewhere).
    struct Scratch {
        var classes: [UInt8] = []
        var indices: [Float] = []
        var same: [Int32] = []
        var lowest: [UInt8] = []
        var highest: [UInt8] = []
        var local: [Int32] = []
        /// Per pixel of the unit: its township's place among the unit's (`local`), −1 where the
        /// pixel has no class or no township.
        var slot: [Int32] = []
        /// Every weight set's index and classes of a unit (`variants`).
        let sets = WeightSetBuffers()
        /// This worker's histograms of the statistics batch (data-driven breaks).
        var histograms: ScenarioHistograms?

        mutating func prepare(pixels n: Int, towns: Int) {
            if classes.count < n {
                classes = [UInt8](repeating: 0, count: n)
                indices = [Float](repeating: 0, count: n)
                same = [Int32](repeating: 0, count: n)
                lowest = [UInt8](repeating: 0, count: n)
                highest = [UInt8](repeating: 0, count: n)
                slot = [Int32](repeating: -1, count: n)
            }
            if local.count < towns + 1 { local = [Int32](repeating: -1, count: towns + 1) }
        }
    }
}

/// Every weight set's index and classes over a unit, as `ModelKernel.runVariants` leaves them
/// (set i at `i · count`); one per worker, grown as needed, read where they are.
final class WeightSetBuffers {
    private var indices = UnsafeMutableBufferPointer<Float>.allocate(capacity: 0)
    private var classValues = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 0)

    deinit {
        indices.deallocate()
        classValues.deallocate()
    }

    func index(set i: Int, count n: Int) -> UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(rebasing: indices[(i * n)..<((i + 1) * n)]) }
    func classes(set i: Int, count n: Int) -> UnsafeMutableBufferPointer<UInt8> { UnsafeMutableBufferPointer(rebasing: classValues[(i * n)..<((i + 1) * n)]) }

    /// Runs the variants over a unit of `n` pixels.
    func run(_ v: (kernel: ModelKernel, variants: [ModelKernel.Variant]), count n: Int,
             inputs: [UnsafeBufferPointer<Float>], mask: UnsafeBufferPointer<Float>?) {
        let sets = v.variants.count
        if indices.count < sets * n {
            indices.deallocate(); classValues.deallocate()
            indices = .allocate(capacity: sets * n); indices.initialize(repeating: 0)
            classValues = .allocate(capacity: sets * n); classValues.initialize(repeating: 0)
        }
        _ = v.kernel.runVariants(count: n, inputs: inputs, mask: mask, variants: v.variants,
                                 index: (0..<sets).map { index(set: $0, count: n) }, classes: (0..<sets).map { classes(set: $0, count: n) })
    }
}

/// The pixels of one unit as the weight scenarios read them.
struct SensitivityUnit {
    let count: Int
    let inputs: [UnsafeBufferPointer<Float>]
    let mask: UnsafeBufferPointer<Float>?
    let baseClass: UnsafeBufferPointer<UInt8>
    let baselineIndex: UnsafeBufferPointer<Float>?
    let town: UnsafeBufferPointer<Float>?
}

extension SensitivitySetup {
    /// One unit: every weight set's classes against the baseline class, one weight set at a time;
    /// stability, range and the township tallies. `inputs` are the aligned layers, `baselineIndex`
    /// the published index of the unit (nil: computed with weight set 0), `town` the township ids
    /// (or nil). Integer tallies go to `tallies` here; the township sums are returned.
    func block(count n: Int, inputs: [UnsafeBufferPointer<Float>], mask: UnsafeBufferPointer<Float>?,
               baseline baseClass: UnsafeBufferPointer<UInt8>, baselineIndex: UnsafeBufferPointer<Float>?,
               town: UnsafeBufferPointer<Float>?, scratch: inout Scratch) -> SensitivityBlock {
        let unit = SensitivityUnit(count: n, inputs: inputs, mask: mask, baseClass: baseClass, baselineIndex: baselineIndex, town: town)
        scratch.prepare(pixels: n, towns: towns)
        scratch.same.withUnsafeMutableBufferPointer { UnsafeMutableBufferPointer(rebasing: $0[0..<n]).update(repeating: 0) }
        scratch.lowest.withUnsafeMutableBufferPointer { UnsafeMutableBufferPointer(rebasing: $0[0..<n]).update(repeating: .max) }
        scratch.highest.withUnsafeMutableBufferPointer { UnsafeMutableBufferPointer(rebasing: $0[0..<n]).update(repeating: 0) }
        // The unit's townships with valid pixels, in order of first appearance, and each pixel's place among them.
        var ids: [Int] = []
        let towns = self.towns
        scratch.slot.withUnsafeMutableBufferPointer { slot in
            scratch.local.withUnsafeMutableBufferPointer { local in
                UnsafeMutableBufferPointer(rebasing: slot[0..<n]).update(repeating: -1)
                guard let town else { return }
                for p in 0..<n where baseClass[p] != 0 {
                    let t = Int(town[p])
                    guard t > 0 && t <= towns else { continue }
                    if local[t] < 0 { local[t] = Int32(ids.count); ids.append(t) }
                    slot[p] = local[t]
                }
            }
        }
        var sums = [Double](repeating: 0, count: ids.count * weightSets)
        // Weight set 0 is the baseline: needed for the township levels only. The sets whose
        // kernel runs, at once as variants of the first where their programs allow.
        let sets = Array((town == nil ? 1 : 0)..<weightSets)
        let computed = sets.filter { !($0 == 0 && baselineIndex != nil) }
        var position: [Int: Int] = [:]
        if let v = variants(computed, breaks: { thresholds[$0] }) {
            scratch.sets.run(v, count: n, inputs: inputs, mask: mask)
            for (i, s) in computed.enumerated() { position[s] = i }
        }
        for s in sets {
            tally(set: s, unit, ids: ids, sums: &sums, scratch: &scratch, precomputed: position[s])
        }
        var result = SensitivityBlock(stability: [UInt8](repeating: SensitivityStage.stabilityNoData, count: n),
                                      range: [UInt8](repeating: 0, count: n), towns: ids, townSums: sums)
        stabilityOfPixels(unit, ids: ids, scratch: scratch, into: &result)
        for t in ids { scratch.local[t] = -1 }
        return result
    }

    /// Weight set `s` on a unit: its classes (the baseline's own for set 0 when given), then per
    /// valid pixel whether the class is the baseline's, the lowest and highest class, and per
    /// township the class counts (merged into `tallies`) and the index sum (in pixel order).
    private func tally(set s: Int, _ unit: SensitivityUnit, ids: [Int], sums: inout [Double], scratch: inout Scratch,
                       precomputed: Int? = nil) {
        let n = unit.count, k = classes + 1
        // The set's index and classes: the variants' (set `precomputed` of `scratch.sets`), read
        // where they are, else the baseline's or its own kernel's in the scratch.
        if precomputed == nil {
            scratch.classes.withUnsafeMutableBufferPointer { cls in
                scratch.indices.withUnsafeMutableBufferPointer { idx in
                    if s == 0, let baselineIndex = unit.baselineIndex {
                        for p in 0..<n { idx[p] = baselineIndex[p]; cls[p] = unit.baseClass[p] }
                    } else {
                        _ = kernel(s, breaks: thresholds[s]).run(count: n, inputs: unit.inputs, mask: unit.mask,
                                                index: UnsafeMutableBufferPointer(rebasing: idx[0..<n]),
                                                classes: UnsafeMutableBufferPointer(rebasing: cls[0..<n]))
                    }
                }
            }
        }
        var same = 0
        var counts = [Int](repeating: 0, count: ids.count * k)
        let W = weightSets
        // Over the buffers' memory (no uniqueness or bounds check a pixel).
        let base = unit.baseClass.baseAddress!, sets = scratch.sets
        scratch.classes.withUnsafeBufferPointer { ownClasses in scratch.indices.withUnsafeBufferPointer { ownIndex in
        let cls = precomputed.map { UnsafePointer(sets.classes(set: $0, count: n).baseAddress!) } ?? ownClasses.baseAddress!
        let idx = precomputed.map { UnsafePointer(sets.index(set: $0, count: n).baseAddress!) } ?? ownIndex.baseAddress!
        scratch.same.withUnsafeMutableBufferPointer { sameCount in scratch.lowest.withUnsafeMutableBufferPointer { lowest in
        scratch.highest.withUnsafeMutableBufferPointer { highest in scratch.slot.withUnsafeBufferPointer { slot in
        counts.withUnsafeMutableBufferPointer { counts in sums.withUnsafeMutableBufferPointer { sums in
            for p in 0..<n {
                let b = base[p]
                guard b != 0 else { continue }
                let v = cls[p]
                if s > 0 {
                    if v == b { same += 1; sameCount[p] += 1 }
                    if v != 0 { lowest[p] = min(lowest[p], v); highest[p] = max(highest[p], v) }
                }
                let i = Int(slot[p])
                guard i >= 0 else { continue }
                counts[i * k + Int(v)] += 1
                if v != 0 { sums[i * W + s] += Double(idx[p]) }
            }
        } }
        } }
        } }
        } }
        tallies.add(set: s, same: same, ids: ids, counts: counts)
    }

    /// Per valid pixel of a unit, once every weight set is tallied: the share of scenarios with
    /// the baseline's class (stability) and the class range; the stability counts into `tallies`.
    private func stabilityOfPixels(_ unit: SensitivityUnit, ids: [Int], scratch: Scratch, into result: inout SensitivityBlock) {
        let S = scenarioCount, m = ids.count
        var valid = 0, stable = 0, atLeast80 = 0, below50 = 0
        // Per township (its place among the unit's): valid, stable, ≥ 80 %, < 50 %.
        var counts = [Int](repeating: 0, count: 4 * m)
        let base = unit.baseClass
        scratch.same.withUnsafeBufferPointer { same in scratch.lowest.withUnsafeBufferPointer { lowest in
        scratch.highest.withUnsafeBufferPointer { highest in scratch.slot.withUnsafeBufferPointer { slot in
        result.stability.withUnsafeMutableBufferPointer { stability in result.range.withUnsafeMutableBufferPointer { range in
        counts.withUnsafeMutableBufferPointer { counts in
            for p in 0..<unit.count where base[p] != 0 {
                let lo = lowest[p], hi = highest[p]
                let percent = S == 0 ? 100 : (200 * Int(same[p]) + S) / (2 * S)   // round half up
                stability[p] = UInt8(percent)
                range[p] = lo == UInt8.max ? 0 : 10 * lo + hi
                valid += 1
                if percent == 100 { stable += 1 }
                if percent >= 80 { atLeast80 += 1 }
                if percent < 50 { below50 += 1 }
                let i = Int(slot[p])
                guard i >= 0 else { continue }
                counts[i] += 1
                if percent == 100 { counts[m + i] += 1 }
                if percent >= 80 { counts[2 * m + i] += 1 }
                if percent < 50 { counts[3 * m + i] += 1 }
            }
        }
        } }
        } }
        } }
        let town = (0..<4).map { Array(counts[($0 * m)..<(($0 + 1) * m)]) }
        tallies.add(valid: valid, stable: stable, atLeast80: atLeast80, below50: below50, ids: ids, town: town)
    }

    /// One unit: the index statistics of the weight sets of this worker's batch (data-driven
    /// breaks): the index into the worker's histograms, the sums and the valid pixels.
    func statistics(count n: Int, inputs: [UnsafeBufferPointer<Float>], mask: UnsafeBufferPointer<Float>?,
                    scratch: inout Scratch) -> UnitStatistics {
        let batch = scratch.histograms!
        scratch.prepare(pixels: n, towns: 0)
        var result = UnitStatistics(sums: [], valid: [])
        let sets = Array(batch.sets)
        let v = variants(sets, breaks: { _ in [] })
        if let v { scratch.sets.run(v, count: n, inputs: inputs, mask: mask) }
        /// Weight set i's index into its histogram, its sums and valid pixels.
        func gather(_ i: Int, index: UnsafeBufferPointer<Float>, classes: UnsafeBufferPointer<UInt8>) {
            batch.histograms[i].add(index)
            var sum = 0.0, squares = 0.0, count = 0
            for p in 0..<n where classes[p] != 0 {
                let v = Double(index[p])
                sum += v; squares += v * v; count += 1
            }
            result.sums += [sum, squares]
            result.valid.append(count)
        }
        for (i, s) in sets.enumerated() {
            if v != nil {
                gather(i, index: UnsafeBufferPointer(scratch.sets.index(set: i, count: n)),
                       classes: UnsafeBufferPointer(scratch.sets.classes(set: i, count: n)))
                continue
            }
            scratch.indices.withUnsafeMutableBufferPointer { ip in scratch.classes.withUnsafeMutableBufferPointer { cp in
                let index = UnsafeMutableBufferPointer(rebasing: ip[0..<n]), classes = UnsafeMutableBufferPointer(rebasing: cp[0..<n])
                _ = kernel(s, breaks: []).run(count: n, inputs: inputs, mask: mask, index: index, classes: classes)
                gather(i, index: UnsafeBufferPointer(index), classes: UnsafeBufferPointer(classes))
            } }
        }
        return result
    }
}

/// The sensitivity stage: after the main pass (which ran the weight scenarios), the scenarios'
/// classes with data-driven breaks, class stability and range COGs, each township's levels
/// across the scenarios.
struct SensitivityStage: Stage {
    let env: RunEnvironment
    init(_ env: RunEnvironment) { self.env = env }

    static let stabilityNoData: UInt8 = 255

    var name: String { "sensitivity" }
    var reads: [RunProduct] { [.mainPass, .alignedLayers, .classRaster, .townshipGrid] }
    var produces: [RunProduct] { [.sensitivity] }
    /// A pass classifies the scenarios only with data-driven breaks (`finishSensitivity`); fixed
    /// breaks classify them in the main pass.
    var readsLayerUnits: Bool { plan.job.classify.method != nil }

    func run(_ context: RunContext) throws {
        guard let (setup, accumulator) = context.sensitivity else { return }
        context.sensitivityInfo = try finishSensitivity(setup, accumulator: accumulator, context: context)
    }
}

extension RunScoped {
    /// The scenarios and their kernels; the classifying kernels at once when the breaks are fixed.
    func prepareSensitivity(_ spec: JobSpec.Sensitivity, resolution: ModelResolution, towns: Int) throws -> SensitivitySetup {
        let job = plan.job
        let compiler = ModelCompiler(job: job)
        let node = (job.indices + [job.combine.node]).first { $0.name == spec.index }!
        guard let baseline = compiler.weights(of: node, resolution) else {
            throw RunError(.software, "internal error: \(node.key) has no weights to perturb")
        }
        let scenarios = WeightScenarios.oneAtATime(baseline, perturb: spec.perturb)
            + WeightScenarios.dirichlet(baseline, concentration: spec.concentration, samples: spec.samples, seed: spec.seed)
        let weightSets = scenarios.count + 1
        let classes = job.classify.scheme.classCount
        return SensitivitySetup(spec: spec, node: node, baseline: baseline, scenarios: scenarios, compiler: compiler,
                                resolution: resolution, classified: job.classify.method == nil,
                                thresholds: (0..<weightSets).map { _ in job.classify.breaks }, towns: towns, classes: classes,
                                tallies: SensitivityTallies(weightSets: weightSets, towns: towns, classes: classes),
                                statisticsBatch: weightSets)
    }
}

extension SensitivityStage {
    /// After the main pass: data-driven breaks per scenario and a pass over the aligned layers for
    /// the classes (fixed breaks were done in the main pass); then the products.
    func finishSensitivity(_ setup: SensitivitySetup, accumulator: SensitivityAccumulator,
                           context: RunContext) throws -> Manifest.SensitivityInfo {
        let townships = context.townshipGrid, staging = context.files.staging
        var setup = setup
        let job = plan.job
        if !setup.classified, let method = job.classify.method {
            setup.thresholds = try scenarioThresholds(method, setup, accumulator: accumulator, context: context)
            setup.classified = true
            try classifyScenarios(setup, accumulator: accumulator, context: context)
        }
        let S = setup.scenarioCount
        let towns = townships?.townships.names.count ?? 0
        try accumulator.finishCOGs(self)
        let total = setup.tallies
        try Data(SensitivityStage.stabilityQML.utf8).write(to: URL(fileURLWithPath: staging.appendingComponent("class_stability.qml")))

        var changing: [String]?
        if let names = townships?.townships.names, let rule = job.townshipSource?.level {
            let sums = try accumulator.townshipSums(towns: towns, weightSets: setup.weightSets)
            let pixelHa = plan.grid.pixelArea / 10_000
            let geographicHa = try townships.flatMap { try classifiedTownshipHectares(classPath: context.files.classRaster, townships: $0) }
            let rows = (1...max(towns, 1)).prefix(towns).map { t -> TownshipSensitivity in
                let valid = total.townValid[t]
                let levels = (0...S).map { s -> Int? in
                    let counts = total.counts(town: t, set: s)
                    return TownshipStatisticsStage.townshipLevel(rule, counts: counts, sum: sums[t * setup.weightSets + s],
                                                                 valid: counts.dropFirst().reduce(0, +), thresholds: setup.thresholds[s])
                }
                let known = levels.compactMap { $0 }
                func share(_ x: Int) -> Double { valid > 0 ? 100 * Double(x) / Double(valid) : 0 }
                return TownshipSensitivity(id: t, name: names[t - 1], validPixels: valid, validAreaHa: geographicHa?[t] ?? Double(valid) * pixelHa,
                                           stablePercent: share(total.townStable[t]), atLeast80Percent: share(total.townAtLeast80[t]),
                                           below50Percent: share(total.townBelow50[t]), level: levels[0],
                                           scenarioLevels: Array(levels.dropFirst()), lowestLevel: known.min(), highestLevel: known.max(),
                                           levelChanges: Set(known).count > 1)
            }
            try write(try Manifest.json(rows), to: staging.appendingComponent("sensitivity.json"))
            try write(Data(SensitivityStage.sensitivityCSV(rows, scenarios: S).utf8), to: staging.appendingComponent("sensitivity.csv"))
            changing = rows.filter(\.levelChanges).map(\.name)
            try writeChangingTownships(rows.filter(\.levelChanges), townships: townshipPolygons(townships), staging: staging)
        }
        let scenarioInfo = setup.scenarios.enumerated().map { i, sc in
            Manifest.SensitivityInfo.Scenario(kind: sc.kind, member: sc.member.map { setup.node.members[$0] }, sign: sc.sign,
                                              weights: sc.weights, breaks: setup.thresholds[i + 1], sameClassPixels: total.same[i + 1])
        }
        return .init(index: setup.node.name, members: setup.node.members, baselineWeights: setup.baseline, perturb: setup.spec.perturb,
                     samples: setup.spec.samples, seed: setup.spec.seed, concentration: setup.spec.concentration, scenarios: scenarioInfo,
                     validPixels: total.valid, stablePixels: total.stable, atLeast80Pixels: total.atLeast80,
                     below50Pixels: total.below50, townshipsChanging: changing)
    }

    /// Per weight set, its data-driven thresholds: the statistics of the first batch of weight sets
    /// gathered by the main pass, of each further batch by a pass of its own (`SensitivityMemory`:
    /// a batch's histograms fit the memory budget), breaks computed as each batch completes.
    func scenarioThresholds(_ method: JobSpec.ClassMethod, _ setup: SensitivitySetup, accumulator: SensitivityAccumulator,
                            context: RunContext) throws -> [[Double]] {
        var thresholds: [[Double]] = []
        while true {
            let first = accumulator.batch.lowerBound
            for (i, x) in try accumulator.batchStatistics().enumerated() {
                let s = first + i
                thresholds.append(try breaks(method, histogram: x.histogram, sum: x.sum, sumSquares: x.sumSquares, valid: x.valid,
                                             classes: setup.classes, scenario: s == 0 ? "" : " (sensitivity scenario \(s))").thresholds)
            }
            let next = accumulator.batch.upperBound
            guard next < setup.weightSets else { return thresholds }
            try accumulator.begin(batch: next..<min(setup.weightSets, next + setup.statisticsBatch))
            logger.info("sensitivity statistics", metadata: ["weight-sets": "\(accumulator.batch)", "of": "\(setup.weightSets)"])
            try streamBlocks(rasters: scenarioRasters(context, classes: false), mask: context.mask.map { ($0, "grid.mask") },
                             state: { SensitivitySetup.Scratch(histograms: accumulator.histograms()) }) {
                scratch, block, buffers, maskValues in
                setup.statistics(count: block.window.count, inputs: buffers, mask: maskValues, scratch: &scratch)
            } consume: { block, unit in
                try accumulator.add(block, unit)
            }
        }
    }

    /// The aligned layers the scenarios read, with the names a read error gives; with `classes`,
    /// the baseline's class raster and the township ids after them.
    func scenarioRasters(_ context: RunContext, classes: Bool) -> [(layer: AlignedLayer, name: String)] {
        let aligned = context.aligned
        var rasters = aligned.indices.map { (layer: aligned[$0], name: plan.sources[$0].definition.source) }
        guard classes else { return rasters }
        rasters.append((.file(context.files.classRaster), "risk class"))
        if let townships = context.townshipGrid { rasters.append((.file(townships.raster), "townships")) }
        return rasters
    }

    /// The pass of data-driven breaks: every scenario classified with its own thresholds against
    /// the published classes, into the stability and range COGs and the tallies.
    func classifyScenarios(_ setup: SensitivitySetup, accumulator: SensitivityAccumulator, context: RunContext) throws {
        let layerCount = plan.job.layers.count
        try streamBlocks(rasters: scenarioRasters(context, classes: true), mask: context.mask.map { ($0, "grid.mask") },
                         state: { SensitivitySetup.Scratch() }) {
            scratch, block, buffers, maskValues in
            let baseClass = buffers[layerCount].map { UInt8($0) }
            let part = baseClass.withUnsafeBufferPointer {
                setup.block(count: block.window.count, inputs: Array(buffers.prefix(layerCount)), mask: maskValues,
                            baseline: $0, baselineIndex: nil, town: buffers.count > layerCount + 1 ? buffers[layerCount + 1] : nil,
                            scratch: &scratch)
            }
            // The rasters are compressed here, on the worker.
            return try accumulator.write(block, part)
        } consume: { block, result in
            try accumulator.add(block, result)
        }
    }

    static func sensitivityCSV(_ rows: [TownshipSensitivity], scenarios: Int) -> String {
        var lines = [(["township_id", "township", "valid_area_ha", "stable_100_percent", "stable_ge_80_percent", "stable_lt_50_percent",
                       "level", "lowest_level", "highest_level", "level_changes"] + (0..<scenarios).map { "level_scenario_\($0 + 1)" })
            .map(csvText).joined(separator: ",")]
        for r in rows {
            func level(_ v: Int?) -> String { v.map { String($0) } ?? "" }
            var cells: [String] = ["\(r.id)", csvText(r.name)]
            cells += [r.validAreaHa, r.stablePercent, r.atLeast80Percent, r.below50Percent].map { String(format: "%.4f", $0) }
            cells += [level(r.level), level(r.lowestLevel), level(r.highestLevel), r.levelChanges ? "true" : "false"]
            cells += r.scenarioLevels.map(level)
            lines.append(cells.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `sensitivity.gpkg` layer `level_changes`: the townships whose level changes in some scenario,
    /// with their baseline, lowest and highest level (outlined on the stability map).
    func writeChangingTownships(_ rows: [TownshipSensitivity], townships: TownshipPolygons?, staging: String) throws {
        guard let t = townships else { return }
        let gpkg = staging.appendingComponent("sensitivity.gpkg")
        let quoted = rows.map { "'" + $0.name.replacingOccurrences(of: "'", with: "''") + "'" }
        // An empty selection still makes the layer, so the file always has the same layout.
        let filter = quoted.isEmpty ? "1 = 0" : "\"\(t.nameField)\" IN (\(quoted.joined(separator: ", ")))"
        do {
            try withFixedGeoPackageDate {
                let src = try Dataset(open: t.source, flags: [.vector])
                let layer = try t.layer.map { try src.layer(named: $0) } ?? src.layer(0)
                let out = try Utilities.vectorTranslate(src, to: gpkg, arguments: [
                    "-f", "GPKG", "-t_srs", plan.job.grid.crs, "-nln", "level_changes", "-where", filter,
                    "-nlt", "PROMOTE_TO_MULTI", layer.name])
                let changes = try out.layer(named: "level_changes")
                for (name, kind) in [("level", VectorLayer.FieldKind.integer), ("lowest_level", .integer), ("highest_level", .integer)] {
                    try changes.createField(name, kind: kind)
                }
                let byName = Dictionary(rows.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
                let nameIndex = changes.fieldIndex(t.nameField)!
                let fields = ["level", "lowest_level", "highest_level"].map { changes.fieldIndex($0)! }
                try changes.updateFeatures { f in
                    guard let row = byName[f.string(nameIndex)] else { return }
                    f.set(fields[0], row.level ?? 0)
                    f.set(fields[1], row.lowestLevel ?? 0)
                    f.set(fields[2], row.highestLevel ?? 0)
                }
                try out.close()
            }
        } catch let error as GDALError {
            throw RunError(.ioError, "\(gpkg): cannot write the townships whose level changes: \(error.message)")
        }
    }

    /// QGIS style of `class_stability.tif`: the same ramp, interpolated (255 is nodata).
    static var stabilityQML: String {
        QGISStyle.rampQML(stops: stabilityStops.map { (Double($0.0), RGB($0.1.0, $0.1.1, $0.1.2)) }, min: 0, max: 100)
    }
}
