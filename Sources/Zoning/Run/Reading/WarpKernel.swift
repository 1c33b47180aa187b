import Foundation
import GDALKit

/// A raster warped onto the grid by HazardZoning's own bilinear kernel, equal to what GDAL's warper
/// makes of the same warped VRT (`gdalwarp -r bilinear … -of VRT`), block by block.
///
/// The warper of a warped VRT warps one VRT block (a chunk) at a time: for each destination row of
/// the chunk it calls the VRT's transformer (GDAL's approximate transformer around its
/// `GenImgProjTransformer`, error threshold `-et`) on the chunk's pixel centres, then its real-data
/// kernel (`GWKRealCase`) resamples each pixel with the 4-sample bilinear formula
/// (`GWKBilinearResample4Sample`) in double precision, with the source nodata as a validity mask
/// (`GDALWarpNoDataMasker`, `ARE_REAL_EQUAL`) and the rule that a pixel whose centre falls on an
/// invalid source pixel stays nodata; the Float64 working buffer is then copied to Float32
/// (`GDALCopyWords`). This reader calls the *same transformer* (deserialised from the VRT) on the
/// same points, then does that arithmetic in the same order — so every pixel is bit-equal to the
/// warper's — without the warper's per-pixel overhead (≈ 60 ns a pixel through `GWKRealCase`).
///
/// Taken only where the VRT asks for nothing else (`warpKernel(for:)`): bilinear, Float64 working
/// type, one band, Byte/Int16/UInt16/Float32 source, no mask/alpha/cutline, no unknown option. A
/// chunk where the warper would choose another formula — a point that fails to transform, or a
/// chunk whose source window might be so wide that the warper's scale drops below 0.95 (it then
/// uses its general kernel) — is read through the VRT itself, as are windows other than whole
/// VRT blocks. Checked against GDAL on every pixel (`WarpKernelTests`, and `scripts/bench`'s
/// agreement step at 8192²).
struct WarpKernel: Sendable {
    /// The warper's formula the kernel follows: `GWKBilinearResample4Sample` in `GWKRealCase`, or
    /// `GWKAverageOrModeThread`'s weighted average (`WarpKernel+Average.swift`).
    enum Method: Sendable { case bilinear, average, sum }
    let method: Method
    /// The warped VRT (read through GDAL for chunks the kernel leaves to the warper).
    let vrtPath: String
    let description: WarpedVRTDescription
    let sourceBand: Int
    let sourceWidth: Int, sourceHeight: Int
    /// The source nodata (`SrcNoDataReal`), tested on the Float64 working values.
    let noData: Double?
    let what: String

    /// The kernel for a warped VRT, or nil when the warper would do something it does not follow.
    static func make(vrt path: String, what: String) throws -> WarpKernel? {
        // A VRT this reader cannot read is left to GDAL, which can.
        guard let d = try? WarpedVRTDescription(path: path) else { return nil }
        let allowedOptions: Set<String> = ["ERROR_THRESHOLD", "INIT_DEST", "ERROR_OUT_IF_EMPTY_SOURCE_WINDOW"]
        // Average: only without a reprojection, where a pixel's corners stay inside the source
        // window the warper computes from the chunk's edges (WarpKernel+Average.swift).
        let method: Method
        switch d.resampling {
        case "Bilinear": method = .bilinear
        case "Average" where !d.reprojects: method = .average
        case "Sum" where !d.reprojects: method = .sum
        default: return nil
        }
        guard d.workingType == "Float64", d.bands.count == 1,
              let mapping = d.bands.first, mapping.destination == 1,
              d.otherElements.isEmpty, Set(d.options.keys).isSubset(of: allowedOptions),
              d.options["INIT_DEST"] == "NO_DATA", let dstNoData = mapping.destinationNoData, dstNoData.isNaN,
              d.blockWidth > 0, d.blockHeight > 0,
              let srcGT = d.sourceGeoTransform, let dstGT = d.destinationGeoTransform,
              srcGT[2] == 0, srcGT[4] == 0, dstGT[2] == 0, dstGT[4] == 0
        else { return nil }
        // A translation by whole pixels (same CRS and pixel size) makes GDAL's warper use nearest.
        // (GDAL's test: equal pixel sizes and the grid's origin within 1e-6 px of a source pixel corner.)
        if !d.reprojects, abs(srcGT[1] - dstGT[1]) <= 1e-9 * abs(dstGT[1]), abs(srcGT[5] - dstGT[5]) <= 1e-9 * abs(dstGT[5]) {
            let col = (dstGT[0] - srcGT[0]) / srcGT[1], row = (dstGT[3] - srcGT[3]) / srcGT[5]
            if abs(col - col.rounded()) <= 1e-3 && abs(row - row.rounded()) <= 1e-3 { return nil }
        }
        let ds = try Dataset(open: d.sourcePath, flags: [.raster])
        guard mapping.source >= 1, mapping.source <= ds.bandCount else { return nil }
        let band = try ds.band(mapping.source)
        guard band.readsAsTheWarperDoes, ds.width >= 2, ds.height >= 2 else { return nil }
        // A source nodata from the band that the VRT does not carry would be the warper's too.
        if mapping.sourceNoData == nil, band.noDataValue != nil { return nil }
        return WarpKernel(method: method, vrtPath: path, description: d, sourceBand: mapping.source, sourceWidth: ds.width,
                          sourceHeight: ds.height, noData: mapping.sourceNoData, what: what)
    }
}

