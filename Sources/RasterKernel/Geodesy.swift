#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An ellipsoid of revolution: semi-major axis `a` (metres) and flattening `f`.
public struct Ellipsoid: Sendable, Equatable, Hashable {
    public let a: Double
    public let f: Double
    public init(a: Double, f: Double) {
        precondition(a > 0 && f >= 0 && f < 1, "an ellipsoid needs a > 0 and 0 ≤ f < 1")
        self.a = a; self.f = f
    }
    /// GRS80, the ellipsoid of CGCS2000 (EPSG:4490): a = 6 378 137 m, 1/f = 298.257222101.
    public static let grs80 = Ellipsoid(a: 6_378_137, f: 1 / 298.257222101)
    public var b: Double { a * (1 - f) }
    /// First eccentricity squared.
    public var e2: Double { f * (2 - f) }

    /// The authalic function q(φ) = (1 − e²)·[sin φ / (1 − e² sin² φ) + artanh(e sin φ) / e]
    /// (Snyder, Map Projections — A Working Manual, eq. 3-12): the area between the equator and
    /// latitude φ over a longitude span Δλ (radians) is a²·Δλ·q(φ)/2. A sphere (e = 0) gives 2 sin φ.
    public func authalicQ(latitude phi: Double) -> Double {
        let s = sin(phi), e2 = self.e2
        guard e2 > 0 else { return 2 * s }
        let e = e2.squareRoot()
        return (1 - e2) * (s / (1 - e2 * s * s) + atanh(e * s) / e)
    }

    /// The exact area (m²) of the lat/long cell between latitudes `south` and `north` and
    /// `width` degrees of longitude: a²·Δλ·(q(north) − q(south))/2.
    public func bandArea(south: Double, north: Double, widthDegrees: Double) -> Double {
        let r = Double.pi / 180
        return a * a * (widthDegrees * r) * (authalicQ(latitude: north * r) - authalicQ(latitude: south * r)) / 2
    }

    /// The area (m²) of polygons given as rings of (longitude, latitude) degrees, the first ring of
    /// each polygon its exterior and the others holes, edges taken as straight lines in lon/lat
    /// (as polygons of raster cells are): by Green's theorem −a²/2·∮ q(φ) dλ, exact for edges along
    /// parallels and meridians (every edge of a polygonised raster); for other edges q is taken at
    /// the edge's mid-latitude.
    public func graticuleArea(polygons: [[[(x: Double, y: Double)]]]) -> Double {
        let r = Double.pi / 180
        func ring(_ points: [(x: Double, y: Double)]) -> Double {
            guard points.count > 2 else { return 0 }
            var sum = 0.0
            for i in 0..<points.count {
                let p = points[i], q = points[(i + 1) % points.count]
                sum += (q.x - p.x) * r * authalicQ(latitude: (p.y + q.y) / 2 * r)
            }
            return abs(sum) * a * a / 2
        }
        var total = 0.0
        for polygon in polygons {
            guard let outer = polygon.first else { continue }
            total += ring(outer) - polygon.dropFirst().map(ring).reduce(0, +)
        }
        return total
    }

    /// Radius of curvature in the meridian, M(φ), and of the prime vertical, N(φ) (metres).
    public func radii(latitude phi: Double) -> (meridian: Double, primeVertical: Double) {
        let s = sin(phi), w = (1 - e2 * s * s).squareRoot()
        return (a * (1 - e2) / (w * w * w), a / w)
    }

