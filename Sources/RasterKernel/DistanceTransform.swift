import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Feature pixels of a raster, one bit each (row-major, each row padded to whole 64-bit words):
/// what a distance transform reads, 1/8 of a Byte raster.
public struct FeatureBits: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// 64-bit words per row.
    public let rowWords: Int
    public private(set) var words: [UInt64]

    public init(width: Int, height: Int) {
        precondition(width >= 0 && height >= 0, "size must not be negative")
        self.width = width; self.height = height
        rowWords = (width + 63) / 64
        words = [UInt64](repeating: 0, count: rowWords * height)
    }

    /// Sets the bits of `rows` whole rows from `row` on, a pixel being a feature where its byte is non-zero.
    public mutating func setRows(_ row: Int, _ rows: Int, from bytes: UnsafeBufferPointer<UInt8>) {
        precondition(row >= 0 && rows >= 0 && row + rows <= height && bytes.count >= rows * width, "rows outside the raster")
        let (w, rw) = (width, rowWords)
        words.withUnsafeMutableBufferPointer { out in
            for r in 0..<rows {
                let base = (row + r) * rw
                for x in 0..<w where bytes[r * w + x] != 0 { out[base + x >> 6] |= 1 << UInt64(x & 63) }
            }
        }
    }

    public subscript(x: Int, y: Int) -> Bool { words[y * rowWords + x >> 6] >> UInt64(x & 63) & 1 != 0 }

    /// Whether any pixel is a feature.
    public var isEmpty: Bool { !words.contains { $0 != 0 } }

    /// Whether any pixel of `row` is a feature.
    func hasFeature(inRow row: Int) -> Bool { (0..<rowWords).contains { words[row * rowWords + $0] != 0 } }

    /// Calls `body` with the column of every feature pixel of `row`, left to right.
    @inline(__always)
    func forEachFeature(inRow row: Int, _ body: (Int) -> Void) {
        let base = row * rowWords
        for i in 0..<rowWords {
            var word = words[base + i]
            while word != 0 {
                body(i << 6 | word.trailingZeroBitCount)
                word &= word - 1
            }
        }
    }
}

/// Exact Euclidean distance transform: for every pixel of a window of a raster, the distance from
/// its centre to the nearest feature pixel's centre anywhere on the raster (Meijster, Roerdink and
/// Hesselink 2000: per column the vertical distance to the nearest feature, then per row the lower
/// envelope of the parabolas (x − q)²·pw² + g(q)²·ph²), in georeferenced units.
///
/// Square pixels: the squared distance is found in whole pixels (exact integers), and the value is
/// what GDAL's proximity (`DISTUNITS=GEO`) writes for that offset: `Float(Double(Float(√d)) × pw)`.
/// Where GDAL's two-sweep propagation finds the nearest feature, the result is GDAL's bit for bit;
/// elsewhere it is the exact distance GDAL overestimates. Non-square pixels: `Float(√(dx²·pw² +
/// dy²·ph²))`, the true distance (GDAL multiplies the pixel distance by pw only and warns
/// "Pixels not square, distances will be inaccurate"). Pixels with no feature on the raster at
/// all get `noFeature`.
///
/// Memory: the feature bits (1/8 byte per raster pixel), one Int32 per raster column for each band
/// of `bandRows` window rows (the nearest feature below each band, found by one upward sweep), the
/// band's vertical distances (Int32, `bandRows` × raster width) and its Float32 output
/// (`bandRows` × window width), handed to `emit` band by band, top to bottom. Rows of a band are
/// computed on `threads` threads; the result does not depend on their number.
public struct DistanceTransform: Sendable {
    public let features: FeatureBits
    /// The window computed: columns `x..<x+width`, rows `y..<y+height` of the raster.
    public let x: Int, y: Int, width: Int, height: Int
    public let pixelWidth: Double, pixelHeight: Double
    public let noFeature: Float

    public init(features: FeatureBits, x: Int, y: Int, width: Int, height: Int,
                pixelWidth: Double, pixelHeight: Double, noFeature: Float) {
        precondition(x >= 0 && y >= 0 && width >= 0 && height >= 0 && x + width <= features.width && y + height <= features.height,
                     "window outside the raster")
        precondition(pixelWidth > 0 && pixelHeight > 0, "pixel size must be positive")
        self.features = features
        self.x = x; self.y = y; self.width = width; self.height = height
        self.pixelWidth = pixelWidth; self.pixelHeight = pixelHeight; self.noFeature = noFeature
    }

    var square: Bool { pixelWidth == pixelHeight }
    /// Weights of the squared column and row offsets: 1 (whole pixels) for square pixels.
    var weights: (x: Double, y: Double) { square ? (1, 1) : (pixelWidth * pixelWidth, pixelHeight * pixelHeight) }

    /// The value written for a squared distance `d` in the weights' units.
    @inline(__always)
    func value(_ d: Double) -> Float {
        if d == 0 { return 0 }
        return square ? Float(Double(Float(d.squareRoot())) * pixelWidth) : Float(d.squareRoot())
    }

