import Testing
@testable import RasterKernel

/// Deterministic test data: bins of a mixture of normal clusters, clipped to [0, 1].
/// - Parameter step: values are multiples of `step` bins (step 20 = multiples of 0.002).
func clusteredBins(count: Int, seed: UInt64, step: Int, clusters: [(mean: Double, sd: Double, share: Double)],
                   binCount: Int = 10_001) -> [Int] {
    var rng = OracleRandom(seed: seed)
    let total = clusters.map(\.share).reduce(0, +)
    return (0..<count).map { _ in
        var pick = rng.unit() * total
        var cluster = clusters[clusters.count - 1]
        for c in clusters {
            if pick < c.share { cluster = c; break }
            pick -= c.share
        }
        let v = cluster.mean + cluster.sd * rng.normal()
        let b = Int((v * Double(binCount - 1) / Double(step)).rounded()) * step
        return min(max(b, 0), binCount - 1)
    }
}

/// Float32 inputs standing for `bins`, with nodata and out-of-range values mixed in; also returns
/// the quantised values the histogram should see (out-of-range values clamped).
func histogramInput(bins: [Int], seed: UInt64) -> (input: [Float], quantised: [Double]) {
    var rng = OracleRandom(seed: seed)
    let h = Histogram()
    var input: [Float] = [], quantised: [Double] = []
    for b in bins {
        input.append(Float(h.quantisedValue(b)))
        quantised.append(h.quantisedValue(b))
        switch rng.below(40) {
        case 0: input.append(.nan)
        case 1: input.append(-9999)
        case 2: input.append(.infinity)
        case 3: input.append(-.infinity)
        case 4: input.append(-0.25); quantised.append(0)
        case 5: input.append(1.5); quantised.append(1)
        default: break
        }
    }
    return (input, quantised)
}

@Suite struct HistogramTests {
    /// A buffer added at once (four interleaved lanes) counts as its values added one by one
    /// (`bin(of:)`), runs of one bin, nodata, ±0 and out-of-range values included, at lengths
    /// around the lanes' period.
    @Test func bufferEqualsValueByValue() {
        var rng = OracleRandom(seed: 77)
        for n in [0, 1, 3, 4, 5, 7, 8, 1000, 262_145] {
            var values: [Float] = []
            while values.count < n {
                let v: Float = switch rng.below(12) {
                case 0: .nan
                case 1: -9999
                case 2: rng.below(2) == 0 ? .infinity : -.infinity
                case 3: -0.0
                case 4: Float(rng.unit() * 3 - 1)
                default: Float(rng.unit())
                }
                values += [Float](repeating: v, count: min(1 + rng.below(9), n - values.count))  // runs of one bin
            }
            var batch = Histogram(), single = Histogram()
            values.withUnsafeBufferPointer { batch.add($0) }
            for v in values { single.add(v) }
            #expect(batch == single && batch.count == single.count, "\(n) values")
        }
    }

    @Test func quantisesToTheNearestBinAndSkipsNodata() {
        var h = Histogram()
        #expect(h.binCount == 10_001)
        h.add(contentsOf: [.nan, -9999, .infinity, -.infinity, 0, 1, 0.5, -0.3, 7, 1e30, -1e30, 0.12344, 0.12346, Float.leastNonzeroMagnitude])
        #expect(h.count == 10)
        #expect(h.binCounts[0] == 4)  // 0, −0.3, −1e30, the smallest subnormal
        #expect(h.binCounts[10_000] == 3)  // 1, 7, 1e30
        #expect(h.binCounts[5_000] == 1)
        #expect(h.binCounts[1_234] == 1 && h.binCounts[1_235] == 1)
        #expect(h.minimum == 0 && h.maximum == 1)
        #expect(h.quantisedValue(1_234) == 0.1234 && h.quantisedValue(6_002) == 0.6002)

        // Halves round away from zero.
        let coarse = Histogram(resolution: 0.5)
        #expect(coarse.binCount == 3)
        #expect(coarse.bin(of: 0.25) == 1 && coarse.bin(of: 0.2499) == 0 && coarse.bin(of: 0.75) == 2)
        #expect(coarse.bin(of: -9999) == nil && coarse.bin(of: .nan) == nil)
    }

    @Test func emptyAndDegenerateHistograms() {
        let empty = Histogram()
        #expect(empty.count == 0 && empty.minimum == nil && empty.maximum == nil)
        for k in [1, 2, 5] {
            #expect(empty.equalIntervalBreaks(classes: k).isEmpty)
            #expect(empty.quantileBreaks(classes: k).isEmpty)
            #expect(empty.naturalBreaks(classes: k).isEmpty)
        }
        var single = Histogram()
        single.add(contentsOf: [0.3, 0.3, 0.3])
        #expect(single.naturalBreaks(classes: 4).isEmpty)
        #expect(single.quantileBreaks(classes: 4) == [0.3, 0.3, 0.3])
        #expect(single.equalIntervalBreaks(classes: 4) == [0.3, 0.3, 0.3])
        #expect(single.equalIntervalBreaks(classes: 1).isEmpty)

        var three = Histogram()
        three.add(contentsOf: [0.1, 0.8, 0.5, 0.5])
        #expect(three.naturalBreaks(classes: 5) == [0.1, 0.5])  // fewer distinct values than classes
        #expect(three.naturalBreaks(classes: 3) == [0.1, 0.5])
        #expect(three.naturalBreaks(classes: 2) == [0.1])
        #expect(three.naturalBreaks(classes: 1).isEmpty)
    }

