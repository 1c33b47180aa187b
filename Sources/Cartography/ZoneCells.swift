/// Pure helpers on a boolean grid (row-major), for the automatic detail inset (`MapInsetRule`).
public enum ZoneCells {
    /// The largest 8-connected part of `mask` (ties: the one met first in row order), nil when
    /// `mask` has no true cell.
    public static func largestCluster(_ mask: [Bool], width: Int, height: Int) -> [Bool]? {
        var label = [Int32](repeating: 0, count: mask.count)
        var best: (id: Int32, size: Int)?
        var next: Int32 = 0
        var stack: [Int] = []
        for start in 0..<mask.count where mask[start] && label[start] == 0 {
            next += 1
            label[start] = next
            stack.append(start)
            var size = 0
            while let i = stack.popLast() {
                size += 1
                neighbours(of: i, width: width, height: height) { j in
                    if mask[j] && label[j] == 0 { label[j] = next; stack.append(j) }
                }
            }
            if best == nil || size > best!.size { best = (next, size) }
        }
        guard let best else { return nil }
        return label.map { $0 == best.id }
    }

    /// The widest the part is, in cells: 2·d − 1 for the largest chessboard distance d from one of
    /// its cells to the nearest cell outside it (outside the grid counts as outside).
    public static func maximumWidth(_ part: [Bool], width: Int, height: Int) -> Int {
        var distance = [Int](repeating: Int.max, count: part.count)
        var queue: [Int] = []
        for i in 0..<part.count where part[i] {
            let x = i % width, y = i / width
            var edge = x == 0 || y == 0 || x == width - 1 || y == height - 1
            if !edge {
                outer: for dy in -1...1 { for dx in -1...1 where !part[(y + dy) * width + x + dx] { edge = true; break outer } }
            }
            if edge { distance[i] = 1; queue.append(i) }
        }
        var head = 0, deepest = 0
        while head < queue.count {
            let i = queue[head]; head += 1
            deepest = max(deepest, distance[i])
            neighbours(of: i, width: width, height: height) { j in
                if part[j] && distance[j] == Int.max { distance[j] = distance[i] + 1; queue.append(j) }
            }
        }
        return deepest == 0 ? 0 : 2 * deepest - 1
    }

    /// Calls `body` with each of the (up to 8) cells around cell `i` inside the grid.
    @inline(__always)
    static func neighbours(of i: Int, width: Int, height: Int, _ body: (Int) -> Void) {
        let x = i % width, y = i / width
        for dy in -1...1 {
            for dx in -1...1 where dx != 0 || dy != 0 {
                let nx = x + dx, ny = y + dy
                if nx >= 0, ny >= 0, nx < width, ny < height { body(ny * width + nx) }
            }
        }
    }

    /// The top-left cell of the `windowWidth` × `windowHeight` window holding the most true cells
    /// (first in row order on ties), from a summed-area table.
    public static func densestWindow(_ part: [Bool], width: Int, height: Int, windowWidth: Int, windowHeight: Int) -> (x: Int, y: Int) {
        let ww = min(windowWidth, width), wh = min(windowHeight, height)
        var sums = [Int](repeating: 0, count: (width + 1) * (height + 1))
        for y in 0..<height {
            var row = 0
            for x in 0..<width {
                row += part[y * width + x] ? 1 : 0
                sums[(y + 1) * (width + 1) + x + 1] = sums[y * (width + 1) + x + 1] + row
            }
        }
        var best = (x: 0, y: 0, count: -1)
        for y in 0...(height - wh) {
            for x in 0...(width - ww) {
                let s = sums[(y + wh) * (width + 1) + x + ww] - sums[y * (width + 1) + x + ww]
                    - sums[(y + wh) * (width + 1) + x] + sums[y * (width + 1) + x]
                if s > best.count { best = (x, y, s) }
            }
        }
        return (best.x, best.y)
    }
}
