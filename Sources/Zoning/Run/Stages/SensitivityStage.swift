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

/// What the scenarios give on one block (merged in block order).
struct SensitivityBlock: Sendable {
    var stability: [UInt8]
    var range: [UInt8]
    /// Per scenario (0 = baseline): pixels with the baseline's class.
    var same: [Int]
    var valid = 0, stable = 0, atLeast80 = 0, below50 = 0
    /// Per township (index = id): valid pixels, stable/≥80/<50 counts, and per scenario the class
    /// counts and the index sum.
    var townValid: [Int]
    var townStable: [Int], townAtLeast80: [Int], townBelow50: [Int]
    var townCounts: [[[Int]]]
    var townSums: [[Double]]

    init(pixels n: Int, scenarios: Int, towns: Int, classes k: Int) {
        stability = [UInt8](repeating: SensitivityStage.stabilityNoData, count: n)
        range = [UInt8](repeating: 0, count: n)
        same = [Int](repeating: 0, count: scenarios + 1)
        townValid = [Int](repeating: 0, count: towns + 1)
        townStable = townValid; townAtLeast80 = townValid; townBelow50 = townValid
        townCounts = [[[Int]]](repeating: [[Int]](repeating: [Int](repeating: 0, count: k + 1), count: scenarios + 1), count: towns + 1)
        townSums = [[Double]](repeating: [Double](repeating: 0, count: scenarios + 1), count: towns + 1)
    }

    mutating func merge(_ part: SensitivityBlock) {
        valid += part.valid; stable += part.stable; atLeast80 += part.atLeast80; below50 += part.below50
        for s in same.indices { same[s] += part.same[s] }
        for t in townValid.indices {
            townValid[t] += part.townValid[t]; townStable[t] += part.townStable[t]
            townAtLeast80[t] += part.townAtLeast80[t]; townBelow50[t] += part.townBelow50[t]
            for s in same.indices {
                for c in townCounts[t][s].indices { townCounts[t][s][c] += part.townCounts[t][s][c] }
                townSums[t][s] += part.townSums[t][s]
            }
        }
    }
}

/// One scenario's index statistics on a block, for its data-driven breaks.
struct ScenarioStatistics: Sendable {
    var histogram: Histogram
    var sum: Double
    var sumSquares: Double
    var valid: Int
}

/// The weight scenarios of a run and their kernels. Weight set 0 is the baseline (the model kernel
/// reproduces the published index bit for bit); 1…S are the scenarios.
struct SensitivitySetup: Sendable {
    let spec: JobSpec.Sensitivity
    let node: ModelNode
    let baseline: [Double]
    let scenarios: [WeightScenarios.Scenario]
    /// Index-only kernels (data-driven breaks: the main pass gathers their statistics).
    let unclassified: [ModelKernel]
    /// Classifying kernels: built at once for fixed breaks, after the main pass for data-driven ones.
    var classifiers: [ModelKernel]?
    var thresholds: [[Double]]
    let towns: Int
    let classes: Int

    var scenarioCount: Int { scenarios.count }

    /// Per-worker buffers of `block`, reused from block to block.
    struct Scratch {
        var classes: [UInt8] = []
        var indices: [Float] = []
    }

