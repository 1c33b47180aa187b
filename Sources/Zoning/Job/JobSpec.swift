import Cartography
import Foundation
import GDALKit
import RasterKernel

/// A job file (version 1), parsed and validated. See `docs/job-file.md` for every key.
public struct JobSpec: Sendable {
    public struct Position: Sendable, Equatable { public let file: String; public let line: Int; public let column: Int }

    public enum Extent: Sendable, Equatable {
        case layer(String)
        case bounds(Bounds)
    }

    public struct Grid: Sendable {
        public let crs: String
        public let resolution: Double
        public let extent: Extent
        public let mask: String?
        public let blockSize: Int
        public let maxPixels: Int
        /// How the extent becomes the grid: snapped outwards to multiples of the resolution
        /// (`gdalwarp -tap`), or taken exactly (`gdalwarp -te … -tr …`).
        public var align: GridAlign = .resolution
        /// `preset: census-30s`: the national standard grid (EPSG:4490, 30″), nil otherwise.
        public var preset: String? = nil
        /// How the extent becomes the grid.
        public var alignment: GridGeometry.Alignment { Grid.alignment(align: align, preset: preset) }

        static func alignment(align: GridAlign, preset: String?) -> GridGeometry.Alignment {
            preset != nil ? .cells(perUnit: JobSpec.census30sCellsPerDegree) : align == .none ? .exact : .snapped
        }
        /// `standard-grid:` the census standard grid and the county it is cut to (`JobLoader+StandardGrid.swift`).
        public var standardGrid: StandardGrid? = nil
        /// Where `grid:` is written, for errors found when the grid is resolved.
        public var position = Position(file: "", line: 1, column: 1)
    }

    public enum GridAlign: String, Sendable {
        /// Corners snap outwards to multiples of the resolution (the default for a layer's extent).
        case resolution
        /// The extent is honoured exactly, like `gdalwarp -te … -tr …` (the default for bounds).
        case none
    }

    /// `grid.preset: census-30s`: the national risk census's standard grid, EPSG:4490 (CGCS2000)
    /// at 30″ = 1/120°, every corner on a multiple of 30″.
    public static let census30sCRS = "EPSG:4490"
    public static let census30sCellsPerDegree = 120.0

    public struct LayerUse: Sendable {
        /// The key in `layers:` (e.g. `flood`).
        public let key: String
        public let definition: LayerDefinition
        public let resampling: Resampling
        public let normalization: Normalization
        public let allTouched: Bool
        /// gdalwarp's `-et` (0 = exact transformation of every pixel).
        public let errorThreshold: Double
        public let position: Position
        /// `normalize: { proximity: … }`: the layer's values are the distance to its nearest feature.
        public var proximity: Bool = false
        /// `normalize: { min-max: data }`: (v − min) / (max − min) over the layer's valid pixels on
        /// the grid inside the mask, found by a statistics pass (`normalization` is a placeholder).
        public var dataMinMax: Bool = false
        /// `normalize: { log: data }`, `{ quantile: data }`, `{ min-max: data, transform: cbrt }`
        /// (`LayerTransform.swift`): applied to the values before the normalisation.
        public var transform: LayerTransform? = nil
        /// `direction: negative`: the normalised value x becomes 1 − x.
        public var negative: Bool = false
    }

    /// Data-driven classification methods, computed over every valid pixel of the grid.
    public enum ClassMethod: String, Sendable, CaseIterable {
        case quantile
        case equalInterval = "equal-interval"
        case naturalBreaks = "natural-breaks"
        /// Breaks at mean ± k·σ of every valid pixel (population σ).
        case standardDeviation = "standard-deviation"
    }

    public struct Classify: Sendable {
        public let scheme: ClassScheme
        /// Fixed breaks, or nil when `method` computes them from the data.
        public let fixedBreaks: [Double]?
        public let method: ClassMethod?
        /// Fixed breaks (empty when a method computes them during the run).
        public var breaks: [Double] { fixedBreaks ?? [] }
    }

