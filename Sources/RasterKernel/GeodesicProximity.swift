#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Distances in geodesic metres from every cell centre of a lat/long grid to the nearest feature
/// cell's centre (`features[i] != 0`), what GDAL's proximity computes in map units on a projected
/// grid.
///
/// Which feature cell is nearest is found as GDAL's proximity finds it: two sweeps (down, then up)
/// carrying each cell's nearest feature cell from its already visited 8-neighbours, candidates
/// compared in a local metric (Δrows × the meridian arc of a row, Δcolumns × the parallel arc of a
/// column at the pair's mean latitude). The distance written is then the geodesic distance
/// between the two centres on the ellipsoid (Vincenty's inverse, `Ellipsoid.distance`).
/// Cells with no feature cell anywhere on the raster get `noFeature`.
public enum GeodesicProximity {
    public static func distances(features: [UInt8], grid: GridGeometry, ellipsoid: Ellipsoid, noFeature: Float) -> [Float] {
        let w = grid.width, h = grid.height
        precondition(features.count == w * h, "one feature flag per cell")
        let r = Double.pi / 180
        // Metres per column and per row at each row's centre latitude.
        var kx = [Double](repeating: 0, count: h), ky = [Double](repeating: 0, count: h)
        for row in 0..<h {
            let phi = (grid.originY - (Double(row) + 0.5) * grid.pixelHeight) * r
            let (m, n) = ellipsoid.radii(latitude: phi)
            kx[row] = n * cos(phi) * grid.pixelWidth * r
            ky[row] = m * grid.pixelHeight * r
        }
        var nearest = [Int32](repeating: -1, count: w * h)   // index of the nearest feature cell
        for i in 0..<(w * h) where features[i] != 0 { nearest[i] = Int32(i) }
        @inline(__always) func cost(_ cell: Int, _ target: Int32) -> Double {
            let cx = cell % w, cy = cell / w, tx = Int(target) % w, ty = Int(target) / w
            let dx = Double(tx - cx) * (kx[cy] + kx[ty]) / 2, dy = Double(ty - cy) * (ky[cy] + ky[ty]) / 2
            return dx * dx + dy * dy
        }
        @inline(__always) func consider(_ cell: Int, _ x: Int, _ y: Int) {
            guard x >= 0, x < w, y >= 0, y < h else { return }
            let candidate = nearest[y * w + x]
            guard candidate >= 0 else { return }
            if nearest[cell] < 0 || cost(cell, candidate) < cost(cell, nearest[cell]) { nearest[cell] = candidate }
        }
        for y in 0..<h {
            for x in 0..<w {
                let c = y * w + x
                consider(c, x - 1, y); consider(c, x - 1, y - 1); consider(c, x, y - 1); consider(c, x + 1, y - 1)
            }
            for x in stride(from: w - 1, through: 0, by: -1) { consider(y * w + x, x + 1, y) }
        }
        for y in stride(from: h - 1, through: 0, by: -1) {
            for x in stride(from: w - 1, through: 0, by: -1) {
                let c = y * w + x
                consider(c, x + 1, y); consider(c, x + 1, y + 1); consider(c, x, y + 1); consider(c, x - 1, y + 1)
            }
            for x in 0..<w { consider(y * w + x, x - 1, y) }
        }
        var out = [Float](repeating: noFeature, count: w * h)
        for c in 0..<(w * h) where nearest[c] >= 0 {
            let t = Int(nearest[c])
            if t == c { out[c] = 0; continue }
            let (x1, y1) = (grid.originX + (Double(c % w) + 0.5) * grid.pixelWidth, grid.originY - (Double(c / w) + 0.5) * grid.pixelHeight)
            let (x2, y2) = (grid.originX + (Double(t % w) + 0.5) * grid.pixelWidth, grid.originY - (Double(t / w) + 0.5) * grid.pixelHeight)
            out[c] = Float(ellipsoid.distance(lon1: x1, lat1: y1, lon2: x2, lat2: y2))
        }
        return out
    }

    /// Whole cells a margin of `metres` spans on a lat/long grid, at least: rows by the shortest
    /// meridian arc of a row (at the equator), columns by the shortest parallel arc of a column
    /// on the rows the grid grown by those rows reaches. Nil when that reaches a pole.
    public static func marginCells(metres: Double, grid: GridGeometry, ellipsoid: Ellipsoid) -> (columns: Int, rows: Int)? {
        guard metres > 0 else { return (0, 0) }
        let r = Double.pi / 180
        let rowMetres = ellipsoid.radii(latitude: 0).meridian * grid.pixelHeight * r
        let rows = Int((metres / rowMetres).rounded(.up))
        let extreme = max(abs(grid.maxY + Double(rows) * grid.pixelHeight), abs(grid.minY - Double(rows) * grid.pixelHeight))
        guard extreme < 89.9 else { return nil }
        let columnMetres = ellipsoid.radii(latitude: extreme * r).primeVertical * cos(extreme * r) * grid.pixelWidth * r
        return (Int((metres / columnMetres).rounded(.up)), rows)
    }
}
