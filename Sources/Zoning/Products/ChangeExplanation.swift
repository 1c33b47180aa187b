import Foundation
import FilePaths
import GDALKit
import Logging
import RasterKernel
import RiskDatabase

/// Explained changes (归因) between two runs of a job: each township's change of mean index split
/// into the part from the input data and the part from the weights, by re-evaluating the model
/// with one group switched at a time; and the level the township would have under the old breaks.
enum ChangeExplanation {
    static let method = """
        two factors in one order plus an interaction term, f = the township's mean index, D = the input \
        data (with the normalisation ranges taken from it), W = the weights of every weighted combination \
        as applied (fixed, AHP or entropy): data = f(D1,W0) − f(D0,W0); weights = f(D0,W1) − f(D0,W0); \
        interaction = f(D1,W1) − f(D1,W0) − f(D0,W1) + f(D0,W0); data + weights + interaction = \
        f(D1,W1) − f(D0,W0) = delta_index. f(D1,W0) and f(D0,W1) are runs of the later and the earlier \
        job with the other run's weights
        """

    /// One township's split, by `ChangeReport.townshipKey`.
    struct Split: Sendable, Equatable {
        var before: Double
        var after: Double
        var data: Double
        var weights: Double
        var interaction: Double
    }

    /// The counterfactual runs' means and the split per township. Throws when the two runs do not
    /// share one model structure (then the change is the method's) or the earlier run's data is gone.
    static func explain(from: RunFolder, to: RunFolder, threads: Int, logger: Logger) throws -> [String: Split] {
        let toManifest = try manifest(of: to)
        guard toManifest.baseline == nil, let m1 = toManifest.model else {
            throw RunError(.dataError, "\(from.directory) → \(to.directory): the change can be explained only between two computed runs (a baseline or a run without a model record has no model to re-evaluate)")
        }
        return try explain(from: from, to: to, model: m1, threads: threads, logger: logger)
    }

    /// The same with the later run's model as applied (`model`): also for a run being staged.
    static func explain(from: RunFolder, to: RunFolder, model m1: Manifest.ModelInfo, threads: Int, logger: Logger) throws -> [String: Split] {
        let fromManifest = try manifest(of: from)
        guard let m0 = fromManifest.model, fromManifest.baseline == nil else {
            throw RunError(.dataError, "\(from.directory) → \(to.directory): the change can be explained only between two computed runs (a baseline or a run without a model record has no model to re-evaluate)")
        }
        let shape: (Manifest.ModelInfo) -> [String] = { m in (m.indices + [m.combine]).map { "\($0.name) \($0.form) \($0.members)" } + m.layers.map(\.key) }
        guard shape(m0) == shape(m1) else {
            throw RunError(.dataError, "\(to.directory): the model's structure differs from \(from.directory)'s (combinations, members or layers): the change is the method's, it cannot be split into data and weights")
        }
        try checkData(of: from, fromManifest.inputs)
        let f00 = meanIndex(from.statisticsRows), f11 = meanIndex(to.statisticsRows)
        let f10 = try counterfactual(to, weights: m0, threads: threads, logger: logger)
        let f01 = try counterfactual(from, weights: m1, threads: threads, logger: logger)
        var result: [String: Split] = [:]
        for (key, after) in f11 {
            guard let before = f00[key], let a = f10[key], let b = f01[key] else { continue }
            let data = a - before, weights = b - before
            result[key] = Split(before: before, after: after, data: data, weights: weights,
                                interaction: (after - before) - data - weights)
        }
        return result
    }

    /// The earlier run's input files still hold the bytes it read (else its data is gone and the
    /// part from the data cannot be separated), checked before anything is computed.
    static func checkData(of run: RunFolder, _ inputs: [Manifest.Input]) throws {
        for file in inputs.flatMap(\.files) {
            let now = try? SHA256.hex(fileAt: file.path)
            guard now == file.sha256 else {
                throw RunError(.dataError, "\(file.path): \(now == nil ? "gone" : "changed") since run \(run.runID) read it (SHA-256 \(now == nil ? "unknown" : "differs")): the earlier data is gone, so the part from the data cannot be separated from the weights")
            }
        }
    }

    static func manifest(of run: RunFolder) throws -> Manifest {
        let path = run.directory.appendingComponent("manifest.json")
        guard let data = FileManager.default.contents(atPath: path) else { throw RunError(.noInput, "\(path): cannot be read") }
        do { return try Manifest.decode(data) } catch { throw RunError(.dataError, "\(path): not a run manifest: \(error)") }
    }

