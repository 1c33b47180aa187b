import FilePaths
import Foundation

/// One input layer, defined once in `layers/<name>.yaml`.
public struct LayerDefinition: Sendable, Equatable {
    public let name: String
    /// The YAML file that defines it.
    public let file: String
    /// GDAL path or connection string; relative file paths are resolved against `file`'s folder.
    public let source: String
    /// Vector layer name (vectors only; default: the first layer).
    public let layer: String?
    /// Attribute to rasterise (vectors only).
    public let attribute: String?
    public let band: Int
    /// Overrides the source's own nodata value.
    public let nodata: Double?
    public let units: String?
    public let hazard: String?
    public let description: String?
    /// Where `source` is written in `file`, for messages.
    public let sourceLine: Int
    public let sourceColumn: Int

    static let keys = ["source", "layer", "attribute", "band", "nodata", "units", "hazard", "description"]

    /// Whether the source is a local file path (as opposed to a connection string or /vsi path).
    public var isLocalFile: Bool { LayerDefinition.isLocalFile(source) }

    static func isLocalFile(_ source: String) -> Bool {
        !source.hasPrefix("/vsi") && !source.contains("://")
            && source.range(of: "^[A-Za-z0-9_]+:", options: .regularExpression) == nil
    }

    /// Reads and validates a layer definition file. Problems go to `sink`.
    static func load(name: String, file: String, sink: DiagnosticSink, sourceDirectory: String? = nil) -> LayerDefinition? {
        guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
            sink.error(file, (1, 1), "cannot read layer definition", kind: .missingInput)
            return nil
        }
        let before = sink.items.count
        guard let root = composeYAML(text: text, file: file, sink: sink),
              let obj = root.object(allowed: keys, required: ["source"]) else { return nil }
        let sourceNode = obj["source"]
        let rawSource = sourceNode?.printableString()
        let band = obj["band"]?.int() ?? 1
        if let b = obj["band"], band < 1 { b.error("band numbers start at 1") }
        let nodata = obj["nodata"].flatMap { n -> Double? in
            if n.scalarString?.lowercased() == "nan" { return .nan }
            return n.double()
        }
        guard sink.items.count == before, let rawSource else { return nil }
        let base = sourceDirectory ?? file.parentPath
        let source = resolve(rawSource, against: base)
        let mark = sourceNode!.mark
        return LayerDefinition(
            name: name, file: file, source: source,
            layer: obj["layer"]?.printableString(), attribute: obj["attribute"]?.printableString(), band: band, nodata: nodata,
            units: obj["units"]?.string(), hazard: obj["hazard"]?.string(), description: obj["description"]?.string(),
            sourceLine: mark.line, sourceColumn: mark.column)
    }

    /// Resolves a relative local path against a folder; GDAL connection strings stay as they are.
    static func resolve(_ source: String, against base: String) -> String {
        if source.hasPrefix("/") || !isLocalFile(source) {
            return source
        }
        return URL(fileURLWithPath: base).appendingPathComponent(source).standardizedFileURL.path
    }
}
