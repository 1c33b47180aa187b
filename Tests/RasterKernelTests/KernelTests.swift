import Foundation
import Testing
@testable import RasterKernel

/// An independent scalar reference in Double, written from the documented semantics.
struct ScalarReference {
    let normalizations: [Normalization]
    let weights: [Double]
    let breaks: [Double]
    var combination: Combination? = nil

    func normalize(_ v: Double, _ n: Normalization) -> Double? {
        switch n {
        case .curve(let pts):
            if v <= pts.first!.x { return pts.first!.y }
            if v >= pts.last!.x { return pts.last!.y }
            for (a, b) in zip(pts, pts.dropFirst()) where v <= b.x {
                return a.y + (b.y - a.y) * (v - a.x) / (b.x - a.x)
            }
            return pts.last!.y
        case .linear(let lo, let hi):
            return min(max((v - lo) / (hi - lo), 0), 1)
        case .table(let entries, let def):
            for e in entries where abs(v - e.key) <= Normalization.tableTolerance * max(1, abs(e.key)) * 1.0000001 {
                return e.value
            }
            return def
        }
    }

    /// (index, class) or nil for nodata.
    func pixel(_ values: [Float], mask: Float) -> (Double, Int)? {
        if mask == 0 { return nil }
        var ns: [Double] = []
        for (i, v) in values.enumerated() {
            guard v.isFinite, let n = normalize(Double(v), normalizations[i]) else { return nil }
            ns.append(n)
        }
        let sum: Double
        switch combination ?? .weightedSum(weights) {
        case .weightedSum(let w): sum = zip(w, ns).map { $0 * $1 }.reduce(0, +)
        case .product: sum = ns.reduce(1, *)
        case .maximum: sum = ns.max()!
        case .geometricMean(let w): sum = exp(zip(w, ns).map { $0 * log($1) }.reduce(0, +))
        }
        return (sum, 1 + breaks.filter { sum >= $0 }.count)
    }
}

/// Deterministic pseudo-random numbers (SplitMix64) so failures are reproducible.
struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

let demoNormalizations: [Normalization] = [
    .curve([.init(0, 0), .init(0.5, 0.3), .init(1.5, 0.7), .init(3, 1)]),
    .linear(min: 0, max: 100),
    .table([.init(0.05, 0.25), .init(0.10, 0.5), .init(0.15, 0.75), .init(0.20, 1.0)], default: 0),
]

@Suite struct KernelTests {
    static let sizes = [0, 1, 2, 7, 8, 9, 15, 16, 17, 1023, 1024, 1025, 4097, 512 * 512 - 1, 512 * 512, 512 * 512 + 1]

    func inputs(count: Int, seed: UInt64) -> ([[Float]], [Float]) {
        var rng = SplitMix(state: seed)
        var flood = [Float](), fire = [Float](), seismic = [Float](), mask = [Float]()
        let specials: [Float] = [.nan, .infinity, -.infinity, -9999]
        for _ in 0..<count {
            let r = rng.unit()
            flood.append(r < 0.03 ? specials[Int(rng.next() % 4)] : Float(rng.unit() * 4 - 0.2))
            fire.append(r > 0.97 ? .nan : Float(rng.unit() * 120 - 10))
            // Table keys as Float32 stores them, neighbours just inside and outside the tolerance, misses.
            let keys: [Float] = [0.05, 0.1, 0.15, 0.2, 0.1000004, 0.3, 0.0, 0.12]
            seismic.append(keys[Int(rng.next() % UInt64(keys.count))])
            mask.append(rng.unit() < 0.1 ? 0 : 1)
        }
        return ([flood, fire, seismic], mask)
    }

