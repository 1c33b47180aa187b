/// GDAL's proximity (`GDALComputeProximity`, `gdal_proximity.py -distunits GEO`) reproduced in
/// memory for a window of a raster, band by band, bit for bit.
///
/// GDAL's algorithm: every pixel carries the nearest feature pixel found so far; a pass down the
/// raster sweeps each line left to right, then right to left, a pixel taking the nearest of its own
/// candidate (from the line above), the pixel before it in the sweep and the pixel after it (still
/// the line above's in the first sweep); a pass up the raster does the same from below, right to
/// left first. Candidates are compared by squared pixel offsets, the first strictly nearer wins.
/// A pixel's value is the nearer of the two passes' candidates: `Float(Double(Float(√d)) × pw)`,
/// 0 on a feature, `noFeature` when neither pass found one. Near the boundaries between features'
/// regions the candidate can be farther than the nearest feature (`DistanceTransform` is exact).
///
/// Bounded memory, each line swept once per pass: the upward pass runs from the raster's bottom
/// row to the window's top, handing each band of window rows' distances to `stash` (the caller
/// keeps them: the output raster itself), then the downward pass from the raster's top row, which
/// takes each band back from `unstash` and emits the nearer of the two. The value is monotonic in
/// the squared offset, so the nearer value is the value of the nearer candidate, GDAL's.
/// Held: the feature bits, the pass's state (two Int32 per raster column), and per band the
/// squared offsets (UInt32) and two rows of values (Float32) of the window's columns.
public struct ProximitySweep: Sendable {
    public let features: FeatureBits
    /// The window computed: columns `x..<x+width`, rows `y..<y+height` of the raster.
    public let x: Int, y: Int, width: Int, height: Int
    /// GDAL multiplies distances in pixels by the pixel width (whatever the pixel height).
    public let pixelWidth: Double
    public let noFeature: Float

    public init(features: FeatureBits, x: Int, y: Int, width: Int, height: Int, pixelWidth: Double, noFeature: Float) {
        precondition(x >= 0 && y >= 0 && width >= 0 && height >= 0 && x + width <= features.width && y + height <= features.height,
                     "window outside the raster")
        precondition(features.width < 1 << 21 && features.height < 1 << 21, "rasters up to 2²¹ px a side")
        self.features = features
        self.x = x; self.y = y; self.width = width; self.height = height
        self.pixelWidth = abs(pixelWidth); self.noFeature = noFeature
    }

    /// The nearest feature pixel each column carries (x, y; `none` for none), raster column c at
    /// index c + 1: a `none` column on each side, so a sweep's first and last pixels need no test.
    struct State {
        var nearX: [Int32], nearY: [Int32]
        init(width: Int) {
            nearX = [Int32](repeating: ProximitySweep.none, count: width + 2)
            nearY = nearX
        }
    }

    /// "No feature": coordinates so far off the raster (2²² px, with rasters under 2²¹ px a side)
    /// that every real candidate is nearer, and all such candidates are equally far: a sweep
    /// compares them without testing for none, and the first strictly nearer still wins.
    static let none: Int32 = -(1 << 22)

    /// Computes the window band by band: `emit(firstRow, rows, values)` with `rows` × `width`
    /// values, `firstRow` counted from the window's top, first band first. Before, the upward pass
    /// hands every band's distances to `stash(firstRow, rows, values)`, last band first (+∞ where
    /// it found no feature), and the downward pass asks for them again with `unstash(firstRow,
    /// rows, into)`.
    public func run(bandRows: Int,
                    stash: (_ firstRow: Int, _ rows: Int, _ values: UnsafeBufferPointer<Float>) throws -> Void,
                    unstash: (_ firstRow: Int, _ rows: Int, _ into: UnsafeMutableBufferPointer<Float>) throws -> Void,
                    emit: (Int, Int, UnsafeBufferPointer<Float>) throws -> Void) rethrows {
        precondition(bandRows > 0, "bands need rows")
        let bands = (height + bandRows - 1) / bandRows
        var near = [UInt32](repeating: .max, count: bandRows * width)
        var up = [Float](repeating: .infinity, count: bandRows * width), down = up
        // A pass finds nothing before its first row with a feature: every column stays without a
        // candidate, as it starts. Those rows are not swept (the window's still get their values).
        let (firstFeature, lastFeature) = featureRows()
        // Upward, from the raster's last row with a feature.
        var s = State(width: features.width)
        var row = Swift.min(features.height - 1, Swift.max(lastFeature, y + height - 1))
        for b in stride(from: bands - 1, through: 0, by: -1) {
            let first = y + b * bandRows, rows = min(bandRows, height - b * bandRows), count = rows * width
            while row >= first + rows { sweepLine(row, downward: false, &s); row -= 1 }
            for r in stride(from: rows - 1, through: 0, by: -1) {
                if first + r <= lastFeature { sweepLine(first + r, downward: false, &s) }
                offsets(of: s, row: first + r, into: &near, at: r * width)
            }
            row = first - 1
            distances(near, count: count, into: &up)
            try up.withUnsafeBufferPointer { try stash(b * bandRows, rows, UnsafeBufferPointer(rebasing: $0[0..<count])) }
        }
        // Downward, from the raster's first row with a feature: the nearer of the two passes.
        s = State(width: features.width)
        for r in Swift.min(firstFeature, y)..<y { sweepLine(r, downward: true, &s) }
        for b in 0..<bands {
            let first = y + b * bandRows, rows = min(bandRows, height - b * bandRows), count = rows * width
            for r in 0..<rows {
                if first + r >= firstFeature { sweepLine(first + r, downward: true, &s) }
                offsets(of: s, row: first + r, into: &near, at: r * width)
            }
            distances(near, count: count, into: &down)
            try up.withUnsafeMutableBufferPointer { try unstash(b * bandRows, rows, UnsafeMutableBufferPointer(rebasing: $0[0..<count])) }
            let noFeature = self.noFeature
            for i in 0..<count {
                let v = Swift.min(up[i], down[i])
                down[i] = v == .infinity ? noFeature : v
            }
            try down.withUnsafeBufferPointer { try emit(b * bandRows, rows, UnsafeBufferPointer(rebasing: $0[0..<count])) }
        }
    }

