/// GDAL's sieve (`GDALSieveFilter`, as in `gdal_sieve.py`) on a class raster in memory, by
/// labelling runs instead of three passes of GDAL's polygon enumerator over a band:
///
/// - a region is a set of cells of one non-zero value connected 4- or 8-wise; value 0 is nodata,
///   never part of a region nor a neighbour, and never changed;
/// - a region's size is its cell count, or on a lat/long grid the sum of its cells' row areas
///   (`rowAreas`, added cell by cell in scan order);
/// - each region's largest neighbour is found over the regions as they are before any merge, the
///   cell pairs met in scan order (above, above-left, above-right, left for each cell), and a
///   neighbour replaces the current one only when strictly larger: the first of equal ones wins;
/// - a region below `threshold` takes the value of its largest neighbour; when that is below the
///   threshold too, the chain of largest neighbours is followed to the first that is not, stopping
///   (and leaving the region as it is) on a region met before or one without neighbours;
/// - one pass: all decisions are taken before any value changes.
///
/// Memory: 12 bytes per run of equal values in a row, 24 per region; the raster is changed in place.
public enum LabelSieve {
    /// Sieves `values` (row-major `width`×`height`) in place; returns whether any cell changed.
    @discardableResult
    public static func apply(_ values: UnsafeMutableBufferPointer<UInt8>, width: Int, height: Int, threshold: Double,
                             rowAreas: [Double]? = nil, eightConnected: Bool) -> Bool {
        precondition(width >= 0 && height >= 0 && values.count >= width * height, "a \(width)×\(height) raster needs \(width * height) values")
        precondition(rowAreas == nil || rowAreas!.count == height, "one area per row")
        var runs = Runs(values: UnsafeBufferPointer(values), width: width, height: height, eightConnected: eightConnected)
        let regions = runs.regions()
        guard regions.count > 1 else { return false }
        let sizes = runs.sizes(regions: regions.count, rowAreas: rowAreas)
        let big = runs.largestNeighbours(regions: regions.count, sizes: sizes, eightConnected: eightConnected)
        let target = mergeTargets(big: big, sizes: sizes, threshold: threshold)
        return runs.relabel(values, target: target, regionValues: regions)
    }

    /// Sieves an array in place; returns whether any cell changed.
    @discardableResult
    public static func apply(_ values: inout [UInt8], width: Int, height: Int, threshold: Double,
                             rowAreas: [Double]? = nil, eightConnected: Bool) -> Bool {
        values.withUnsafeMutableBufferPointer {
            apply($0, width: width, height: height, threshold: threshold, rowAreas: rowAreas, eightConnected: eightConnected)
        }
    }

    /// Per region the region whose value it takes (−1: keeps its own): GDAL's chain of largest neighbours.
    static func mergeTargets(big: [Int32], sizes: [Double], threshold: Double) -> [Int32] {
        var target = [Int32](repeating: -1, count: sizes.count)
        var visited = [Int32](repeating: -1, count: sizes.count)   // the region whose chain last met it
        for r in 0..<sizes.count where sizes[r] < threshold && big[r] >= 0 {
            visited[r] = Int32(r)
            var current = Int(big[r])
            while current >= 0 {
                if sizes[current] >= threshold { target[r] = Int32(current); break }
                if visited[current] == Int32(r) { break }
                visited[current] = Int32(r)
                current = Int(big[current])
            }
        }
        return target
    }
}

/// The runs of equal non-zero values of a raster, row by row, joined into regions by union-find.
struct Runs {
    let values: UnsafeBufferPointer<UInt8>
    let width: Int, height: Int
    /// Per run: first column, end column (exclusive); per row: index of its first run (height + 1 entries).
    var start: [Int32] = [], end: [Int32] = [], rowFirst: [Int] = []
    /// Union-find parent per run; after `regions()`, the region of each run.
    var parent: [Int32] = []

    init(values: UnsafeBufferPointer<UInt8>, width: Int, height: Int, eightConnected: Bool) {
        self.values = values; self.width = width; self.height = height
        rowFirst.reserveCapacity(height + 1)
        let reach = eightConnected ? 1 : 0
        for y in 0..<height {
            rowFirst.append(start.count)
            let row = y * width
            var x = 0
            while x < width {
                let v = values[row + x]
                var e = x + 1
                while e < width && values[row + e] == v { e += 1 }
                if v != 0 { start.append(Int32(x)); end.append(Int32(e)); parent.append(Int32(start.count - 1)) }
                x = e
            }
            if y > 0 { joinRow(y, reach: reach) }
        }
        rowFirst.append(start.count)
    }

