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
        /// Where `grid:` is written, for errors found when the grid is resolved.
        public var position = Position(file: "", line: 1, column: 1)
    }

    public struct LayerUse: Sendable {
        /// The key in `layers:` (e.g. `flood`).
        public let key: String
        public let definition: LayerDefinition
        public let resampling: String
        public let normalization: Normalization
        public let allTouched: Bool
        /// gdalwarp's `-et` (0 = exact transformation of every pixel).
        public let errorThreshold: Double
        public let position: Position
        /// `normalize: { proximity: … }`: the layer's values are the distance to its nearest feature.
        public var proximity: Bool = false
    }

    /// Data-driven classification methods, computed over every valid pixel of the grid.
    public enum ClassMethod: String, Sendable, CaseIterable {
        case quantile
        case equalInterval = "equal-interval"
        case naturalBreaks = "natural-breaks"
    }

    public struct Classify: Sendable {
        public let scheme: ClassScheme
        /// Fixed breaks, or nil when `method` computes them from the data.
        public let fixedBreaks: [Double]?
        public let method: ClassMethod?
        /// Fixed breaks (empty when a method computes them during the run).
        public var breaks: [Double] { fixedBreaks ?? [] }
    }

    /// How the layers combine, with the weights the job gave or AHP derived.
    public struct Combine: Sendable {
        public let combination: Combination
        /// One per layer for weighted forms, empty otherwise.
        public let weights: [Double]
        /// Present when the weights came from an AHP pairwise-comparison matrix.
        public let ahpConsistencyRatio: Double?
        public var name: String {
            switch combination {
            case .weightedSum: return ahpConsistencyRatio == nil ? "weighted-sum" : "weighted-sum (AHP)"
            case .product: return "product"
            case .maximum: return "maximum"
            case .geometricMean: return "geometric-mean"
            }
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
    }

    public struct Outputs: Sendable {
        /// As written in the job (relative to the project root unless absolute).
        public let directory: String
        public let products: [Product]
        /// Complete runs to keep (older ones are removed after a successful run); nil = all.
        public let keep: Int?
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
    /// The weights of a weighted combination, one per layer (empty for product and maximum).
    public var weights: [Double] { combine.weights }
    public let classify: Classify
    public let outputs: Outputs
    public let zoning: Zoning?
    public let maps: Maps
    /// Layer definitions used for the grid extent and mask (by layer name).
    public let auxiliary: [String: LayerDefinition]
    /// The bytes of the job file, for the job hash.
    public let text: String
    /// Prevention zoning (综合防治区划): the risk class and further factors through a decision matrix.
    public internal(set) var prevention: Prevention? = nil
    /// Whether sources may be read over the network (/vsicurl/, /vsis3/, http://, ...).
    public let allowNetwork: Bool
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

    static let resamplings = ["near", "nearest", "bilinear", "cubic", "cubicspline", "lanczos", "average", "rms",
                              "mode", "min", "max", "med", "q1", "q3", "sum"]
    public static let defaultMaxPixels = 4_000_000_000
}

/// Reads job files.
public struct JobLoader: Sendable {
    /// Folder holding `<name>.yaml` layer definitions; nil = `<project root>/layers`.
    public var layersDirectory: String?

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
        let def = LayerDefinition.load(name: name, file: path, sink: sink)
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
            allowed: ["version", "name", "title", "grid", "layers", "combine", "classify", "zoning", "prevention", "maps", "outputs", "allow-network", "gdal-config"],
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
        if let g = top["grid"]?.object(allowed: ["crs", "resolution", "extent", "mask", "block-size", "max-pixels"],
                                        required: ["crs", "resolution", "extent"]) {
            let crs = g["crs"]?.string()
            if let crs, let node = g["crs"] {
                do { _ = try SpatialReference(definition: crs) } catch {
                    node.error("unknown CRS \"\(crs)\" (\((error as? GDALError)?.message ?? "\(error)"))")
                }
            }
            let resolution = g["resolution"]?.double()
            if let resolution, resolution <= 0 { g["resolution"]!.error("resolution must be positive") }
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
                // The grid as it will be computed (snapped outwards): finite, addressable, within max-pixels.
                do {
                    _ = try GridGeometry.checkedSnapped(minX: b.minX, minY: b.minY, maxX: b.maxX, maxY: b.maxY,
                                                       resolution: resolution, maxPixels: maxPixels)
                } catch {
                    g["extent"]!.error("\(error) at resolution \(formatNumber(resolution)); raise grid.max-pixels or coarsen grid.resolution")
                }
            }
            if let crs, let resolution, let extent, resolution > 0 {
                grid = JobSpec.Grid(crs: crs, resolution: resolution, extent: extent, mask: mask,
                                    blockSize: blockSize, maxPixels: maxPixels)
                let m = top.keys["grid"]?.mark ?? (line: 1, column: 1)
                grid?.position = JobSpec.Position(file: file, line: m.line, column: m.column)
            }
        }

        // layers
        var layers: [JobSpec.LayerUse] = []
        if let entries = top["layers"]?.entries() {
            if entries.isEmpty { top["layers"]!.error("at least one layer is needed") }
            for (key, keyNode, value) in entries {
                guard let obj = value.object(allowed: ["layer", "resampling", "normalize", "all-touched", "error-threshold"],
                                             required: ["layer", "normalize"]) else { continue }
                let def = obj["layer"].flatMap { definition(named: $0, jobFile: file, sink: sink, cache: &cache) }
                let resampling = obj["resampling"].map(parseResampling) ?? "near"
                let (normalization, proximity) = parseLayerNormalization(obj["normalize"], gridCRS: grid?.crs)
                let allTouched = obj["all-touched"]?.bool() ?? false
                let et = obj["error-threshold"]?.double() ?? 0.125
                if let e = obj["error-threshold"], et < 0 { e.error("error-threshold must be ≥ 0 (pixels)") }
                if let def, let normalization {
                    let m = keyNode.mark
                    layers.append(JobSpec.LayerUse(key: key, definition: def, resampling: resampling,
                                                   normalization: normalization, allTouched: allTouched,
                                                   errorThreshold: et,
                                                   position: .init(file: file, line: m.line, column: m.column),
                                                   proximity: proximity))
                }
            }
        }
        let layerKeys = top["layers"]?.entries()?.map(\.key) ?? []

        // combine
        var combine: JobSpec.Combine?
        if let c = top["combine"]?.object(allowed: ["weighted-sum", "geometric-mean", "product", "maximum", "ahp"]) {
            let forms = ["weighted-sum", "geometric-mean", "product", "maximum", "ahp"].filter { c[$0] != nil }
            if forms.count != 1 {
                c.node.error("give exactly one of weighted-sum, geometric-mean, product, maximum, ahp (got \(forms.isEmpty ? "none" : forms.joined(separator: ", ")))")
            } else {
                combine = parseCombine(forms[0], c[forms[0]]!, layerKeys: layerKeys)
            }
        }

        // classify
        var classify: JobSpec.Classify?
        if let c = top["classify"]?.object(allowed: ["scheme", "breaks", "method", "classes"], required: ["scheme"]) {
            var scheme: ClassScheme?
            if let s = c["scheme"], let id = s.string() {
                scheme = ClassScheme.named(id)
                if scheme == nil {
                    s.error("unknown scheme \"\(id)\"; expected one of: \(ClassScheme.all.map(\.id).joined(separator: ", "))")
                }
            }
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
        if let z = top["zoning"]?.object(allowed: ["majority", "min-area-ha", "connectivity", "townships"]) {
            let majority = z["majority"]?.int()
            if let m = z["majority"], let majority, majority != 3 && majority != 5 { m.error("majority is a window size: 3 or 5") }
            let minArea = z["min-area-ha"]?.double()
            if let m = z["min-area-ha"], let minArea, minArea <= 0 { m.error("min-area-ha must be positive") }
            let connectivity = z["connectivity"]?.int() ?? 8
            if let c = z["connectivity"], connectivity != 4 && connectivity != 8 { c.error("connectivity is 4 or 8") }
            var townships: JobSpec.Townships?
            if let t = z["townships"]?.object(allowed: ["layer", "name", "level", "high-share"], required: ["layer", "name"]) {
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
                if let def, let nameField {
                    townships = JobSpec.Townships(definition: def, nameField: nameField, level: level)
                    auxiliary[def.name] = def
                }
            }
            zoning = JobSpec.Zoning(majority: majority, minAreaHectares: minArea, connectivity: connectivity, townships: townships)
            // Areas in hectares need metres: seen here rather than when the plan is made.
            if minArea != nil || townships != nil, let crs = grid?.crs, let srs = try? SpatialReference(definition: crs), !srs.isProjected {
                z.node.error("areas in hectares (min-area-ha, townships) need a projected grid CRS; grid.crs is \(crs)")
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
        if let o = top["outputs"]?.object(allowed: ["directory", "products", "keep"], required: ["directory"]) {
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
            var products: [JobSpec.Product] = [.riskIndex, .riskClass]
            if zoning != nil { products.append(.riskZones) }
            if zoning?.townships != nil { products.append(.statistics) }
            if top["prevention"] != nil { products.append(.prevention) }
            products.append(.maps)
            if let p = o["products"], let items = p.sequence() {
                products = []
                for item in items {
                    guard let text = item.string() else { continue }
                    if let product = JobSpec.Product(rawValue: text) {
                        products.append(product)
                        if product == .riskZones && top["zoning"] == nil { item.error("risk-zones needs a zoning: section") }
                        if product == .prevention && top["prevention"] == nil { item.error("prevention needs a prevention: section") }
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
                let m = o["directory"]!.mark
                outputs?.position = JobSpec.Position(file: file, line: m.line, column: m.column)
            }
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

        guard sink.isEmpty, let version = top["version"]?.int(), let name, let grid, let combine, let classify, let outputs else {
            return nil
        }
        var spec = JobSpec(file: file, version: version, name: name, title: title, grid: grid, layers: layers,
                           combine: combine, classify: classify, outputs: outputs, zoning: zoning, maps: maps, auxiliary: auxiliary, text: text,
                           allowNetwork: allowNetwork, gdalConfig: gdalConfig)
        spec.prevention = prevention
        return spec
    }

    /// `weighted-sum`/`geometric-mean: {key: w}`, `product`/`maximum: [keys]`,
    /// `ahp: {order: [keys], matrix: [[…]]}` (weighted sum with the principal-eigenvector weights).
    private func parseCombine(_ form: String, _ node: YNode, layerKeys: [String]) -> JobSpec.Combine? {
        func checkKeys(_ keys: [(String, YNode)], at node: YNode) -> Bool {
            var ok = true
            for (key, keyNode) in keys where !layerKeys.contains(key) {
                let hint = closest(to: key, in: layerKeys).map { " (did you mean \"\($0)\"?)" } ?? ""
                keyNode.error("\"\(key)\" is not a layer of this job\(hint); layers: \(layerKeys.joined(separator: ", "))")
                ok = false
            }
            for key in layerKeys where !keys.contains(where: { $0.0 == key }) {
                node.error("layer \"\(key)\" is missing here; every layer takes part in the combination")
                ok = false
            }
            return ok
        }
        switch form {
        case "product", "maximum":
            guard let items = node.sequence() else { return nil }
            let keys = items.compactMap { item in item.string().map { ($0, item) } }
            guard keys.count == items.count, checkKeys(keys, at: node) else { return nil }
            return JobSpec.Combine(combination: form == "product" ? .product : .maximum, weights: [], ahpConsistencyRatio: nil)
        case "ahp":
            guard let obj = node.object(allowed: ["order", "matrix", "max-consistency-ratio"], required: ["order", "matrix"]),
                  let orderItems = obj["order"]!.sequence(), let rows = obj["matrix"]!.sequence() else { return nil }
            let order = orderItems.compactMap { item in item.string().map { ($0, item) } }
            guard order.count == orderItems.count, checkKeys(order, at: obj["order"]!) else { return nil }
            var matrix: [[Double]] = []
            for row in rows {
                guard let cells = row.sequence() else { return nil }
                if cells.count != order.count { row.error("each row needs \(order.count) entries, got \(cells.count)"); return nil }
                var values: [Double] = []
                for cell in cells {
                    guard let v = fraction(cell) else { return nil }
                    values.append(v)
                }
                matrix.append(values)
            }
            if matrix.count != order.count { obj["matrix"]!.error("the matrix needs \(order.count) rows, got \(matrix.count)"); return nil }
            let limit = obj["max-consistency-ratio"]?.double() ?? 0.1
            let ahp: AHP
            do { ahp = try AHP(matrix) } catch {
                obj["matrix"]!.error("\(error)")
                return nil
            }
            if ahp.consistencyRatio > limit {
                obj["matrix"]!.error("the comparisons are inconsistent: consistency ratio \(String(format: "%.3f", ahp.consistencyRatio)) exceeds \(formatNumber(limit)) (λmax \(String(format: "%.3f", ahp.lambdaMax)), CI \(String(format: "%.3f", ahp.consistencyIndex)))")
                return nil
            }
            let byKey = Dictionary(uniqueKeysWithValues: zip(order.map(\.0), ahp.weights))
            let weights = layerKeys.map { byKey[$0]! }
            return JobSpec.Combine(combination: .weightedSum(weights), weights: weights, ahpConsistencyRatio: ahp.consistencyRatio)
        default:
            guard let entries = node.entries() else { return nil }
            var byKey: [String: Double] = [:]
            for (key, _, value) in entries {
                if let w = value.double() {
                    if w < 0 || (form == "geometric-mean" && w == 0) {
                        value.error(form == "geometric-mean" ? "geometric-mean weights must be positive" : "weights must not be negative")
                    }
                    byKey[key] = w
                }
            }
            let keysOK = checkKeys(entries.map { ($0.key, $0.keyNode) }, at: node)
            let known = byKey.filter { layerKeys.contains($0.key) }
            guard known.count == layerKeys.count else { return nil }
            let total = known.values.reduce(0, +)
            if abs(total - 1) > 1e-6 {
                node.error("weights must sum to 1, they sum to \(formatNumber(total))")
                return nil
            }
            guard keysOK else { return nil }
            let weights = layerKeys.map { byKey[$0]! }
            return JobSpec.Combine(combination: form == "geometric-mean" ? .geometricMean(weights) : .weightedSum(weights),
                                   weights: weights, ahpConsistencyRatio: nil)
        }
    }

    /// gdalwarp's resampling name (`nearest` is `near`); an unknown name is reported with a
    /// suggestion and gives `near`.
    func parseResampling(_ node: YNode) -> String {
        guard let text = node.string() else { return "near" }
        if JobSpec.resamplings.contains(text) { return text == "nearest" ? "near" : text }
        let hint = closest(to: text, in: JobSpec.resamplings).map { " (did you mean \"\($0)\"?)" } ?? ""
        node.error("unknown resampling \"\(text)\"\(hint); expected one of: \(JobSpec.resamplings.joined(separator: ", "))")
        return "near"
    }

    /// A number or a fraction written as "a/b" (AHP matrices).
    private func fraction(_ node: YNode) -> Double? {
        if let text = node.scalarString, text.contains("/") {
            let parts = text.split(separator: "/").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            if parts.count == 2, let a = parts[0], let b = parts[1], b != 0, a > 0 { return a / b }
            node.error("expected a positive number or fraction like 1/3, got \(node.describe)")
            return nil
        }
        return node.double()
    }

    func parseNormalization(_ node: YNode) -> Normalization? {
        guard let obj = node.object(allowed: ["curve", "linear", "table", "default"]) else { return nil }
        let kinds = ["curve", "linear", "table"].filter { obj[$0] != nil }
        if kinds.count != 1 {
            node.error("give exactly one of curve, linear, table (got \(kinds.isEmpty ? "none" : kinds.joined(separator: ", ")))")
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
