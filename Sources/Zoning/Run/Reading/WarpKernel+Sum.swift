import Foundation
import GDALKit

// `-r sum` as GDAL 3.6's warper computes it (`GWKSumPreservingThread`), for the warped VRTs
// `WarpKernel.make` accepts with `Sum` (no reprojection: the warper's affine, no-rotation case).
// The warper spends ≈ 0.3 µs a destination pixel on it (a quadtree search and an allocation per
// pixel; 11.5 CPU-s for the demo's floor area), this reader ≈ 0.02 µs, with the same doubles:
//
// - per chunk (a VRT block), the source window and scales the warper computes
//   (`ComputeSourceWindow`: 21 samples a chunk edge transformed, their bounds rounded when within
//   10⁻⁶ of a whole number, no resampling radius; `GDALWarpKernel::PerformWarp`'s scales);
// - the corners of every source pixel of the window transformed to the chunk's pixel coordinates,
//   a row of corners per call (the approximate transformer's result depends on the points it is
//   given); invalid source pixels left out; the warper's antimeridian repair
//   (`FindDiscontinuity`), which its test of "inside the chunk" triggers for corners about two
//   pixels left of the chunk's offset — it subtracts the chunk's offset from coordinates already
//   relative to it, and moves two corners of such a source pixel to absolute coordinates: the
//   demo's floor area has source pixels 495–511 px into the second 512-px chunk column weighted
//   so; reproduced, not repaired, so the totals stay what GDAL makes of the layer;
// - the source pixels in the quadtree the warper builds (`CPLQuadTree`: bucket 8, split ratio
//   0.55, the chunk's bounds grown by two scales), inserted in the same order: a search returns
//   the pixels whose bounds meet the destination pixel in the tree's depth-first order, so each
//   destination pixel adds up its source pixels' value × overlap / area in that order.
//
// Chunks the warper would treat otherwise (a point that fails to transform, a window off the
// source or empty, scales 100 times apart, `GDAL_NUM_THREADS` splitting a chunk's rows between
// threads with a tree each) are read through the VRT. Checked against GDAL on every pixel
// (`WarpKernelTests`).

extension WarpKernelReader {
    /// The grid window's sums (row-major) into `buffer`, chunk by chunk, each part summed here or
    /// read from the VRT.
    func readSum<T: WarpedSample>(_ window: PixelWindow, into buffer: UnsafeMutableBufferPointer<T>) throws {
        // The warper splits a chunk's rows between threads, each with its own tree.
        let threads = ConfigOptions.get("GDAL_NUM_THREADS").map { $0.uppercased() == "ALL_CPUS" ? 2 : Int($0) ?? 1 } ?? 1
        try readParts(window, into: buffer) { threads <= 1 ? try sum($0, $1) : false }
    }

