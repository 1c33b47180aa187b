import Foundation

/// The location inset (区位图): the county filled in its province, among the neighbouring
/// provinces, in a small frame in the corner of the map frame that covers the least data.
///
/// Drawn in an Albers equal-area conic projection (standard parallels 25° N and 47° N, the
/// convention of maps of China; central meridian at the home province's centre, GRS 80), framed on
/// the home province (the polygon of `provinces` holding the county's centroid) with 8 % margin.
public struct LocationInset: Sendable, Hashable {
    /// Province polygons (any GDAL vector source with a CRS), e.g. `layers/reference/dcw_provinces_china.geojson`.
    public var provinces: String
    public var provincesLayer: String?
    /// The field naming a province (its name is printed in the inset), nil for none.
    public var nameField: String?
    /// The county's polygon (e.g. the grid mask's layer).
    public var county: String
    public var countyLayer: String?
    /// The caption, top left inside the inset.
    public var caption: String

    public init(provinces: String, provincesLayer: String? = nil, nameField: String? = nil, county: String,
                countyLayer: String? = nil, caption: String = "区位图 Location") {
        self.provinces = provinces; self.provincesLayer = provincesLayer; self.nameField = nameField
        self.county = county; self.countyLayer = countyLayer; self.caption = caption
    }
}

/// A detail inset (局部放大图): a box of the map drawn at a larger scale in its own frame, with its
/// own scale bar; a frame on the main map, labelled like the inset, shows where it is.
public struct DetailInset: Sendable, Hashable {
    /// The box in the class raster's CRS.
    public var minX: Double, minY: Double, maxX: Double, maxY: Double
    public init(minX: Double, minY: Double, maxX: Double, maxY: Double) {
        self.minX = minX; self.minY = minY; self.maxX = maxX; self.maxY = maxY
    }
}

/// Which detail insets a map gets.
public enum DetailInsets: Sendable, Hashable {
    case none
    /// These boxes (labelled A, B, … in order).
    case boxes([DetailInset])
    /// One inset around the top class when its zone is narrow (`MapInsetRule`).
    case aroundClass(Int)

    var isAutomatic: Bool { if case .aroundClass = self { return true } else { return false } }
}

/// The rule of the automatic detail inset (`DetailInsets.aroundClass`), stated on the map.
public enum MapInsetRule {
    /// A zone is narrow when its largest connected part (8-connected, at 0.5 mm cells on paper) is
    /// nowhere wider than this on paper.
    public static let narrowWidthMM = 8.0
    /// The inset's scale: the main map's scale × this, to the next round scale.
    public static let magnification = 3.0
    /// The line printed under an automatic inset's caption.
    public static let caption = "自动: 最高等级最大连片区 auto: largest top-level zone"
}

/// Where the insets went on the page.
public struct InsetLayout: Sendable {
    public enum Kind: Sendable, Hashable { case location, detail(String) }
    public var kind: Kind
    /// The inset's frame on the page.
    public var frame: PageRect
    /// A detail inset: its box drawn on the main map (page points) and its scale 1:n.
    public var mainMapBox: PageRect?
    public var scaleDenominator: Double?
}