    @Test(arguments: sizes)
    func matchesScalarReference(count: Int) {
        let weights = [0.45, 0.25, 0.30], breaks = [0.25, 0.5, 0.75]
        let kernel = RiskKernel(normalizations: demoNormalizations, combination: .weightedSum(weights), breaks: breaks)
        let reference = ScalarReference(normalizations: demoNormalizations, weights: weights, breaks: breaks)
        let (layers, mask) = inputs(count: count, seed: UInt64(count) &+ 17)
        for useMask in [true, false] {
            var index = [Float](repeating: 42, count: count)
            var classes = [UInt8](repeating: 42, count: count)
            withBuffers(layers) { inputs in
                mask.withUnsafeBufferPointer { m in
                    index.withUnsafeMutableBufferPointer { ip in
                        classes.withUnsafeMutableBufferPointer { cp in
                            kernel.run(count: count, inputs: inputs, mask: useMask ? m : nil, index: ip, classes: cp)
                        }
                    }
                }
            }
            var failures = 0
            for p in 0..<count {
                let expected = reference.pixel(layers.map { $0[p] }, mask: useMask ? mask[p] : 1)
                guard let (value, cls) = expected else {
                    if index[p] != RiskKernel.indexNoData || classes[p] != 0 {
                        failures += 1
                        if failures < 5 { Issue.record("count \(count) pixel \(p): expected nodata, got \(index[p]) class \(classes[p]) for \(layers.map { $0[p] })") }
                    }
                    continue
                }
                let nearBreak = breaks.contains { abs(value - $0) < 1e-5 }
                if abs(Double(index[p]) - value) > 1e-6 || (!nearBreak && Int(classes[p]) != cls) {
                    failures += 1
                    if failures < 5 { Issue.record("count \(count) pixel \(p): expected \(value) class \(cls), got \(index[p]) class \(classes[p]) for \(layers.map { $0[p] })") }
                }
            }
            #expect(failures == 0, "count \(count), mask \(useMask)")
        }
    }

    @Test(arguments: [Combination.product, .maximum, .geometricMean([0.5, 0.3, 0.2]), .weightedSum([0.2, 0.2, 0.6])])
    func otherCombinationsMatchTheScalarReference(combination: Combination) {
        let breaks = [0.1, 0.3, 0.6, 0.8]
        let kernel = RiskKernel(normalizations: demoNormalizations, combination: combination, breaks: breaks)
        let reference = ScalarReference(normalizations: demoNormalizations, weights: [], breaks: breaks, combination: combination)
        for count in [1, 9, 1025, 4099] {
            let (layers, mask) = inputs(count: count, seed: 7 &+ UInt64(count))
            var index = [Float](repeating: 0, count: count), classes = [UInt8](repeating: 0, count: count)
            withBuffers(layers) { inputs in
                mask.withUnsafeBufferPointer { m in
                    index.withUnsafeMutableBufferPointer { ip in
                        classes.withUnsafeMutableBufferPointer { cp in kernel.run(count: count, inputs: inputs, mask: m, index: ip, classes: cp) }
                    }
                }
            }
            var failures = 0
            for p in 0..<count {
                let expected = reference.pixel(layers.map { $0[p] }, mask: mask[p])
                if let (value, cls) = expected {
                    let nearBreak = breaks.contains { abs(value - $0) < 1e-5 }
                    if abs(Double(index[p]) - value) > 1e-6 || (!nearBreak && Int(classes[p]) != cls) { failures += 1 }
                } else if index[p] != RiskKernel.indexNoData || classes[p] != 0 {
                    failures += 1
                }
            }
            #expect(failures == 0, "\(combination), count \(count)")
        }
    }

    /// A pixel's result does not depend on where it lies in the buffer (SIMD body or padded tail).
    @Test func resultsDoNotDependOnPosition() {
        let kernel = RiskKernel(normalizations: demoNormalizations, combination: .weightedSum([0.45, 0.25, 0.30]), breaks: [0.25, 0.5, 0.75])
        let (layers, mask) = inputs(count: 1037, seed: 99)
        func runAll(_ layers: [[Float]], _ mask: [Float]) -> ([Float], [UInt8]) {
            var index = [Float](repeating: 0, count: mask.count), classes = [UInt8](repeating: 0, count: mask.count)
            withBuffers(layers) { inputs in
                mask.withUnsafeBufferPointer { m in
                    index.withUnsafeMutableBufferPointer { ip in
                        classes.withUnsafeMutableBufferPointer { cp in kernel.run(count: mask.count, inputs: inputs, mask: m, index: ip, classes: cp) }
                    }
                }
            }
            return (index, classes)
        }
        let (whole, wholeClasses) = runAll(layers, mask)
        for shift in [1, 3, 5, 7] {
            let (part, partClasses) = runAll(layers.map { Array($0[shift...]) }, Array(mask[shift...]))
            #expect(part.map(\.bitPattern) == whole[shift...].map(\.bitPattern), "shift \(shift)")
            #expect(partClasses == Array(wholeClasses[shift...]), "shift \(shift)")
        }
    }