    /// The warper's source window of a chunk and its kernel's scales, or nil where it would
    /// sample a grid, give up, or leave the chunk empty.
    private func sourceWindow(_ chunk: PixelWindow) -> (x: Int, y: Int, width: Int, height: Int, scaleX: Double, scaleY: Double)? {
        let W = kernel.sourceWidth, H = kernel.sourceHeight
        let steps = 21, step = 1.0 / Double(steps - 1)
        var xs: [Double] = [], ys: [Double] = []
        xs.reserveCapacity(4 * steps); ys.reserveCapacity(4 * steps)
        let cw = Double(chunk.width), ch = Double(chunk.height), cx = Double(chunk.x), cy = Double(chunk.y)
        var ratio = 0.0
        while ratio <= 1.0 + step * 0.5 {
            xs.append(ratio * cw + cx); ys.append(cy)                                  // top
            xs.append(ratio * cw + cx); ys.append(Double(chunk.y + chunk.height))      // bottom
            xs.append(cx); ys.append(ratio * ch + cy)                                  // left
            xs.append(Double(chunk.width + chunk.x)); ys.append(ratio * ch + cy)       // right
            ratio += step
        }
        var zs = [Double](repeating: 0, count: xs.count), ok = [Int32](repeating: 0, count: xs.count)
        transformer.transform(dstToSrc: true, count: xs.count, x: &xs, y: &ys, z: &zs, success: &ok)
        var minX = Double.infinity, minY = Double.infinity, maxX = -Double.infinity, maxY = -Double.infinity
        for i in xs.indices {
            // A failed point: the warper samples a grid instead.
            guard ok[i] != 0, !xs[i].isNaN, !ys[i].isNaN else { return nil }
            minX = min(minX, xs[i]); minY = min(minY, ys[i]); maxX = max(maxX, xs[i]); maxY = max(maxY, ys[i])
        }
        let Wd = Double(W), Hd = Double(H)
        // Values the warper would retry with CHECK_WITH_INVERT_PROJ, or a window off the source.
        guard minX >= -1e6, minY >= -1e6, maxX <= Wd + 1e6, maxY <= Hd + 1e6,
              !(minX > Wd || maxX < 0 || minY > Hd || maxY < 0) else { return nil }
        func roundIfClose(_ v: Double) -> Double { let r = v.rounded(); return abs(r - v) < 1e-6 ? r : v }
        minX = roundIfClose(minX); minY = roundIfClose(minY); maxX = roundIfClose(maxX); maxY = roundIfClose(maxY)
        // No resampling radius for sums.
        let minXC = Int(max(0.0, minX)), minYC = Int(max(0.0, minY))
        let maxXC = Int(min(maxX.rounded(.up), Wd)), maxYC = Int(min(maxY.rounded(.up), Hd))
        let rawX = max(0.0, min(Double(W - minXC), maxX - minX)), rawY = max(0.0, min(Double(H - minYC), maxY - minY))
        var offX = 0, sizeX = W, offY = 0, sizeY = H
        if !(Double(maxXC - minXC) > 0.9 * Wd) {
            offX = max(0, min(minXC, W)); sizeX = max(0, min(W - offX, maxXC - offX))
        }
        if !(Double(maxYC - minYC) > 0.9 * Hd) {
            offY = max(0, min(minYC, H)); sizeY = max(0, min(H - offY, maxYC - offY))
        }
        guard sizeX > 0, sizeY > 0 else { return nil }
        let extraX = Double(sizeX) - rawX, extraY = Double(sizeY) - rawY
        // GDALWarpKernel::PerformWarp's scales.
        func scale(_ dst: Int, _ src: Int, _ extra: Double) -> Double {
            var s = Double(dst) / (Double(src) - extra)
            if src >= dst && Double(src) <= Double(dst) + extra { s = 1.0 }
            if s < 1.0 {
                let reciprocal = 1.0 / s
                let n = Int(reciprocal + 0.5)
                if abs(reciprocal - Double(n)) < 0.05 { s = 1.0 / Double(n) }
            }
            return s
        }
        let sx = scale(chunk.width, sizeX, extraX), sy = scale(chunk.height, sizeY, extraY)
        // Scales 100 times apart: the warper samples its x scale from a grid.
        guard sx.isFinite, sy.isFinite, sx > 0, !(sy / sx > 100) else { return nil }
        return (offX, offY, sizeX, sizeY, sx, sy)
    }

    /// One source pixel: its corners in the chunk's pixel coordinates (the warper's `SourcePixel`)
    /// and its value; its bounds are where the quadtree keeps it.
    private struct SourcePixel {
        var x0, y0, x1, y1, x2, y2, x3, y3: Double
        var value: Double
        var bounds: Rect
    }

    /// `CPLRectObj`.
    struct Rect: Equatable {
        var minX, minY, maxX, maxY: Double
        static func == (a: Rect, b: Rect) -> Bool {
            // memcmp: bit for bit.
            a.minX.bitPattern == b.minX.bitPattern && a.minY.bitPattern == b.minY.bitPattern
                && a.maxX.bitPattern == b.maxX.bitPattern && a.maxY.bitPattern == b.maxY.bitPattern
        }
        @inline(__always) func contains(_ a: Rect) -> Bool {
            a.minX >= minX && a.maxX <= maxX && a.minY >= minY && a.maxY <= maxY
        }
    }

