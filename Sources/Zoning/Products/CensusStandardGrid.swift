import Foundation
import GDALKit
import RasterKernel

/// One county on the census standard grid: the raster of 30″ (1/120°) cells of EPSG:4490 whose
/// cells hold 9-digit township codes (6-digit county code + 3 digits). The county's cells are
/// those whose code // 1000 equals its 6-digit code; the job's grid is their envelope and its
/// mask exactly those cells; the census checker compares every product with them.
public struct CountyCells: Sendable {
    public let adminCode: String
    public let geoTransform: [Double]
    public let crsWKT: String
    /// The county's envelope in pixels of the standard grid.
    public let window: PixelWindow
    /// Whether each cell of `window` (row-major) is the county's.
    public let inside: [Bool]
    /// The county's cells.
    public let count: Int
    /// The 9-digit codes of the county's cells, ascending.
    public let codes: [Int]

    /// The envelope of the county's cells in the grid CRS.
    public var bounds: Bounds {
        let gt = geoTransform
        return Bounds(minX: gt[0] + Double(window.x) * gt[1], minY: gt[3] + Double(window.y + window.height) * gt[5],
                      maxX: gt[0] + Double(window.x + window.width) * gt[1], maxY: gt[3] + Double(window.y) * gt[5])
    }

    /// Whether the standard-grid cell holding the point (x, y) is the county's.
    public func contains(x: Double, y: Double) -> Bool {
        let column = Int(((x - geoTransform[0]) / geoTransform[1]).rounded(.down)) - window.x
        let row = Int(((y - geoTransform[3]) / geoTransform[5]).rounded(.down)) - window.y
        guard column >= 0, row >= 0, column < window.width, row < window.height else { return false }
        return inside[row * window.width + column]
    }

    /// The centre of the county's cell (column, row) of `window`.
    public func centre(column: Int, row: Int) -> (x: Double, y: Double) {
        (geoTransform[0] + (Double(window.x + column) + 0.5) * geoTransform[1],
         geoTransform[3] + (Double(window.y + row) + 0.5) * geoTransform[5])
    }

    /// Reads the county `adminCode` (6 digits) from the standard grid raster at `path`: north-up,
    /// square cells, a CRS, at least one cell of the county.
    public static func read(_ path: String, adminCode: String) throws -> CountyCells {
        guard adminCode.count == 6, let county = Int(adminCode), adminCode.allSatisfy(\.isASCII) else {
            throw RunError(.usage, "admin code \"\(adminCode)\": expected the county's 6-digit code, e.g. 150625")
        }
        GDAL.ensureRegistered()
        let ds: Dataset
        do { ds = try Dataset(open: path, flags: [.raster]) } catch { throw inputError(error, file: path, what: "standard grid") }
        guard let gt = ds.geoTransform, gt[2] == 0, gt[4] == 0, gt[1] > 0, gt[5] < 0 else {
            throw RunError(.dataError, "\(path): standard grid: expected a north-up raster without rotation")
        }
        guard abs(gt[1] + gt[5]) <= 1e-12 else {
            throw RunError(.dataError, "\(path): standard grid: expected square cells, got \(formatNumber(gt[1])) × \(formatNumber(-gt[5]))")
        }
        guard let srs = ds.spatialReference else { throw RunError(.dataError, "\(path): standard grid: the raster has no CRS") }
        do {
            let band = try ds.band(1)
            let (window, count, codes) = try scan(band, width: ds.width, height: ds.height, county: county, path: path)
            var inside = [Bool](repeating: false, count: window.count)
            let values = try band.read(window, as: Double.self)
            for i in 0..<values.count where isCounty(values[i], county) { inside[i] = true }
            return CountyCells(adminCode: adminCode, geoTransform: gt, crsWKT: srs.wkt, window: window,
                               inside: inside, count: count, codes: codes)
        } catch let error as RunError { throw error } catch { throw inputError(error, file: path, what: "standard grid") }
    }

    static func isCounty(_ v: Double, _ county: Int) -> Bool {
        v.isFinite && v >= 0 && v < 1e9 && Int(v) / 1000 == county && v == v.rounded()
    }

    /// The county's envelope, cell count and codes, the raster read in strips of rows.
    private static func scan(_ band: RasterBand, width: Int, height: Int, county: Int, path: String) throws
        -> (PixelWindow, Int, [Int]) {
        var minColumn = Int.max, minRow = Int.max, maxColumn = -1, maxRow = -1, count = 0
        var codes = Set<Int>()
        let strip = max(1, min(height, 4_000_000 / max(width, 1)))
        var y = 0
        while y < height {
            let rows = min(strip, height - y)
            let values = try band.read(PixelWindow(x: 0, y: y, width: width, height: rows), as: Double.self)
            for r in 0..<rows {
                for c in 0..<width where isCounty(values[r * width + c], county) {
                    count += 1
                    codes.insert(Int(values[r * width + c]))
                    minColumn = min(minColumn, c); maxColumn = max(maxColumn, c)
                    minRow = min(minRow, y + r); maxRow = max(maxRow, y + r)
                }
            }
            y += rows
        }
        guard count > 0 else {
            throw RunError(.dataError, "\(path): standard grid: no cell of county \(county) (no code \(county)000–\(county)999)")
        }
        return (PixelWindow(x: minColumn, y: minRow, width: maxColumn - minColumn + 1, height: maxRow - minRow + 1), count,
                codes.sorted())
    }
}