    /// Computes the window band by band: `emit(firstRow, rows, values)` with `rows` × `width`
    /// values, `firstRow` counted from the window's top.
    public func run(bandRows: Int, threads: Int = 1, emit: (Int, Int, UnsafeBufferPointer<Float>) throws -> Void) rethrows {
        precondition(bandRows > 0, "bands need rows")
        let bands = (height + bandRows - 1) / bandRows
        let rw = features.width
        let below = nearestBelowBands(bandRows: bandRows, bands: bands)
        let empty = features.isEmpty
        var above = [Int32](repeating: -1, count: rw)
        for row in 0..<y { features.forEachFeature(inRow: row) { above[$0] = Int32(row) } }
        var g = [Int32](repeating: -1, count: bandRows * rw)
        var out = [Float](repeating: noFeature, count: bandRows * width)
        for b in 0..<bands {
            let first = b * bandRows, rows = min(bandRows, height - first)
            verticalDistances(firstRow: y + first, rows: rows, above: &above, below: below[b * rw..<(b + 1) * rw], into: &g)
            if !empty { envelopeRows(rows, g: g, threads: threads, into: &out) }
            try out.withUnsafeBufferPointer { try emit(first, rows, UnsafeBufferPointer(rebasing: $0[0..<rows * width])) }
        }
    }

    /// For every band, per raster column: the first feature row at or below the row after the
    /// band (Int32.max when none), by one sweep up the raster from its last row to the window's top.
    func nearestBelowBands(bandRows: Int, bands: Int) -> [Int32] {
        let rw = features.width
        var next = [Int32](repeating: .max, count: rw)
        var snapshots = [Int32](repeating: .max, count: bands * rw)
        var row = features.height - 1
        for b in stride(from: bands - 1, through: 0, by: -1) {
            let end = y + min((b + 1) * bandRows, height)   // first raster row after band b
            while row >= end {
                features.forEachFeature(inRow: row) { next[$0] = Int32(row) }
                row -= 1
            }
            snapshots.replaceSubrange(b * rw..<(b + 1) * rw, with: next)
        }
        return snapshots
    }

    /// The vertical distance in rows from each pixel of raster rows `firstRow..<firstRow+rows` to the
    /// nearest feature of its column (−1 when the column has none), into `g` row by row; `above`
    /// (the last feature row seen, −1 for none) is carried from band to band.
    func verticalDistances(firstRow: Int, rows: Int, above: inout [Int32], below: ArraySlice<Int32>, into g: inout [Int32]) {
        let rw = features.width
        var next = Array(below)
        for r in stride(from: rows - 1, through: 0, by: -1) {
            let row = firstRow + r
            features.forEachFeature(inRow: row) { next[$0] = Int32(row) }
            let base = r * rw
            for c in 0..<rw { g[base + c] = next[c] == .max ? -1 : next[c] - Int32(row) }
        }
        for r in 0..<rows {
            let row = firstRow + r
            features.forEachFeature(inRow: row) { above[$0] = Int32(row) }
            let base = r * rw
            for c in 0..<rw where above[c] >= 0 {
                let up = Int32(row) - above[c]
                if g[base + c] < 0 || up < g[base + c] { g[base + c] = up }
            }
        }
    }

    /// The lower envelope along each of `rows` band rows, on `threads` threads (rows are independent).
    func envelopeRows(_ rows: Int, g: [Int32], threads: Int, into out: inout [Float]) {
        let rw = features.width, ww = width
        let chunks = max(1, min(threads, rows))
        g.withUnsafeBufferPointer { gBuffer in
            out.withUnsafeMutableBufferPointer { op in
                // Each row writes only its own line of `out`.
                nonisolated(unsafe) let outBase = op.baseAddress!, gp = gBuffer
                DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                    var sites = [Int32](repeating: 0, count: rw), starts = [Int32](repeating: 0, count: rw)
                    for r in stride(from: chunk, to: rows, by: chunks) {
                        let line = UnsafeMutableBufferPointer(start: outBase + r * ww, count: ww)
                        envelope(UnsafeBufferPointer(rebasing: gp[r * rw..<(r + 1) * rw]), sites: &sites, starts: &starts, into: line)
                    }
                }
            }
        }
    }

    /// One row: the minimum over feature columns q of (c − q)²·wx + g(q)²·wy for every window
    /// column c. `sites`/`starts` are the envelope's parabolas and the first column each is lowest
    /// at; parabolas are added left to right and popped while the new one is lower where the last
    /// one starts. The row holds at least one feature column (checked by the caller).
    func envelope(_ g: UnsafeBufferPointer<Int32>, sites: inout [Int32], starts: inout [Int32], into out: UnsafeMutableBufferPointer<Float>) {
        let (wx, wy) = weights
        let m = g.count
        @inline(__always) func f(_ c: Int, _ q: Int) -> Double {
            let dx = Double(c - q), dy = Double(g[q])
            return dx * dx * wx + dy * dy * wy
        }
        var k = -1
        for q in 0..<m where g[q] >= 0 {
            while k >= 0 && f(Int(starts[k]), Int(sites[k])) > f(Int(starts[k]), q) { k -= 1 }
            if k < 0 { k = 0; sites[0] = Int32(q); starts[0] = 0; continue }
            // First column where q is strictly lower than the last parabola (their crossing, floored, + 1).
            let p = Int(sites[k]), gp = Double(g[p]), gq = Double(g[q])
            let crossing = ((Double(q * q - p * p)) * wx + (gq * gq - gp * gp) * wy) / (2 * Double(q - p) * wx)
            let w = Int(crossing.rounded(.down)) + 1
            if w < m { k += 1; sites[k] = Int32(q); starts[k] = Int32(max(w, 0)) }
        }
        var j = 0
        for c in x..<(x + width) {
            while j < k && Int(starts[j + 1]) <= c { j += 1 }
            out[c - x] = value(f(c, Int(sites[j])))
        }
    }
}
