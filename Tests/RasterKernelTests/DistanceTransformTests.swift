import Testing
@testable import RasterKernel

/// Scalar reference: for every window pixel, the minimum over all feature pixels of the squared
/// offset (whole pixels when square, georeferenced units² otherwise), then the documented value.
func bruteForceDistances(_ flags: [UInt8], width: Int, height: Int, window: (x: Int, y: Int, w: Int, h: Int),
                         pw: Double, ph: Double, noFeature: Float) -> [Float] {
    let sites = (0..<flags.count).filter { flags[$0] != 0 }.map { ($0 % width, $0 / width) }
    var out: [Float] = []
    for r in window.y..<(window.y + window.h) {
        for c in window.x..<(window.x + window.w) {
            var best = Double.infinity
            for (sx, sy) in sites {
                let dx = Double(sx - c), dy = Double(sy - r)
                best = min(best, pw == ph ? dx * dx + dy * dy : dx * dx * pw * pw + dy * dy * ph * ph)
            }
            if best == .infinity { out.append(noFeature) } else if best == 0 { out.append(0) } else if pw == ph {
                out.append(Float(Double(Float(best.squareRoot())) * pw))
            } else { out.append(Float(best.squareRoot())) }
        }
    }
    return out
}

/// Features as scattered points, short lines and filled blocks; `density` in 1/1000.
func randomFeatures(width: Int, height: Int, density: Int, seed: UInt64) -> [UInt8] {
    var rng = OracleRandom(seed: seed)
    var flags = [UInt8](repeating: 0, count: width * height)
    for i in 0..<flags.count where rng.below(1000) < density { flags[i] = 1 }
    if width > 4 && height > 4 && rng.below(2) == 0 {
        let x0 = rng.below(width - 3), y0 = rng.below(height - 3)
        for y in y0..<(y0 + 3) { for x in x0..<(x0 + 3) { flags[y * width + x] = 1 } }
    }
    return flags
}

func transformAll(_ flags: [UInt8], width: Int, height: Int, window: (x: Int, y: Int, w: Int, h: Int),
                  pw: Double, ph: Double, noFeature: Float, bandRows: Int, threads: Int) -> [Float] {
    var bits = FeatureBits(width: width, height: height)
    flags.withUnsafeBufferPointer { bits.setRows(0, height, from: $0) }
    let t = DistanceTransform(features: bits, x: window.x, y: window.y, width: window.w, height: window.h,
                              pixelWidth: pw, pixelHeight: ph, noFeature: noFeature)
    var out = [Float](repeating: .nan, count: window.w * window.h)
    var nextRow = 0
    t.run(bandRows: bandRows, threads: threads) { row, rows, values in
        #expect(row == nextRow && values.count == rows * window.w)
        nextRow = row + rows
        for i in 0..<values.count { out[row * window.w + i] = values[i] }
    }
    #expect(nextRow == window.h)
    return out
}

@Suite struct DistanceTransformTests {
    static let sizes: [(Int, Int)] = [(1, 1), (1, 17), (17, 1), (2, 3), (9, 9), (31, 23), (70, 65), (130, 7)]

    @Test(arguments: [(30.0, 30.0), (1.0, 1.0), (0.1, 0.1), (30.0, 20.0), (4.0, 7.0)])
    func equalsBruteForceOnRandomGrids(pw: Double, ph: Double) {
        var seed: UInt64 = 1
        for (w, h) in Self.sizes {
            for density in [0, 1, 8, 60, 400] {
                seed += 1
                let flags = randomFeatures(width: w, height: h, density: density, seed: seed)
                var rng = OracleRandom(seed: seed &* 7)
                let x = rng.below(w), y = rng.below(h)
                let window = (x: x, y: y, w: 1 + rng.below(w - x), h: 1 + rng.below(h - y))
                let expected = bruteForceDistances(flags, width: w, height: h, window: window, pw: pw, ph: ph, noFeature: 1e9)
                for (bandRows, threads) in [(1, 1), (3, 2), (64, 2)] {
                    let got = transformAll(flags, width: w, height: h, window: window, pw: pw, ph: ph, noFeature: 1e9,
                                           bandRows: bandRows, threads: threads)
                    #expect(got == expected, "\(w)×\(h) window \(window) density \(density) bands \(bandRows) threads \(threads)")
                }
            }
        }
    }