    /// One block: every scenario's classes against the baseline class; stability, range and the
    /// township tallies. `inputs` are the aligned layers, `baselineIndex` the published index of the
    /// block (nil: computed with weight set 0), `town` the township ids (or nil).
    func block(count n: Int, inputs: [UnsafeBufferPointer<Float>], mask: UnsafeBufferPointer<Float>?,
               baseline baseClass: UnsafeBufferPointer<UInt8>, baselineIndex: UnsafeBufferPointer<Float>?,
               town: UnsafeBufferPointer<Float>?, scratch: inout Scratch) -> SensitivityBlock {
        let kernels = classifiers!
        let S = scenarioCount
        var result = SensitivityBlock(pixels: n, scenarios: S, towns: town == nil ? 0 : towns, classes: classes)
        if scratch.classes.count < (S + 1) * n {
            scratch.classes = [UInt8](repeating: 0, count: (S + 1) * n)
            scratch.indices = [Float](repeating: 0, count: (S + 1) * n)
        }
        scratch.classes.withUnsafeMutableBufferPointer { cls in
            scratch.indices.withUnsafeMutableBufferPointer { idx in
                // Weight set 0 is the baseline: its index is the published one when given.
                for (s, kernel) in kernels.enumerated() where s > 0 || (town != nil && baselineIndex == nil) {
                    _ = kernel.run(count: n, inputs: inputs, mask: mask,
                                   index: UnsafeMutableBufferPointer(rebasing: idx[(s * n)..<((s + 1) * n)]),
                                   classes: UnsafeMutableBufferPointer(rebasing: cls[(s * n)..<((s + 1) * n)]))
                }
                if let baselineIndex, town != nil {
                    for p in 0..<n { idx[p] = baselineIndex[p]; cls[p] = baseClass[p] }
                }
                let c = UnsafePointer(cls.baseAddress!), x = UnsafePointer(idx.baseAddress!)
                for p in 0..<n {
                    let b = baseClass[p]
                    guard b != 0 else { continue }
                    var same = 0, lo = UInt8.max, hi: UInt8 = 0
                    for s in stride(from: 1, through: S, by: 1) {
                        let v = c[s * n + p]
                        if v == b { same += 1; result.same[s] += 1 }
                        if v != 0 { lo = min(lo, v); hi = max(hi, v) }
                    }
                    let percent = S == 0 ? 100 : (200 * same + S) / (2 * S)   // round half up
                    result.stability[p] = UInt8(percent)
                    result.range[p] = lo == UInt8.max ? 0 : 10 * lo + hi
                    result.valid += 1
                    if percent == 100 { result.stable += 1 }
                    if percent >= 80 { result.atLeast80 += 1 }
                    if percent < 50 { result.below50 += 1 }
                    if let town {
                        let t = Int(town[p])
                        guard t > 0 && t <= towns else { continue }
                        result.townValid[t] += 1
                        if percent == 100 { result.townStable[t] += 1 }
                        if percent >= 80 { result.townAtLeast80[t] += 1 }
                        if percent < 50 { result.townBelow50[t] += 1 }
                        for s in 0...S {
                            let v = Int(c[s * n + p])
                            result.townCounts[t][s][v] += 1
                            if v != 0 { result.townSums[t][s] += Double(x[s * n + p]) }
                        }
                    }
                }
            }
        }
        return result
    }

    /// One block: every weight set's index statistics (data-driven breaks).
    func statistics(count n: Int, inputs: [UnsafeBufferPointer<Float>], mask: UnsafeBufferPointer<Float>?) -> [ScenarioStatistics] {
        var index = [Float](repeating: 0, count: n), classes = [UInt8](repeating: 0, count: n)
        return unclassified.map { kernel in
            index.withUnsafeMutableBufferPointer { ip in classes.withUnsafeMutableBufferPointer { cp in
                _ = kernel.run(count: n, inputs: inputs, mask: mask, index: ip, classes: cp)
            } }
            var h = Histogram()
            index.withUnsafeBufferPointer { h.add($0) }
            var sum = 0.0, squares = 0.0, count = 0
            for p in 0..<n where classes[p] != 0 {
                let v = Double(index[p])
                sum += v; squares += v * v; count += 1
            }
            return ScenarioStatistics(histogram: h, sum: sum, sumSquares: squares, valid: count)
        }
    }
}

/// What the blocks of the weight scenarios leave: the stability and range COGs (streamed by the
/// workers, Sources/COGWriter, into the staging folder), the tallies per block (merged in block
/// order at the end) and the scenarios' histograms.
final class SensitivityAccumulator: @unchecked Sendable {
    let stabilityPath: String
    let rangePath: String
    private let stability: COGWriter<UInt8>
    private let range: COGWriter<UInt8>
    /// By unit (block or strip) index; merged in that order (the consuming thread only).
    private var partials: [Int: SensitivityBlock] = [:]
    /// Data-driven breaks: per weight set the histogram so far (whole counts: merged as blocks
    /// come, in any order) and, by unit index, the unit's sums (added in unit order at the end).
    /// A unit's histograms are not kept: 10⁴ bins a weight set a unit came to ~90 MiB on the
    /// census job.
    private var histograms: [Histogram] = []
    private var sums: [Int: [(sum: Double, squares: Double, valid: Int)]] = [:]