    @Test func tableWithoutDefaultMakesUnmatchedNodata() {
        let kernel = RiskKernel(normalizations: [.table([.init(1, 0.5), .init(2, 1)], default: nil)],
                                combination: .weightedSum([1]), breaks: [0.75])
        let values: [Float] = [1, 2, 3, 1.000005, 0]
        var index = [Float](repeating: 0, count: 5), classes = [UInt8](repeating: 9, count: 5)
        values.withUnsafeBufferPointer { v in
            index.withUnsafeMutableBufferPointer { ip in
                classes.withUnsafeMutableBufferPointer { cp in kernel.run(count: 5, inputs: [v], mask: nil, index: ip, classes: cp) }
            }
        }
        #expect(index == [0.5, 1, -9999, 0.5, -9999])
        #expect(classes == [1, 2, 0, 1, 0])
    }

    @Test func curveIsClampedAtBothEnds() {
        let kernel = RiskKernel(normalizations: [.curve([.init(1, 0.2), .init(2, 0.8)])], combination: .weightedSum([1]), breaks: [0.5])
        let values: [Float] = [-5, 1, 1.5, 2, 50]
        var index = [Float](repeating: 0, count: 5), classes = [UInt8](repeating: 0, count: 5)
        values.withUnsafeBufferPointer { v in
            index.withUnsafeMutableBufferPointer { ip in
                classes.withUnsafeMutableBufferPointer { cp in kernel.run(count: 5, inputs: [v], mask: nil, index: ip, classes: cp) }
            }
        }
        #expect(index.map { ($0 * 1e6).rounded() / 1e6 } == [0.2, 0.2, 0.5, 0.8, 0.8])
        #expect(classes == [1, 1, 2, 2, 2])
    }

    @Test func normalizationProblemsAreNamed() {
        #expect(Normalization.curve([.init(0, 0)]).problem != nil)
        #expect(Normalization.curve([.init(0, 0), .init(0, 1)]).problem?.contains("increase") == true)
        #expect(Normalization.linear(min: 5, max: 5).problem != nil)
        #expect(Normalization.table([.init(0.1, 1), .init(0.100001, 2)], default: 0).problem?.contains("too close") == true)
        #expect(Normalization.table([.init(0.1, 1), .init(0.2, 0.5)], default: 0).problem == nil)
    }

    /// Every normalisation maps into 0..1 and survives Float32, or it is refused (issue 11: a curve
    /// to −5 published an index below 0; linear [−1e39, 1e39] gave 1 everywhere).
    @Test func normalizationsLeavingZeroToOneAreRefused() {
        let bad: [(Normalization, String)] = [
            (.curve([.init(0, -5), .init(100, 7)]), "0..1"),
            (.curve([.init(0, 0), .init(1, -9999)]), "0..1"),
            (.curve([.init(0, 0), .init(1e39, 1)]), "Float32"),
            (.curve([.init(1, 0), .init(1 + 1e-12, 1)]), "Float32"),
            (.linear(min: -1e39, max: 1e39), "Float32"),
            (.linear(min: 1, max: 1 + 1e-12), "Float32"),
            (.linear(min: 0, max: .infinity), "finite"),
            (.table([.init(1, 1.5)], default: nil), "0..1"),
            (.table([.init(1, 0.5)], default: -1), "0..1"),
            (.table([.init(1, .nan)], default: nil), "finite"),
        ]
        for (n, fragment) in bad {
            #expect(n.problem?.contains(fragment) == true, "\(n): \(n.problem ?? "accepted")")
        }
        // The limits themselves are fine.
        #expect(Normalization.curve([.init(-3e38, 0), .init(3e38, 1)]).problem == nil)
        #expect(Normalization.curve([.init(0, 1), .init(2000, 0)]).problem == nil)
        #expect(Normalization.linear(min: -1e30, max: 1e30).problem == nil)
        #expect(Normalization.table([.init(0.05, 0), .init(0.2, 1)], default: 0).problem == nil)
    }
}

