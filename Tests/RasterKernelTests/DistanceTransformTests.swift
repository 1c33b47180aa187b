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

func sweepAll(_ flags: [UInt8], width: Int, height: Int, window: (x: Int, y: Int, w: Int, h: Int), pw: Double, bandRows: Int,
              threads: Int = 2) -> [Float] {
    var bits = FeatureBits(width: width, height: height)
    flags.withUnsafeBufferPointer { bits.setRows(0, height, from: $0) }
    let s = ProximitySweep(features: bits, x: window.x, y: window.y, width: window.w, height: window.h, pixelWidth: pw, noFeature: -1)
    var out = [Float](repeating: .nan, count: window.w * window.h)
    s.run(bandRows: bandRows, threads: threads) { row, rows, values in
        for i in 0..<values.count { out[row * window.w + i] = values[i] }
    }
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
                for (bandRows, threads) in [(1, 2), (3, 1), (64, 2)] {
                    let got = sweepAll(flags, width: w, height: h, window: window, pw: 30, bandRows: bandRows, threads: threads)
                    var expected: [Float] = []
                    for r in window.y..<(window.y + window.h) { expected += whole[(r * w + window.x)..<(r * w + window.x + window.w)] }
                    #expect(got == expected, "\(w)×\(h) window \(window) bands \(bandRows) threads \(threads)")
                }
            }
        }
        #expect(missed < pixels / 50, "the sweeps missed the nearest feature at \(missed) of \(pixels) pixels")
    }
}
