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
    static var noData: Self { get }
}

extension Float: WarpedSample {
    @inline(__always) static func warped(_ value: Double) -> Float {
        let maxFloat = Double(Float.greatestFiniteMagnitude)
        return value > maxFloat ? .infinity : value < -maxFloat ? -.infinity : Float(value)
    }
    static var noData: Float { .nan }
}

extension Double: WarpedSample {
    @inline(__always) static func warped(_ value: Double) -> Double { value }
    static var noData: Double { .nan }
}

extension WarpKernelReader {
    /// The grid window's averages (row-major) into `buffer`, chunk by chunk, each part averaged
    /// here or read from the VRT.
    func readAverage<T: WarpedSample>(_ window: PixelWindow, into buffer: UnsafeMutableBufferPointer<T>) throws {
        try readParts(window, into: buffer) { try average($0, $1) }
    }

    /// The part's averages into `averages` (NaN where no valid source pixel counts), or false
    /// where the warper might compute otherwise (the part is then read from the VRT).
    private func average(_ chunk: PixelWindow, _ part: PixelWindow) throws -> Bool {
        let cw = chunk.width, pw = part.width, ph = part.height, n = pw * ph
        let W = kernel.sourceWidth, H = kernel.sourceHeight
        let Wd = Double(W), Hd = Double(H)
        Self.reserve(&rowX, cw); Self.reserve(&rowY, cw); Self.reserve(&rowZ, cw); Self.reserve(&rowOK, cw)
        Self.reserve(&rowX2, cw); Self.reserve(&rowY2, cw); Self.reserve(&rowZ2, cw); Self.reserve(&rowOK2, cw)
        // Corners per pixel: xs/ys the minimum, x2s/y2s (in `averages`' place until computed) the maximum.
        Self.reserve(&xs, 2 * n); Self.reserve(&ys, 2 * n); Self.reserve(&averages, n)
        let X = xs, Y = ys
        var minX = Double.infinity, maxX = -Double.infinity, minY = Double.infinity, maxY = -Double.infinity
        var widest = 0.0
        // Near a whole source coordinate but beyond the warper's tolerance: its window may differ.
        @inline(__always) func nearWhole(_ v: Double) -> Bool {
            let f = abs(v - v.rounded())
            return f > 1e-10 && f <= 2e-6
        }
        let c0 = part.x - chunk.x
        for r in 0..<ph {
            let row = part.y + r
            for i in 0..<cw {
                rowX[i] = Double(i + chunk.x); rowY[i] = Double(row); rowZ[i] = 0
                rowX2[i] = Double(i) + 1.0 + Double(chunk.x); rowY2[i] = Double(row) + 1.0; rowZ2[i] = 0
            }
            transformer.transform(dstToSrc: true, count: cw, x: rowX.baseAddress!, y: rowY.baseAddress!,
                                  z: rowZ.baseAddress!, success: rowOK.baseAddress!)
            transformer.transform(dstToSrc: true, count: cw, x: rowX2.baseAddress!, y: rowY2.baseAddress!,
                                  z: rowZ2.baseAddress!, success: rowOK2.baseAddress!)
            for c in 0..<pw {
                let i = c0 + c, k = 2 * (r * pw + c)
                guard rowOK[i] != 0, rowOK2[i] != 0 else { return false }
                var xa = rowX[i], xb = rowX2[i], ya = rowY[i], yb = rowY2[i]
                guard xa.isFinite, xb.isFinite, ya.isFinite, yb.isFinite else { return false }
                if xa > xb { swap(&xa, &xb) }
                if ya > yb { swap(&ya, &yb) }
                guard xa >= 0, ya >= 0, xb <= Wd, yb <= Hd, xb - xa > 1e-9, yb - ya > 1e-9,
                      !nearWhole(xa), !nearWhole(xb), !nearWhole(ya), !nearWhole(yb) else { return false }
                X[k] = xa; X[k + 1] = xb; Y[k] = ya; Y[k + 1] = yb
                minX = min(minX, xa); maxX = max(maxX, xb); minY = min(minY, ya); maxY = max(maxY, yb)
                widest = max(widest, xb - xa)
            }
        }
        guard n > 0, minX <= maxX, minY <= maxY else { return false }
        // The warper wraps a pixel round the antimeridian when it spans its window but for two
        // pixels' widths (GDAL #6478); its window spans at least the part's corners.
        guard maxX - minX >= 5 * widest + 1e-6 else { return false }
        // The source pixels the corners span.
        let source = try readSource(x0: max(0, Int(minX.rounded(.down)) - 1), y0: max(0, Int(minY.rounded(.down)) - 1),
                                    x1: min(W, Int(maxX.rounded(.up)) + 1), y1: min(H, Int(maxY.rounded(.up)) + 1))
        switch kernel.noData {
        case nil: averageLoop(n, AlwaysValid(), source)
        case let v? where v.isNaN: averageLoop(n, NotNaN(), source)
        case let v?: averageLoop(n, NotNearly(noData: v), source)
        }
        return true
    }