    /// The part's sums into `averages` (NaN where no source pixel counts), or false where the
    /// warper would take another path.
    private func sum(_ chunk: PixelWindow, _ part: PixelWindow) throws -> Bool {
        guard let win = sourceWindow(chunk) else { return false }
        let nx = win.width, ny = win.height
        // The window's values as the warper's Float64 working values.
        let source = try readSource(x0: win.x, y0: win.y, x1: win.x + nx, y1: win.y + ny).pixels
        let valid: (Double) -> Bool
        switch kernel.noData {
        case nil: valid = { _ in true }
        case let v? where v.isNaN: valid = { !$0.isNaN }
        case let v?: let t = NotNearly(noData: v); valid = { t.valid($0) }
        }
        let cw = chunk.width, ch = chunk.height
        let dstX = Double(chunk.x), dstY = Double(chunk.y)
        let sx = win.scaleX
        let inside = { (x: Double) -> Int in x - dstX >= -2 * sx && x - dstX <= Double(cw) + 2 * sx ? 1 : -1 }
        // One row of corners, transformed (source → destination) and made relative to the chunk.
        let n = nx + 1
        var ax = [Double](repeating: 0, count: n), ay = ax, az = ax, aok = [Int32](repeating: 0, count: n)
        var bx = ax, by = ax, bz = ax, bok = aok
        func cornerRow(_ row: Int, _ x: inout [Double], _ y: inout [Double], _ z: inout [Double], _ ok: inout [Int32]) -> Bool {
            for i in 0..<n { x[i] = Double(i + win.x); y[i] = Double(row + win.y); z[i] = 0 }
            transformer.transform(dstToSrc: false, count: n, x: &x, y: &y, z: &z, success: &ok)
            for i in 0..<n {
                if ok[i] != 0 && !x[i].isFinite { ok[i] = 0 } else { x[i] -= dstX; y[i] -= dstY }
                // A failed corner: the warper leaves its pixels out; this reader leaves the chunk to it.
                if ok[i] == 0 { return false }
            }
            return true
        }
        // The warper's `FindDiscontinuity`: bisects the source row for where "inside" changes.
        func discontinuity(_ left: Double, _ right: Double, _ y: Double, _ leftSign: Int) -> (left: Double, right: Double, y: Double) {
            var l = left, r = right, midLeft = 0.0, midRight = 0.0, midY = 0.0
            var i = 0
            while i < 10 && r - l > 1e-8 {
                let mid = (l + r) / 2
                var mx = mid, z = 0.0, ok: Int32 = 0
                midY = y
                transformer.transform(dstToSrc: false, count: 1, x: &mx, y: &midY, z: &z, success: &ok)
                if leftSign != inside(mx) { r = mid; midRight = mx } else { l = mid; midLeft = mx }
                i += 1
            }
            return (midLeft, midRight, midY)
        }
        guard cornerRow(0, &bx, &by, &bz, &bok) else { return false }
        var pixels: [SourcePixel] = []
        pixels.reserveCapacity(nx * ny)
        let yMin = 0, yMax = ch
        for iY in 0..<ny {
            swap(&ax, &bx); swap(&ay, &by); swap(&az, &bz); swap(&aok, &bok)
            guard cornerRow(iY + 1, &bx, &by, &bz, &bok) else { return false }
            for iX in 0..<nx {
                let value = Double(source[iY * nx + iX])
                guard valid(value) else { continue }
                var sp = SourcePixel(x0: ax[iX], y0: ay[iX], x1: ax[iX + 1], y1: ay[iX + 1], x2: bx[iX + 1], y2: by[iX + 1],
                                     x3: bx[iX], y3: by[iX], value: value, bounds: Rect(minX: 0, minY: 0, maxX: 0, maxY: 0))
                if inside(ax[iX]) != inside(ax[iX + 1]) && inside(ax[iX]) == inside(bx[iX]) && inside(ax[iX + 1]) == inside(bx[iX + 1])
                    && (by[iX] - ay[iX]) * (by[iX + 1] - ay[iX + 1]) > 0 {
                    let left = Double(iX + win.x), right = Double(iX + win.x + 1)
                    let top = discontinuity(left, right, Double(iY + win.y), inside(ax[iX]))
                    let bottom = discontinuity(left, right, Double(iY + win.y + 1), inside(bx[iX]))
                    if inside(ax[iX]) >= 1 {
                        sp.x1 = top.left; sp.y1 = top.y; sp.x2 = bottom.left; sp.y2 = bottom.y
                    } else {
                        sp.x0 = top.right; sp.y0 = top.y; sp.x3 = bottom.right; sp.y3 = bottom.y
                    }
                }
                let b = Rect(minX: min(min(sp.x0, sp.x1), min(sp.x2, sp.x3)), minY: min(min(sp.y0, sp.y1), min(sp.y2, sp.y3)),
                             maxX: max(max(sp.x0, sp.x1), max(sp.x2, sp.x3)), maxY: max(max(sp.y0, sp.y1), max(sp.y2, sp.y3)))
                // Off the chunk (NaN bounds fail the test too, as in the warper): left out.
                guard b.minX < Double(cw) && b.maxX > 0 && b.minY < Double(yMax) && b.maxY > Double(yMin) else { continue }
                sp.bounds = b
                pixels.append(sp)
            }
        }
        // The quadtree's search order: each pixel's rank.
        let global = Rect(minX: -2 * sx, minY: Double(yMin) - 2 * win.scaleY, maxX: Double(cw) + 2 * sx, maxY: Double(yMax) + 2 * win.scaleY)
        let order = QuadTreeOrder(bounds: global, rects: pixels.map(\.bounds)).order
        // Each source pixel, in the tree's order, adds its part to the destination pixels of the
        // part it meets: every destination pixel receives its terms in the order a search of the
        // tree lists them (GDAL adds value × overlap / area over the search's list, from 0).
        let pw = part.width, ph = part.height, px0 = part.x - chunk.x, py0 = part.y - chunk.y
        func span(_ lo: Double, _ hi: Double, _ first: Int, _ count: Int) -> Range<Int> {
            // Destination pixels [c, c+1] that may meet [lo, hi] (one more each side; `meets` decides).
            let a = max(first, Int(max(Double(first - 1), (lo - 1).rounded(.up) - 1)))
            let b = min(first + count - 1, Int(min(Double(first + count), hi.rounded(.down) + 1)))
            return a <= b ? a..<(b + 1) : 0..<0
        }
        // CPL_RectOverlap of the bounds and the destination pixel [c, c+1] × [r, r+1].
        @inline(__always) func meets(_ b: Rect, _ c: Int, _ r: Int) -> Bool {
            !(b.minX > Double(c + 1) || b.maxX < Double(c) || b.minY > Double(r + 1) || b.maxY < Double(r))
        }
        Self.reserve(&averages, pw * ph); Self.reserve(&counted, pw * ph)
        let out = averages, seen = counted
        for p in 0..<(pw * ph) { out[p] = 0; seen[p] = 0 }
        pixels.withUnsafeBufferPointer { P in
            for k in order {
                let sp = P[k], b = sp.bounds
                let srcMinX = min(sp.x0, sp.x2), srcMaxX = max(sp.x0, sp.x2)
                let srcMinY = min(sp.y0, sp.y2), srcMaxY = max(sp.y0, sp.y2)
                let area = (srcMaxX - srcMinX) * (srcMaxY - srcMinY)
                for r in span(b.minY, b.maxY, py0, ph) {
                    let iDstY = Double(r)
                    let overlapY = min(srcMaxY, iDstY + 1.0) - max(srcMinY, iDstY)
                    for c in span(b.minX, b.maxX, px0, pw) where meets(b, c, r) {
                        let iDstX = Double(c)
                        let w = ((min(srcMaxX, iDstX + 1.0) - max(srcMinX, iDstX)) * overlapY) / area
                        if w > 0.0 {
                            let p = (r - py0) * pw + (c - px0)
                            out[p] += sp.value * w
                            seen[p] = 1
                        }
                    }
                }
            }
        }
        for p in 0..<(pw * ph) where seen[p] == 0 { out[p] = .nan }
        return true
    }
}

