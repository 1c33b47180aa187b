/// An sRGB colour with 8-bit channels.
public struct RGB: Sendable, Hashable, CustomStringConvertible {
    public var r: UInt8, g: UInt8, b: UInt8
    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) { self.r = r; self.g = g; self.b = b }
    public init(_ tuple: (UInt8, UInt8, UInt8)) { self.init(tuple.0, tuple.1, tuple.2) }

    /// "#rrggbb", lower case.
    public var hex: String {
        func h(_ v: UInt8) -> String { let s = String(v, radix: 16); return s.count == 1 ? "0" + s : s }
        return "#" + h(r) + h(g) + h(b)
    }
    public var description: String { hex }

    public static let white = RGB(255, 255, 255)
    public static let black = RGB(0, 0, 0)
}

/// One class of the classified raster: its pixel value, its label (e.g. "高 high") and its colour.
public struct LegendEntry: Sendable, Hashable {
    public var value: Int
    public var label: String
    public var color: RGB
    public init(value: Int, label: String, color: RGB) {
        self.value = value; self.label = label; self.color = color
    }
}

/// Paper size and orientation. Sizes are ISO 216 in millimetres.
public struct PageSetup: Sendable, Hashable {
    public enum Size: Sendable, Hashable {
        case a3, a4
        /// Width × height in millimetres, portrait (short side first).
        case custom(widthMM: Double, heightMM: Double)

        var portraitMM: (Double, Double) {
            switch self {
            case .a3: return (297, 420)
            case .a4: return (210, 297)
            case .custom(let w, let h): return (min(w, h), max(w, h))
            }
        }
    }
    public enum Orientation: String, Sendable, Hashable { case landscape, portrait }

    public var size: Size
    public var orientation: Orientation
    public init(_ size: Size = .a3, _ orientation: Orientation = .landscape) {
        self.size = size; self.orientation = orientation
    }

    public static let a3Landscape = PageSetup(.a3, .landscape)

    /// The page size in PostScript points (1/72 in).
    public var sizeInPoints: PageSize {
        let (short, long) = size.portraitMM
        let w = orientation == .landscape ? long : short, h = orientation == .landscape ? short : long
        return PageSize(width: w * Units.pointsPerMM, height: h * Units.pointsPerMM)
    }
}

/// A vector layer drawn over the class raster for orientation, reprojected to the raster's CRS.
public struct ContextLayer: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// Rivers and lakes: blue lines (lakes filled).
        case river
        /// Administrative (e.g. township) boundaries: dash-dot lines, names at the polygon centres.
        case boundary
        /// Active faults: dark violet lines.
        case fault
        /// Settlements: dots with labels.
        case place
        /// The study-area outline: a heavy dark line.
        case outline
        /// Emergency shelters: green squares (a prevention factor drawn on the prevention map).
        case shelter

        /// Default legend text.
        public var defaultLegendLabel: String {
            switch self {
            case .river: return "河流 River"
            case .boundary: return "乡镇界 Township boundary"
            case .fault: return "活动断层 Active fault"
            case .place: return "居民点 Settlement"
            case .outline: return "研究区范围 Study area"
            case .shelter: return "应急避难场所 Emergency shelter"
            }
        }
    }

    public var kind: Kind
    /// Any path or connection string GDAL opens as vector.
    public var source: String
    /// The layer name; nil takes the first layer.
    public var layer: String?
    /// A field whose values label the features (place names, township names, river names).
    public var labelField: String?
    /// Text in the legend; nil uses the kind's default, "" leaves the layer out of the legend.
    public var legendLabel: String?

    public init(kind: Kind, source: String, layer: String? = nil, labelField: String? = nil, legendLabel: String? = nil) {
        self.kind = kind; self.source = source; self.layer = layer
        self.labelField = labelField; self.legendLabel = legendLabel
    }
}

/// Polygons filled with the legend colour of their class: a choropleth, e.g. townships coloured by
/// their risk level (乡镇风险等级图).
public struct AreaLayer: Sendable, Hashable {
    /// Any path or connection string GDAL opens as vector (reprojected to the raster's CRS).
    public var source: String
    /// The layer name; nil takes the first layer.
    public var layer: String?
    /// An integer field: the legend value whose colour fills the polygon (unset or not in the
    /// legend: not filled).
    public var classField: String
    /// A text field labelling each polygon (line breaks allowed), centred on a point inside its
    /// largest part.
    public var labelField: String?

