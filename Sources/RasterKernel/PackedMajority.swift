import Dispatch

/// The majority filter with packed counters (as GRASS's r.neighbors keeps a running count per
/// category, here one byte per class in a UInt64): a vertical running count per column, then a
/// horizontal running sum of those, so a pixel costs a few adds and a scan of ≤ 8 byte counts
/// instead of 9 or 25 neighbour reads. Same rules, tie rule and edges as `apply(input:…)`, which
/// stays the reference; classes above `MajorityFilter.packedClasses` fall back to it.
extension MajorityFilter {
    /// The largest class the packed counters hold (one byte per class 1…8; a 5×5 count ≤ 25).
    public static let packedClasses = 8

    /// One-hot packed counter of each class value: class c in byte c − 1; 0 (nodata) counts nowhere.
    private static let packedOne: [UInt64] = (0..<256).map { c in c >= 1 && c <= packedClasses ? 1 << UInt64(8 * (c - 1)) : 0 }

    /// Filters `block` from `input`, a row-major buffer of `inputWindow`, into `output`, a row-major
    /// buffer of `outputWindow`; both windows must contain the block, and `inputWindow` the block's
    /// halo clipped to the grid (`inputWindow(for:…)`) and nothing outside the grid. Equal to
    /// `apply(input:inputWindow:block:…)` on every pixel, for any class values.
    public func applyPacked(input: UnsafeBufferPointer<UInt8>, inputWindow iw: Window, block: Window,
                            gridWidth: Int, gridHeight: Int,
                            output: UnsafeMutableBufferPointer<UInt8>, outputWindow ow: Window) {
        let halo = inputWindow(for: block, gridWidth: gridWidth, gridHeight: gridHeight)
        precondition(iw.x <= halo.x && iw.y <= halo.y && iw.x + iw.width >= halo.x + halo.width
                     && iw.y + iw.height >= halo.y + halo.height && iw.x + iw.width <= gridWidth && iw.y + iw.height <= gridHeight,
                     "input window \(iw) must hold the block's halo \(halo) inside the \(gridWidth)×\(gridHeight) grid")
        precondition(ow.x <= block.x && ow.y <= block.y && ow.x + ow.width >= block.x + block.width
                     && ow.y + ow.height >= block.y + block.height, "output window \(ow) must hold the block \(block)")
        precondition(input.count >= iw.count && output.count >= ow.count, "buffers smaller than their windows")
        guard block.count > 0 else { return }
        var widest: UInt8 = 0
        for row in halo.y..<(halo.y + halo.height) {
            let start = (row - iw.y) * iw.width + halo.x - iw.x
            for p in start..<(start + halo.width) where input[p] > widest { widest = input[p] }
        }
        guard Int(widest) <= Self.packedClasses else {
            applyByReference(input: input, inputWindow: iw, halo: halo, block: block, gridWidth: gridWidth,
                             gridHeight: gridHeight, output: output, outputWindow: ow)
            return
        }
        Self.packedOne.withUnsafeBufferPointer { one in
            withUnsafeTemporaryAllocation(of: UInt64.self, capacity: halo.width) { columns in
                packedRows(input: input, inputWindow: iw, halo: halo, block: block, one: one, columns: columns,
                           classes: Int(widest), output: output, outputWindow: ow)
            }
        }
    }

    /// The packed pass: `columns[i]` holds the counts of the window's rows in halo column i.
    private func packedRows(input: UnsafeBufferPointer<UInt8>, inputWindow iw: Window, halo: Window, block: Window,
                            one: UnsafeBufferPointer<UInt64>, columns: UnsafeMutableBufferPointer<UInt64>, classes: Int,
                            output: UnsafeMutableBufferPointer<UInt8>, outputWindow ow: Window) {
        let r = radius, w = halo.width
        func addRow(_ y: Int, _ sign: Bool) {   // grid row y into (or out of) the column counts
            guard y >= halo.y && y < halo.y + halo.height else { return }
            let start = (y - iw.y) * iw.width + halo.x - iw.x
            if sign {
                for i in 0..<w { columns[i] &+= one[Int(input[start + i])] }
            } else {
                for i in 0..<w { columns[i] &-= one[Int(input[start + i])] }
            }
        }
        columns.initialize(repeating: 0)
        for y in (block.y - r)..<(block.y + r) { addRow(y, true) }
        let first = block.x - halo.x   // the block's first column in the halo
        for y in block.y..<(block.y + block.height) {
            addRow(y + r, true)
            if y > block.y { addRow(y - r - 1, false) }
            var sum: UInt64 = 0
            for i in max(0, first - r - 1)..<min(w, first + r) { sum &+= columns[i] }   // the loop drops first − r − 1
            let inRow = (y - iw.y) * iw.width + halo.x - iw.x
            let outRow = (y - ow.y) * ow.width + block.x - ow.x
            for c in 0..<block.width {
                let i = first + c
                if i + r < w { sum &+= columns[i + r] }
                if i - r - 1 >= 0 { sum &-= columns[i - r - 1] }
                let centre = input[inRow + i]
                output[outRow + c] = centre == 0 ? 0 : Self.winner(sum, centre: centre, classes: classes)
            }
        }
    }

