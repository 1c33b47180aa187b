/// The exact percentile rank of every value among the valid values of a grid
/// (`normalize: { quantile: data }`):
///
///     rank(v) = (L + (E − 1) / 2) / (n − 1)
///
/// with n the number of valid values, L how many are below v and E how many equal v: tied values
/// share the mean of their ranks ("average" ties, as `scipy.stats.rankdata`), the smallest value
/// ranks 0 and the largest 1 when they occur once. A value that is not among them (E = 0, e.g.
/// outside the mask) ranks by the values below it, clamped to 0..1. Exact: built from every
/// valid value (run-length counted per block, merged by a full sort), never from a histogram.
public struct RankTable: Sendable, Equatable {
    /// The distinct values, ascending.
    public let values: [Float]
    /// For each distinct value, how many valid values lie below it.
    public let below: [Int]
    /// For each distinct value, how many valid values equal it.
    public let counts: [Int]
    /// The number of valid values.
    public let total: Int

    /// Run-length counts of a block's finite values inside the mask (mask value 0 = outside),
    /// ascending.
    public static func runs(_ values: UnsafeBufferPointer<Float>, mask: UnsafeBufferPointer<Float>?) -> [(value: Float, count: Int)] {
        var finite: [Float] = []
        finite.reserveCapacity(values.count)
        for p in values.indices where values[p].isFinite {
            if let mask, mask[p] == 0 { continue }
            finite.append(values[p])
        }
        finite.sort()
        var runs: [(value: Float, count: Int)] = []
        for v in finite {
            if let last = runs.last, last.value == v { runs[runs.count - 1].count += 1 } else { runs.append((v, 1)) }
        }
        return runs
    }

    /// Merges the runs of every block (in any order: the result is the same).
    public init(merging blocks: [[(value: Float, count: Int)]]) {
        let all = blocks.joined().sorted { $0.value < $1.value }
        var values: [Float] = [], below: [Int] = [], counts: [Int] = []
        var seen = 0
        for run in all {
            if let last = values.last, last == run.value {
                counts[counts.count - 1] += run.count
            } else {
                values.append(run.value); below.append(seen); counts.append(run.count)
            }
            seen += run.count
        }
        self.values = values; self.below = below; self.counts = counts; self.total = seen
    }

    /// The percentile rank of `v` (NaN and ±inf stay NaN: nodata).
    public func rank(_ v: Float) -> Float {
        guard v.isFinite, total > 1 else { return v.isFinite && total == 1 ? 0.5 : .nan }
        // First index whose value is ≥ v.
        var lo = 0, hi = values.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if values[mid] < v { lo = mid + 1 } else { hi = mid }
        }
        let n = Double(total - 1)
        if lo < values.count, values[lo] == v {
            return Float((Double(below[lo]) + Double(counts[lo] - 1) / 2) / n)
        }
        let l = lo < values.count ? below[lo] : total
        return Float(min(1, max(0, (Double(l) - 0.5) / n)))
    }
}