    init(_ runner: some RunScoped, scenarios: Int, files: RunFiles) throws {
        stabilityPath = files.staged("class_stability.tif")
        rangePath = files.staged("class_range.tif")
        let work = files.work
        // The bands as the GeoTIFFs GDAL's COG driver converted before carried them.
        let stabilityTags = try runner.cogTemplate(file: "class_stability.tif", type: .byte, predictor: false) { band in
            try band.setNoDataValue(Double(SensitivityStage.stabilityNoData))
            try band.setColorTable((0...255).map { v in
                if v > 100 { return (0, 0, 0, 0) }
                let c = stabilityColour(v)
                return (c.0, c.1, c.2, 255)
            })
            band.setDescription("class stability (% of \(scenarios) weight scenarios with the baseline class)")
        }
        let rangeTags = try runner.cogTemplate(file: "class_range.tif", type: .byte, predictor: false) { band in
            try band.setNoDataValue(0)
            band.setDescription("class range over \(scenarios) weight scenarios (10 × lowest + highest class)")
        }
        stability = try runner.cogWriter(path: stabilityPath, work: work, nodata: Double(SensitivityStage.stabilityNoData),
                                         resampling: .nearest, template: stabilityTags)
        range = try runner.cogWriter(path: rangePath, work: work, nodata: 0, resampling: .nearest, template: rangeTags)
    }

    /// A block's stability and range into the COGs, on the worker that computed them; returns the
    /// block without its rasters (what `add` keeps).
    func write(_ block: Block, _ result: SensitivityBlock) throws -> SensitivityBlock {
        try stability.write(block, result.stability)
        try range.write(block, result.range)
        var kept = result
        kept.stability = []; kept.range = []
        return kept
    }

    func add(_ block: Block, _ result: SensitivityBlock) {
        partials[block.index] = result
    }

    func add(_ block: Block, _ result: [ScenarioStatistics]) {
        if histograms.isEmpty { histograms = result.map { Histogram(resolution: $0.histogram.resolution) } }
        for (s, x) in result.enumerated() { histograms[s].merge(x.histogram) }
        sums[block.index] = result.map { ($0.sum, $0.sumSquares, $0.valid) }
    }

    /// Per weight set: the merged histogram and the sums in block order.
    func scenarioStatistics() throws -> [ScenarioStatistics] {
        guard !histograms.isEmpty else { throw RunError(.software, "internal error: no scenario statistics") }
        var total = histograms.map { ScenarioStatistics(histogram: $0, sum: 0, sumSquares: 0, valid: 0) }
        for key in sums.keys.sorted() {
            for (s, x) in sums[key]!.enumerated() {
                total[s].sum += x.sum; total[s].sumSquares += x.squares; total[s].valid += x.valid
            }
        }
        return total
    }

    /// Lays the COGs out once every unit is written (the main pass, or the pass after it).
    func finishCOGs(_ runner: some RunScoped) throws {
        guard !finished else { return }
        try runner.finishCOG(stability)
        try runner.finishCOG(range)
        finished = true
    }
    private var finished = false

    /// The tallies of every block, merged in block order (the index sums are floating point).
    func finish(scenarios: Int, towns: Int, classes: Int) -> SensitivityBlock {
        var total = SensitivityBlock(pixels: 0, scenarios: scenarios, towns: towns, classes: classes)
        for key in partials.keys.sorted() { total.merge(partials[key]!) }
        return total
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
        let weightSets = [baseline] + scenarios.map(\.weights)
        func kernels(_ breaks: [Double]) -> [ModelKernel] {
            weightSets.map { weights in
                var r = resolution
                r.overrides[node.name] = weights
                let (program, registers) = compiler.program(targets: ["combine"], resolution: r)
                return ModelKernel(program: program, layerCount: job.layers.count, output: registers["combine"]!, breaks: breaks)
            }
        }
        let fixed = job.classify.method == nil
        return SensitivitySetup(spec: spec, node: node, baseline: baseline, scenarios: scenarios,
                                unclassified: fixed ? [] : kernels([]), classifiers: fixed ? kernels(job.classify.breaks) : nil,
                                thresholds: weightSets.map { _ in job.classify.breaks }, towns: towns,
                                classes: job.classify.scheme.classCount)
    }

}