/// One worker's state for a `WarpKernel`: its transformer, the source and the VRT (for chunks left
/// to the warper), the decisions taken per chunk, and the buffers of one chunk.
final class WarpKernelReader {
    let kernel: WarpKernel
    let transformer: CoordinateTransformer
    private let source: Dataset
    private let sourceBand: RasterBand
    private let vrt: Dataset
    private let vrtBand: RasterBand
    /// Reused from chunk to chunk (grown by `reserve`): a part's accepted source coordinates, one
    /// row's points for the transformer and their success flags, the source window read.
    var xs = UnsafeMutableBufferPointer<Double>.allocate(capacity: 0), ys = UnsafeMutableBufferPointer<Double>.allocate(capacity: 0)
    var rowX = UnsafeMutableBufferPointer<Double>.allocate(capacity: 0), rowY = UnsafeMutableBufferPointer<Double>.allocate(capacity: 0)
    var rowZ = UnsafeMutableBufferPointer<Double>.allocate(capacity: 0)
    var rowOK = UnsafeMutableBufferPointer<Int32>.allocate(capacity: 0)
    /// The average's second corner of each pixel (its bottom-right), transformed beside `rowX`…
    var rowX2 = UnsafeMutableBufferPointer<Double>.allocate(capacity: 0), rowY2 = UnsafeMutableBufferPointer<Double>.allocate(capacity: 0)
    var rowZ2 = UnsafeMutableBufferPointer<Double>.allocate(capacity: 0)
    var rowOK2 = UnsafeMutableBufferPointer<Int32>.allocate(capacity: 0)
    private var sourcePixels = UnsafeMutableBufferPointer<Float>.allocate(capacity: 0)
    /// The average's and sum's Float64 results of a part (converted to the caller's type).
    var averages = UnsafeMutableBufferPointer<Double>.allocate(capacity: 0)
    /// The sum's pixels that received a term.
    var counted = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 0)
    /// Per chunk (VRT block index): whether the kernel resamples it (false: the warper does).
    private var decisions: [Int: Bool] = [:]
    /// Chunk parts resampled here and parts read from the VRT (for tests).
    private(set) var chunks = 0, delegated = 0

    init(_ kernel: WarpKernel) throws {
        self.kernel = kernel
        transformer = try CoordinateTransformer(serialized: kernel.description.transformer)
        source = try Dataset(open: kernel.description.sourcePath, flags: [.raster])
        sourceBand = try source.band(kernel.sourceBand)
        vrt = try Dataset(open: kernel.vrtPath, flags: [.raster])
        vrtBand = try vrt.band(1)
    }

    deinit {
        [xs, ys, rowX, rowY, rowZ, rowX2, rowY2, rowZ2, averages].forEach { $0.deallocate() }
        rowOK.deallocate()
        rowOK2.deallocate()
        counted.deallocate()
        sourcePixels.deallocate()
    }

    /// `buffer` holding at least `count` values.
    static func reserve<T: Numeric>(_ buffer: inout UnsafeMutableBufferPointer<T>, _ count: Int) {
        guard buffer.count < count else { return }
        buffer.deallocate()
        buffer = .allocate(capacity: count)
        buffer.initialize(repeating: 0)
    }

    /// The grid window's values (row-major) into `buffer`: chunk by chunk (the VRT's blocks, which
    /// the warper warps one at a time), each part resampled here or read from the VRT.
    func read(_ window: PixelWindow, into buffer: UnsafeMutableBufferPointer<Float>) throws {
        if kernel.method == .average { return try readAverage(window, into: buffer) }
        if kernel.method == .sum { return try readSum(window, into: buffer) }
        try forEachChunkPart(window) { chunk, part, offset, key in
            let (x0, x1, y0, y1) = (part.x, part.x + part.width, part.y, part.y + part.height)
            var use = decisions[key]
            if use == nil && part != chunk {
                // The warper's choice depends on the whole chunk.
                use = transform(chunk, rows: chunk.y..<(chunk.y + chunk.height), columns: chunk.x..<(chunk.x + chunk.width)) != nil
                decisions[key] = use
            }
            if use != false, let bounds = transform(chunk, rows: y0..<y1, columns: x0..<x1) {
                decisions[key] = true
                try resample(part, bounds: bounds, into: buffer, offset: offset, stride: window.width)
                chunks += 1
            } else {
                decisions[key] = false
                delegated += 1
                try vrtBand.read(part, into: buffer, offset: offset, lineStride: window.width)
            }
        }
    }

    /// The parts of `window` in each VRT block (a chunk, which the warper warps one at a time):
    /// the chunk, the part, the part's first value in the window's buffer and the chunk's index.
    func forEachChunkPart(_ window: PixelWindow, _ body: (PixelWindow, PixelWindow, Int, Int) throws -> Void) rethrows {
        let d = kernel.description
        let bw = d.blockWidth, bh = d.blockHeight
        let across = (d.width + bw - 1) / bw
        for by in (window.y / bh)...((window.y + window.height - 1) / bh) {
            for bx in (window.x / bw)...((window.x + window.width - 1) / bw) {
                let chunk = PixelWindow(x: bx * bw, y: by * bh, width: min(bw, d.width - bx * bw), height: min(bh, d.height - by * bh))
                let x0 = max(window.x, chunk.x), x1 = min(window.x + window.width, chunk.x + chunk.width)
                let y0 = max(window.y, chunk.y), y1 = min(window.y + window.height, chunk.y + chunk.height)
                try body(chunk, PixelWindow(x: x0, y: y0, width: x1 - x0, height: y1 - y0),
                         (y0 - window.y) * window.width + (x0 - window.x), by * across + bx)
            }
        }
    }

    /// Each part of `window` computed by `compute` (its values into `averages`, row-major) or,
    /// where it returns false, read from the VRT.
    func readParts<T: WarpedSample>(_ window: PixelWindow, into buffer: UnsafeMutableBufferPointer<T>,
                                    _ compute: (_ chunk: PixelWindow, _ part: PixelWindow) throws -> Bool) throws {
        try forEachChunkPart(window) { chunk, part, offset, _ in
            if try compute(chunk, part) {
                let a = averages, pw = part.width
                for r in 0..<part.height {
                    let row = offset + r * window.width, k = r * pw
                    for c in 0..<pw { buffer[row + c] = T.warped(a[k + c]) }
                }
                chunks += 1
            } else {
                delegated += 1
                try vrtBand.read(part, into: buffer, offset: offset, lineStride: window.width)
            }
        }
    }

    /// The source pixels of a window (as the source band reads them, Float32), in `sourcePixels`:
    /// the pointer, the window's origin and width.
    func readSource(x0: Int, y0: Int, x1: Int, y1: Int) throws -> (pixels: UnsafePointer<Float>, x: Int, y: Int, width: Int) {
        let ww = x1 - x0, wh = y1 - y0
        Self.reserve(&sourcePixels, ww * wh)
        do {
            try sourceBand.read(PixelWindow(x: x0, y: y0, width: ww, height: wh), into: sourcePixels)
        } catch let error as GDALError {
            throw RunError(.dataError, "\(kernel.description.sourcePath): \(kernel.what): reading source pixels \(ww)×\(wh) at (\(x0), \(y0)): \(error.readingMessage)")
        }
        return (UnsafePointer(sourcePixels.baseAddress!), x0, y0, ww)
    }

    /// The grid window's Float64 values (row-major) as the VRT's Float64 band holds them: the
    /// average and the sum from the kernel, bilinear through the VRT.
    func readDouble(_ window: PixelWindow, into buffer: UnsafeMutableBufferPointer<Double>) throws {
        switch kernel.method {
        case .average: try readAverage(window, into: buffer)
        case .sum: try readSum(window, into: buffer)
        case .bilinear: try vrtBand.read(window, into: buffer)
        }
    }

    /// The accepted source coordinates' bounds of a part (nil bounds: no centre on the source).
    struct Bounds {
        var minX: Double, maxX: Double, minY: Double, maxY: Double
        /// Widens the bounds to (x, y); NaN compares false and is skipped.
        @inline(__always) mutating func include(_ x: Double, _ y: Double) {
            if x < minX { minX = x }
            if x > maxX { maxX = x }
            if y < minY { minY = y }
            if y > maxY { maxY = y }
        }
    }

    /// Transforms the centres of `rows` of `chunk` as the warper does (each row whole: the
    /// approximate transformer's result depends on the points it is given), keeping `columns`'
    /// accepted source coordinates in `xs`/`ys` (NaN: the warper skips the pixel). Returns nil
    /// where the warper would take another path for this chunk (a point that fails to transform,
    /// a scale below 0.95 when `rows` is the whole chunk); otherwise the accepted points' bounds
    /// (`minX > maxX` when none).
    private func transform(_ chunk: PixelWindow, rows: Range<Int>, columns: Range<Int>) -> Bounds? {
        let cw = chunk.width
        let n = rows.count * columns.count
        let W = kernel.sourceWidth, H = kernel.sourceHeight
        let Wd = Double(W), Hd = Double(H)
        Self.reserve(&xs, n); Self.reserve(&ys, n)
        Self.reserve(&rowX, cw); Self.reserve(&rowY, cw); Self.reserve(&rowZ, cw); Self.reserve(&rowOK, cw)
        let X = xs, Y = ys, rx = rowX, ry = rowY, rz = rowZ, rs = rowOK
        var b = Bounds(minX: .infinity, maxX: -.infinity, minY: .infinity, maxY: -.infinity)
        // Over every transformed centre, on the source or not (the warper's window sizing sees them all).
        var all = b
        for (r, row) in rows.enumerated() {
            // GWKRealCaseThread: iDstX + 0.5 + nDstXOff, iDstY + 0.5 + nDstYOff.
            let dfY = Double(row - chunk.y) + 0.5 + Double(chunk.y)
            for i in 0..<cw {
                rx[i] = Double(i) + 0.5 + Double(chunk.x)
                ry[i] = dfY
                rz[i] = 0
            }
            transformer.transform(dstToSrc: true, count: cw, x: rx.baseAddress!, y: ry.baseAddress!,
                                  z: rz.baseAddress!, success: rs.baseAddress!)
            let c0 = columns.lowerBound - chunk.x, n = columns.count, k0 = r * n
            // The span the warper's window sizing sees: every transformed centre
            // (NaN compares false and is skipped).
            for i in c0..<(c0 + n) { all.include(rx[i], ry[i]) }
            for c in 0..<n {
                let i = c0 + c, k = k0 + c
                var x = rx[i], y = ry[i], success = rs[i] != 0
                // GWKCheckAndComputeSrcOffsets, with the source window = the source:
                // on the source at the first try (the common case) …
                if success && x >= 0 && y >= 0 && x + 1e-10 <= Wd && y + 1e-10 <= Hd {
                    X[k] = x; Y[k] = y
                    continue
                }
                // … otherwise the warper's checks, with its retry.
                var accepted = false
                for attempt in 0..<2 {
                    if attempt == 1 {
                        // Slightly off the source: the warper transforms the point alone (exactly).
                        var px = Double(i) + 0.5 + Double(chunk.x), py = dfY, pz = 0.0
                        var s: Int32 = 0
                        transformer.transform(dstToSrc: true, count: 1, x: &px, y: &py, z: &pz, success: &s)
                        x = px; y = py; success = s != 0
                    }
                    // A failed point changes how the warper sizes its source window.
                    guard success else { return nil }
                    if x.isNaN || y.isNaN { break }
                    if x < 0 { if attempt == 0 && x > -1 { continue }; break }
                    if y < 0 { if attempt == 0 && y > -1 { continue }; break }
                    if x + 1e-10 > Wd { if attempt == 0 && x < Wd + 1 { continue }; break }
                    if y + 1e-10 > Hd { if attempt == 0 && y < Hd + 1 { continue }; break }
                    accepted = true
                    break
                }
                X[k] = accepted ? x : .nan
                Y[k] = accepted ? y : .nan
            }
            // The accepted centres' bounds (rejected ones are NaN).
            for k in k0..<(k0 + n) { b.include(X[k], Y[k]) }
        }
        // A part of a chunk (its chunk was judged whole), or no centre on the source (the warper
        // leaves every pixel nodata, whichever formula it would use).
        guard rows.count == chunk.height, columns.count == chunk.width, b.minX <= b.maxX else { return b }
        // The whole chunk: would the warper use its 4-sample formula? That needs its scale ≥ 0.95:
        // the chunk's size over the span of its edges transformed (`ComputeSourceWindow`'s raw
        // size, clamped to the source; the window's padding is not counted) — at most the centres'
        // span plus one chunk pixel's footprint (half on each side, with room for the
        // approximation and curvature).
        func scale(_ size: Int, _ lo: Double, _ hi: Double, _ sourceSize: Int) -> Double {
            guard size > 1, hi > lo else { return 0 }
            let foot = (hi - lo) / Double(size - 1)
            let raw = min((hi - lo) + 1.5 * foot + 0.5, Double(sourceSize) - max(0, (lo - 1.5 * foot - 0.5).rounded(.down)))
            return raw <= 0 ? .infinity : Double(size) / raw
        }
        let scaleX = scale(chunk.width, all.minX, all.maxX, W), scaleY = scale(chunk.height, all.minY, all.maxY, H)
        // (When one scale exceeds the other 100-fold the warper resamples its scale from a grid.)
        guard scaleX >= 0.96, scaleY >= 0.96, scaleX.isFinite, scaleY.isFinite,
              scaleX < 50 * scaleY, scaleY < 50 * scaleX else { return nil }
        return b
    }

    /// The part's pixels from the coordinates `transform` left in `xs`/`ys`.
    private func resample(_ part: PixelWindow, bounds: Bounds, into out: UnsafeMutableBufferPointer<Float>, offset: Int, stride: Int) throws {
        let pw = part.width, ph = part.height
        let W = kernel.sourceWidth, H = kernel.sourceHeight
        guard bounds.minX <= bounds.maxX, bounds.minY <= bounds.maxY else {
            // No centre falls on the source: the warper leaves the part nodata.
            for r in 0..<ph { for c in 0..<pw { out[offset + r * stride + c] = .nan } }
            return
        }
        // The source pixels the part touches: centres ± 2 px.
        let source = try readSource(x0: max(0, Int(bounds.minX.rounded(.down)) - 2), y0: max(0, Int(bounds.minY.rounded(.down)) - 2),
                                    x1: min(W, Int(bounds.maxX.rounded(.up)) + 3), y1: min(H, Int(bounds.maxY.rounded(.up)) + 3))
        let X = UnsafePointer(xs.baseAddress!), Y = UnsafePointer(ys.baseAddress!)
        switch kernel.noData {
        case nil: resampleLoop(part, AlwaysValid(), X, Y, source, out, offset, stride)
        case let n? where n.isNaN: resampleLoop(part, NotNaN(), X, Y, source, out, offset, stride)
        case let n?: resampleLoop(part, NotNearly(noData: n), X, Y, source, out, offset, stride)
        }
    }

    /// `GWKBilinearResample4Sample` over a part (its coordinates in X, Y), on the source window read.
    /// Neighbouring pixels of an upsampled source share their 2 × 2 source cell, so a cell's
    /// values and which of them count are kept until the cell changes; the weights and sums are
    /// computed per pixel in the warper's order.
    @inline(__always)
    private func resampleLoop<V: SourceValidity>(_ part: PixelWindow, _ validity: V, _ X: UnsafePointer<Double>, _ Y: UnsafePointer<Double>,
                                                 _ source: (pixels: UnsafePointer<Float>, x: Int, y: Int, width: Int),
                                                 _ out: UnsafeMutableBufferPointer<Float>, _ offset: Int, _ stride: Int) {
        let pw = part.width, ph = part.height
        let W = kernel.sourceWidth, H = kernel.sourceHeight, WH = W &* H
        let S = source.pixels, wx0 = source.x, wy0 = source.y, ww = source.width
        let o = out.baseAddress!
        // The source pixel (column c, row r) as the warper's Float64 working value.
        @inline(__always) func value(_ c: Int, _ r: Int) -> Double { Double(S[(r &- wy0) &* ww &+ (c &- wx0)]) }
        var cellX = Int.min, cellY = Int.min
        var ul = false, ur = false, ll = false, lr = false
        var vul = 0.0, vur = 0.0, vll = 0.0, vlr = 0.0
        var centreX = Int.min, centreY = Int.min, centreValid = false
        for r in 0..<ph {
            let row = o + (offset &+ r &* stride)
            let coords = r &* pw
            for c in 0..<pw {
                let x = X[coords &+ c], y = Y[coords &+ c]
                guard !x.isNaN else { row[c] = .nan; continue }
                // The pixel under the centre must be valid.
                var cx = Int(x + 1.0e-10), cy = Int(y + 1.0e-10)
                if cx == W { cx &-= 1 }
                if cy == H { cy &-= 1 }
                if cx != centreX || cy != centreY {
                    centreX = cx; centreY = cy
                    centreValid = validity.valid(value(cx, cy))
                }
                guard centreValid else { row[c] = .nan; continue }
                var ix = Int((x - 0.5).rounded(.down)), iy = Int((y - 0.5).rounded(.down))
                var ratioX = 1.5 - (x - Double(ix)), ratioY = 1.5 - (y - Double(iy))
                if ix == -1 { ix = 0; ratioX = 1 }
                if iy == -1 { iy = 0; ratioY = 1 }
                if ix != cellX || iy != cellY {
                    cellX = ix; cellY = iy
                    // The warper reads a row's two pixels only where its offset lies inside the
                    // source; a column outside the source never counts.
                    let at = ix &+ iy &* W
                    let top = iy >= 0 && iy < H && at >= 0 && at < WH
                    let bottom = iy &+ 1 < H && at &+ W < WH
                    let left = ix >= 0 && ix < W, right = ix &+ 1 < W
                    ul = false; ur = false; ll = false; lr = false
                    if top && left { vul = value(ix, iy); ul = validity.valid(vul) }
                    if top && right { vur = value(ix &+ 1, iy); ur = validity.valid(vur) }
                    if bottom && left { vll = value(ix, iy &+ 1); ll = validity.valid(vll) }
                    if bottom && right { vlr = value(ix &+ 1, iy &+ 1); lr = validity.valid(vlr) }
                }
                var acc = 0.0, divisor = 0.0
                if ul { let m = ratioX * ratioY; divisor += m; acc += vul * m }
                if ur { let m = (1.0 - ratioX) * ratioY; divisor += m; acc += vur * m }
                if ll { let m = ratioX * (1.0 - ratioY); divisor += m; acc += vll * m }
                if lr { let m = (1.0 - ratioX) * (1.0 - ratioY); divisor += m; acc += vlr * m }
                guard divisor >= 0.00001 else { row[c] = .nan; continue }
                // (Both computed, one selected: whether four weights sum to exactly 1 is a coin toss.)
                let quotient = acc / divisor
                let result = divisor == 1.0 ? acc : quotient
                // GDALCopyWords Float64 → Float32.
                row[c] = Float.warped(result)
            }
        }
    }
}

/// The warper's source validity (`GDALWarpNoDataMasker` on the Float64 working values).
protocol SourceValidity { func valid(_ v: Double) -> Bool }
struct AlwaysValid: SourceValidity { @inline(__always) func valid(_ v: Double) -> Bool { true } }
/// NaN nodata: NaN is nodata.
struct NotNaN: SourceValidity { @inline(__always) func valid(_ v: Double) -> Bool { !v.isNaN } }
/// `ARE_REAL_EQUAL(v, nodata)` (equal, or closer than 2 × FLT_EPSILON × |v + nodata|) is nodata.
struct NotNearly: SourceValidity {
    let noData: Double
    @inline(__always) func valid(_ v: Double) -> Bool {
        !(v == noData || abs(v - noData) < Double(Float.ulpOfOne) * abs(v + noData) * 2)
    }
}