    /// Per-block histograms merged in any order equal the histogram of everything.
    @Test func mergingInAnyOrderIsExact() {
        let (input, _) = histogramInput(bins: clusteredBins(count: 20_000, seed: 5, step: 1,
                                                           clusters: [(0.3, 0.1, 1), (0.8, 0.05, 1)]), seed: 6)
        var whole = Histogram()
        whole.add(contentsOf: input)
        var rng = OracleRandom(seed: 7)
        var parts: [Histogram] = []
        var start = 0
        while start < input.count {
            let end = min(input.count, start + 1 + rng.below(3000))
            var h = Histogram()
            input[start..<end].withUnsafeBufferPointer { h.add($0) }
            parts.append(h)
            start = end
        }
        for round in 0..<3 {
            var order = Array(parts.indices)
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, rng.below(i + 1)) }
            var merged = Histogram()
            for i in order { merged.merge(parts[i]) }
            #expect(merged == whole, "merge order \(round)")
            #expect(merged.naturalBreaks(classes: 5) == whole.naturalBreaks(classes: 5))
        }
    }

    /// Natural breaks are optimal: no partition of the distinct values into k classes has a smaller
    /// within-class sum of squares (exhaustive search, two-pass variances).
    @Test(arguments: 0..<40)
    func naturalBreaksAreOptimal(seed: Int) {
        var rng = OracleRandom(seed: UInt64(seed) &* 7919 &+ 1)
        let m = 2 + rng.below(9)
        var h = Histogram()
        var bins = Set<Int>()
        while bins.count < m { bins.insert(rng.below(10_001)) }
        let sorted = bins.sorted()
        var weights: [Int] = []
        for b in sorted {
            let w = 1 + rng.below(seed % 2 == 0 ? 5 : 500)
            weights.append(w)
            h.add(contentsOf: [Float](repeating: Float(h.quantisedValue(b)), count: w))
        }
        let values = sorted.map(h.quantisedValue)
        func sse(_ lo: Int, _ hi: Int) -> Double {  // values lo..<hi
            let w = weights[lo..<hi].reduce(0, +)
            let mean = (lo..<hi).map { values[$0] * Double(weights[$0]) }.reduce(0, +) / Double(w)
            return (lo..<hi).map { Double(weights[$0]) * (values[$0] - mean) * (values[$0] - mean) }.reduce(0, +)
        }
        func cost(cuts: [Int]) -> Double {  // cuts: start of classes 2...k
            zip([0] + cuts, cuts + [m]).map { sse($0, $1) }.reduce(0, +)
        }
        for k in 2...min(5, m) {
            var best = Double.infinity
            func search(_ cuts: [Int], _ from: Int) {
                if cuts.count == k - 1 { best = min(best, cost(cuts: cuts)); return }
                if from >= m { return }
                for c in from..<m { search(cuts + [c], c + 1) }
            }
            search([], 1)
            let breaks = h.naturalBreaks(classes: k)
            #expect(breaks.count == k - 1)
            #expect(zip(breaks, breaks.dropFirst()).allSatisfy { $0 < $1 }, "breaks must increase: \(breaks)")
            let cuts = breaks.compactMap { b in values.firstIndex(of: b).map { $0 + 1 } }
            #expect(cuts.count == k - 1, "breaks \(breaks) must be data values \(values)")
            let found = cost(cuts: cuts)
            #expect(abs(found - best) <= 1e-12 * max(1, best), "seed \(seed) k \(k): cost \(found), optimum \(best), values \(values) weights \(weights)")
        }
    }

    /// With `kernelThresholds`, RiskKernel puts every raw index in the class its quantised value has.
    @Test func kernelThresholdsKeepQuantisedClasses() {
        var rng = OracleRandom(seed: 11)
        let raw = (0..<10_000).map { _ in Float(min(1, max(0, 0.5 + 0.2 * rng.normal()))) }
        var h = Histogram()
        h.add(contentsOf: raw)
        for upper in [h.naturalBreaks(classes: 5), h.quantileBreaks(classes: 5)] {
            let kernel = RiskKernel(normalizations: [.linear(min: 0, max: 1)], combination: .weightedSum([1]),
                                    breaks: h.kernelThresholds(upperBounds: upper))
            var index = [Float](repeating: 0, count: raw.count), classes = [UInt8](repeating: 0, count: raw.count)
            raw.withUnsafeBufferPointer { v in
                index.withUnsafeMutableBufferPointer { ip in
                    classes.withUnsafeMutableBufferPointer { cp in kernel.run(count: raw.count, inputs: [v], mask: nil, index: ip, classes: cp) }
                }
            }
            var wrong = 0
            for (v, c) in zip(raw, classes) {
                let q = h.quantisedValue(h.bin(of: v)!)
                if Int(c) != 1 + upper.filter({ $0 < q }).count { wrong += 1 }
            }
            #expect(wrong == 0, "upper bounds \(upper)")
        }
    }

    @Test func mismatchedResolutionsDoNotMerge() async {
        await #expect(processExitsWith: .failure) {
            var a = Histogram()
            a.merge(Histogram(resolution: 1e-3))
        }
        await #expect(processExitsWith: .failure) { _ = Histogram(resolution: 0.3) }
    }
}