    /// The geodesic distance (metres) between two points given in degrees, by Vincenty's inverse
    /// formula (accurate to well under a millimetre; it converges for every pair of points that
    /// are not nearly antipodal, far beyond any distance a grid measures).
    public func distance(lon1: Double, lat1: Double, lon2: Double, lat2: Double) -> Double {
        let r = Double.pi / 180
        let b = self.b
        let L = (lon2 - lon1) * r
        let u1 = atan((1 - f) * tan(lat1 * r)), u2 = atan((1 - f) * tan(lat2 * r))
        let (sinU1, cosU1, sinU2, cosU2) = (sin(u1), cos(u1), sin(u2), cos(u2))
        var lambda = L
        var sinSigma = 0.0, cosSigma = 0.0, sigma = 0.0, cos2Alpha = 0.0, cos2SigmaM = 0.0
        for _ in 0..<200 {
            let sinL = sin(lambda), cosL = cos(lambda)
            let t1 = cosU2 * sinL, t2 = cosU1 * sinU2 - sinU1 * cosU2 * cosL
            sinSigma = (t1 * t1 + t2 * t2).squareRoot()
            if sinSigma == 0 { return 0 }
            cosSigma = sinU1 * sinU2 + cosU1 * cosU2 * cosL
            sigma = atan2(sinSigma, cosSigma)
            let sinAlpha = cosU1 * cosU2 * sinL / sinSigma
            cos2Alpha = 1 - sinAlpha * sinAlpha
            cos2SigmaM = cos2Alpha != 0 ? cosSigma - 2 * sinU1 * sinU2 / cos2Alpha : 0
            let c = f / 16 * cos2Alpha * (4 + f * (4 - 3 * cos2Alpha))
            let previous = lambda
            lambda = L + (1 - c) * f * sinAlpha
                * (sigma + c * sinSigma * (cos2SigmaM + c * cosSigma * (-1 + 2 * cos2SigmaM * cos2SigmaM)))
            if abs(lambda - previous) < 1e-13 { break }
        }
        let uu = cos2Alpha * (a * a - b * b) / (b * b)
        let bigA = 1 + uu / 16384 * (4096 + uu * (-768 + uu * (320 - 175 * uu)))
        let bigB = uu / 1024 * (256 + uu * (-128 + uu * (74 - 47 * uu)))
        let deltaSigma = bigB * sinSigma * (cos2SigmaM + bigB / 4 * (cosSigma * (-1 + 2 * cos2SigmaM * cos2SigmaM)
            - bigB / 6 * cos2SigmaM * (-3 + 4 * sinSigma * sinSigma) * (-3 + 4 * cos2SigmaM * cos2SigmaM)))
        return b * bigA * (sigma - deltaSigma)
    }
}

/// The area of every cell of a grid, in m². A cell's area depends only on its row: on a projected
/// grid it is the constant pixel area (map units taken as metres, as every area of a projected run
/// always was); on a lat/long grid it is the exact ellipsoidal area of the cell
/// (`Ellipsoid.bandArea`), from the authalic latitude.
public struct CellAreas: Sendable, Equatable {
    /// The constant area of a projected grid's cells, nil on a lat/long grid.
    public let constant: Double?
    /// Per row (top row first): the area of each cell of that row.
    public let rows: [Double]

    /// A projected grid's constant cell area (`pixelWidth × pixelHeight`).
    public init(projected grid: GridGeometry) {
        constant = grid.pixelArea
        rows = [Double](repeating: grid.pixelArea, count: grid.height)
    }

    /// A lat/long grid (degrees) on `ellipsoid`.
    public init(geographic grid: GridGeometry, ellipsoid: Ellipsoid) {
        constant = nil
        rows = (0..<grid.height).map { r in
            let north = grid.originY - Double(r) * grid.pixelHeight
            return ellipsoid.bandArea(south: north - grid.pixelHeight, north: north, widthDegrees: grid.pixelWidth)
        }
    }

    @inline(__always) public func area(row: Int) -> Double { rows[row] }
    /// The mean cell area over the rows (the constant on a projected grid).
    public var mean: Double { constant ?? (rows.isEmpty ? 0 : rows.reduce(0, +) / Double(rows.count)) }
    public var largest: Double { constant ?? (rows.max() ?? 0) }
    public var smallest: Double { constant ?? (rows.min() ?? 0) }
}

/// Areas tallied per bucket (e.g. township × class). On a projected grid the area of a bucket is
/// count × pixel area (`Double(count) * (pixelArea / 10 000)` hectares, exactly today's numbers);
/// on a lat/long grid it is the sum of its counted cells' own areas, added in the order counted.
public struct AreaTally: Sendable {
    public let areas: CellAreas
    public private(set) var sums: [Double]

    public init(_ areas: CellAreas, buckets: Int) {
        self.areas = areas
        sums = areas.constant == nil ? [Double](repeating: 0, count: buckets) : []
    }

    /// Counts one cell of `row` into `bucket` (a no-op on a projected grid).
    @inline(__always) public mutating func add(_ bucket: Int, row: Int) {
        if areas.constant == nil { sums[bucket] += areas.rows[row] }
    }

    /// Hectares of `bucket` holding `count` cells.
    public func hectares(_ bucket: Int, count: Int) -> Double {
        if let c = areas.constant { return Double(count) * (c / 10_000) }
        return sums[bucket] / 10_000
    }
}
