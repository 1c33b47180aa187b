import Foundation
import GDALKit
import RasterKernel
import Testing
@testable import Zoning

/// The GRS80 ellipsoid of CGCS2000 (EPSG:4490), written out here independently of `Ellipsoid`.
private let grs80A = 6_378_137.0, grs80F = 1 / 298.257222101

/// Area (m²) of the lat/long cell between `south` and `north` (degrees), `width` degrees wide, by
/// the textbook closed form: b²·Δλ/2 · [sin φ / (1 − e² sin² φ) + ln((1 + e sin φ)/(1 − e sin φ)) / (2e)]
/// evaluated between the two latitudes.
private func bandFormula(south: Double, north: Double, width: Double) -> Double {
    let e2 = grs80F * (2 - grs80F), e = e2.squareRoot(), b = grs80A * (1 - grs80F)
    func g(_ deg: Double) -> Double {
        let s = sin(deg * .pi / 180)
        return s / (1 - e2 * s * s) + log((1 + e * s) / (1 - e * s)) / (2 * e)
    }
    return b * b * (width * .pi / 180) / 2 * (g(north) - g(south))
}

/// The same area by Simpson's rule over dA = M(φ)·N(φ)·cos φ dφ dλ (no closed form used).
private func bandIntegral(south: Double, north: Double, width: Double, steps: Int = 200) -> Double {
    let e2 = grs80F * (2 - grs80F)
    func integrand(_ phi: Double) -> Double {
        let w = 1 - e2 * sin(phi) * sin(phi)
        return grs80A * (1 - e2) / pow(w, 1.5) * grs80A / w.squareRoot() * cos(phi)
    }
    let (a, b) = (south * .pi / 180, north * .pi / 180), h = (b - a) / Double(steps)
    var sum = integrand(a) + integrand(b)
    for i in 1..<steps { sum += integrand(a + Double(i) * h) * (i % 2 == 1 ? 4 : 2) }
    return sum * h / 3 * (width * .pi / 180)
}

@Suite struct GeodesicAreaTests {
    @Test func everyRowsCellAreaIsTheAuthalicBandFormulaToOneInABillion() throws {
        let srs = try SpatialReference(definition: "EPSG:4490")
        let axes = try #require(srs.ellipsoidAxes)
        #expect(axes.semiMajor == grs80A && abs(axes.flattening - grs80F) < 1e-18, "CGCS2000 is on GRS80")
        let ellipsoid = Ellipsoid(a: axes.semiMajor, f: axes.flattening)
        var worstFormula = 0.0, worstIntegral = 0.0
        for top in [-60.0, 0.5, 20, 39.625, 45, 70, 89.5] {
            let g = GridGeometry(width: 4, height: 60, originX: 107.5, originY: top, pixelWidth: 1.0 / 120, pixelHeight: 1.0 / 120)
            let areas = CellAreas(geographic: g, ellipsoid: ellipsoid)
            #expect(areas.constant == nil && areas.rows.count == 60)
            for r in 0..<g.height {
                let north = top - Double(r) / 120, south = top - Double(r + 1) / 120
                let closed = bandFormula(south: south, north: north, width: 1.0 / 120)
                let integral = bandIntegral(south: south, north: north, width: 1.0 / 120)
                worstFormula = max(worstFormula, abs(areas.area(row: r) - closed) / closed)
                worstIntegral = max(worstIntegral, abs(areas.area(row: r) - integral) / integral)
            }
        }
        print("cell area vs closed form: max relative error \(worstFormula); vs Simpson integral \(worstIntegral)")
        #expect(worstFormula < 1e-9 && worstIntegral < 1e-9)
        // A 30″ cell at 39.6° N is about 0.714 km × 0.926 km.
        let hangjin = CellAreas(geographic: GridGeometry(width: 1, height: 1, originX: 107.5, originY: 39.625, pixelWidth: 1.0 / 120,
                                                         pixelHeight: 1.0 / 120), ellipsoid: ellipsoid).area(row: 0)
        #expect(abs(hangjin / 10_000 - 66.2) < 0.5, "\(hangjin / 10_000) ha")
        // A projected grid keeps the constant pixel area.
        let projected = CellAreas(projected: GridGeometry(width: 3, height: 2, originX: 0, originY: 0, pixelWidth: 30, pixelHeight: 30))
        #expect(projected.constant == 900 && projected.rows == [900, 900])
    }

    /// The total area of a 1° × 1° grid of 30″ cells against PROJ's geodesic polygon area (pyproj,
    /// Karney's algorithm) of the same rectangle, its parallels densified to 1/10 000°.
    @Test func theTotalAreaOfAGeographicGridIsPROJsGeodesicArea() throws {
        let g = GridGeometry(width: 120, height: 120, originX: 107, originY: 40, pixelWidth: 1.0 / 120, pixelHeight: 1.0 / 120)
        let areas = CellAreas(geographic: g, ellipsoid: .grs80)
        let total = areas.rows.reduce(0, +) * Double(g.width)
        let out = try shell("/usr/bin/python3", ["-c", """
            from pyproj import Geod
            import numpy as np
            n = 10000
            lon = np.concatenate([np.linspace(107, 108, n + 1), np.linspace(108, 107, n + 1)])
            lat = np.concatenate([np.full(n + 1, 39.0), np.full(n + 1, 40.0)])
            area, _ = Geod(ellps="GRS80").polygon_area_perimeter(lon, lat)
            print(repr(abs(area)))
            """])
        let proj = try #require(Double(out.trimmingCharacters(in: .whitespacesAndNewlines)))
        print("1°×1° grid at 39–40° N: \(total) m², PROJ \(proj) m², relative \(abs(total - proj) / proj)")
        #expect(abs(total - proj) / proj < 1e-9)
        // The polygon area of the whole grid's outline (graticule edges) is the same number.
        let outline = Ellipsoid.grs80.graticuleArea(polygons: [[[(107, 39), (108, 39), (108, 40), (107, 40)]]])
        #expect(abs(outline - total) / total < 1e-12)
    }
}

