/// A north-up grid: origin at the top-left corner, square-or-not pixels, size in pixels.
/// Pure geometry: no CRS, no GDAL.
public struct GridGeometry: Sendable, Equatable, Hashable {
    public let width: Int
    public let height: Int
    /// Top-left corner.
    public let originX: Double
    public let originY: Double
    /// Pixel size (positive numbers); rows go south.
    public let pixelWidth: Double
    public let pixelHeight: Double

    public init(width: Int, height: Int, originX: Double, originY: Double, pixelWidth: Double, pixelHeight: Double) {
        precondition(width >= 0 && height >= 0, "grid size must not be negative")
        precondition(pixelWidth > 0 && pixelHeight > 0, "pixel size must be positive")
        self.width = width; self.height = height
        self.originX = originX; self.originY = originY
        self.pixelWidth = pixelWidth; self.pixelHeight = pixelHeight
    }

    /// The grid covering `[minX, minY, maxX, maxY]` with its corners snapped outwards to multiples of
    /// the resolution (what `gdalwarp -tap -tr res res` does).
    public static func snapped(minX: Double, minY: Double, maxX: Double, maxY: Double, resolution: Double) -> GridGeometry {
        precondition(resolution > 0)
        let x0 = (minX / resolution).rounded(.down) * resolution
        let y0 = (minY / resolution).rounded(.down) * resolution
        let x1 = (maxX / resolution).rounded(.up) * resolution
        let y1 = (maxY / resolution).rounded(.up) * resolution
        let w = Int(((x1 - x0) / resolution).rounded())
        let h = Int(((y1 - y0) / resolution).rounded())
        return GridGeometry(width: max(w, 1), height: max(h, 1), originX: x0, originY: y1,
                            pixelWidth: resolution, pixelHeight: resolution)
    }

    /// The grid of `gdalwarp -te minX minY maxX maxY -tr res res` (no `-tap`): origin at
    /// (minX, maxY) exactly, ⌊(extent + res/2) / res⌋ pixels a side (gdalwarp's rounding), so the
    /// far corners move by less than half a pixel when the extent is not a multiple of res.
    public static func exact(minX: Double, minY: Double, maxX: Double, maxY: Double, resolution: Double) -> GridGeometry {
        precondition(resolution > 0)
        let w = Int((maxX - minX + resolution / 2) / resolution)
        let h = Int((maxY - minY + resolution / 2) / resolution)
        return GridGeometry(width: max(w, 1), height: max(h, 1), originX: minX, originY: maxY,
                            pixelWidth: resolution, pixelHeight: resolution)
    }

    /// The grid of cells 1/`cellsPerUnit` wide covering the extent, corners snapped outwards to
    /// multiples of the cell (e.g. 120 per degree: the 30″ census grid). Corners are integers
    /// divided by `cellsPerUnit`, so they are the nearest doubles to the exact multiples; a
    /// coordinate within 1e-9 cell of a multiple counts as on it.
    public static func snapped(minX: Double, minY: Double, maxX: Double, maxY: Double, cellsPerUnit n: Double) -> GridGeometry {
        precondition(n > 0)
        func down(_ v: Double) -> Double { let c = v * n; return (c - c.rounded()).magnitude < 1e-9 ? c.rounded() : c.rounded(.down) }
        func up(_ v: Double) -> Double { let c = v * n; return (c - c.rounded()).magnitude < 1e-9 ? c.rounded() : c.rounded(.up) }
        let x0 = down(minX), y0 = down(minY), x1 = up(maxX), y1 = up(maxY)
        return GridGeometry(width: max(Int(x1 - x0), 1), height: max(Int(y1 - y0), 1), originX: x0 / n, originY: y1 / n,
                            pixelWidth: 1 / n, pixelHeight: 1 / n)
    }

    /// Why a grid cannot be computed.
    public enum SizeProblem: Error, Sendable, Equatable, CustomStringConvertible {
        /// A corner or the pixel size is NaN, infinite or not positive.
        case notFinite
        /// Width or height beyond what GDAL can address (2³¹ − 1), or more pixels than allowed.
        case tooLarge(width: Double, height: Double, maxPixels: Int)

        public var description: String {
            switch self {
            case .notFinite: return "the grid's corners or pixel size are not finite positive numbers"
            case .tooLarge(let w, let h, let max):
                return "\(GridGeometry.count(w)) × \(GridGeometry.count(h)) px exceeds max-pixels \(max) (each side at most 2147483647)"
            }
        }
    }

    static func count(_ v: Double) -> String { v < 1e15 ? String(Int(v)) : "\(v)" }

    /// How an extent becomes the grid.
    public enum Alignment: Sendable, Equatable {
        /// Corners snapped outwards to multiples of the resolution (`gdalwarp -tap`).
        case snapped
        /// The extent exactly (`gdalwarp -te … -tr …`).
        case exact
        /// Cells 1/n wide, corners snapped outwards to multiples of the cell (the 30″ census grid: n = 120).
        case cells(perUnit: Double)
    }

