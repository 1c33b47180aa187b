/// A fixed-resolution histogram of index values in [0, 1], and the class breaks computed from it.
///
/// With `steps = 1 / resolution` (a whole number), value `v` goes to bin `Int((v × steps).rounded())`,
/// clamped to `0...steps`: it is quantised to the nearest multiple of `resolution` (halves round
/// away from zero). Multiplying by the whole number `steps` rather than dividing by the inexact
/// `resolution` keeps the bin edges exact. Nodata is skipped: NaN, ±infinity and
/// `RiskKernel.indexNoData` (−9999).
///
/// Counts are integers, so per-block histograms `merge` in any order into the same histogram, and
/// everything computed from it (breaks, minimum, maximum) is deterministic.
///
/// Every breaks method returns inner breaks in the *upper-bound* convention of mapclassify
/// (`bins[:-1]`): class i holds the values `breaks[i-1] < v ≤ breaks[i]`. `RiskKernel` counts
/// `breaks ≤ index` instead; `kernelThresholds(upperBounds:)` converts breaks that are quantised
/// values (quantile, natural) to that convention.
public struct Histogram: Sendable, Equatable {
    /// Width of a bin; `1 / resolution` is a whole number.
    public let resolution: Double
    /// Bins per unit, `1 / resolution` (a whole number): bin `b` stands for `b / steps`.
    let steps: Double
    /// Valid values per bin; bin `b` holds the values that quantise to `b × resolution`.
    public private(set) var binCounts: [Int]
    /// Number of valid values accumulated.
    public private(set) var count: Int = 0

    /// An empty histogram of `1 / resolution + 1` bins covering [0, 1].
    /// - Parameter resolution: bin width in (0, 1]; `1 / resolution` must be a whole number
    ///   (within 1e-9), and at most 10⁷.
    public init(resolution: Double = 1e-4) {
        precondition(resolution > 0 && resolution <= 1, "histogram resolution must be in (0, 1], got \(resolution)")
        let steps = (1 / resolution).rounded()
        precondition(abs(1 / resolution - steps) <= 1e-9 * steps, "1 / resolution must be a whole number, got resolution \(resolution)")
        precondition(steps <= 1e7, "histogram resolution \(resolution) is too fine (more than 10⁷ bins)")
        self.resolution = resolution
        self.steps = steps
        binCounts = [Int](repeating: 0, count: Int(steps) + 1)
    }

    /// A histogram with the given counts (as `binCounts` of a histogram of this resolution gave
    /// them, e.g. one stored by a shard of a run); nil when the number of bins does not match.
    public init?(resolution: Double, binCounts: [Int]) {
        self.init(resolution: resolution)
        guard binCounts.count == self.binCounts.count else { return nil }
        self.binCounts = binCounts
        count = binCounts.reduce(0, +)
    }

    /// Number of bins: `1 / resolution + 1`.
    public var binCount: Int { binCounts.count }

    /// The value bin `bin` stands for, `bin × resolution`, computed as `bin / steps`: the Double
    /// nearest to it (0.6002, not 0.6002000000000001).
    public func quantisedValue(_ bin: Int) -> Double {
        precondition(bin >= 0 && bin < binCount, "bin \(bin) outside 0..<\(binCount)")
        return Double(bin) / steps
    }

    /// The bin `value` falls in, or nil when it is nodata (NaN, ±infinity, −9999).
    /// Values outside [0, 1] go to the first or last bin.
    @inline(__always)
    public func bin(of value: Float) -> Int? {
        guard RiskKernel.isIndex(value) else { return nil }
        // Clamp in Double first (branch-free): Int(_:) traps on values it cannot represent.
        return Int(Swift.min(Swift.max((Double(value) * steps).rounded(), 0), Double(binCounts.count - 1)))
    }

    /// Adds one value (ignored when it is nodata).
    public mutating func add(_ value: Float) {
        if let b = bin(of: value) {
            binCounts[b] += 1
            count += 1
        }
    }

