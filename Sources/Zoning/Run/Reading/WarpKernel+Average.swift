import Foundation
import GDALKit

// `-r average` as GDAL 3.6's warper computes it (`GWKAverageOrModeThread`, GRA_Average), for the
// warped VRTs `WarpKernel.make` accepts with `Average`: a destination pixel's two corners (its
// top-left and bottom-right, `iDstX + nDstXOff` and `iDstX + 1.0 + nDstXOff` on the row and the
// next) are transformed to source pixel coordinates, one call per corner row of the whole chunk
// (the approximate transformer's result depends on the points it is given); the source pixels
// they span are averaged with weights of the fraction of each edge pixel covered
// (`COMPUTE_WEIGHT_Y`, `COMPUTE_WEIGHT`), skipping invalid source pixels; Σ v·w / Σ w in the
// warper's order (rows, then columns), in Float64, stored as the VRT's band type stores it.
//
// The warper computes in coordinates relative to its source window; this reader uses the whole
// source. The two agree bit for bit where every corner lies on the source and the window holds
// every corner: the offsets are whole numbers, so `padfX − nSrcXOff`, the fractions and the
// weights are the same doubles, and the clamps bind the same. That holds without a reprojection
// (the chunk's edges bound its pixels' corners) except for a corner within 10⁻⁶ of a whole
// source coordinate but farther than the warper's 10⁻¹⁰ tolerance (the warper rounds its window
// there), and except where the warper would wrap the pixel round the antimeridian (a pixel as
// wide as its window): such parts, and parts with a corner off the source or failing to
// transform, are read through the VRT. Checked against GDAL on every pixel (`WarpKernelTests`).

/// How a warped value is stored in the caller's buffer.
protocol WarpedSample: GDALPixel {
    /// The warper's Float64 result in this type (`GDALCopyWords` from the working type).
    static func warped(_ value: Double) -> Self
}

extension Float: WarpedSample {
    @inline(__always) static func warped(_ value: Double) -> Float {
        let maxFloat = Double(Float.greatestFiniteMagnitude)
        return value > maxFloat ? .infinity : value < -maxFloat ? -.infinity : Float(value)
    }
}

extension Double: WarpedSample {
    @inline(__always) static func warped(_ value: Double) -> Double { value }
}

extension WarpKernelReader {
    /// The grid window's averages (row-major) into `buffer`, chunk by chunk, each part averaged
    /// here or read from the VRT.
    func readAverage<T: WarpedSample>(_ window: PixelWindow, into buffer: UnsafeMutableBufferPointer<T>) throws {
        try readParts(window, into: buffer) { try average($0, $1) }
    }