/// The order in which `CPLQuadTreeSearch` returns the rectangles of a tree built by inserting
/// `rects` one by one (`CPLQuadTreeInsertWithBounds`, bucket capacity 8, split ratio 0.55, no
/// maximum depth): depth first, a node's own rectangles in their order before its four subnodes'.
/// Every rectangle lies in one node, so any search lists the ones it finds in this order.
struct QuadTreeOrder {
    private final class Node {
        let rect: WarpKernelReader.Rect
        var items: [Int] = []
        var subnodes: [Node] = []
        init(_ rect: WarpKernelReader.Rect) { self.rect = rect }
    }
    let order: [Int]

    init(bounds: WarpKernelReader.Rect, rects: [WarpKernelReader.Rect]) {
        let root = Node(bounds)
        for i in rects.indices { Self.add(root, i, rects) }
        var order: [Int] = []
        order.reserveCapacity(rects.count)
        func visit(_ node: Node) {
            order.append(contentsOf: node.items)
            node.subnodes.forEach(visit)
        }
        visit(root)
        self.order = order
    }

    /// `CPLQuadTreeSplitBounds`.
    private static func split(_ r: WarpKernelReader.Rect) -> (WarpKernelReader.Rect, WarpKernelReader.Rect) {
        var a = r, b = r
        if r.maxX - r.minX > r.maxY - r.minY {
            let range = r.maxX - r.minX
            a.maxX = r.minX + range * 0.55
            b.minX = r.maxX - range * 0.55
        } else {
            let range = r.maxY - r.minY
            a.maxY = r.minY + range * 0.55
            b.minY = r.maxY - range * 0.55
        }
        return (a, b)
    }

    /// `CPLQuadTreeNodeAddFeatureAlg1`.
    private static func add(_ node: Node, _ item: Int, _ rects: [WarpKernelReader.Rect]) {
        let rect = rects[item]
        if node.subnodes.isEmpty {
            if node.items.count >= 8 {
                let (half1, half2) = split(node.rect)
                let (q1, q2) = split(half1), (q3, q4) = split(half2)
                let quads = [q1, q2, q3, q4]
                if !quads.contains(node.rect) && quads.contains(where: { $0.contains(rect) }) {
                    node.subnodes = quads.map(Node.init)
                    let old = node.items
                    node.items = []
                    for o in old { add(node, o, rects) }
                    add(node, item, rects)
                    return
                }
            }
        } else {
            for s in node.subnodes where s.rect.contains(rect) {
                add(s, item, rects)
                return
            }
        }
        node.items.append(item)
    }
}
