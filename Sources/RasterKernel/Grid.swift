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

    /// `snapped`, refusing grids that cannot be computed: non-finite or non-positive numbers,
    /// sides beyond 2³¹ − 1 pixels, or more than `maxPixels` pixels on the final snapped grid.
    /// Never traps, whatever the input.
    public static func checkedSnapped(minX: Double, minY: Double, maxX: Double, maxY: Double, resolution: Double,
                                      maxPixels: Int) throws(SizeProblem) -> GridGeometry {
        guard resolution.isFinite, resolution > 0, minX.isFinite, minY.isFinite, maxX.isFinite, maxY.isFinite,
              maxX >= minX, maxY >= minY else { throw .notFinite }
        let x0 = (minX / resolution).rounded(.down) * resolution
        let y0 = (minY / resolution).rounded(.down) * resolution
        let x1 = (maxX / resolution).rounded(.up) * resolution
        let y1 = (maxY / resolution).rounded(.up) * resolution
        guard x0.isFinite, y0.isFinite, x1.isFinite, y1.isFinite else { throw .notFinite }
        let w = Swift.max(((x1 - x0) / resolution).rounded(), 1), h = Swift.max(((y1 - y0) / resolution).rounded(), 1)
        guard w.isFinite, h.isFinite, w <= Double(Int32.max), h <= Double(Int32.max), w * h <= Double(maxPixels) else {
            throw .tooLarge(width: w, height: h, maxPixels: maxPixels)
        }
        return snapped(minX: minX, minY: minY, maxX: maxX, maxY: maxY, resolution: resolution)
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