    /// The part's averages into `averages` (NaN where no valid source pixel counts), or false
    /// where the warper might compute otherwise (the part is then read from the VRT).
    ///
    /// Without a rotation a corner row's y is one value and its x values repeat from row to row:
    /// the rows' source rows and weights are found once a row, the columns' source columns and
    /// weight factors once (again only where a row's x values differ from the last row's), and a
    /// pixel only sums — the same arithmetic as `GWKAverageOrModeThread` per pixel.
    private func average(_ chunk: PixelWindow, _ part: PixelWindow) throws -> Bool {
        let cw = chunk.width, pw = part.width, ph = part.height
        guard pw > 0, ph > 0 else { return false }
        let W = kernel.sourceWidth, H = kernel.sourceHeight
        let Wd = Double(W), Hd = Double(H), intMax = Double(Int32.max)
        Self.reserve(&rowX, cw); Self.reserve(&rowY, cw); Self.reserve(&rowZ, cw); Self.reserve(&rowOK, cw)
        Self.reserve(&rowX2, cw); Self.reserve(&rowY2, cw); Self.reserve(&rowZ2, cw); Self.reserve(&rowOK2, cw)
        Self.reserve(&xs, 2 * pw); Self.reserve(&ys, 4 * pw); Self.reserve(&averages, pw * ph)
        let c0 = part.x - chunk.x
        // Near a whole source coordinate but beyond the warper's tolerance: its window may differ.
        @inline(__always) func nearWhole(_ v: Double) -> Bool {
            let f = abs(v - v.rounded())
            return f > 1e-10 && f <= 2e-6
        }
        /// Corner row `row` (its top-left corners in rowX/rowY, bottom-right in rowX2/rowY2), whole chunk wide.
        func transformRow(_ row: Int) {
            for i in 0..<cw {
                rowX[i] = Double(i + chunk.x); rowY[i] = Double(row); rowZ[i] = 0
                rowX2[i] = Double(i) + 1.0 + Double(chunk.x); rowY2[i] = Double(row) + 1.0; rowZ2[i] = 0
            }
            transformer.transform(dstToSrc: true, count: cw, x: rowX.baseAddress!, y: rowY.baseAddress!,
                                  z: rowZ.baseAddress!, success: rowOK.baseAddress!)
            transformer.transform(dstToSrc: true, count: cw, x: rowX2.baseAddress!, y: rowY2.baseAddress!,
                                  z: rowZ2.baseAddress!, success: rowOK2.baseAddress!)
        }
        // The source window: the first and last rows' corners (no rotation: every row between lies
        // inside), two pixels wider; each row checks that its pixels stay inside.
        var lo = (x: Double.infinity, y: Double.infinity), hi = (x: -Double.infinity, y: -Double.infinity)
        for row in Set([part.y, part.y + ph - 1]) {
            transformRow(row)
            for i in c0..<(c0 + pw) {
                for (x, y) in [(rowX[i], rowY[i]), (rowX2[i], rowY2[i])] {
                    guard x.isFinite, y.isFinite else { return false }
                    lo = (min(lo.x, x), min(lo.y, y)); hi = (max(hi.x, x), max(hi.y, y))
                }
            }
        }
        guard lo.x >= 0, lo.y >= 0, hi.x <= Wd, hi.y <= Hd else { return false }
        let wx0 = max(0, Int(lo.x.rounded(.down)) - 2), wy0 = max(0, Int(lo.y.rounded(.down)) - 2)
        let wx1 = min(W, Int(hi.x.rounded(.up)) + 2), wy1 = min(H, Int(hi.y.rounded(.up)) + 2)
        let source = try readSource(x0: wx0, y0: wy0, x1: wx1, y1: wy1)
        let S = source.pixels, ww = source.width
        // The columns' table: the last row's raw corners (to compare), source columns, weight factors.
        let lastX = xs.baseAddress!, table = ys.baseAddress!
        var haveTable = false
        var wys = [Double]()
        let out = averages.baseAddress!
        for r in 0..<ph {
            transformRow(part.y + r)
            // The row's y: one value a corner row (else the warper's window could differ: GDAL).
            var ya = rowY[c0], yb = rowY2[c0]
            for i in c0..<(c0 + pw) {
                guard rowOK[i] != 0, rowOK2[i] != 0, rowY[i] == ya, rowY2[i] == yb else { return false }
            }
            if ya > yb { swap(&ya, &yb) }
            guard ya.isFinite, yb.isFinite, ya >= 0, yb <= Hd, yb - ya > 1e-9, !nearWhole(ya), !nearWhole(yb) else { return false }
            let iSrcYMin = Int(min(max((ya + 1e-10).rounded(.down), 0.0), Hd))
            var iSrcYMax = Int(min((yb - 1e-10).rounded(.up), Hd))
            if iSrcYMin == iSrcYMax && iSrcYMax < H { iSrcYMax &+= 1 }
            guard iSrcYMin >= wy0, iSrcYMax <= wy1 else { return false }
            wys.removeAll(keepingCapacity: true)
            var sy = iSrcYMin
            while sy < iSrcYMax {
                wys.append(sy == iSrcYMin ? (iSrcYMin &+ 1 == iSrcYMax ? 1.0 : 1 - (ya - Double(iSrcYMin)))
                           : sy &+ 1 == iSrcYMax ? 1 - (Double(iSrcYMax) - yb) : 1.0)
                sy &+= 1
            }
            // The columns: again only where this row's corners differ from the last row's.
            var same = haveTable
            if same {
                for c in 0..<pw where rowX[c0 + c].bitPattern != lastX[2 &* c].bitPattern
                    || rowX2[c0 + c].bitPattern != lastX[2 &* c &+ 1].bitPattern { same = false; break }
            }
            if !same {
                var minX = Double.infinity, maxX = -Double.infinity, widest = 0.0
                for c in 0..<pw {
                    var xa = rowX[c0 + c], xb = rowX2[c0 + c]
                    lastX[2 &* c] = xa; lastX[2 &* c &+ 1] = xb
                    guard xa.isFinite, xb.isFinite else { return false }
                    if xa > xb { swap(&xa, &xb) }
                    guard xa >= 0, xb <= Wd, xb - xa > 1e-9, !nearWhole(xa), !nearWhole(xb) else { return false }
                    let iSrcXMin = Int(min(max((xa + 1e-10).rounded(.down), 0.0), Wd))
                    var iSrcXMax = min(Int(min((xb - 1e-10).rounded(.up), intMax)), W)
                    if iSrcXMin == iSrcXMax && iSrcXMax < W { iSrcXMax &+= 1 }
                    guard iSrcXMin >= wx0, iSrcXMax <= wx1 else { return false }
                    table[4 &* c] = Double(iSrcXMin); table[4 &* c &+ 1] = Double(iSrcXMax)
                    table[4 &* c &+ 2] = 1 - (xa - Double(iSrcXMin)); table[4 &* c &+ 3] = 1 - (Double(iSrcXMax) - xb)
                    minX = min(minX, xa); maxX = max(maxX, xb); widest = max(widest, xb - xa)
                }
                // The warper wraps a pixel round the antimeridian when it spans its window but for
                // two pixels' widths (GDAL #6478); its window spans at least these corners.
                guard maxX - minX >= 5 * widest + 1e-6 else { return false }
                haveTable = true
            }
            let row = out + r &* pw
            wys.withUnsafeBufferPointer { wy in
                switch kernel.noData {
                case nil: averageRow(row, pw, AlwaysValid(), table, wy, iSrcYMin, S, wx0, wy0, ww)
                case let v? where v.isNaN: averageRow(row, pw, NotNaN(), table, wy, iSrcYMin, S, wx0, wy0, ww)
                case let v?: averageRow(row, pw, NotNearly(noData: v), table, wy, iSrcYMin, S, wx0, wy0, ww)
                }
            }
        }
        return true
    }