@Suite struct GridTests {
    @Test func snappingMatchesTargetAlignedPixels() {
        let g = GridGeometry.snapped(minX: 400_512.4, minY: 4_360_689, maxX: 609_440, maxY: 4_527_561, resolution: 30)
        #expect(g.minX == 400_500 && g.maxY == 4_527_570)
        #expect(g.maxX == 609_450 && g.minY == 4_360_680)
        #expect(g.width == 6965 && g.height == 5563)
    }

    /// Grids that cannot be computed are refused without trapping; max-pixels holds for the snapped grid.
    @Test func checkedSnappingRefusesWhatCannotBeComputed() throws {
        func problem(_ b: [Double], _ res: Double, _ max: Int = 4_000_000_000) -> GridGeometry.SizeProblem? {
            do { _ = try GridGeometry.checkedSnapped(minX: b[0], minY: b[1], maxX: b[2], maxY: b[3], resolution: res, maxPixels: max); return nil }
            catch { return error }
        }
        #expect(problem([0, 0, 1e21, 1], 30) != nil)                 // 3.3e19 columns
        #expect(problem([400_000, 4_300_000, 600_000, 4_500_000], 1e-30) != nil)
        #expect(problem([0, 0, 1, 1], 5e-324) != nil)                // denormal: 1/res overflows
        #expect(problem([0, 0, 1e308, 1e308], 1e-10) == .notFinite)  // the corners overflow
        #expect(problem([0, 0, 1, 1], .nan) == .notFinite)
        #expect(problem([0, 0, 1, 1], -1) == .notFinite)
        #expect(problem([0, .infinity, 1, 1], 1) == .notFinite)
        #expect(problem([0, 0, 3e9, 1], 1, Int.max) != nil)          // a side beyond 2³¹ − 1 px
        // 10 × 10 px before snapping, 11 × 11 after: 121 > 100.
        #expect(problem([5, 5, 105, 105], 10, 100) == .tooLarge(width: 11, height: 11, maxPixels: 100))
        #expect(problem([0, 0, 100, 100], 10, 100) == nil)
        // A degenerate extent (zero width) still makes a 1-px-wide grid, which counts.
        #expect(problem([0, 0, 0, 2000], 1, 1000) == .tooLarge(width: 1, height: 2000, maxPixels: 1000))
        let g = try GridGeometry.checkedSnapped(minX: 400_512.4, minY: 4_360_689, maxX: 609_440, maxY: 4_527_561, resolution: 30, maxPixels: 40_000_000)
        #expect(g == GridGeometry.snapped(minX: 400_512.4, minY: 4_360_689, maxX: 609_440, maxY: 4_527_561, resolution: 30))
    }

    @Test(arguments: [(1, 1, 512), (511, 513, 512), (1024, 1024, 512), (1000, 7, 64), (65, 129, 64)])
    func blocksTileTheGridExactlyOnce(width: Int, height: Int, block: Int) {
        let g = GridGeometry(width: width, height: height, originX: 0, originY: 0, pixelWidth: 1, pixelHeight: 1)
        var covered = [UInt8](repeating: 0, count: width * height)
        for b in g.blocks(width: block, height: block) {
            #expect(b.window.width <= block && b.window.height <= block && b.window.width > 0 && b.window.height > 0)
            for r in b.window.y..<(b.window.y + b.window.height) {
                for c in b.window.x..<(b.window.x + b.window.width) { covered[r * width + c] += 1 }
            }
        }
        #expect(covered.allSatisfy { $0 == 1 })
    }
}

func withBuffers<R>(_ arrays: [[Float]], _ body: ([UnsafeBufferPointer<Float>]) -> R) -> R {
    func go(_ i: Int, _ acc: [UnsafeBufferPointer<Float>]) -> R {
        if i == arrays.count { return body(acc) }
        return arrays[i].withUnsafeBufferPointer { go(i + 1, acc + [$0]) }
    }
    return go(0, [])
}