    /// Mean index per township (by key) of `stats.json` rows.
    static func meanIndex(_ rows: [JSONValue]) -> [String: Double] {
        var result: [String: Double] = [:]
        for row in rows { if let m = row["mean_index"]?.number { result[ChangeReport.townshipKey(row)] = m } }
        return result
    }

    /// The weights of every weighted combination of a model as applied.
    static func weights(_ model: Manifest.ModelInfo) -> [String: [Double]] {
        var result: [String: [Double]] = [:]
        for node in model.indices + [model.combine] { if let w = node.weights { result[node.name] = w } }
        return result
    }

    /// Runs `run`'s kept job with `weights` into a temporary folder (removed after) and returns the
    /// townships' mean index.
    static func counterfactual(_ run: RunFolder, weights model: Manifest.ModelInfo, threads: Int, logger: Logger) throws -> [String: Double] {
        guard let spec = run.spec else {
            throw RunError(.noInput, "\(run.directory): its job copy (job/) cannot be loaded with the layers it names: the model cannot be re-evaluated")
        }
        let root: String
        do { root = try SafeFiles.makeFreshDirectory(in: FileManager.default.temporaryDirectory.path, prefix: "hazard-zoning-explain") } catch {
            throw RunError(.cantCreate, error)
        }
        defer { try? FileManager.default.removeItem(atPath: root) }
        let plan = try Planner().resolve(spec, outputDirectory: root.appendingComponent(spec.name))
        var options = RunOptions(threads: threads)
        options.database = root.appendingComponent("explain.gpkg")
        options.weightOverrides = weights(model)
        let result = try Runner(plan: plan, options: options, logger: logger).run()
        return meanIndex(RunFolder(directory: result.runDirectory, manifest: result.manifest).statisticsRows)
    }
}

extension ChangeReport {
    /// A township's key across runs: its code, else its name.
    static func townshipKey(_ row: JSONValue) -> String {
        if let code = row["code"]?.string, !code.isEmpty { return "code:\(code)" }
        return "name:\(row["name"]?.string ?? "")"
    }

    /// Fills the townships' mean index before and after, `delta_index`, the level under the
    /// previous run's breaks and, when given, the explanation of the change.
    static func annotate(_ townships: inout [TownshipChange], tally: Tally, townshipBand: RasterBand?, grid: ChangeGrid,
                         explanation: [String: ChangeExplanation.Split]?) throws {
        let before = ChangeExplanation.meanIndex(tally.from.statisticsRows)
        let after = ChangeExplanation.meanIndex(tally.to.statisticsRows)
        let oldLevels = try levelsByOldBreaks(tally: tally, townshipBand: townshipBand, grid: grid)
        for i in townships.indices {
            let key = townships[i].key
            townships[i].meanIndexBefore = before[key]
            townships[i].meanIndexAfter = after[key]
            if let b = before[key], let a = after[key] { townships[i].deltaIndex = a - b }
            townships[i].levelByOldBreaks = townships[i].townshipId.flatMap { oldLevels[$0] }
            if let split = explanation?[key] {
                townships[i].deltaIndex = split.after - split.before
                townships[i].deltaIndexData = split.data
                townships[i].deltaIndexWeights = split.weights
                townships[i].deltaIndexInteraction = split.interaction
            }
        }
    }
}

extension ChangeReport {
    /// Each township's level (by id) under the previous run's breaks with the current run's level
    /// rule: from the mean index (`level: mean-index`) or from the current index raster classified
    /// with the old breaks (`level: high-share`). Empty when the previous run has no breaks (a
    /// baseline) or the current run keeps no index raster.
    static func levelsByOldBreaks(tally: Tally, townshipBand: RasterBand?, grid: ChangeGrid) throws -> [Int: Int] {
        guard let rule = (tally.to.spec ?? tally.from.spec)?.townshipSource?.level,
              let old = try? ChangeExplanation.manifest(of: tally.from), old.baseline == nil, !old.classification.breaks.isEmpty else { return [:] }
        let breaks = old.classification.breaks
        if case .meanIndex = rule {
            var result: [Int: Int] = [:]
            for row in tally.to.statisticsRows {
                if let id = row["id"]?.int, let mean = row["mean_index"]?.number { result[id] = 1 + breaks.filter { mean >= $0 }.count }
            }
            return result
        }
        let path = tally.to.directory.appendingComponent("risk_index.tif")
        guard let townshipBand, tally.townshipCount > 0, FileManager.default.fileExists(atPath: path) else { return [:] }
        let index = try Dataset(open: path, flags: [.raster]).band(1)
        let n = tally.townshipCount
        var counts = [[Int]](repeating: [Int](repeating: 0, count: breaks.count + 2), count: n + 1)
        var sums = [Double](repeating: 0, count: n + 1)
        var y = 0
        while y < grid.height {
            let window = PixelWindow(x: 0, y: y, width: grid.width, height: min(256, grid.height - y))
            let values: [Float] = try index.read(window)
            let towns = try readUInt16(townshipBand, window)
            for i in values.indices where RiskKernel.isIndex(values[i]) {
                let t = Int(towns[i])
                guard t > 0 && t <= n else { continue }
                let v = Double(values[i])
                var c = 1
                for b in breaks where v >= b { c += 1 }
                counts[t][c] += 1
                sums[t] += v
            }
            y += window.height
        }
        var result: [Int: Int] = [:]
        for t in 1...n {
            let valid = counts[t][1...].reduce(0, +)
            if let level = TownshipStatisticsStage.townshipLevel(rule, counts: counts[t], sum: sums[t], valid: valid, thresholds: breaks) {
                result[t] = level
            }
        }
        return result
    }