    /// `GWKAverageOrModeThread`'s GRA_Average over one row: the columns' source columns and weight
    /// factors in `table` (4 a column), the row's source rows from `firstRow` with weights `wy`.
    @inline(__always)
    private func averageRow<V: SourceValidity>(_ out: UnsafeMutablePointer<Double>, _ pw: Int, _ validity: V,
                                               _ table: UnsafePointer<Double>, _ wy: UnsafeBufferPointer<Double>, _ firstRow: Int,
                                               _ S: UnsafePointer<Float>, _ wx0: Int, _ wy0: Int, _ ww: Int) {
        for c in 0..<pw {
            let iSrcXMin = Int(table[4 &* c]), iSrcXMax = Int(table[4 &* c &+ 1])
            let first = table[4 &* c &+ 2], last = table[4 &* c &+ 3]
            let single = iSrcXMin &+ 1 == iSrcXMax
            var total = 0.0, weight = 0.0
            for k in 0..<wy.count {
                let w0 = wy[k]
                let rowBase = (firstRow &+ k &- wy0) &* ww &- wx0
                var sx = iSrcXMin
                while sx < iSrcXMax {
                    let v = Double(S[rowBase &+ sx])
                    if validity.valid(v) {
                        let w = sx == iSrcXMin ? (single ? w0 : w0 * first) : sx &+ 1 == iSrcXMax ? w0 * last : w0
                        weight += w
                        total += v * w
                    }
                    sx &+= 1
                }
            }
            out[c] = weight > 0 ? total / weight : .nan
        }
    }
}