    /// `GWKAverageOrModeThread`'s GRA_Average over the corners in `xs`/`ys`, into `averages`.
    @inline(__always)
    private func averageLoop<V: SourceValidity>(_ n: Int, _ validity: V, _ source: (pixels: UnsafePointer<Float>, x: Int, y: Int, width: Int)) {
        let W = kernel.sourceWidth, H = kernel.sourceHeight
        let Wd = Double(W), Hd = Double(H), intMax = Double(Int32.max)
        let S = source.pixels, wx0 = source.x, wy0 = source.y, ww = source.width
        let X = UnsafePointer(xs.baseAddress!), Y = UnsafePointer(ys.baseAddress!), out = averages.baseAddress!
        for p in 0..<n {
            let dfXMin = X[2 &* p], dfXMax = X[2 &* p &+ 1], dfYMin = Y[2 &* p], dfYMax = Y[2 &* p &+ 1]
            let iSrcXMin = Int(min(max((dfXMin + 1e-10).rounded(.down), 0.0), Wd))
            var iSrcXMax = min(Int(min((dfXMax - 1e-10).rounded(.up), intMax)), W)
            if iSrcXMin == iSrcXMax && iSrcXMax < W { iSrcXMax &+= 1 }
            let iSrcYMin = Int(min(max((dfYMin + 1e-10).rounded(.down), 0.0), Hd))
            var iSrcYMax = Int(min((dfYMax - 1e-10).rounded(.up), Hd))
            if iSrcYMin == iSrcYMax && iSrcYMax < H { iSrcYMax &+= 1 }
            var total = 0.0, weight = 0.0
            var sy = iSrcYMin
            while sy < iSrcYMax {
                let wy = sy == iSrcYMin ? (iSrcYMin &+ 1 == iSrcYMax ? 1.0 : 1 - (dfYMin - Double(iSrcYMin)))
                    : sy &+ 1 == iSrcYMax ? 1 - (Double(iSrcYMax) - dfYMax) : 1.0
                let rowBase = (sy &- wy0) &* ww &- wx0
                var sx = iSrcXMin
                while sx < iSrcXMax {
                    let v = Double(S[rowBase &+ sx])
                    if validity.valid(v) {
                        let w = sx == iSrcXMin ? (iSrcXMin &+ 1 == iSrcXMax ? wy : wy * (1 - (dfXMin - Double(iSrcXMin))))
                            : sx &+ 1 == iSrcXMax ? wy * (1 - (Double(iSrcXMax) - dfXMax)) : wy
                        weight += w
                        total += v * w
                    }
                    sx &+= 1
                }
                sy &+= 1
            }
            out[p] = weight > 0 ? total / weight : .nan
        }
    }
}
