import Foundation

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
                      "admin-code", "hazard-code", "report", "product"],
            required: ["version", "name", "grid", "layers", "combine", "classify", "outputs"]) else { return nil }
        // Layer definitions read so far, and those used beyond `layers:` (extent, mask, townships, …).
        var cache: [String: LayerDefinition?] = [:]
        var auxiliary: [String: LayerDefinition] = [:]

        let name = parseName(top)
        let title = top["title"]?.line()
        let grid = parseGrid(top, file: file, sink: sink, cache: &cache, auxiliary: &auxiliary)
        let layers = parseLayers(top, gridCRS: grid?.crs, file: file, sink: sink, cache: &cache)
        let (indices, combine) = parseModel(top, file: file, sink: sink)
        let sensitivity = top["sensitivity"].flatMap { parseSensitivity($0, combine: combine, indices: indices) }
        let product = parseProduct(top)
        let classify = parseClassify(top, product: product)
        let zoning = parseZoning(top, gridCRS: grid?.crs, file: file, sink: sink, cache: &cache, auxiliary: &auxiliary)
        let maps = parseMaps(top, file: file, sink: sink, cache: &cache, auxiliary: &auxiliary)
        let prevention = top["prevention"].flatMap {
            parsePrevention($0, top: top, gridCRS: grid?.crs, jobFile: file, sink: sink, cache: &cache, auxiliary: &auxiliary)
        }
        var outputs = parseOutputs(top, zoning: zoning, file: file)
        outputs?.census = parseCensus(top, grid: grid, indices: indices, classify: classify, file: file)

        // Confinement: network sources only when the job allows them; GDAL options from a list.
        let allowNetwork = top["allow-network"]?.bool() ?? false
        checkNetworkSources(layers.map(\.definition) + auxiliary.values.sorted(by: { $0.name < $1.name })
                                + (prevention?.factors.map(\.definition) ?? []),
                            allowNetwork: allowNetwork, sink: sink)
        let gdalConfig = parseGDALConfig(top, allowNetwork: allowNetwork)

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
        spec.report = top["report"].flatMap(parseReport)
        spec.product = product
        return spec
    }

    /// `version:` must be 1; `name:` names the output folder.
    private func parseName(_ top: YObject) -> String? {
        if let v = top["version"], let version = v.int(), version != 1 {
            v.error("unsupported version \(version); this tool reads version 1")
        }
        let name = top["name"]?.string()
        if let n = top["name"], let name, !Confinement.isJobName(name) {
            n.error("a job name must be letters, digits, '.', '_' or '-' (it names the output folder)")
        }
        return name
    }
}