/// `geod -I +ellps=GRS80` distances (m) between pairs of (lon, lat) points.
func geodDistances(_ pairs: [((Double, Double), (Double, Double))]) throws -> [Double] {
    let input = pairs.map { "\($0.0.1) \($0.0.0) \($0.1.1) \($0.1.0)" }.joined(separator: "\n") + "\n"
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("geod-\(UUID().uuidString).txt").path
    try input.write(toFile: path, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let out = try shell("/usr/bin/geod", ["+ellps=GRS80", "-I", "+units=m", "-f", "%.6f", path])
    return out.split(separator: "\n").map { line in Double(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).last!)! }
}

@Suite struct GeodesicProximityTests {
    /// Every cell of a 30″ grid: the distance to the nearest of three feature cells equals the
    /// geodesic distance PROJ's `geod` gives to the nearest of them.
    @Test func distancesAreGeodesicMetresAsGeodMeasuresThem() throws {
        let g = GridGeometry(width: 48, height: 40, originX: 107.5, originY: 39.8, pixelWidth: 1.0 / 120, pixelHeight: 1.0 / 120)
        var features = [UInt8](repeating: 0, count: g.pixelCount)
        let sites = [(5, 7), (40, 12), (22, 35)]
        for (x, y) in sites { features[y * g.width + x] = 1 }
        let d = GeodesicProximity.distances(features: features, grid: g, ellipsoid: .grs80, noFeature: -1)
        func centre(_ x: Int, _ y: Int) -> (Double, Double) {
            (g.originX + (Double(x) + 0.5) * g.pixelWidth, g.originY - (Double(y) + 0.5) * g.pixelHeight)
        }
        var pairs: [((Double, Double), (Double, Double))] = []
        for y in 0..<g.height { for x in 0..<g.width { for s in sites { pairs.append((centre(x, y), centre(s.0, s.1))) } } }
        let geod = try geodDistances(pairs)
        var worst = 0.0
        for i in 0..<g.pixelCount {
            let oracle = geod[(3 * i)..<(3 * i + 3)].min()!
            if oracle == 0 { #expect(d[i] == 0); continue }
            worst = max(worst, abs(Double(d[i]) - oracle) / oracle)
        }
        print("proximity vs geod over \(g.pixelCount) cells: max relative error \(worst)")
        #expect(worst < 1e-3)
    }
}

/// The minimum mapping unit on a lat/long grid: GDAL's sieve with regions measured by area.
@Suite struct AreaSieveTests {
    /// With every cell of area 1 and a threshold of N, the result is `gdal_sieve.py -st N` to the cell.
    @Test func withEqualCellsItIsGDALsSieve() throws {
        let p = try Project()
        let (w, h) = (40, 30)
        var compared = 0
        for seed in 1...3 {
            var state = UInt64(seed) &* 0x9E37_79B9_7F4A_7C15
            var values = [UInt8](repeating: 0, count: w * h)
            for y in 0..<h {
                for x in 0..<w {
                    state = state &* 6364136223846793005 &+ 1442695040888963407
                    let noise = Int(state >> 60)   // 0…15
                    let base = ((x / 7) + (y / 5) + seed) % 4 + 1
                    values[y * w + x] = noise < 3 ? UInt8(noise + 1) : noise == 15 ? 0 : UInt8(base)
                }
            }
            let input = p.path("in\(seed).tif")
            try writeClassRaster(values, width: w, height: h, to: input)
            for connectivity in [4, 8] {
                for threshold in [3, 6] {
                    let out = p.path("out\(seed)-\(connectivity)-\(threshold).tif")
                    try shell("/usr/bin/gdal_sieve.py", ["-q", "-st", "\(threshold)", "-\(connectivity)", input, out])
                    var ours = values
                    LabelSieve.apply(&ours, width: w, height: h, threshold: Double(threshold), rowAreas: [Double](repeating: 1, count: h),
                                     eightConnected: connectivity == 8)
                    let gdal = try readBytes(out)
                    #expect(ours != values, "the sieve changes something")
                    #expect(ours == gdal, "seed \(seed), -\(connectivity), -st \(threshold): \(zip(ours, gdal).filter { $0 != $1 }.count) cells differ")
                    compared += 1
                }
            }
        }
        #expect(compared == 12)
    }

    /// Two regions of two cells each: the one on rows of smaller cells is below the unit, the other not.
    @Test func regionsAreMeasuredByTheirCellsAreas() {
        var values = [UInt8](repeating: 1, count: 6 * 6)
        values[0 * 6 + 2] = 2; values[0 * 6 + 3] = 2     // top row: cells of 1.0
        values[5 * 6 + 2] = 3; values[5 * 6 + 3] = 3     // bottom row: cells of 1.2
        let rows = [1.0, 1.0, 1.1, 1.1, 1.2, 1.2]
        LabelSieve.apply(&values, width: 6, height: 6, threshold: 2.2, rowAreas: rows, eightConnected: true)
        #expect(values[2] == 1 && values[3] == 1, "2 × 1.0 < 2.2: merged into its neighbour")
        #expect(values[32] == 3 && values[33] == 3, "2 × 1.2 ≥ 2.2: kept")
    }
}