    /// The grid of an extent, refusing grids that cannot be computed: non-finite or non-positive
    /// numbers, sides beyond 2³¹ − 1 pixels, or more than `maxPixels` pixels on the final grid.
    /// Never traps, whatever the input.
    public static func checked(minX: Double, minY: Double, maxX: Double, maxY: Double, resolution: Double,
                               alignment: Alignment, maxPixels: Int) throws(SizeProblem) -> GridGeometry {
        guard resolution.isFinite, resolution > 0, minX.isFinite, minY.isFinite, maxX.isFinite, maxY.isFinite,
              maxX >= minX, maxY >= minY else { throw .notFinite }
        var w: Double, h: Double
        switch alignment {
        case .snapped:
            let x0 = (minX / resolution).rounded(.down) * resolution
            let y0 = (minY / resolution).rounded(.down) * resolution
            let x1 = (maxX / resolution).rounded(.up) * resolution
            let y1 = (maxY / resolution).rounded(.up) * resolution
            guard x0.isFinite, y0.isFinite, x1.isFinite, y1.isFinite else { throw .notFinite }
            w = ((x1 - x0) / resolution).rounded(); h = ((y1 - y0) / resolution).rounded()
        case .exact:
            w = ((maxX - minX + resolution / 2) / resolution).rounded(.down)
            h = ((maxY - minY + resolution / 2) / resolution).rounded(.down)
        case .cells(let n):
            guard n.isFinite, n > 0 else { throw .notFinite }
            w = (maxX * n).rounded(.up) - (minX * n).rounded(.down)
            h = (maxY * n).rounded(.up) - (minY * n).rounded(.down)
        }
        guard w.isFinite, h.isFinite else { throw .notFinite }
        w = Swift.max(w, 1); h = Swift.max(h, 1)
        guard w <= Double(Int32.max), h <= Double(Int32.max), w * h <= Double(maxPixels) else {
            throw .tooLarge(width: w, height: h, maxPixels: maxPixels)
        }
        switch alignment {
        case .snapped: return snapped(minX: minX, minY: minY, maxX: maxX, maxY: maxY, resolution: resolution)
        case .exact: return exact(minX: minX, minY: minY, maxX: maxX, maxY: maxY, resolution: resolution)
        case .cells(let n): return snapped(minX: minX, minY: minY, maxX: maxX, maxY: maxY, cellsPerUnit: n)
        }
    }

    /// `checked` with corners snapped to the resolution.
    public static func checkedSnapped(minX: Double, minY: Double, maxX: Double, maxY: Double, resolution: Double,
                                      maxPixels: Int) throws(SizeProblem) -> GridGeometry {
        try checked(minX: minX, minY: minY, maxX: maxX, maxY: maxY, resolution: resolution, alignment: .snapped, maxPixels: maxPixels)
    }

    public var pixelCount: Int { width * height }
    public var minX: Double { originX }
    public var maxX: Double { originX + Double(width) * pixelWidth }
    public var maxY: Double { originY }
    public var minY: Double { originY - Double(height) * pixelHeight }

    /// GDAL's six-coefficient geotransform.
    public var geoTransform: [Double] { [originX, pixelWidth, 0, originY, 0, -pixelHeight] }

    /// Pixel area in square map units.
    public var pixelArea: Double { pixelWidth * pixelHeight }

    /// The windows of a block tiling, row by row. Edge blocks are clipped to the grid.
    public func blocks(width bw: Int, height bh: Int) -> [Block] {
        precondition(bw > 0 && bh > 0, "block size must be positive")
        var result: [Block] = []
        let cols = (width + bw - 1) / bw
        let rows = (height + bh - 1) / bh
        result.reserveCapacity(cols * rows)
        for r in 0..<rows {
            for c in 0..<cols {
                let x = c * bw, y = r * bh
                result.append(Block(index: result.count, column: c, row: r,
                                    window: Window(x: x, y: y, width: min(bw, width - x), height: min(bh, height - y))))
            }
        }
        return result
    }
}

/// A rectangle of pixels (offset and size), validated to be non-negative.
public struct Window: Sendable, Equatable, Hashable, CustomStringConvertible {
    public let x: Int, y: Int, width: Int, height: Int
    public init(x: Int, y: Int, width: Int, height: Int) {
        precondition(x >= 0 && y >= 0 && width >= 0 && height >= 0, "window must not be negative")
        self.x = x; self.y = y; self.width = width; self.height = height
    }
    public var count: Int { width * height }
    public var description: String { "(\(x), \(y)) \(width)×\(height)" }

    /// This window grown by `halo` on every side, clipped to a `width`×`height` grid.
    public func expanded(by halo: Int, within width: Int, _ height: Int) -> Window {
        let x0 = max(0, x - halo), y0 = max(0, y - halo)
        let x1 = min(width, x + self.width + halo), y1 = min(height, y + self.height + halo)
        return Window(x: x0, y: y0, width: x1 - x0, height: y1 - y0)
    }
}

/// One block of a tiling: its position in the tiling and its window.
public struct Block: Sendable, Equatable, Hashable {
    public let index: Int
    public let column: Int
    public let row: Int
    public let window: Window
}
