import COGWriter
import Foundation
import RasterKernel

// What the weight scenarios of `sensitivity:` (Stages/SensitivityStage.swift) gather over the
// grid, in memory that does not grow with the number of units: integer tallies merged as units
// finish (any order gives the same counts), index histograms per worker, and the floating-point
// sums that must be added in unit order waiting on disk (`UnitSums`).

/// The integer tallies of every unit's weight scenarios, merged by the workers under a lock.
final class SensitivityTallies: @unchecked Sendable {
    let weightSets: Int
    let towns: Int
    let classes: Int
    private let lock = NSLock()
    // Read once every worker has stopped (after the pass), written under `lock`.
    /// Per weight set: pixels with the baseline's class.
    private(set) var same: [Int]
    private(set) var valid = 0, stable = 0, atLeast80 = 0, below50 = 0
    /// Per township (index = id; 0 unused): valid pixels, and those stable, ≥ 80 % and < 50 %.
    private(set) var townValid: [Int], townStable: [Int], townAtLeast80: [Int], townBelow50: [Int]
    /// Per township and weight set, the pixels of each class (0 = nodata), at
    /// `(t · weightSets + s) · (classes + 1) + c`.
    private(set) var townCounts: [Int]

    init(weightSets: Int, towns: Int, classes: Int) {
        self.weightSets = weightSets
        self.towns = towns
        self.classes = classes
        same = [Int](repeating: 0, count: weightSets)
        townValid = [Int](repeating: 0, count: towns + 1)
        townStable = townValid; townAtLeast80 = townValid; townBelow50 = townValid
        townCounts = [Int](repeating: 0, count: (towns + 1) * weightSets * (classes + 1))
    }

    /// One weight set on one unit: pixels with the baseline's class, and per township of the unit
    /// (`ids`) its class counts (`counts[i · (classes + 1) + c]`).
    func add(set s: Int, same n: Int, ids: [Int], counts: [Int]) {
        lock.lock(); defer { lock.unlock() }
        same[s] += n
        let k = classes + 1
        for (i, t) in ids.enumerated() {
            let at = (t * weightSets + s) * k
            for c in 0..<k { townCounts[at + c] += counts[i * k + c] }
        }
    }

    /// One unit's stability counts: in all, and per township of the unit (`ids`; the arrays are
    /// valid, stable, ≥ 80 % and < 50 % per township, in the order of `ids`).
    func add(valid v: Int, stable s: Int, atLeast80 a: Int, below50 b: Int, ids: [Int], town: [[Int]]) {
        lock.lock(); defer { lock.unlock() }
        valid += v; stable += s; atLeast80 += a; below50 += b
        for (i, t) in ids.enumerated() {
            townValid[t] += town[0][i]; townStable[t] += town[1][i]
            townAtLeast80[t] += town[2][i]; townBelow50[t] += town[3][i]
        }
    }

    /// The class counts of township `t` under weight set `s` (index = class, 0 = nodata).
    func counts(town t: Int, set s: Int) -> [Int] {
        let at = (t * weightSets + s) * (classes + 1)
        return Array(townCounts[at..<(at + classes + 1)])
    }
}

/// One worker's index histograms of the weight sets of a statistics batch (data-driven breaks),
/// added to unit after unit on that worker, merged once the pass is done.
final class ScenarioHistograms: @unchecked Sendable {
    let sets: Range<Int>
    var histograms: [Histogram]
    init(sets: Range<Int>) {
        self.sets = sets
        histograms = sets.map { _ in Histogram() }
    }
}

/// What the blocks of the weight scenarios leave: the stability and range COGs (streamed by the
/// workers, Sources/COGWriter, into the staging folder), the tallies (`SensitivityTallies`), the
/// townships' index sums per unit (added in unit order at the end) and, for data-driven breaks,
/// the statistics of one batch of weight sets at a time.
final class SensitivityAccumulator: @unchecked Sendable {
    let stabilityPath: String
    let rangePath: String
    private let stability: COGWriter<UInt8>
    private let range: COGWriter<UInt8>
    private let work: String
    /// Per unit, the index sums of its townships per weight set (the consuming thread only).
    private let townSums: UnitSums
    /// The statistics batch: its weight sets, each worker's histograms of them (registered under
    /// `lock`), the valid pixels per weight set, and per unit the sums and sums of squares.
    private(set) var batch: Range<Int> = 0..<0
    private let lock = NSLock()
    private var workerHistograms: [ScenarioHistograms] = []
    private var batchValid: [Int] = []
    private var indexSums: UnitSums?

    init(_ runner: some RunScoped, scenarios: Int, files: RunFiles) throws {
        stabilityPath = files.staged("class_stability.tif")
        rangePath = files.staged("class_range.tif")
        work = files.work
        townSums = try UnitSums(path: files.temporary("sensitivity-township-sums.bin"))
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

    /// A unit's township sums, to be added in unit order.
    func add(_ block: Block, _ result: SensitivityBlock) throws {
        if !result.towns.isEmpty { try townSums.append(unit: block.index, keys: result.towns, result.townSums) }
    }

    // MARK: statistics of data-driven breaks, a batch of weight sets a pass

    /// Starts gathering the statistics of weight sets `sets`.
    func begin(batch sets: Range<Int>) throws {
        lock.lock(); defer { lock.unlock() }
        batch = sets
        workerHistograms = []
        batchValid = [Int](repeating: 0, count: sets.count)
        indexSums = nil
        indexSums = try UnitSums(path: work.appendingComponent("sensitivity-index-sums.bin"))
    }

    /// A worker's histograms of the batch (made on the worker, merged after the pass).
    func histograms() -> ScenarioHistograms {
        let h = ScenarioHistograms(sets: batch)
        lock.lock(); defer { lock.unlock() }
        workerHistograms.append(h)
        return h
    }

    func add(_ block: Block, _ unit: UnitStatistics) throws {
        for (i, v) in unit.valid.enumerated() { batchValid[i] += v }
        try indexSums?.append(unit: block.index, unit.sums)
    }

    /// Per weight set of the batch: the merged histogram, the sums added in unit order, the valid pixels.
    func batchStatistics() throws -> [ScenarioStatistics] {
        guard let first = workerHistograms.first, let indexSums else {
            throw RunError(.software, "internal error: no scenario statistics")
        }
        // Merged into the first worker's (taken, not copied), each worker's freed as it is merged.
        var merged = first.histograms
        first.histograms = []
        for worker in workerHistograms.dropFirst() {
            for (i, h) in worker.histograms.enumerated() { merged[i].merge(h) }
            worker.histograms = []
        }
        var total = merged.enumerated().map { i, h in
            ScenarioStatistics(histogram: h, sum: 0, sumSquares: 0, valid: batchValid[i])
        }
        merged = []
        try indexSums.forEachInUnitOrder { _, sums in
            for i in total.indices {
                total[i].sum += sums[2 * i]; total[i].sumSquares += sums[2 * i + 1]
            }
        }
        workerHistograms = []
        self.indexSums = nil
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

    /// Per township and weight set, the index sums of every unit added in unit order, at
    /// `t · weightSets + s` (0 where the township has no valid pixel).
    func townshipSums(towns: Int, weightSets: Int) throws -> [Double] {
        var total = [Double](repeating: 0, count: (towns + 1) * weightSets)
        try townSums.forEachInUnitOrder { ids, sums in
            for (i, t) in ids.enumerated() {
                for s in 0..<weightSets { total[t * weightSets + s] += sums[i * weightSets + s] }
            }
        }
        return total
    }
}
