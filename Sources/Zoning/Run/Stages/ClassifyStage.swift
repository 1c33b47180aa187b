import Foundation
import GDALKit
import Logging
import RasterKernel

/// The classify stage: the main pass's counts checked (a risk index outside 0..1, a layer or the
/// whole index without a valid pixel), and the classes from data-driven breaks (fixed breaks were
/// applied by the kernel).
struct ClassifyStage: Stage {
    let env: RunEnvironment
    init(_ env: RunEnvironment) { self.env = env }

    var name: String { "classify" }
    var reads: [RunProduct] { [.mainPass, .indexRaster] }
    var produces: [RunProduct] { [.classification, .classRaster] }

    func run(_ context: RunContext) throws {
        var stats = context.required(context.stats, .mainPass, by: name)
        context.modelInfo?.nonFiniteResults = stats.counters.nonFinite
        if stats.counters.outOfRange > 0 {
            throw RunError(.dataError, "\(plan.job.file): combine: the risk index leaves 0..1 at \(stats.counters.outOfRange) pixels (from \(formatNumber(Double(stats.counters.minimum))) to \(formatNumber(Double(stats.counters.maximum)))); the model must give values in 0..1 — rescale it or wrap the expression in clamp(…, 0, 1)")
        }
        let files = context.files
        context.classification = try classify(&stats, indexPath: files.indexForReading, classPath: files.classRaster, work: files.work)
        for (l, source) in plan.sources.enumerated() {
            var st = context.inputs[l].statistics ?? Manifest.LayerStatistics(gridValid: 0, gridNodata: 0)
            st.gridValid = stats.layerValid[l]
            st.gridNodata = plan.grid.pixelCount - stats.layerValid[l]
            context.inputs[l].statistics = st
            if stats.layerValid[l] == 0 {
                throw RunError(.dataError, "\(source.definition.source): layers.\(source.key) (layer \(source.definition.name)) has no valid pixels on the grid (all nodata, NaN or ±inf where it overlaps)")
            }
        }
        if stats.classCounts.dropFirst().allSatisfy({ $0 == 0 }) {
            throw RunError(.dataError, "\(plan.job.file): the risk index has no valid pixel on the grid (every pixel is nodata: outside the mask, or some layer is nodata there, or a normalisation gives nodata); nothing was published")
        }
        context.stats = stats
    }
}

extension ClassifyStage {

    /// Fixed breaks were applied by the kernel. Data-driven breaks are computed from the histogram
    /// of every valid pixel, then a second pass classifies the index (its uncompressed temporary)
    /// on the workers and streams the class COG.
    func classify(_ stats: inout StreamStats, indexPath: String, classPath: String, work: String) throws -> Manifest.Classification {
        let scheme = plan.job.classify.scheme
        guard let method = plan.job.classify.method, let histogram = stats.histogram else {
            return .init(scheme: scheme.id, method: nil, breaks: plan.job.classify.breaks, methodBreaks: nil, histogramResolution: nil)
        }
        let k = scheme.classCount
        let valid = stats.classCounts.dropFirst().reduce(0, +)
        let (methodBreaks, thresholds) = try breaks(method, histogram: histogram, sum: stats.indexSum,
                                                    sumSquares: stats.indexSumSquares, valid: valid, classes: k)
        let thresholdsF = thresholds.map(Float.init)
        // The index is read on the workers; each classifies its block and hands it to the class COG.
        let classWriter = try cogWriter(.classes, path: classPath, work: work, as: UInt8.self)
        var counts = [Int](repeating: 0, count: k + 1)
        var done = 0
        let total = plan.grid.blocks(width: memoryPlan.width, height: memoryPlan.height).count
        try streamBlocks(rasters: [(.file(indexPath), "the risk index")], mask: nil) { block, buffers, _ -> Result<[Int], RunError> in
            let values = buffers[0]
            var classes = [UInt8](repeating: 0, count: values.count)
            var counts = [Int](repeating: 0, count: k + 1)
            for p in 0..<values.count {
                let v = values[p]
                var c: UInt8 = 0
                if RiskKernel.isIndex(v) {
                    c = 1
                    for t in thresholdsF where v >= t { c += 1 }
                }
                classes[p] = c
                counts[Int(c)] += 1
            }
            do { try classWriter.write(block, classes) } catch { return .failure(error as? RunError ?? RunError(.ioError, "\(error)")) }
            return .success(counts)
        } consume: { _, result in
            let part = try result.get()
            for c in 0..<counts.count { counts[c] += part[c] }
            done += 1
            report("classify", done, total)
        }
        try finishCOG(classWriter)
        stats.classCounts = counts
        return .init(scheme: scheme.id, method: method.rawValue, breaks: thresholds, methodBreaks: methodBreaks,
                     histogramResolution: histogram.resolution)
    }
}

extension RunScoped {
    /// Data-driven breaks: as the method states them (upper bounds) and as the kernel applies them
    /// (class = 1 + number of thresholds ≤ index). `sum`/`sumSquares` are exact sums over the
    /// `valid` pixels (standard deviation); the others read the histogram.
    func breaks(_ method: JobSpec.ClassMethod, histogram: Histogram, sum: Double, sumSquares: Double, valid: Int,
                classes k: Int, scenario: String = "") throws -> (methodBreaks: [Double], thresholds: [Double]) {
        let methodBreaks: [Double]
        let thresholds: [Double]
        switch method {
        case .equalInterval:
            methodBreaks = histogram.equalIntervalBreaks(classes: k)
            thresholds = methodBreaks
        case .quantile:
            methodBreaks = histogram.quantileBreaks(classes: k)
            thresholds = histogram.kernelThresholds(upperBounds: methodBreaks)
        case .naturalBreaks:
            methodBreaks = histogram.naturalBreaks(classes: k)
            thresholds = histogram.kernelThresholds(upperBounds: methodBreaks)
        case .standardDeviation:
            // Exact sums over every valid pixel (not the histogram), population σ.
            let n = Double(valid)
            let mean = sum / n
            let deviation = (max(0, sumSquares / n - mean * mean)).squareRoot()
            methodBreaks = deviation > 0 ? ModelKernel.standardDeviationBreaks(mean: mean, deviation: deviation, classes: k) : []
            thresholds = methodBreaks
        }
        guard thresholds.count == k - 1, zip(thresholds, thresholds.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw RunError(.dataError, "\(plan.job.file): classify\(scenario): \(method.rawValue) cannot make \(k) distinct classes from this index (breaks \(methodBreaks.map(formatNumber).joined(separator: ", "))); too few distinct values — use fixed breaks or another method")
        }
        return (methodBreaks, thresholds)
    }
}
