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
    /// `hazard-code:` the hazard code used in exported file names (e.g. ZH, comprehensive).
    public internal(set) var hazardCode: String? = nil
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

/// Reads job files.
public struct JobLoader: Sendable {
    /// Folder holding `<name>.yaml` layer definitions; nil = `<project root>/layers`.
    public var layersDirectory: String?

    /// Per layer name: the folder its relative `source` resolves against, instead of the folder of
    /// its definition file (`rerun` reads kept copies of definitions whose data stayed in place).
    public var sourceDirectories: [String: String] = [:]

    public init(layersDirectory: String? = nil) { self.layersDirectory = layersDirectory }

    /// Parses and validates a job. Throws `DiagnosticsError` listing every problem found.
    public func load(_ path: String) throws -> JobSpec {
        let sink = DiagnosticSink()
        let file = path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DiagnosticsError([Diagnostic(file: file, line: 1, column: 1, message: "cannot read the job file", kind: .missingInput)])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw DiagnosticsError([Diagnostic(file: file, line: 1, column: 1, message: "the job file is not UTF-8 text")])
        }
        guard let root = composeYAML(text: text, file: file, sink: sink) else { throw DiagnosticsError(sink.items) }
        let job = parse(root: root, text: text, file: file, sink: sink)
        if !sink.isEmpty || job == nil {
            // The job file's problems first, then each layer file's, each in file order.
            let sorted = sink.items.enumerated().sorted { a, b in
                let ka = (a.element.file == file ? 0 : 1, a.element.file, a.element.line, a.element.column, a.offset)
                let kb = (b.element.file == file ? 0 : 1, b.element.file, b.element.line, b.element.column, b.offset)
                return ka < kb
            }.map(\.element)
            throw DiagnosticsError(sorted)
        }
        return job!
    }

    private func layerFile(_ name: String, jobFile: String) -> String {
        let dir = layersDirectory ?? URL(fileURLWithPath: jobFile).standardizedFileURL
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("layers").path
        return URL(fileURLWithPath: dir).appendingPathComponent("\(name).yaml").path
    }

    /// Resolves a layer name to its definition, reporting a dangling name at `node`.
    func definition(named node: YNode, jobFile: String, sink: DiagnosticSink,
                            cache: inout [String: LayerDefinition?]) -> LayerDefinition? {
        guard let name = node.string() else { return nil }
        if let cached = cache[name] { return cached }
        guard name.range(of: "^[A-Za-z0-9][A-Za-z0-9._-]*$", options: .regularExpression) != nil else {
            node.error("layer name \"\(name)\" must be letters, digits, '.', '_' or '-'")
            cache[name] = .some(nil)
            return nil
        }
        let path = layerFile(name, jobFile: jobFile)
        guard FileManager.default.fileExists(atPath: path) else {
            node.error("no layer named \"\(name)\": \(path) does not exist")
            cache[name] = .some(nil)
            return nil
        }
        let def = LayerDefinition.load(name: name, file: path, sink: sink, sourceDirectory: sourceDirectories[name])
        if let def, def.isLocalFile, !FileManager.default.fileExists(atPath: def.source) {
            sink.error(def.file, (def.sourceLine, def.sourceColumn),
                       "source: \(def.source) does not exist (layer \"\(name)\", used at \(node.file):\(node.mark.line):\(node.mark.column))",
                       kind: .missingInput)
        }
        cache[name] = .some(def)
        return def
    }

    private func parse(root: YNode, text: String, file: String, sink: DiagnosticSink) -> JobSpec? {
        guard let top = root.object(
            allowed: ["version", "name", "title", "grid", "layers", "indices", "combine", "classify", "zoning", "prevention", "sensitivity", "maps", "outputs", "allow-network", "gdal-config",
                      "admin-code", "hazard-code"],
            required: ["version", "name", "grid", "layers", "combine", "classify", "outputs"]) else { return nil }
        var cache: [String: LayerDefinition?] = [:]

        if let v = top["version"], let version = v.int(), version != 1 {
            v.error("unsupported version \(version); this tool reads version 1")
        }
        let name = top["name"]?.string()
        if let n = top["name"], let name, name.range(of: "^[A-Za-z0-9][A-Za-z0-9._-]*$", options: .regularExpression) == nil {
            n.error("a job name must be letters, digits, '.', '_' or '-' (it names the output folder)")
        }
        let title = top["title"]?.string()

        // grid
        var grid: JobSpec.Grid?
        var auxiliary: [String: LayerDefinition] = [:]
        if let g = top["grid"]?.object(allowed: ["crs", "resolution", "extent", "mask", "block-size", "max-pixels", "align", "preset"],
                                        required: ["extent"]) {
            var preset: String?
            if let p = g["preset"], let text = p.string() {
                if text == "census-30s" {
                    preset = text
                    for key in ["crs", "resolution"] {
                        if let n = g.keys[key] ?? g[key] {
                            n.error("grid.preset census-30s fixes the grid (EPSG:4490 at 30″ = 1/120°, corners on multiples of 30″); remove grid.\(key)")
                        }
                    }
                } else {
                    p.error("unknown grid preset \"\(text)\"; expected census-30s")
                }
            } else if g["preset"] == nil {
                for key in ["crs", "resolution"] where g[key] == nil {
                    g.node.error("missing required key \"\(key)\" (or preset: census-30s)")
                }
            }
            let crs = preset != nil ? JobSpec.census30sCRS : g["crs"]?.string()
            if preset == nil, let crs, let node = g["crs"] {
                do { _ = try SpatialReference(definition: crs) } catch {
                    node.error("unknown CRS \"\(crs)\" (\((error as? GDALError)?.message ?? "\(error)"))")
                }
            }
            let resolution = preset != nil ? 1 / JobSpec.census30sCellsPerDegree : g["resolution"]?.double()
            if preset == nil, let resolution, resolution <= 0 { g["resolution"]!.error("resolution must be positive") }
            var extent: JobSpec.Extent?
            if let e = g["extent"] {
                if case .sequence = e.node {
                    if let v = e.doubles(count: 4) {
                        if v[0] < v[2] && v[1] < v[3] {
                            extent = .bounds(Bounds(minX: v[0], minY: v[1], maxX: v[2], maxY: v[3]))
                        } else {
                            e.error("extent must be [xmin, ymin, xmax, ymax] with xmin < xmax and ymin < ymax")
                        }
                    }
                } else if let def = definition(named: e, jobFile: file, sink: sink, cache: &cache) {
                    extent = .layer(def.name)
                    auxiliary[def.name] = def
                }
            }
            // An explicit extent is honoured exactly (gdalwarp -te); a layer's extent snaps outwards.
            var align: JobSpec.GridAlign = { if case .bounds = extent { return .none } else { return .resolution } }()
            if preset != nil { align = .resolution }
            if let a = g["align"], let text = a.string() {
                if let value = JobSpec.GridAlign(rawValue: text) {
                    if preset != nil && value != .resolution {
                        a.error("grid.preset census-30s snaps every corner outwards to 30″; align must be resolution")
                    } else {
                        align = value
                    }
                } else {
                    a.error("unknown align \"\(text)\"; expected resolution (snap the corners outwards to multiples of the resolution, gdalwarp -tap) or none (the extent exactly, gdalwarp -te)")
                }
            }
            var mask: String?
            if let m = g["mask"], let def = definition(named: m, jobFile: file, sink: sink, cache: &cache) {
                mask = def.name
                auxiliary[def.name] = def
            }
            let blockSize = g["block-size"]?.int() ?? 512
            if let b = g["block-size"], blockSize < 16 || blockSize > 4096 || blockSize % 16 != 0 {
                b.error("block-size must be a multiple of 16 between 16 and 4096")
            }
            let maxPixels = g["max-pixels"]?.int() ?? JobSpec.defaultMaxPixels
            if let m = g["max-pixels"], maxPixels <= 0 { m.error("max-pixels must be positive") }
            if let resolution, let extent, resolution > 0, maxPixels > 0, case .bounds(let b) = extent {
                // The grid as it will be computed: finite, addressable, within max-pixels.
                let alignment = JobSpec.Grid.alignment(align: align, preset: preset)
                do {
                    _ = try GridGeometry.checked(minX: b.minX, minY: b.minY, maxX: b.maxX, maxY: b.maxY,
                                                 resolution: resolution, alignment: alignment, maxPixels: maxPixels)
                } catch {
                    g["extent"]!.error("\(error) at resolution \(formatNumber(resolution)); raise grid.max-pixels or coarsen grid.resolution")
                }
            }
            if let crs, let resolution, let extent, resolution > 0 {
                grid = JobSpec.Grid(crs: crs, resolution: resolution, extent: extent, mask: mask,
                                    blockSize: blockSize, maxPixels: maxPixels, align: align, preset: preset)
                let m = top.keys["grid"]?.mark ?? (line: 1, column: 1)
                grid?.position = JobSpec.Position(file: file, line: m.line, column: m.column)
            }
        }

        // layers
        var layers: [JobSpec.LayerUse] = []
        if let entries = top["layers"]?.entries() {
            if entries.isEmpty { top["layers"]!.error("at least one layer is needed") }
            for (key, keyNode, value) in entries {
                guard let obj = value.object(allowed: ["layer", "resampling", "normalize", "direction", "all-touched", "error-threshold"],
                                             required: ["layer", "normalize"]) else { continue }
                let def = obj["layer"].flatMap { definition(named: $0, jobFile: file, sink: sink, cache: &cache) }
                let resampling = obj["resampling"].map(parseResampling) ?? .nearest
                let (normalization, proximity, dataMinMax) = parseLayerNormalization(obj["normalize"], gridCRS: grid?.crs)
                var negative = false
                if let d = obj["direction"], let text = d.string() {
                    if text == "negative" { negative = true } else if text != "positive" {
                        d.error("direction is positive or negative, got \(d.describe)")
                    }
                }
                let allTouched = obj["all-touched"]?.bool() ?? false
                let et = obj["error-threshold"]?.double() ?? 0.125
                if let e = obj["error-threshold"], et < 0 { e.error("error-threshold must be ≥ 0 (pixels)") }
                if let def, let normalization {
                    let m = keyNode.mark
                    layers.append(JobSpec.LayerUse(key: key, definition: def, resampling: resampling,
                                                   normalization: normalization, allTouched: allTouched,
                                                   errorThreshold: et,
                                                   position: .init(file: file, line: m.line, column: m.column),
                                                   proximity: proximity, dataMinMax: dataMinMax, negative: negative))
                }
            }
        }
        let layerKeys = top["layers"]?.entries()?.map(\.key) ?? []

        // indices and combine: the risk model
        var layerNodes: [String: YNode] = [:]
        for (key, keyNode, _) in top["layers"]?.entries() ?? [] { layerNodes[key] = keyNode }
        var indices: [ModelNode] = []
        var indexNodes: [String: YNode] = [:]
        let indexEntries = top["indices"]?.entries() ?? []
        let indexNames = indexEntries.map(\.key)
        let memberNames = layerKeys + indexNames
        var modelOK = true
        for (name, keyNode, value) in indexEntries {
            indexNodes[name] = keyNode
            if layerKeys.contains(name) {
                keyNode.error("index \"\(name)\" has the name of a layer; names must be unique across layers and indices")
                modelOK = false
                continue
            }
            if name == "combine" || name.range(of: "^[A-Za-z_][A-Za-z0-9_]*$", options: .regularExpression) == nil {
                keyNode.error("an index name is letters, digits and _, starting with a letter (it can be used in expressions); \"combine\" is taken")
                modelOK = false
                continue
            }
            guard let obj = value.object(allowed: JobLoader.combineForms + ["direction"]),
                  let node = parseModelNode(name: name, obj, names: memberNames, requireAll: nil, file: file) else {
                modelOK = false
                continue
            }
            indices.append(node)
        }
        if top["indices"] != nil, indexEntries.isEmpty, top["indices"]?.entries() != nil {
            top["indices"]!.error("indices is empty; leave it out or define at least one index")
        }
        var combine: JobSpec.Combine?
        if let c = top["combine"]?.object(allowed: JobLoader.combineForms) {
            // Without indices every layer takes part directly (the v1 rule); expressions name theirs.
            let requireAll = indexEntries.isEmpty && c["expression"] == nil ? layerKeys : nil
            if let node = parseModelNode(name: "combine", c, names: memberNames, requireAll: requireAll, file: file) {
                combine = JobSpec.Combine(node: node)
            }
        }
        if let ordered = orderModel(indices: indices, combine: combine?.node, layerKeys: layerKeys, layerNodes: layerNodes,
                                    indexNodes: indexNodes, checkUse: modelOK && combine != nil, sink: sink) {
            indices = ordered
        }

        let sensitivity = top["sensitivity"].flatMap { parseSensitivity($0, combine: combine, indices: indices) }

        // classify
        var classify: JobSpec.Classify?
        if let c = top["classify"]?.object(allowed: ["scheme", "breaks", "method", "classes"], required: ["scheme"]) {
            let scheme = c["scheme"].flatMap(parseScheme)
            if (c["breaks"] == nil) == (c["method"] == nil) {
                c.node.error("give either breaks (fixed) or method (\(JobSpec.ClassMethod.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            if let m = c["method"], let text = m.string() {
                let method = JobSpec.ClassMethod(rawValue: text)
                if method == nil {
                    let names = JobSpec.ClassMethod.allCases.map(\.rawValue)
                    let hint = closest(to: text, in: names).map { " (did you mean \"\($0)\"?)" } ?? ""
                    m.error("unknown method \"\(text)\"\(hint); expected one of: \(names.joined(separator: ", "))")
                }
                if let k = c["classes"], let n = k.int(), let scheme, n != scheme.classCount {
                    k.error("scheme \(scheme.id) has \(scheme.classCount) classes, not \(n)")
                }
                if let method, let scheme { classify = JobSpec.Classify(scheme: scheme, fixedBreaks: nil, method: method) }
            } else if c["classes"] != nil {
                c.keys["classes"]!.error("classes goes with method")
            }
            if let b = c["breaks"], let breaks = b.doubles() {
                var ok = true
                for (i, (x, y)) in zip(breaks, breaks.dropFirst()).enumerated() where !(y > x) {
                    b.error("breaks must increase: break \(i + 2) (\(formatNumber(y))) is not above break \(i + 1) (\(formatNumber(x)))")
                    ok = false
                }
                if let lo = breaks.first, let hi = breaks.last, lo <= 0 || hi >= 1 {
                    b.error("breaks must lie strictly between 0 and 1 (the index range)")
                    ok = false
                }
                if let scheme, breaks.count != scheme.classCount - 1 {
                    b.error("scheme \(scheme.id) has \(scheme.classCount) classes and needs \(scheme.classCount - 1) breaks, got \(breaks.count)")
                    ok = false
                }
                if ok, let scheme { classify = JobSpec.Classify(scheme: scheme, fixedBreaks: breaks, method: nil) }
            }
        }

        // zoning
        var zoning: JobSpec.Zoning?
        if let z = top["zoning"]?.object(allowed: ["majority", "min-area-ha", "connectivity", "townships", "totals"]) {
            let majority = z["majority"]?.int()
            if let m = z["majority"], let majority, majority != 3 && majority != 5 { m.error("majority is a window size: 3 or 5") }
            let minArea = z["min-area-ha"]?.double()
            if let m = z["min-area-ha"], let minArea, minArea <= 0 { m.error("min-area-ha must be positive") }
            let connectivity = z["connectivity"]?.int() ?? 8
            if let c = z["connectivity"], connectivity != 4 && connectivity != 8 { c.error("connectivity is 4 or 8") }
            var townships: JobSpec.Townships?
            if let t = z["townships"]?.object(allowed: ["layer", "name", "code", "english", "level", "high-share"], required: ["layer", "name"]) {
                let def = t["layer"].flatMap { definition(named: $0, jobFile: file, sink: sink, cache: &cache) }
                let nameField = t["name"]?.string()
                var level = JobSpec.TownshipLevel.meanIndex
                if let l = t["level"], let text = l.string() {
                    switch text {
                    case "mean-index": level = .meanIndex
                    case "high-share": level = .highShare(0.3)
                    default: l.error("unknown level rule \"\(text)\"; expected mean-index or high-share")
                    }
                }
                if let h = t["high-share"], let share = h.double() {
                    if share <= 0 || share > 1 { h.error("high-share is a share of the area, in (0, 1]") }
                    if case .highShare = level { level = .highShare(share) } else { h.error("high-share goes with level: high-share") }
                }
                let codeField = t["code"]?.string(), englishField = t["english"]?.string()
                if let def, let nameField {
                    townships = JobSpec.Townships(definition: def, nameField: nameField, level: level)
                    townships?.codeField = codeField
                    townships?.englishField = englishField
                    auxiliary[def.name] = def
                }
            }
            zoning = JobSpec.Zoning(majority: majority, minAreaHectares: minArea, connectivity: connectivity, townships: townships)
            // Areas in hectares need metres: seen here rather than when the plan is made.
            if minArea != nil || townships != nil, let crs = grid?.crs, let srs = try? SpatialReference(definition: crs), !srs.isProjected {
                z.node.error("areas in hectares (min-area-ha, townships) need a projected grid CRS; grid.crs is \(crs)")
            }
            if let node = z["totals"] {
                zoning?.totals = parseTotals(node, townships: z["townships"] != nil, jobFile: file, sink: sink, cache: &cache,
                                             auxiliary: &auxiliary)
            }
        }

        // maps
        var maps = JobSpec.Maps(title: nil, subtitle: nil, page: .a3Landscape, context: nil, sources: nil)
        if let m = top["maps"]?.object(allowed: ["title", "subtitle", "page", "context", "sources"]) {
            var page = PageSetup.a3Landscape
            if let p = m["page"], let text = p.string() {
                let parts = text.lowercased().split(separator: "-").map(String.init)
                let sizes: [String: PageSetup.Size] = ["a3": .a3, "a4": .a4]
                if parts.count == 2, let size = sizes[parts[0]], let orientation = PageSetup.Orientation(rawValue: parts[1]) {
                    page = PageSetup(size, orientation)
                } else {
                    p.error("page is a3-landscape, a3-portrait, a4-landscape or a4-portrait, got \(p.describe)")
                }
            }
            var context: [JobSpec.MapContext]?
            if let c = m["context"], let items = c.sequence() {
                context = []
                for item in items {
                    guard let o = item.object(allowed: ["layer", "style", "label", "legend"], required: ["layer", "style"]) else { continue }
                    let def = o["layer"].flatMap { definition(named: $0, jobFile: file, sink: sink, cache: &cache) }
                    var style: ContextLayer.Kind?
                    if let st = o["style"], let text = st.string() {
                        style = ContextLayer.Kind(rawValue: text)
                        if style == nil {
                            st.error("unknown style \"\(text)\"; expected one of: \(ContextLayer.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
                        }
                    }
                    if let def, let style {
                        context?.append(JobSpec.MapContext(definition: def, style: style, label: o["label"]?.string(),
                                                           legend: o["legend"]?.string()))
                        auxiliary[def.name] = def
                    }
                }
            }
            let sources = m["sources"]?.sequence()?.compactMap { $0.string() }
            maps = JobSpec.Maps(title: m["title"]?.string(), subtitle: m["subtitle"]?.string(), page: page,
                                context: context, sources: sources)
        }

        // prevention
        let prevention = top["prevention"].flatMap {
            parsePrevention($0, top: top, gridCRS: grid?.crs, jobFile: file, sink: sink, cache: &cache, auxiliary: &auxiliary)
        }

        // outputs
        var outputs: JobSpec.Outputs?
        if let o = top["outputs"]?.object(allowed: ["directory", "products", "keep", "export", "naming", "database"], required: ["directory"]) {
            let dir = o["directory"]?.string()
            if let dir, let node = o["directory"] {
                let root = URL(fileURLWithPath: file).standardizedFileURL.deletingLastPathComponent().deletingLastPathComponent().path
                if dir.split(separator: "/").contains("..") {
                    node.error("directory must not contain \"..\" (a job writes only inside its project)")
                } else if dir.isEmpty {
                    node.error("directory must not be empty")
                } else if dir.hasPrefix("/") && !(dir + "/").hasPrefix(root + "/") {
                    node.error("an absolute directory must lie inside the project (\(root)); use --output to write elsewhere")
                }
            }
            let keep = o["keep"]?.int()
            if let k = o["keep"], let keep, keep < 1 { k.error("keep must be at least 1") }
            let database = o["database"]?.string()
            if let node = o["database"], let database {
                let root = URL(fileURLWithPath: file).standardizedFileURL.deletingLastPathComponent().deletingLastPathComponent().path
                if database.split(separator: "/").contains("..") {
                    node.error("database must not contain \"..\" (a job writes only inside its project)")
                } else if !database.hasSuffix(".gpkg") {
                    node.error("database must be a GeoPackage file name ending in .gpkg, e.g. out/risk-database.gpkg")
                } else if database.hasPrefix("/") && !(database + "/").hasPrefix(root + "/") {
                    node.error("an absolute database path must lie inside the project (\(root)); use --database to write elsewhere")
                }
            }
            var products: [JobSpec.Product] = [.riskIndex, .riskClass]
            if zoning != nil { products.append(.riskZones) }
            if zoning?.townships != nil { products.append(.statistics) }
            if top["prevention"] != nil { products.append(.prevention) }
            if top["sensitivity"] != nil { products.append(.sensitivity) }
            products.append(.maps)
            if let p = o["products"], let items = p.sequence() {
                products = []
                for item in items {
                    guard let text = item.string() else { continue }
                    if let product = JobSpec.Product(rawValue: text) {
                        products.append(product)
                        if product == .riskZones && top["zoning"] == nil { item.error("risk-zones needs a zoning: section") }
                        if product == .prevention && top["prevention"] == nil { item.error("prevention needs a prevention: section") }
                        if product == .sensitivity && top["sensitivity"] == nil { item.error("sensitivity needs a sensitivity: section") }
                        if product == .statistics && zoning?.townships == nil && top["zoning"] != nil {
                            item.error("statistics needs zoning.townships")
                        } else if product == .statistics && top["zoning"] == nil {
                            item.error("statistics needs zoning.townships")
                        }
                    } else {
                        item.error("unknown product \"\(text)\"; expected one of: \(JobSpec.Product.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                }
            }
            if let dir {
                outputs = JobSpec.Outputs(directory: dir, products: products, keep: keep)
                outputs?.database = database
                let m = o["directory"]!.mark
                outputs?.position = JobSpec.Position(file: file, line: m.line, column: m.column)
            }
            let (export, naming) = parseExport(o, top: top, products: products)
            outputs?.export = export
            outputs?.naming = naming
        }

        // Confinement: network sources only when the job allows them; GDAL options from a list.
        let allowNetwork = top["allow-network"]?.bool() ?? false
        var checked = Set<String>()
        let prevented = prevention?.factors.map(\.definition) ?? []
        for def in layers.map(\.definition) + auxiliary.values.sorted(by: { $0.name < $1.name }) + prevented
            where !allowNetwork && checked.insert(def.file).inserted {
            if let reason = NetworkPolicy.networkReference(in: def.source) {
                sink.error(def.file, (def.sourceLine, def.sourceColumn),
                           "source: \(def.source) is read over the network (\(reason)); set `allow-network: true` in the job to allow it")
            }
        }
        var gdalConfig: [String: String] = [:]
        if let entries = top["gdal-config"]?.entries() {
            for (key, keyNode, value) in entries {
                guard JobSpec.allowedConfigOptions.contains(key) else {
                    keyNode.error("GDAL option \(key) may not be set by a job; allowed: \(JobSpec.allowedConfigOptions.sorted().joined(separator: ", "))")
                    continue
                }
                if !allowNetwork && JobSpec.networkConfigOptions.contains(where: { key.hasPrefix($0) }) {
                    keyNode.error("GDAL option \(key) concerns network access, which this job does not allow (allow-network: false)")
                    continue
                }
                if let text = value.scalarString { gdalConfig[key] = text } else { value.error("expected a value") }
            }
        }

        let adminCode = top["admin-code"].flatMap(parseAdminCode)
        let hazardCode = top["hazard-code"].flatMap(parseHazardCode)

        guard sink.isEmpty, let version = top["version"]?.int(), let name, let grid, let combine, let classify, let outputs else {
            return nil
        }
        var spec = JobSpec(file: file, version: version, name: name, title: title, grid: grid, layers: layers,
                           combine: combine, indices: indices, classify: classify, outputs: outputs, zoning: zoning, maps: maps, auxiliary: auxiliary, text: text,
                           allowNetwork: allowNetwork, gdalConfig: gdalConfig)
        spec.prevention = prevention
        spec.sensitivity = sensitivity
        spec.adminCode = adminCode
        spec.hazardCode = hazardCode
        return spec
    }

    /// The resampling a job names (`nearest` is `near`); an unknown name is reported with a
    /// suggestion and gives `near`.
    func parseResampling(_ node: YNode) -> Resampling {
        guard let text = node.string() else { return .nearest }
        if let resampling = Resampling(jobName: text) { return resampling }
        let hint = closest(to: text, in: Resampling.jobNames).map { " (did you mean \"\($0)\"?)" } ?? ""
        node.error("unknown resampling \"\(text)\"\(hint); expected one of: \(Resampling.jobNames.joined(separator: ", "))")
        return .nearest
    }

    func parseNormalization(_ node: YNode) -> Normalization? {
        guard let obj = node.object(allowed: ["curve", "linear", "table", "default", "min-max"]) else { return nil }
        let kinds = ["curve", "linear", "table"].filter { obj[$0] != nil }
        if kinds.count != 1 {
            node.error("give exactly one of curve, linear, table, min-max (got \(kinds.isEmpty ? "none" : kinds.joined(separator: ", ")))")
            return nil
        }
        if obj["default"] != nil && kinds[0] != "table" {
            obj.keys["default"]!.error("default only applies to table")
        }
        let result: Normalization?
        let at: YNode
        switch kinds[0] {
        case "curve":
            at = obj["curve"]!
            guard let items = at.sequence() else { return nil }
            let points = items.compactMap { item -> Normalization.CurvePoint? in
                guard let xy = item.doubles(count: 2) else { return nil }
                return .init(xy[0], xy[1])
            }
            result = points.count == items.count ? .curve(points) : nil
        case "linear":
            at = obj["linear"]!
            guard let v = at.doubles(count: 2) else { return nil }
            result = .linear(min: v[0], max: v[1])
        default:
            at = obj["table"]!
            guard let entries = at.entries() else { return nil }
            var table: [Normalization.TableEntry] = []
            for (_, keyNode, value) in entries {
                if let k = keyNode.double(), let v = value.double() { table.append(.init(k, v)) }
            }
            let def = obj["default"]?.double()
            result = table.count == entries.count ? .table(table, default: def) : nil
        }
        if let result, let problem = result.problem {
            at.error(problem)
            return nil
        }
        return result
    }
}

func formatNumber(_ v: Double) -> String {
    var s = String(format: "%.10g", v)
    if !s.contains(".") && !s.contains("e") { s += "" }
    return s
}