extension SensitivityStage {
    /// After the main pass: data-driven breaks per scenario and a pass over the aligned layers for
    /// the classes (fixed breaks were done in the main pass); then the products.
    func finishSensitivity(_ setup: SensitivitySetup, accumulator: SensitivityAccumulator,
                           context: RunContext) throws -> Manifest.SensitivityInfo {
        let aligned = context.aligned, mask = context.mask, classPath = context.files.classRaster
        let townships = context.townshipGrid, staging = context.files.staging
        var setup = setup
        let job = plan.job
        if setup.classifiers == nil, let method = job.classify.method {
            let stats = try accumulator.scenarioStatistics()
            setup.thresholds = try stats.enumerated().map { s, x in
                try breaks(method, histogram: x.histogram, sum: x.sum, sumSquares: x.sumSquares, valid: x.valid,
                           classes: setup.classes, scenario: s == 0 ? "" : " (sensitivity scenario \(s))").thresholds
            }
            setup.classifiers = zip(setup.unclassified, setup.thresholds).map { kernel, breaks in
                ModelKernel(program: kernel.program, layerCount: kernel.layerCount, output: kernel.output, breaks: breaks)
            }
            let pass = setup
            let layerCount = job.layers.count
            var rasters = aligned.indices.map { (aligned[$0], plan.sources[$0].definition.source) }
            rasters.append((.file(classPath), "risk class"))
            if let townships { rasters.append((.file(townships.raster), "townships")) }
            try streamBlocks(rasters: rasters, mask: mask.map { ($0, "grid.mask") }, state: { SensitivitySetup.Scratch() }) {
                scratch, block, buffers, maskValues in
                let baseClass = buffers[layerCount].map { UInt8($0) }
                let part = baseClass.withUnsafeBufferPointer {
                    pass.block(count: block.window.count, inputs: Array(buffers.prefix(layerCount)), mask: maskValues,
                               baseline: $0, baselineIndex: nil, town: buffers.count > layerCount + 1 ? buffers[layerCount + 1] : nil,
                               scratch: &scratch)
                }
                // The rasters are compressed here, on the worker.
                return try accumulator.write(block, part)
            } consume: { block, result in
                accumulator.add(block, result)
            }
        }
        let S = setup.scenarioCount, k = setup.classes
        let towns = townships?.townships.names.count ?? 0
        try accumulator.finishCOGs(self)
        let total = accumulator.finish(scenarios: S, towns: towns, classes: k)
        try Data(SensitivityStage.stabilityQML.utf8).write(to: URL(fileURLWithPath: staging.appendingComponent("class_stability.qml")))

        var changing: [String]?
        if let names = townships?.townships.names, let rule = job.zoning?.townships?.level {
            let pixelHa = plan.grid.pixelArea / 10_000
            let rows = (1...max(towns, 1)).prefix(towns).map { t -> TownshipSensitivity in
                let valid = total.townValid[t]
                let levels = (0...S).map { s -> Int? in
                    let counts = total.townCounts[t][s]
                    return TownshipStatisticsStage.townshipLevel(rule, counts: counts, sum: total.townSums[t][s], valid: counts.dropFirst().reduce(0, +),
                                                thresholds: setup.thresholds[s])
                }
                let known = levels.compactMap { $0 }
                func share(_ x: Int) -> Double { valid > 0 ? 100 * Double(x) / Double(valid) : 0 }
                return TownshipSensitivity(id: t, name: names[t - 1], validPixels: valid, validAreaHa: Double(valid) * pixelHa,
                                           stablePercent: share(total.townStable[t]), atLeast80Percent: share(total.townAtLeast80[t]),
                                           below50Percent: share(total.townBelow50[t]), level: levels[0],
                                           scenarioLevels: Array(levels.dropFirst()), lowestLevel: known.min(), highestLevel: known.max(),
                                           levelChanges: Set(known).count > 1)
            }
            try write(try Manifest.json(rows), to: staging.appendingComponent("sensitivity.json"))
            try write(Data(SensitivityStage.sensitivityCSV(rows, scenarios: S).utf8), to: staging.appendingComponent("sensitivity.csv"))
            changing = rows.filter(\.levelChanges).map(\.name)
            try writeChangingTownships(rows.filter(\.levelChanges), staging: staging)
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
    func writeChangingTownships(_ rows: [TownshipSensitivity], staging: String) throws {
        guard let t = plan.job.zoning?.townships else { return }
        let gpkg = staging.appendingComponent("sensitivity.gpkg")
        let def = t.definition
        let quoted = rows.map { "'" + $0.name.replacingOccurrences(of: "'", with: "''") + "'" }
        // An empty selection still makes the layer, so the file always has the same layout.
        let filter = quoted.isEmpty ? "1 = 0" : "\"\(t.nameField)\" IN (\(quoted.joined(separator: ", ")))"
        do {
            try withFixedGeoPackageDate {
                let src = try Dataset(open: def.source, flags: [.vector])
                let layer = try def.layer.map { try src.layer(named: $0) } ?? src.layer(0)
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