    /// The centre if its count is the largest, else the smallest class with the largest count.
    @inline(__always)
    private static func winner(_ counts: UInt64, centre: UInt8, classes: Int) -> UInt8 {
        var best: UInt64 = 0, bestClass = 0
        for k in 0..<classes {
            let n = (counts >> UInt64(8 * k)) & 0xFF
            if n > best { best = n; bestClass = k + 1 }
        }
        return (counts >> UInt64(8 * (Int(centre) - 1))) & 0xFF == best ? centre : UInt8(bestClass)
    }

    /// Classes above `packedClasses`: the reference filter on the halo, copied into the output window.
    private func applyByReference(input: UnsafeBufferPointer<UInt8>, inputWindow iw: Window, halo: Window, block: Window,
                                  gridWidth: Int, gridHeight: Int,
                                  output: UnsafeMutableBufferPointer<UInt8>, outputWindow ow: Window) {
        var own = [UInt8](repeating: 0, count: halo.count)
        for row in 0..<halo.height {
            let start = (halo.y + row - iw.y) * iw.width + halo.x - iw.x
            for i in 0..<halo.width { own[row * halo.width + i] = input[start + i] }
        }
        let filtered = apply(own, inputWindow: halo, block: block, gridWidth: gridWidth, gridHeight: gridHeight)
        for row in 0..<block.height {
            let start = (block.y + row - ow.y) * ow.width + block.x - ow.x
            for c in 0..<block.width { output[start + c] = filtered[row * block.width + c] }
        }
    }
}

extension MajorityFilter {
    /// The packed filter over a whole grid, in place, in strips of `stripRows` rows on `workers`
    /// threads (strip s on worker s mod workers): each strip's input — its rows and its
    /// neighbours' `radius` rows next to it, as they were before any strip was filtered — is copied
    /// into the worker's buffer, then its filtered rows overwrite its rows of the grid. The rows a
    /// neighbour needs are copied from every strip first, so no strip reads a row another has
    /// filtered, and no second grid-sized buffer is held. Equal to `apply(to:…)` on every pixel,
    /// for any `workers` and `stripRows` ≥ `radius`.
    public func applyInPlace(_ grid: UnsafeMutableBufferPointer<UInt8>, width W: Int, height H: Int, stripRows rows: Int = 64,
                             workers: Int) {
        precondition(grid.count >= W * H && rows >= radius && rows > 0)
        guard W > 0, H > 0 else { return }
        let r = radius, strips = (H + rows - 1) / rows
        @Sendable func span(_ s: Int) -> Range<Int> { (s * rows)..<min(H, (s + 1) * rows) }
        // Strip s's first and last min(r, its rows) rows, as they are now. Every strip but the last
        // has `rows` ≥ r rows, so a strip's halo lies in its two neighbours (clipped to the grid).
        let edges: [(first: [UInt8], last: [UInt8])] = (0..<strips).map { s in
            let y = span(s), n = min(r, y.count)
            return (Array(grid[(y.lowerBound * W)..<((y.lowerBound + n) * W)]), Array(grid[((y.upperBound - n) * W)..<(y.upperBound * W)]))
        }
        let target = UncheckedBuffer(grid)
        let whole = Window(x: 0, y: 0, width: W, height: H)
        let n = max(1, min(workers, strips))
        DispatchQueue.concurrentPerform(iterations: n) { worker in
            var input = [UInt8](repeating: 0, count: (rows + 2 * r) * W)
            input.withUnsafeMutableBufferPointer { inp in
                for s in stride(from: worker, to: strips, by: n) {
                    let y = span(s)
                    var o = 0
                    if s > 0 {
                        for v in edges[s - 1].last { inp[o] = v; o += 1 }
                    }
                    let above = o / W
                    let own = UnsafeMutableBufferPointer(rebasing: target.buffer[(y.lowerBound * W)..<(y.upperBound * W)])
                    _ = UnsafeMutableBufferPointer(rebasing: inp[o..<(o + own.count)]).initialize(from: own)
                    o += own.count
                    if s + 1 < strips {
                        for v in edges[s + 1].first { inp[o] = v; o += 1 }
                    }
                    let window = Window(x: 0, y: y.lowerBound - above, width: W, height: o / W)
                    applyPacked(input: UnsafeBufferPointer(rebasing: inp[0..<o]), inputWindow: window,
                                block: Window(x: 0, y: y.lowerBound, width: W, height: y.count), gridWidth: W, gridHeight: H,
                                output: target.buffer, outputWindow: whole)
                }
            }
        }
    }
}

/// A grid buffer the strips of `applyInPlace` share: each writes only its own rows.
private struct UncheckedBuffer: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<UInt8>
    init(_ buffer: UnsafeMutableBufferPointer<UInt8>) { self.buffer = buffer }
}