/// Breaks against the reference implementations: numpy.quantile(method="inverted_cdf"),
/// mapclassify.EqualInterval and mapclassify.FisherJenks, run through python3 on the same values.
@Suite struct BreaksOracleTests {
    static let script = """
        import sys, warnings
        import numpy as np, mapclassify
        warnings.simplefilter("ignore")
        values = np.atleast_1d(np.loadtxt(sys.argv[1], dtype=np.float64))
        def show(name, k, xs):
            print(name, k, *[repr(float(x)) for x in xs])
        for k in [int(k) for k in sys.argv[2].split(",") if k]:
            show("quantile", k, np.quantile(values, [i / k for i in range(1, k)], method="inverted_cdf"))
            if values.min() < values.max():
                show("equal", k, mapclassify.EqualInterval(values, k=k).bins[:-1])
        for k in [int(k) for k in sys.argv[3].split(",") if k]:
            show("natural", k, mapclassify.FisherJenks(values, k=k).bins[:-1])
        """

    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let bins: [Int]
        let classes: [Int]
        let naturalClasses: [Int]
        var testDescription: String { "\(name): \(bins.count) values, \(Set(bins).count) distinct" }
    }

    static let cases: [Case] = [
        Case(name: "four clusters on a 0.002 grid",
             bins: clusteredBins(count: 1_500, seed: 1, step: 20,
                                 clusters: [(0.15, 0.05, 0.4), (0.45, 0.04, 0.3), (0.7, 0.06, 0.2), (0.92, 0.03, 0.1)]),
             classes: [2, 3, 5, 7], naturalClasses: [5]),
        Case(name: "three clusters at full resolution",
             bins: clusteredBins(count: 1_000, seed: 2, step: 1, clusters: [(0.2, 0.03, 0.5), (0.55, 0.08, 0.35), (0.85, 0.02, 0.15)]),
             classes: [4, 6], naturalClasses: [4, 6]),
        Case(name: "50k values, five clusters",
             bins: clusteredBins(count: 50_000, seed: 3, step: 1,
                                 clusters: [(0.1, 0.05, 3), (0.3, 0.1, 2), (0.5, 0.02, 1), (0.75, 0.1, 2), (0.95, 0.05, 1)]),
             classes: [2, 3, 4, 5, 7, 10], naturalClasses: []),
        Case(name: "few values", bins: [3, 9_000, 3, 700, 700, 700, 10_000], classes: [2, 3, 5, 10, 12], naturalClasses: [2, 3]),
        Case(name: "one value", bins: [4_321], classes: [2, 5], naturalClasses: []),
    ]

    @Test(arguments: cases)
    func matchesNumpyAndMapclassify(_ c: Case) throws {
        let (input, quantised) = histogramInput(bins: c.bins, seed: UInt64(c.bins.count))
        var h = Histogram()
        h.add(contentsOf: input)
        #expect(h.count == quantised.count)

        let output = try PythonOracle.withTemporaryFile(lines: quantised.map(\.description)) { path in
            try PythonOracle.run(Self.script, arguments: [path, c.classes.map(String.init).joined(separator: ","),
                                                          c.naturalClasses.map(String.init).joined(separator: ",")])
        }
        var compared = 0
        for line in output.split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 2)
            guard fields.count >= 2, let k = Int(fields[1]) else { throw PythonOracle.Failure(description: "bad line from python: \(line)") }
            let expected = fields.count == 3 ? try PythonOracle.numbers(fields[2]) : []
            let actual: [Double]
            switch fields[0] {
            case "quantile": actual = h.quantileBreaks(classes: k)
            case "equal": actual = h.equalIntervalBreaks(classes: k)
            case "natural": actual = h.naturalBreaks(classes: k)
            default: throw PythonOracle.Failure(description: "bad line from python: \(line)")
            }
            #expect(actual.count == expected.count && zip(actual, expected).allSatisfy { abs($0 - $1) <= 1e-9 },
                    "\(c.name): \(fields[0]) breaks, \(k) classes: \(actual), reference \(expected)")
            compared += 1
        }
        let expectedLines = c.classes.count * (Set(quantised).count > 1 ? 2 : 1) + c.naturalClasses.count
        #expect(compared == expectedLines, "\(c.name): python printed \(compared) results\n\(output)")
    }
}