    /// How the layers and indices combine into the risk index (the model's top node).
    public struct Combine: Sendable {
        public let node: ModelNode
        /// The fixed kernel's combination (forms of v1), nil for entropy and expressions.
        public var combination: Combination? {
            switch node.form {
            case .weightedSum, .ahp: return .weightedSum(node.weights)
            case .geometricMean: return .geometricMean(node.weights)
            case .product: return .product
            case .maximum: return .maximum
            case .entropy, .expression: return nil
            }
        }
        /// One per member for weighted forms, empty otherwise.
        public var weights: [Double] { node.weights }
        /// Present when the weights came from an AHP pairwise-comparison matrix.
        public var ahpConsistencyRatio: Double? { node.ahpConsistencyRatio }
        public var name: String {
            node.form == .ahp ? "weighted-sum (AHP)" : node.form.rawValue
        }
    }

    public enum Product: String, Sendable, CaseIterable {
        case riskIndex = "risk-index"
        case riskClass = "risk-class"
        /// Generalised zones: `risk_zones.tif` and `zones.gpkg` (needs `zoning:`).
        case riskZones = "risk-zones"
        /// `stats.csv` and `stats.json` per township (needs `zoning.townships`).
        case statistics
        /// `prevention_class.tif`, `prevention_zones` polygons and `prevention_stats.*` (needs `prevention:`).
        case prevention
        /// Print maps (PDF + PNG) of every classified product, QGIS styles beside them.
        case maps
        /// `class_stability.tif`, `class_range.tif`, `sensitivity.*` (needs `sensitivity:`).
        case sensitivity
    }

    /// One context layer drawn on the maps.
    public struct MapContext: Sendable {
        public let definition: LayerDefinition
        public let style: ContextLayer.Kind
        public let label: String?
        public let legend: String?
    }

    /// The `maps:` section; every key has a default.
    public struct Maps: Sendable {
        public let title: String?
        public let subtitle: String?
        public let page: PageSetup
        /// nil = the default context (the mask as outline, the townships with their names).
        public let context: [MapContext]?
        /// nil = one line per layer from its definition's description.
        public let sources: [String]?
        /// Plan furniture (see `JobLoader+MapFurniture.swift`): producer, figure number, usage line, data date.
        public var furniture = MapFurniture()
        /// `maps.location`: the province polygons of the location inset (`JobLoader+MapInsets.swift`).
        public var location: LayerDefinition? = nil
        /// `maps.insets`: detail boxes; nil = automatic around the top class on a typed job.
        public var insets: [MapInset]? = nil
    }

    /// How the township level is decided from its pixels.
    public enum TownshipLevel: Sendable, Equatable {
        /// The area-weighted mean index, classified with the job's breaks.
        case meanIndex
        /// The highest class reached by at least `share` of the township's valid area.
        case highShare(Double)
    }

    public struct Townships: Sendable {
        public let definition: LayerDefinition
        /// The attribute holding the township's name.
        public let nameField: String
        public let level: TownshipLevel
        /// The attributes holding the township's administrative code and English name (optional).
        public var codeField: String? = nil
        public var englishField: String? = nil
    }

    /// Generalisation of the class raster into zones, and statistics per township.
    public struct Zoning: Sendable {
        /// Majority (modal) filter window: 3 or 5, nil = none.
        public let majority: Int?
        /// Minimum mapping unit in hectares (sieve), nil = none.
        public let minAreaHectares: Double?
        /// 4 or 8 (sieve and polygons).
        public let connectivity: Int
        public let townships: Townships?
        /// `totals:` exposure totals summed per township and class (see `Totals.swift`).
        public var totals: [Total] = []
    }

    public struct Outputs: Sendable {
        /// As written in the job (relative to the project root unless absolute).
        public let directory: String
        public let products: [Product]
        /// Complete runs to keep (older ones are removed after a successful run); nil = all.
        public let keep: Int?
        /// `export:` further formats the zones are written in (see `Export.swift`).
        public var export: [ExportFormat] = []
        /// `naming:` the template naming exported files; nil = the layer names.
        public var naming: NamingTemplate? = nil
        /// The risk database (GeoPackage) runs are recorded in, as written in the job (relative to
        /// the project root unless absolute); nil = `risk-database.gpkg` beside the output folder.
        public var database: String? = nil
        /// Where `directory` is written, for errors found when it is resolved.
        public var position: Position? = nil
        /// `census:` the census submission package (`JobLoader+Census.swift`).
        public var census: Census? = nil
        /// Where `database` is written.
        public var databasePosition: Position? = nil
    }