    /// Adds every valid value of `values`.
    ///
    /// Neighbouring pixels often fall in the same bin, and a count that is read, incremented and
    /// stored again before the last store completes makes every pixel wait for the one before: the
    /// values are counted in four interleaved lanes of 32-bit counts (value i into lane i mod 4),
    /// added into the bins at the end (integers: the same counts).
    public mutating func add(_ values: UnsafeBufferPointer<Float>) {
        let bins = binCounts.count
        var added = 0
        let lanes = UnsafeMutablePointer<UInt32>.allocate(capacity: 4 * bins)
        defer { lanes.deallocate() }
        var start = 0
        while start < values.count {
            // At most 2³² − 1 values a lane between two additions into the bins.
            let end = Swift.min(values.count, start + 4 * Int(UInt32.max / 2))
            lanes.initialize(repeating: 0, count: 4 * bins)
            var i = start
            while i < end {
                let lane = lanes + (i & 3) * bins
                let value = values[i]
                i += 1
                guard let b = bin(of: value) else { continue }
                lane[b] &+= 1
                added += 1
            }
            binCounts.withUnsafeMutableBufferPointer { counts in
                for b in 0..<bins { counts[b] += Int(lanes[b]) + Int(lanes[bins + b]) + Int(lanes[2 * bins + b]) + Int(lanes[3 * bins + b]) }
            }
            start = end
        }
        count += added
    }

    /// Adds every valid value of `values`.
    public mutating func add(contentsOf values: [Float]) {
        values.withUnsafeBufferPointer { add($0) }
    }

    /// Adds the counts of `other`, which must have the same resolution. Merging is exact
    /// (integer counts), so the result does not depend on the order of merges.
    public mutating func merge(_ other: Histogram) {
        precondition(other.resolution == resolution,
                     "cannot merge histograms of resolution \(other.resolution) and \(resolution)")
        binCounts.withUnsafeMutableBufferPointer { mine in
            other.binCounts.withUnsafeBufferPointer { theirs in
                for b in 0..<mine.count { mine[b] += theirs[b] }
            }
        }
        count += other.count
    }

    /// The smallest valid value (quantised), or nil when the histogram is empty.
    public var minimum: Double? { binCounts.firstIndex { $0 > 0 }.map(quantisedValue) }
    /// The largest valid value (quantised), or nil when the histogram is empty.
    public var maximum: Double? { binCounts.lastIndex { $0 > 0 }.map(quantisedValue) }

    /// The non-empty bins in increasing order, with their counts.
    public var nonEmptyBins: [(bin: Int, count: Int)] {
        binCounts.indices.compactMap { binCounts[$0] > 0 ? ($0, binCounts[$0]) : nil }
    }

    // MARK: Breaks

    /// `classes − 1` equal-interval inner breaks over [minimum, maximum] of the quantised values:
    /// `minimum + i × (maximum − minimum) / classes` for i in 1..<classes — QGIS's "Equal Interval" and
    /// `mapclassify.EqualInterval(y, k).bins[:-1]` (up to rounding in the last bits).
    /// All breaks equal the minimum when every value is the same; empty when the histogram is empty.
    public func equalIntervalBreaks(classes: Int) -> [Double] {
        precondition(classes >= 1, "classes must be at least 1, got \(classes)")
        guard let lo = minimum, let hi = maximum else { return [] }
        let width = (hi - lo) / Double(classes)
        return (1..<classes).map { lo + Double($0) * width }
    }

    /// `classes − 1` inner breaks at the quantiles i / classes (i in 1..<classes) of the quantised
    /// values, defined exactly as `numpy.quantile(values, i / classes, method="inverted_cdf")`:
    /// with n values sorted as x₀ ≤ … ≤ xₙ₋₁ and h = n × q − 1 (in Double, as numpy computes it),
    /// the break is x_j with j = h when h is a whole number, ⌊h⌋ + 1 otherwise, and at least 0 —
    /// the smallest value whose cumulative share reaches q. Breaks are quantised data values and
    /// repeat when one value holds more than 1 / classes of the data; the caller decides what to
    /// do then. Empty when the histogram is empty.
    public func quantileBreaks(classes: Int) -> [Double] {
        precondition(classes >= 1, "classes must be at least 1, got \(classes)")
        guard count > 0 else { return [] }
        var breaks: [Double] = []
        breaks.reserveCapacity(classes - 1)
        var bin = 0, below = 0  // `below`: number of values in bins before `bin`
        for i in 1..<classes {
            let q = Double(i) / Double(classes)
            let h = Double(count) * q - 1
            let floor = h.rounded(.down)
            let j = max(0, Int(h - floor == 0 ? floor : floor + 1))  // 0-based order statistic
            // Order statistic j lies in the first bin whose cumulative count exceeds j; j increases with i.
            while below + binCounts[bin] <= j && bin < binCounts.count - 1 {
                below += binCounts[bin]
                bin += 1
            }
            breaks.append(quantisedValue(bin))
        }
        return breaks
    }