    /// Unites each run of row y with the runs of row y − 1 of its value it touches.
    private mutating func joinRow(_ y: Int, reach: Int) {
        let above = rowFirst[y - 1], here = rowFirst[y], count = start.count
        var j = above
        for i in here..<count {
            let s = Int(start[i]) - reach, e = Int(end[i]) + reach, v = values[y * width + Int(start[i])]
            while j < here && Int(end[j]) <= s { j += 1 }
            var k = j
            while k < here && Int(start[k]) < e {
                if values[(y - 1) * width + Int(start[k])] == v { union(i, k) }
                k += 1
            }
        }
    }

    private mutating func find(_ i: Int) -> Int {
        var r = i
        while Int(parent[r]) != r { parent[r] = parent[Int(parent[r])]; r = Int(parent[r]) }
        return r
    }

    private mutating func union(_ a: Int, _ b: Int) {
        let (ra, rb) = (find(a), find(b))
        if ra != rb { parent[max(ra, rb)] = Int32(min(ra, rb)) }   // the earlier run stays the root
    }

    /// Numbers the regions 0, 1, … in order of their first run and stores each run's region in
    /// `parent`; returns each region's value.
    mutating func regions() -> [UInt8] {
        var value: [UInt8] = []
        var row = 0
        for i in 0..<start.count {
            while rowFirst[row + 1] <= i { row += 1 }
            if Int(parent[i]) == i {
                parent[i] = Int32(value.count)
                value.append(values[row * width + Int(start[i])])
            } else {
                parent[i] = parent[Int(parent[i])]   // the root is earlier: already a region number
            }
        }
        return value
    }

    /// Per region its cell count, or the sum of its cells' row areas added cell by cell in scan order.
    func sizes(regions: Int, rowAreas: [Double]?) -> [Double] {
        var size = [Double](repeating: 0, count: regions)
        for y in 0..<height {
            for i in rowFirst[y]..<rowFirst[y + 1] {
                let r = Int(parent[i]), n = Int(end[i] - start[i])
                if let rowAreas {
                    for _ in 0..<n { size[r] += rowAreas[y] }
                } else {
                    size[r] += Double(n)
                }
            }
        }
        return size
    }

    /// The region of each cell of row y (−1: nodata) into `ids`.
    func fillRegions(_ y: Int, into ids: UnsafeMutableBufferPointer<Int32>) {
        var x = 0
        for i in rowFirst[y]..<rowFirst[y + 1] {
            let s = Int(start[i]), e = Int(end[i]), r = parent[i]
            while x < s { ids[x] = -1; x += 1 }
            while x < e { ids[x] = r; x += 1 }
        }
        while x < width { ids[x] = -1; x += 1 }
    }

    /// GDAL's second pass: each region's largest neighbour (−1: none), cell pairs in scan order.
    func largestNeighbours(regions: Int, sizes: [Double], eightConnected: Bool) -> [Int32] {
        var big = [Int32](repeating: -1, count: regions)
        guard width > 0 else { return big }
        sizes.withUnsafeBufferPointer { size in
            big.withUnsafeMutableBufferPointer { big in
                @inline(__always) func compare(_ a: Int32, _ b: Int32) {
                    guard a >= 0, b >= 0, a != b else { return }
                    let (x, y) = (Int(a), Int(b))
                    if big[x] < 0 || size[Int(big[x])] < size[y] { big[x] = b }
                    if big[y] < 0 || size[Int(big[y])] < size[x] { big[y] = a }
                }
                withUnsafeTemporaryAllocation(of: Int32.self, capacity: 2 * width) { lines in
                    var this = UnsafeMutableBufferPointer(rebasing: lines[0..<width])
                    var last = UnsafeMutableBufferPointer(rebasing: lines[width..<(2 * width)])
                    for y in 0..<height {
                        fillRegions(y, into: this)
                        for x in 0..<width {
                            let c = this[x]
                            guard c >= 0 else { continue }
                            if y > 0 {
                                compare(c, last[x])
                                if eightConnected && x > 0 { compare(c, last[x - 1]) }
                                if eightConnected && x < width - 1 { compare(c, last[x + 1]) }
                            }
                            if x > 0 { compare(c, this[x - 1]) }
                        }
                        swap(&this, &last)
                    }
                }
            }
        }
        return big
    }

    /// Writes each merged region's new value; returns whether any cell changed.
    func relabel(_ values: UnsafeMutableBufferPointer<UInt8>, target: [Int32], regionValues: [UInt8]) -> Bool {
        var changed = false
        for y in 0..<height {
            for i in rowFirst[y]..<rowFirst[y + 1] {
                let t = target[Int(parent[i])]
                guard t >= 0 else { continue }
                let v = regionValues[Int(t)], row = y * width
                if values[row + Int(start[i])] != v { changed = true }
                for x in Int(start[i])..<Int(end[i]) { values[row + x] = v }
            }
        }
        return changed
    }
}