    /// The explanation as lines of the change map's notes: one per township whose level changed.
    static func explanationLines(_ townships: [TownshipChange]) -> [String] {
        let changed = townships.filter { $0.change == "up" || $0.change == "down" }
        guard changed.contains(where: { $0.deltaIndex != nil || $0.levelByOldBreaks != nil }) else { return [] }
        func signed(_ v: Double?) -> String { v.map { String(format: "%+.4f", $0) } ?? "–" }
        var lines = ["乡镇  等级  Δ指数 = 数据 + 权重 + 交互  旧分级下等级 · township  level  Δ index = data + weights + interaction  level by old breaks"]
        for t in changed.prefix(12) {
            lines.append("\(t.township)  \(t.previousLevel.map(String.init) ?? "–")→\(t.level.map(String.init) ?? "–")  \(signed(t.deltaIndex)) = \(signed(t.deltaIndexData)) + \(signed(t.deltaIndexWeights)) + \(signed(t.deltaIndexInteraction))  \(t.levelByOldBreaks.map(String.init) ?? "–")")
        }
        return lines
    }
}

extension Operations {
    /// `changes --explain`: the method and one line per township of a change folder's `changes.json`.
    public static func explanationTable(changesFolder folder: String) throws -> String {
        let path = folder.appendingComponent("changes.json")
        guard let data = FileManager.default.contents(atPath: path), let doc = try? JSONValue.parse(data) else {
            throw RunError(.noInput, "\(path): cannot be read")
        }
        func number(_ v: JSONValue?) -> String { v?.number.map { String(format: "%+.6f", $0) } ?? "–" }
        func level(_ v: JSONValue?) -> String { v?.int.map(String.init) ?? "–" }
        var lines = ["method: \(doc["explanation"]?.string ?? "not explained")",
                     "township  level before→after  level by old breaks  delta_index = data + weights + interaction"]
        for t in doc["townships"]?.array ?? [] {
            lines.append("\(t["township"]?.string ?? "")  \(level(t["previous_level"]))→\(level(t["level"])) (\(t["change"]?.string ?? ""))  \(level(t["level_by_old_breaks"]))  \(number(t["delta_index"])) = \(number(t["delta_index_data"])) + \(number(t["delta_index_weights"])) + \(number(t["delta_index_interaction"]))")
        }
        return lines.joined(separator: "\n")
    }
}

extension StatisticsStage {
    /// The fixed kernel with the top combination's weights replaced (`RunOptions.weightOverrides`);
    /// the kernel itself when they are not.
    func reweighted(_ kernel: RiskKernel, _ resolution: ModelResolution) -> RiskKernel {
        guard let w = resolution.overrides["combine"], let combination = plan.job.combine.combination else { return kernel }
        let form: Combination
        switch combination {
        case .weightedSum: form = .weightedSum(w)
        case .geometricMean: form = .geometricMean(w)
        case .product, .maximum: return kernel
        }
        return RiskKernel(normalizations: plan.job.layers.map(\.normalization), combination: form, breaks: plan.job.classify.breaks)
    }
}

extension RecordStage {
    /// `run --explain-changes`: the explanation of the change since the previous run, computed
    /// while the run is staged (two more runs of the model); nil when the previous run is a
    /// baseline or the option is off. A change that cannot be explained is a warning.
    func explanation(since previous: RunFolder, staging: String, runID: String, model: Manifest.ModelInfo) -> [String: ChangeExplanation.Split]? {
        guard options.explainChanges else { return nil }
        let current = RunFolder(directory: staging, plan: plan, runID: runID)
        do {
            return try ChangeExplanation.explain(from: previous, to: current, model: model, threads: options.threads, logger: logger)
        } catch {
            logger.warning("the change since the previous run is not explained", metadata: ["reason": "\(Operations.describe(error).message)"])
            return nil
        }
    }
}