    public init(source: String, layer: String? = nil, classField: String, labelField: String? = nil) {
        self.source = source; self.layer = layer; self.classField = classField; self.labelField = labelField
    }
}

/// How nodata pixels of the class raster are drawn.
public enum NodataStyle: Sendable, Hashable {
    /// Not drawn: the (white) map background shows.
    case transparent
    /// Filled with a colour; with a label, the legend gets an entry for it.
    case fill(RGB, label: String?)
}

/// The map's scale.
public enum MapScale: Sendable, Hashable {
    /// The smallest round scale (1:n with n = {1, 1.2, 1.5, 2, 2.5, 3, … 9} × 10^k) at which the
    /// whole raster fits the map frame.
    case automatic
    /// A fixed scale 1:denominator (the raster may then be cut at the frame).
    case denominator(Double)
}

/// Everything one print map shows. All text may mix Chinese and Latin script.
public struct MapSpec: Sendable {
    /// Main title, e.g. "杭锦旗自然灾害综合风险图".
    public var title: String
    /// Second title line, e.g. the English title and the run date.
    public var subtitle: String?
    public var page: PageSetup
    /// Heading of the legend.
    public var legendTitle: String
    /// The classes, in the order the legend lists them (top to bottom).
    public var legend: [LegendEntry]
    /// The classified raster (any GDAL raster; north-up, with a CRS).
    public var classRaster: String
    public var band: Int
    /// Vector layers drawn over the raster (fixed drawing order by kind: boundary, outline,
    /// river, fault, place; labels last).
    public var context: [ContextLayer]
    /// CRS text; nil derives it from the raster ("<name> (EPSG:n)").
    public var crsName: String?
    /// Data-source and licence lines, e.g. "Active faults: GEM Global Active Faults, CC BY 4.0".
    public var sources: [String]
    /// Footer line: tool version and run id.
    public var footer: String
    public var nodata: NodataStyle
    public var scale: MapScale
    /// Resolution of the PNG preview.
    public var pngDPI: Double
    /// Largest resolution the class raster is embedded at in the PDF (never above the raster's own).
    public var pdfRasterDPI: Double
    /// Font family used for every text (Pango falls back per glyph when it lacks one).
    public var fontFamily: String
    /// Polygons filled by class. When set they are drawn instead of the class raster, which then
    /// only sets the map's extent, CRS and scale.
    public var areas: AreaLayer? = nil
    /// The PDF's creation date (ISO 8601, e.g. the run's date), so that a map drawn again from the
    /// same data has the same bytes.
    public var pdfDate: String = "2000-01-01T00:00:00Z"
    /// Producer, figure number, usage line and data date (nothing drawn for what is unset).
    public var furniture = MapFurniture()
    /// The location inset (区位图), nil for none (`MapInsets.swift`).
    public var location: LocationInset? = nil
    /// Detail insets (局部放大图) of narrow zones.
    public var details: DetailInsets = .none

    public init(title: String, subtitle: String? = nil, page: PageSetup = .a3Landscape,
                legendTitle: String = "图例 Legend", legend: [LegendEntry], classRaster: String, band: Int = 1,
                context: [ContextLayer] = [], crsName: String? = nil, sources: [String] = [], footer: String = "",
                nodata: NodataStyle = .transparent, scale: MapScale = .automatic,
                pngDPI: Double = 150, pdfRasterDPI: Double = 300, fontFamily: String = "Noto Sans CJK SC") {
        self.title = title; self.subtitle = subtitle; self.page = page; self.legendTitle = legendTitle
        self.legend = legend; self.classRaster = classRaster; self.band = band; self.context = context
        self.crsName = crsName; self.sources = sources; self.footer = footer; self.nodata = nodata
        self.scale = scale; self.pngDPI = pngDPI; self.pdfRasterDPI = pdfRasterDPI; self.fontFamily = fontFamily
    }
}

enum Units {
    static let pointsPerMM = 72.0 / 25.4
    static let metresPerPoint = 0.0254 / 72.0
}