    /// Fisher–Jenks natural breaks: the exact optimal partition of the quantised values into
    /// `classes` classes of consecutive values that minimises the total within-class sum of squared
    /// deviations (Fisher 1958), by dynamic programming over the m non-empty bins, each a distinct
    /// value weighted by its count: O(classes × m²) time, O(classes × m) memory.
    ///
    /// Returns the `classes − 1` inner breaks as the largest value of each of the first
    /// `classes − 1` classes — the convention of `mapclassify.FisherJenks(y, k).bins[:-1]`.
    /// Among partitions of equal computed cost, the one whose last classes start earliest wins (as
    /// in mapclassify); costs that are equal in exact arithmetic may differ in their last bits. Costs are computed in Double from prefix sums over whole bin numbers, which are
    /// exact while Σ count × bin² < 2⁵³ (about 9 × 10⁷ values at the default resolution).
    ///
    /// With fewer than `classes` distinct values, every distinct value but the largest is a break
    /// (fewer than `classes − 1` breaks). Empty when the histogram is empty.
    public func naturalBreaks(classes: Int) -> [Double] {
        precondition(classes >= 1, "classes must be at least 1, got \(classes)")
        let bins = nonEmptyBins
        let m = bins.count
        if m <= classes { return bins.dropLast().map { quantisedValue($0.bin) } }

        // Prefix sums over whole bin numbers: w = Σ count, s = Σ count·b, q = Σ count·b².
        var w = [Double](repeating: 0, count: m + 1)
        var s = w, q = w
        for (t, entry) in bins.enumerated() {
            let c = Double(entry.count), b = Double(entry.bin)
            w[t + 1] = w[t] + c
            s[t + 1] = s[t] + c * b
            q[t + 1] = q[t] + c * b * b
        }
        // cost[c][j]: least cost of the first j + 1 distinct values in c + 1 classes;
        // start[c][j]: where its last class starts.
        var cost = [[Double]](repeating: [Double](repeating: .infinity, count: m), count: classes)
        var start = [[Int32]](repeating: [Int32](repeating: 0, count: m), count: classes)
        w.withUnsafeBufferPointer { w in
            s.withUnsafeBufferPointer { s in
                q.withUnsafeBufferPointer { q in
                    /// Within-class sum of squares of distinct values i...j.
                    @inline(__always) func sse(_ i: Int, _ j: Int) -> Double {
                        let sw = w[j + 1] - w[i], ss = s[j + 1] - s[i], sq = q[j + 1] - q[i]
                        return max(0, sq - ss * ss / sw)
                    }
                    for j in 0..<m { cost[0][j] = sse(0, j) }
                    for c in 1..<classes {
                        let previous = cost[c - 1]
                        // The last class of c + 1 classes starts at i ≥ c (each earlier class needs a value).
                        // The last class needs `classes − 1 − c` values after j for the rest.
                        for j in c..<(m - (classes - 1 - c)) {
                            var best = Double.infinity, bestStart = c
                            for i in c...j {
                                let v = previous[i - 1] + sse(i, j)
                                if v < best { best = v; bestStart = i }
                            }
                            cost[c][j] = best
                            start[c][j] = Int32(bestStart)
                        }
                    }
                }
            }
        }
        // Walk back from the last value: each class's break is the value just before the next class starts.
        var breaks = [Double](repeating: 0, count: classes - 1)
        var j = m - 1
        for c in stride(from: classes - 1, through: 1, by: -1) {
            let i = Int(start[c][j])
            breaks[c - 1] = quantisedValue(bins[i - 1].bin)
            j = i - 1
        }
        return breaks
    }

    /// Converts upper-bound breaks that are quantised values (from `quantileBreaks` or
    /// `naturalBreaks`: a value quantising to ≤ break is in the lower class) into `RiskKernel`
    /// breaks (an index ≥ break is in the upper class): each break moves up by half a bin, so every
    /// index that quantises to ≤ break stays in the lower class (up to Float32 rounding of the
    /// threshold itself). Repeated breaks are kept; the kernel rejects them.
    public func kernelThresholds(upperBounds breaks: [Double]) -> [Double] {
        breaks.map { $0 + 0.5 / steps }
    }
}
