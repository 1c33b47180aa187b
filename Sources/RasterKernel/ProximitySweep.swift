import Dispatch

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
/// Bounded memory: the passes are independent, so the upward pass is run once from the bottom to
/// the window's top keeping its state (two Int32 per raster column) at every band's lower edge, and
/// then per band again from there, beside the downward pass over the same band (on two threads).
/// Held: the feature bits, those states, and per band the two passes' squared offsets (UInt32)
/// and the values (Float32) of the window's columns.
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
        self.features = features
        self.x = x; self.y = y; self.width = width; self.height = height
        self.pixelWidth = abs(pixelWidth); self.noFeature = noFeature
    }

    /// The nearest feature pixel each column carries (x, y; −1 for none).
    struct State { var nearX: [Int32], nearY: [Int32] }

    /// Computes the window band by band: `emit(firstRow, rows, values)` with `rows` × `width`
    /// values, `firstRow` counted from the window's top. `threads`: 1 runs a band's two passes one
    /// after the other, more runs them side by side; the values are the same.
    public func run(bandRows: Int, threads: Int = 2, emit: (Int, Int, UnsafeBufferPointer<Float>) throws -> Void) rethrows {
        precondition(bandRows > 0, "bands need rows")
        let bands = (height + bandRows - 1) / bandRows
        let upStates = upwardStates(bandRows: bandRows, bands: bands)
        // The two passes over a band are independent: one each on two threads, each writing only its own buffers.
        nonisolated(unsafe) var down = State(nearX: [Int32](repeating: -1, count: features.width), nearY: [Int32](repeating: -1, count: features.width))
        for row in 0..<y { sweepLine(row, downward: true, &down) }
        nonisolated(unsafe) var up = [UInt32](repeating: .max, count: bandRows * width)
        nonisolated(unsafe) var near = up
        var out = [Float](repeating: noFeature, count: bandRows * width)
        for b in 0..<bands {
            let first = y + b * bandRows, rows = min(bandRows, height - b * bandRows), start = upStates[b]
            let pass: @Sendable (Int) -> Void = { job in
                if job == 0 {
                    var s = start
                    for r in stride(from: rows - 1, through: 0, by: -1) {
                        sweepLine(first + r, downward: false, &s)
                        offsets(of: s, row: first + r, into: &up, at: r * width)
                    }
                } else {
                    for r in 0..<rows {
                        sweepLine(first + r, downward: true, &down)
                        offsets(of: down, row: first + r, into: &near, at: r * width)
                    }
                }
            }
            if threads >= 2 { DispatchQueue.concurrentPerform(iterations: 2, execute: pass) } else { pass(0); pass(1) }
            for i in 0..<(rows * width) { out[i] = value(min(up[i], near[i])) }
            try out.withUnsafeBufferPointer { try emit(b * bandRows, rows, UnsafeBufferPointer(rebasing: $0[0..<rows * width])) }
        }
    }

    /// The upward pass's state below every band: after the raster row just under it.
    func upwardStates(bandRows: Int, bands: Int) -> [State] {
        var s = State(nearX: [Int32](repeating: -1, count: features.width), nearY: [Int32](repeating: -1, count: features.width))
        var states = [State](repeating: s, count: bands)
        var row = features.height - 1
        for b in stride(from: bands - 1, through: 0, by: -1) {
            let end = y + min((b + 1) * bandRows, height)
            while row >= end { sweepLine(row, downward: false, &s); row -= 1 }
            states[b] = s
        }
        return states
    }

    /// The value GDAL writes for a squared offset in pixels (UInt32.max: no feature found).
    @inline(__always)
    func value(_ d: UInt32) -> Float {
        if d == .max { return noFeature }
        if d == 0 { return 0 }
        return Float(Double(Float(Double(d).squareRoot())) * pixelWidth)
    }

    /// Squared offsets (pixels) from the window's pixels of raster row `row` to their carried feature.
    @inline(__always)
    func offsets(of s: State, row: Int, into out: inout [UInt32], at base: Int) {
        for c in 0..<width {
            let nx = Int(s.nearX[x + c])
            if nx < 0 { out[base + c] = .max; continue }
            let dx = nx - (x + c), dy = Int(s.nearY[x + c]) - row
            out[base + c] = UInt32(dx * dx + dy * dy)
        }
    }

    /// One raster line of a pass: two sweeps, left to right then right to left going down, the
    /// other way round going up.
    func sweepLine(_ row: Int, downward: Bool, _ s: inout State) {
        sweep(row, forward: downward, &s)
        sweep(row, forward: !downward, &s)
    }

    func sweep(_ row: Int, forward: Bool, _ s: inout State) {
        let w = features.width
        guard w > 0 else { return }
        let step = forward ? 1 : -1
        var i = forward ? 0 : w - 1
        s.nearX.withUnsafeMutableBufferPointer { nx in
            s.nearY.withUnsafeMutableBufferPointer { ny in
                @inline(__always) func distance(_ j: Int) -> Int {
                    let dx = Int(nx[j]) - i, dy = Int(ny[j]) - row
                    return dx * dx + dy * dy
                }
                for _ in 0..<w {
                    defer { i += step }
                    if features[i, row] { nx[i] = Int32(i); ny[i] = Int32(row); continue }
                    var best = Int.max
                    if nx[i] >= 0 { best = distance(i) }
                    let previous = i - step, next = i + step
                    if previous >= 0 && previous < w && nx[previous] >= 0 {
                        let d = distance(previous)
                        if d < best { best = d; nx[i] = nx[previous]; ny[i] = ny[previous] }
                    }
                    if next >= 0 && next < w && nx[next] >= 0 {
                        let d = distance(next)
                        if d < best { best = d; nx[i] = nx[next]; ny[i] = ny[next] }
                    }
                }
            }
        }
    }
}
