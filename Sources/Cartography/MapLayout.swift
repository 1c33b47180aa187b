/// Page space: PostScript points (1/72 in), origin at the top-left corner of the page, y down
/// (the user space of Cairo, and of `pdftoppm` output scaled by dpi/72).
public struct PageSize: Sendable, Hashable {
    public var width: Double, height: Double
    public init(width: Double, height: Double) { self.width = width; self.height = height }
}

/// A point in page space (points, y down).
public struct PagePoint: Sendable, Hashable, CustomStringConvertible {
    public var x: Double, y: Double
    public init(x: Double, y: Double) { self.x = x; self.y = y }
    public var description: String { "(\(x), \(y)) pt" }
}

/// A rectangle in page space (points, y down).
public struct PageRect: Sendable, Hashable, CustomStringConvertible {
    public var x: Double, y: Double, width: Double, height: Double
    public init(x: Double, y: Double, width: Double, height: Double) {
        self.x = x; self.y = y; self.width = width; self.height = height
    }
    public var minX: Double { x }
    public var minY: Double { y }
    public var maxX: Double { x + width }
    public var maxY: Double { y + height }
    public var midX: Double { x + width / 2 }
    public var midY: Double { y + height / 2 }
    public func contains(_ p: PagePoint) -> Bool { p.x >= minX && p.x <= maxX && p.y >= minY && p.y <= maxY }
    /// Whether the two rectangles share interior (touching edges do not count).
    public func intersects(_ o: PageRect) -> Bool { minX < o.maxX && o.minX < maxX && minY < o.maxY && o.minY < maxY }
    public func insetBy(_ d: Double) -> PageRect { PageRect(x: x + d, y: y + d, width: width - 2 * d, height: height - 2 * d) }
    public var description: String { "[\(x), \(y) \(width)×\(height)] pt" }
}

/// A 2D affine transform: x' = a·x + b·y + c, y' = d·x + e·y + f.
public struct AffineTransform: Sendable, Hashable {
    public var a: Double, b: Double, c: Double, d: Double, e: Double, f: Double
    public init(a: Double, b: Double, c: Double, d: Double, e: Double, f: Double) {
        self.a = a; self.b = b; self.c = c; self.d = d; self.e = e; self.f = f
    }
    public func apply(x: Double, y: Double) -> PagePoint {
        PagePoint(x: a * x + b * y + c, y: d * x + e * y + f)
    }
    public var inverted: AffineTransform {
        let det = a * e - b * d
        precondition(det != 0, "singular transform")
        return AffineTransform(a: e / det, b: -b / det, c: (b * f - c * e) / det,
                               d: -d / det, e: a / det, f: (c * d - a * f) / det)
    }
}

/// The scale bar as drawn.
public struct ScaleBarGeometry: Sendable, Hashable {
    /// Left end of the bar, at its vertical centre.
    public var origin: PagePoint
    /// Drawn length in points.
    public var lengthPoints: Double
    /// Bar thickness in points.
    public var heightPoints: Double
    /// The ground distance the whole bar stands for, in metres.
    public var groundMetres: Double
    /// Number of alternating segments.
    public var segments: Int
    /// The label at its right end, e.g. "40 km".
    public var label: String
}

/// Where things ended up on the page, for callers and tests.
public struct MapLayout: Sendable {
    public var pageSize: PageSize
    /// The map frame (the clip rectangle of the map body).
    public var frame: PageRect
    /// From the raster's georeferenced coordinates (its CRS) to page points.
    public var transform: AffineTransform
    /// The part of the class raster drawn, in page points.
    public var rasterRect: PageRect
    /// The frame's extent in the raster's CRS: minX, minY, maxX, maxY.
    public var frameGroundBounds: (minX: Double, minY: Double, maxX: Double, maxY: Double)
    /// Map scale 1:n of the projection plane (map units × linear unit per paper metre).
    public var scaleDenominator: Double
    /// Ground metres per map unit along east-west at the map centre, measured through PROJ: for a
    /// projected CRS the linear unit ÷ the point scale factor k there (Gauss-Krüger: k = 1 on the
    /// central meridian and grows away from it, so a map metre 70 km off it is 0.99994 ground
    /// metres); for a geographic CRS the length of a degree of longitude there.
    public var groundMetresPerMapUnit: Double
    public var scaleBar: ScaleBarGeometry
    /// Rotation of true north from the page's up direction at the map centre, in degrees
    /// (clockwise positive): the meridian convergence for Gauss-Krüger.
    public var northRotationDegrees: Double
    /// The PNG preview's size in pixels.
    public var pngPixelWidth: Int
    public var pngPixelHeight: Int
    /// The location and detail insets (`MapInsets.swift`).
    public var insets: [InsetLayout] = []
}