    /// The first and last rows of the raster with a feature (`height` and −1 when there is none).
    func featureRows() -> (first: Int, last: Int) {
        let first = (0..<features.height).first(where: features.hasFeature) ?? features.height
        let last = stride(from: features.height - 1, through: 0, by: -1).first(where: features.hasFeature) ?? -1
        return (first, last)
    }

    /// The values GDAL writes for squared offsets in pixels, `Float(Double(Float(√d)) × pw)` (0 for
    /// 0), +∞ for UInt32.max (no feature found): branch-free, so the loop runs on vectors.
    func distances(_ offsets: [UInt32], count: Int, into out: inout [Float]) {
        let pw = pixelWidth
        offsets.withUnsafeBufferPointer { d in
            out.withUnsafeMutableBufferPointer { out in
                for i in 0..<count {
                    let v = Float(Double(Float(Double(d[i]).squareRoot())) * pw)
                    out[i] = d[i] == .max ? .infinity : v
                }
            }
        }
    }

    /// Squared offsets (pixels) from the window's pixels of raster row `row` to their carried feature.
    @inline(__always)
    func offsets(of s: State, row: Int, into out: inout [UInt32], at base: Int) {
        for c in 0..<width {
            let nx = Int(s.nearX[x + c + 1])
            if nx < 0 { out[base + c] = .max; continue }
            let dx = nx - (x + c), dy = Int(s.nearY[x + c + 1]) - row
            out[base + c] = UInt32(dx * dx + dy * dy)
        }
    }

    /// One raster line of a pass: two sweeps, left to right then right to left going down, the
    /// other way round going up.
    func sweepLine(_ row: Int, downward: Bool, _ s: inout State) {
        sweep(row, forward: downward, &s)
        sweep(row, forward: !downward, &s)
    }

    /// One sweep of raster row `row`. GDAL's order at each pixel: its own candidate (from the line
    /// before), then the pixel before it in the sweep, then the one after it, the first strictly
    /// nearer winning. The own and after candidates are compared first (neither depends on the
    /// sweep so far), then the before one once: it wins where it is nearer than the better of the
    /// two, or as near as an after candidate that beat the own one — GDAL's result, with one
    /// comparison on the chain from pixel to pixel.
    func sweep(_ row: Int, forward: Bool, _ s: inout State) {
        let w = features.width
        guard w > 0 else { return }
        let r = row, rowWords = features.rowWords, base = row * rowWords
        features.words.withUnsafeBufferPointer { words in
            s.nearX.withUnsafeMutableBufferPointer { nxb in
                s.nearY.withUnsafeMutableBufferPointer { nyb in
                    let nx = nxb.baseAddress! + 1, ny = nyb.baseAddress! + 1
                    // The candidate the sweep carries: the pixel before's.
                    var px = Int(Self.none), py = Int(Self.none)
                    @inline(__always) func pixel(_ i: Int, _ feature: Bool, after: Int) {
                        if feature { nx[i] = Int32(truncatingIfNeeded: i); ny[i] = Int32(truncatingIfNeeded: r); px = i; py = r; return }
                        let ox = Int(nx[i]), oy = Int(ny[i]), ax = Int(nx[after]), ay = Int(ny[after])
                        // Wrapping arithmetic: coordinates under 2²³ in magnitude, squares under 2⁴⁸.
                        let d0 = (ox &- i) &* (ox &- i) &+ (oy &- r) &* (oy &- r)
                        let d2 = (ax &- i) &* (ax &- i) &+ (ay &- r) &* (ay &- r)
                        let afterWins = d2 < d0
                        let bx = afterWins ? ax : ox, by = afterWins ? ay : oy
                        let limit = (afterWins ? d2 : d0) &+ (afterWins ? 1 : 0)
                        let d1 = (px &- i) &* (px &- i) &+ (py &- r) &* (py &- r)
                        let beforeWins = d1 < limit
                        px = beforeWins ? px : bx
                        py = beforeWins ? py : by
                        nx[i] = Int32(truncatingIfNeeded: px); ny[i] = Int32(truncatingIfNeeded: py)
                    }
                    if forward {
                        for k in 0..<rowWords {
                            let word = words[base + k], first = k << 6, end = min(64, w - first)
                            for b in 0..<end { pixel(first + b, word >> UInt64(b) & 1 != 0, after: first + b + 1) }
                        }
                    } else {
                        for k in stride(from: rowWords - 1, through: 0, by: -1) {
                            let word = words[base + k], first = k << 6, end = min(64, w - first)
                            for b in stride(from: end - 1, through: 0, by: -1) { pixel(first + b, word >> UInt64(b) & 1 != 0, after: first + b - 1) }
                        }
                    }
                }
            }
        }
    }
}
