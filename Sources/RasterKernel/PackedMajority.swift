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
