/// GDAL's sieve (`GDALSieveFilter`) with regions measured by area instead of cell count, for
/// lat/long grids whose cells' areas differ by row: a region (cells of one value connected 4- or
/// 8-wise; value 0 is nodata, never part of a region nor a neighbour) whose area is below
/// `threshold` takes the value of its largest neighbour; when that neighbour is below the threshold
/// too, the chain of largest neighbours is followed to the first region that is not (a region with
/// none keeps its value). As in GDAL, "largest neighbour" is decided over the regions as they were
/// before any merge, the first of equal neighbours met in scan order (above, above-left,
/// above-right, left) wins, and regions are taken in order of their first cell.
public enum AreaSieve {
    public static func apply(_ values: inout [UInt8], width: Int, height: Int, rowAreas: [Double], threshold: Double,
                             eightConnected: Bool) {
        precondition(values.count == width * height && rowAreas.count == height)
        let labels = label(values, width: width, height: height, eightConnected: eightConnected)
        let regions = Int((labels.max() ?? -1) + 1)
        guard regions > 1 else { return }
        var area = [Double](repeating: 0, count: regions)
        var value = [UInt8](repeating: 0, count: regions)
        for i in 0..<(width * height) where labels[i] >= 0 {
            area[Int(labels[i])] += rowAreas[i / width]
            value[Int(labels[i])] = values[i]
        }
        var big = [Int](repeating: -1, count: regions)
        func compare(_ a: Int32, _ b: Int32) {
            guard a >= 0, b >= 0, a != b else { return }
            let (x, y) = (Int(a), Int(b))
            if big[x] == -1 || area[big[x]] < area[y] { big[x] = y }
            if big[y] == -1 || area[big[y]] < area[x] { big[y] = x }
        }
        for y in 0..<height {
            for x in 0..<width {
                let c = labels[y * width + x]
                if y > 0 {
                    compare(c, labels[(y - 1) * width + x])
                    if eightConnected && x > 0 { compare(c, labels[(y - 1) * width + x - 1]) }
                    if eightConnected && x < width - 1 { compare(c, labels[(y - 1) * width + x + 1]) }
                }
                if x > 0 { compare(c, labels[y * width + x - 1]) }
            }
        }
        var target = [Int](repeating: -1, count: regions)
        for r in 0..<regions where area[r] < threshold && big[r] != -1 {
            var visited: Set<Int> = [r], current = r, found = -1
            while true {
                current = big[current]
                if current < 0 { break }
                if area[current] >= threshold { found = current; break }
                if !visited.insert(current).inserted { break }
            }
            target[r] = found
        }
        for i in 0..<(width * height) where labels[i] >= 0 && target[Int(labels[i])] >= 0 {
            values[i] = value[target[Int(labels[i])]]
        }
    }

    /// Region labels 0, 1, … in order of each region's first cell (scan order); −1 for value 0.
    static func label(_ values: [UInt8], width: Int, height: Int, eightConnected: Bool) -> [Int32] {
        var parent = [Int32](repeating: -1, count: width * height)
        func find(_ i: Int32) -> Int32 {
            var r = i
            while parent[Int(r)] != r { r = parent[Int(r)] }
            var j = i
            while parent[Int(j)] != r { let next = parent[Int(j)]; parent[Int(j)] = r; j = next }
            return r
        }
        func union(_ a: Int, _ b: Int) {
            let (ra, rb) = (find(Int32(a)), find(Int32(b)))
            if ra != rb { parent[Int(max(ra, rb))] = min(ra, rb) }   // the earlier cell stays the root
        }
        for y in 0..<height {
            for x in 0..<width {
                let i = y * width + x, v = values[i]
                guard v != 0 else { continue }
                parent[i] = Int32(i)
                if x > 0, values[i - 1] == v { union(i, i - 1) }
                if y > 0 {
                    if values[i - width] == v { union(i, i - width) }
                    if eightConnected && x > 0 && values[i - width - 1] == v { union(i, i - width - 1) }
                    if eightConnected && x < width - 1 && values[i - width + 1] == v { union(i, i - width + 1) }
                }
            }
        }
        var labels = [Int32](repeating: -1, count: width * height)
        var next: Int32 = 0
        var ids: [Int32: Int32] = [:]
        for i in 0..<(width * height) where parent[i] >= 0 {
            let root = find(Int32(i))
            if let id = ids[root] { labels[i] = id } else { ids[root] = next; labels[i] = next; next += 1 }
        }
        return labels
    }
}