    public let file: String
    public let version: Int
    public let name: String
    public let title: String?
    public let grid: Grid
    public let layers: [LayerUse]
    public let combine: Combine
    /// Sub-indices (`indices:`), each after the indices it uses.
    public let indices: [ModelNode]
    /// The weights of a weighted combination, one per layer (empty for product and maximum).
    public var weights: [Double] { combine.weights }
    public let classify: Classify
    public let outputs: Outputs
    public let zoning: Zoning?
    public let maps: Maps
    /// Layer definitions used for the grid extent and mask (by layer name).
    public let auxiliary: [String: LayerDefinition]
    /// Whether the job runs on the fixed v1 kernel: every layer combined directly in a v1 form,
    /// no indices, no data-driven normalisation or direction. Otherwise the model kernel runs it.
    public var usesFixedKernel: Bool {
        indices.isEmpty && combine.combination != nil && combine.node.members == layers.map(\.key)
            && !layers.contains { $0.dataMinMax || $0.negative } && !combine.node.negative
    }
    /// The bytes of the job file, for the job hash.
    public let text: String
    /// Prevention zoning (综合防治区划): the risk class and further factors through a decision matrix.
    public internal(set) var prevention: Prevention? = nil
    /// The class-stability analysis under perturbed weights.
    public internal(set) var sensitivity: Sensitivity? = nil
    /// Whether sources may be read over the network (/vsicurl/, /vsis3/, http://, ...).
    public let allowNetwork: Bool
    /// `admin-code:` the 6-digit administrative code of the area (e.g. 150625, Hangjin Banner).
    public internal(set) var adminCode: String? = nil
    /// `report:` — the assessment report's title and unit (`JobLoader+Report.swift`).
    public internal(set) var report: ReportSettings? = nil
    /// `hazard-code:` the hazard code used in exported file names (e.g. ZH, comprehensive).
    public internal(set) var hazardCode: String? = nil
    /// `product:` what the job makes (hazard, risk, zoning, prevention); nil for an untyped job.
    public internal(set) var product: ProductType? = nil
    /// GDAL configuration options set for the run (keys from `JobSpec.allowedConfigOptions`).
    public let gdalConfig: [String: String]

    /// GDAL configuration options a job may set. Anything else (e.g. options that change where
    /// GDAL writes, or that enable arbitrary drivers or code) is refused.
    public static let allowedConfigOptions: Set<String> = [
        "GDAL_CACHEMAX", "GDAL_NUM_THREADS", "GDAL_DISABLE_READDIR_ON_OPEN", "GDAL_HTTP_TIMEOUT",
        "GDAL_HTTP_MAX_RETRY", "GDAL_HTTP_RETRY_DELAY", "GDAL_HTTP_USERAGENT", "CPL_VSIL_CURL_ALLOWED_EXTENSIONS",
        "VSI_CACHE", "VSI_CACHE_SIZE", "OGR_SQLITE_CACHE", "GTIFF_IGNORE_READ_ERRORS", "GDAL_TIFF_OVR_BLOCKSIZE",
        "CHECK_DISK_FREE_SPACE", "SHAPE_ENCODING", "OGR_GEOMETRY_ACCEPT_UNCLOSED_RING", "GDAL_PAM_ENABLED",
        "OSR_USE_NON_DEPRECATED", "PROJ_NETWORK",
    ]

    /// Options (prefixes) that change how GDAL reaches the network: refused unless `allow-network: true`,
    /// since the run configures them itself to keep GDAL offline (`NetworkPolicy.offline`).
    static let networkConfigOptions = ["GDAL_HTTP_", "CPL_VSIL_CURL_", "PROJ_NETWORK"]

    /// The folder the job's relative paths resolve against: the parent of the job's folder.
    public var projectRoot: String {
        URL(fileURLWithPath: file).standardizedFileURL.deletingLastPathComponent().deletingLastPathComponent().path
    }

    public static let defaultMaxPixels = 4_000_000_000
}

func formatNumber(_ v: Double) -> String {
    var s = String(format: "%.10g", v)
    if !s.contains(".") && !s.contains("e") { s += "" }
    return s
}