    /// Non-integer anisotropic pixel sizes: the crossings are rounded, so a near tie may pick the
    /// other parabola; the value is then within one Float32 step of the exact one.
    @Test func fractionalAnisotropicPixelsWithinOneStep() {
        for seed in UInt64(100)..<UInt64(110) {
            let flags = randomFeatures(width: 40, height: 33, density: 20, seed: seed)
            let window = (x: 3, y: 2, w: 30, h: 25)
            let expected = bruteForceDistances(flags, width: 40, height: 33, window: window, pw: 0.37, ph: 1.91, noFeature: -1)
            let got = transformAll(flags, width: 40, height: 33, window: window, pw: 0.37, ph: 1.91, noFeature: -1, bandRows: 8, threads: 2)
            for i in 0..<got.count { #expect(abs(got[i] - expected[i]) <= expected[i].ulp, "pixel \(i)") }
        }
    }

    /// A feature only far outside the window (above, below, left, right) is still the nearest.
    @Test func featuresOutsideTheWindowCount() {
        let (w, h) = (50, 40)
        for site in [(25, 0), (25, 39), (0, 20), (49, 20), (0, 0), (49, 39)] {
            var flags = [UInt8](repeating: 0, count: w * h)
            flags[site.1 * w + site.0] = 1
            let window = (x: 10, y: 10, w: 30, h: 20)
            let got = transformAll(flags, width: w, height: h, window: window, pw: 25, ph: 25, noFeature: 0, bandRows: 7, threads: 1)
            let expected = bruteForceDistances(flags, width: w, height: h, window: window, pw: 25, ph: 25, noFeature: 0)
            #expect(got == expected)
            #expect(got[0] == Float(Double(Float(Double((site.0 - 10) * (site.0 - 10) + (site.1 - 10) * (site.1 - 10)).squareRoot())) * 25))
        }
    }

    @Test func noFeatureAnywhereGivesTheNoFeatureValue() {
        let got = transformAll([UInt8](repeating: 0, count: 12 * 9), width: 12, height: 9, window: (x: 2, y: 1, w: 8, h: 7),
                               pw: 30, ph: 30, noFeature: 123_456, bandRows: 4, threads: 2)
        #expect(got.allSatisfy { $0 == 123_456 })
    }

    @Test func featureBitsRoundTrip() {
        let flags = randomFeatures(width: 131, height: 5, density: 300, seed: 9)
        var bits = FeatureBits(width: 131, height: 5)
        flags.withUnsafeBufferPointer { bits.setRows(0, 5, from: $0) }
        #expect((0..<flags.count).allSatisfy { bits[$0 % 131, $0 / 131] == (flags[$0] != 0) })
        var seen: [Int] = []
        bits.forEachFeature(inRow: 2) { seen.append($0) }
        #expect(seen == (0..<131).filter { flags[2 * 131 + $0] != 0 })
    }
}

/// `ProximitySweep` over a window, its upward pass's bands stashed in an array (each band exactly
/// once, last first, and taken back once, first first: checked).
func sweepAll(_ flags: [UInt8], width: Int, height: Int, window: (x: Int, y: Int, w: Int, h: Int), pw: Double, bandRows: Int) -> [Float] {
    var bits = FeatureBits(width: width, height: height)
    flags.withUnsafeBufferPointer { bits.setRows(0, height, from: $0) }
    let s = ProximitySweep(features: bits, x: window.x, y: window.y, width: window.w, height: window.h, pixelWidth: pw, noFeature: -1)
    var out = [Float](repeating: .nan, count: window.w * window.h), stashed = out
    var stashes: [Int] = [], unstashes: [Int] = [], emits: [Int] = []
    s.run(bandRows: bandRows, stash: { row, rows, values in
        stashes.append(row)
        #expect(values.count == rows * window.w)
        for i in 0..<values.count { stashed[row * window.w + i] = values[i] }
    }, unstash: { row, rows, into in
        unstashes.append(row)
        for i in 0..<(rows * window.w) { into[i] = stashed[row * window.w + i] }
    }, emit: { row, rows, values in
        emits.append(row)
        for i in 0..<values.count { out[row * window.w + i] = values[i] }
    })
    let bands = Array(stride(from: 0, to: window.h, by: bandRows))
    #expect(stashes == bands.reversed() && unstashes == bands && emits == bands, "bands of \(bandRows) rows")
    return out
}

/// GDAL's two-pass propagation in memory (bit for bit against gdal_proximity.py in ZoningTests):
/// here, that bands and windows do not change a value, and that it is never nearer than the exact
/// distance (it can only miss the nearest feature).
@Suite struct ProximitySweepTests {
    @Test func bandsAndWindowsChangeNothingAndNeverBeatTheExactDistance() {
        var seed: UInt64 = 500
        var missed = 0, pixels = 0
        for (w, h) in DistanceTransformTests.sizes {
            for density in [0, 1, 8, 60, 400] {
                seed += 1
                let flags = randomFeatures(width: w, height: h, density: density, seed: seed)
                let whole = sweepAll(flags, width: w, height: h, window: (0, 0, w, h), pw: 30, bandRows: h)
                let exact = bruteForceDistances(flags, width: w, height: h, window: (0, 0, w, h), pw: 30, ph: 30, noFeature: -1)
                #expect(zip(whole, exact).allSatisfy { $0.0 == $0.1 || ($0.1 >= 0 && $0.0 > $0.1) }, "\(w)×\(h) density \(density)")
                missed += zip(whole, exact).filter { $0.0 != $0.1 }.count
                pixels += whole.count
                var rng = OracleRandom(seed: seed &* 11)
                let x = rng.below(w), y = rng.below(h)
                let window = (x: x, y: y, w: 1 + rng.below(w - x), h: 1 + rng.below(h - y))
                for bandRows in [1, 3, 64] {
                    let got = sweepAll(flags, width: w, height: h, window: window, pw: 30, bandRows: bandRows)
                    var expected: [Float] = []
                    for r in window.y..<(window.y + window.h) { expected += whole[(r * w + window.x)..<(r * w + window.x + window.w)] }
                    #expect(got == expected, "\(w)×\(h) window \(window) bands \(bandRows)")
                }
            }
        }
        #expect(missed < pixels / 50, "the sweeps missed the nearest feature at \(missed) of \(pixels) pixels")
    }
}

/// GDAL 3.6's `GDALComputeProximity` transcribed line for line (alg/gdalproximity.cpp:
/// `ProcessProximityLine` with its −1 for "none", its starting distance and its range tests; the
/// Float32 work line; the final `Float(prox × distMult)`), over a whole raster with no MAXDIST
/// (`nXSize + nYSize`): what `ProximitySweep` must give bit for bit.
func gdalProximityTranscribed(_ flags: [UInt8], width w: Int, height h: Int, pw: Double, noData: Float) -> [Float] {
    var nearX = [Int](repeating: -1, count: w), nearY = [Int](repeating: -1, count: w)
    var work = [Float](repeating: 0, count: w * h), out = work
    let maxDist = Double(w + h)
    func line(_ prox: inout [Float], _ forward: Bool, _ row: Int) {
        let start = forward ? 0 : w - 1, end = forward ? w : -1, step = forward ? 1 : -1
        var i = start
        while i != end {
            defer { i += step }
            if flags[row * w + i] != 0 { prox[i] = 0; nearX[i] = i; nearY[i] = row; continue }
            func sq(_ x: Int, _ y: Int) -> Double { let dx = Double(x) - Double(i), dy = Double(y) - Double(row); return dx * dx + dy * dy }
            var near = max(maxDist, Double(w)) * max(maxDist, Double(w)) * 2.0
            if nearX[i] != -1 {
                let d = sq(nearX[i], nearY[i])
                if d < near { near = d } else { nearX[i] = -1; nearY[i] = -1 }
            }
            let last = i - step
            if i != start && nearX[last] != -1 {
                let d = sq(nearX[last], nearY[last])
                if d < near { near = d; nearX[i] = nearX[last]; nearY[i] = nearY[last] }
            }
            let tr = i + step
            if tr != end && nearX[tr] != -1 {
                let d = sq(nearX[tr], nearY[tr])
                if d < near { near = d; nearX[i] = nearX[tr]; nearY[i] = nearY[tr] }
            }
            if nearX[i] != -1 && near <= maxDist * maxDist && (prox[i] < 0 || near < Double(prox[i] * prox[i])) {
                prox[i] = Float(near.squareRoot())
            }
        }
    }
    for row in 0..<h {
        var prox = [Float](repeating: -1, count: w)
        line(&prox, true, row); line(&prox, false, row)
        for i in 0..<w { work[row * w + i] = prox[i] }
    }
    nearX = [Int](repeating: -1, count: w); nearY = nearX
    for row in stride(from: h - 1, through: 0, by: -1) {
        var prox = Array(work[(row * w)..<(row * w + w)])
        line(&prox, false, row); line(&prox, true, row)
        for i in 0..<w {
            var v = prox[i]
            if v < 0 { v = noData } else if v > 0 { v = Float(Double(v) * pw) }
            out[row * w + i] = v
        }
    }
    return out
}

extension ProximitySweepTests {
    /// Against the transcription of GDAL's code on random rasters, word boundaries of the feature
    /// bits included (64, 65, 129 px wide), lines of features, features only in the middle rows
    /// and none at all.
    @Test func equalsGDALsCodeTranscribed() {
        var seed: UInt64 = 900
        for (w, h) in DistanceTransformTests.sizes + [(64, 9), (65, 40), (129, 33)] {
            for density in [0, 1, 8, 60, 400, 1000] {
                seed += 1
                var flags = randomFeatures(width: w, height: h, density: density, seed: seed)
                if density == 8, h > 2 { for x in 0..<(w / 2) { flags[(h / 2) * w + x] = 1 } }
                // Features only in the middle rows: the passes skip the empty rows before them.
                if density == 60 { for i in flags.indices where i / w < h / 3 || i / w > h / 2 { flags[i] = 0 } }
                let expected = gdalProximityTranscribed(flags, width: w, height: h, pw: 30, noData: -1)
                for bandRows in [h, 5] {
                    let got = sweepAll(flags, width: w, height: h, window: (0, 0, w, h), pw: 30, bandRows: bandRows)
                    let differ = zip(got, expected).filter { $0.0.bitPattern != $0.1.bitPattern }.count
                    #expect(got.count == expected.count && differ == 0, "\(w)×\(h) density \(density) bands \(bandRows): \(differ) px differ")
                }
            }
        }
    }
}
