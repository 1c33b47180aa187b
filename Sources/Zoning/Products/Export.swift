import Foundation
import GDALKit

// Census deliverables: the zones as ESRI Shapefiles with an integer `class` field, UTF-8 text
// (`.cpg`) and the CRS (`.prj`), named from a template such as "{hazard}_{product}_{code}_{seq}".

/// A further format the zones are written in (`outputs.export`).
public enum ExportFormat: String, Sendable, CaseIterable {
    case shapefile
}

/// Product codes used in exported file names (`{product}`). The census's own product-type codes
/// are not public; these are this project's, documented in docs/job-file.md.
public enum ExportProduct: String, Sendable, CaseIterable {
    /// Comprehensive risk zoning (综合风险区划): the `risk_zones` polygons.
    case riskZones = "risk_zones"
    /// Comprehensive prevention zoning (综合防治区划): the `prevention_zones` polygons.
    case preventionZones = "prevention_zones"

    public var code: String {
        switch self {
        case .riskZones: return "FXQH"
        case .preventionZones: return "FZQH"
        }
    }
}

/// `outputs.naming`: literal text with the placeholders `{hazard}` (`hazard-code`), `{product}` (the
/// product code), `{code}` (`admin-code`) and `{seq}` (the file's two-digit number among the run's
/// exports, 01 first).
public struct NamingTemplate: Sendable, Equatable {
    public enum Part: Sendable, Equatable { case text(String), hazard, product, code, seq }
    public let parts: [Part]
    public let text: String

    /// Characters of a name it makes: the file system's 255 bytes a file name less ".shp".
    public static let maximumLength = 251

    /// The file base name (no extension) of the `seq`-th export (1-based).
    public func name(hazard: String?, product: ExportProduct, code: String?, seq: Int) -> String {
        parts.map { part -> String in
            switch part {
            case .text(let s): return s
            case .hazard: return hazard ?? ""
            case .product: return product.code
            case .code: return code ?? ""
            case .seq: return seq < 10 ? "0\(seq)" : "\(seq)"
            }
        }.joined()
    }

    /// Parses a template; returns the parts or a problem and the offset (in characters) where it is.
    static func parse(_ text: String) -> Result<NamingTemplate, NamingProblem> {
        var parts: [Part] = []
        var literal = ""
        var i = text.startIndex
        func offset(_ index: String.Index) -> Int { text.distance(from: text.startIndex, to: index) }
        while i < text.endIndex {
            let ch = text[i]
            if ch == "{" {
                guard let close = text[i...].firstIndex(of: "}") else {
                    return .failure(NamingProblem(offset: offset(i), message: "\"{\" without a closing \"}\""))
                }
                let key = String(text[text.index(after: i)..<close])
                let part: Part
                switch key {
                case "hazard": part = .hazard
                case "product": part = .product
                case "code": part = .code
                case "seq": part = .seq
                default:
                    let hint = closest(to: key, in: ["hazard", "product", "code", "seq"]).map { " (did you mean {\($0)}?)" } ?? ""
                    return .failure(NamingProblem(offset: offset(i), message: "unknown placeholder {\(key)}\(hint); expected {hazard}, {product}, {code} or {seq}"))
                }
                if !literal.isEmpty { parts.append(.text(literal)); literal = "" }
                parts.append(part)
                i = text.index(after: close)
                continue
            }
            guard ch.isASCII, ch.isLetter || ch.isNumber || ch == "_" || ch == "-" else {
                return .failure(NamingProblem(offset: offset(i), message: "\"\(ch)\" cannot be part of a file name; use letters, digits, '_' and '-' around the placeholders"))
            }
            literal.append(ch)
            i = text.index(after: i)
        }
        if !literal.isEmpty { parts.append(.text(literal)) }
        if !parts.contains(.seq) && !parts.contains(.product) {
            return .failure(NamingProblem(offset: 0, message: "the template needs {product} or {seq}, or every export would get the same name"))
        }
        return .success(NamingTemplate(parts: parts, text: text))
    }
}

struct NamingProblem: Error { let offset: Int; let message: String }

extension JobLoader {
    /// `outputs.export` and `outputs.naming`.
    func parseExport(_ o: YObject, top: YObject, products: [JobSpec.Product]) -> ([ExportFormat], NamingTemplate?) {
        var formats: [ExportFormat] = []
        if let e = o["export"], let items = e.sequence() {
            for item in items {
                guard let text = item.string() else { continue }
                guard let format = ExportFormat(rawValue: text) else {
                    let names = ExportFormat.allCases.map(\.rawValue)
                    let hint = closest(to: text, in: names).map { " (did you mean \"\($0)\"?)" } ?? ""
                    item.error("unknown export format \"\(text)\"\(hint); expected one of: \(names.joined(separator: ", "))")
                    continue
                }
                if formats.contains(format) { item.error("\(text) is listed twice") } else { formats.append(format) }
            }
            if !formats.isEmpty && !products.contains(.riskZones) && !products.contains(.prevention) {
                e.error("export writes the zones: it needs the risk-zones or prevention product")
            }
        }
        var naming: NamingTemplate?
        if let n = o["naming"], let text = n.string() {
            if o["export"] == nil { n.error("naming names exported files: it goes with export") }
            switch NamingTemplate.parse(text) {
            case .failure(let problem):
                // Point at the offending character when the template sits on one line.
                let m = n.mark
                let quoted = n.node.scalar.map { $0.style == .singleQuoted || $0.style == .doubleQuoted } ?? false
                let column = m.column + problem.offset + (quoted ? 1 : 0)
                n.sink.error(n.file, (m.line, column), "\(n.path): \(problem.message)")
            case .success(let template):
                naming = template
                if template.parts.contains(.hazard) && top["hazard-code"] == nil {
                    n.error("{hazard} needs the job's hazard-code (e.g. hazard-code: ZH)")
                }
                if template.parts.contains(.code) && top["admin-code"] == nil {
                    n.error("{code} needs the job's admin-code (the 6-digit code, e.g. admin-code: \"150625\")")
                }
                // The longest name it makes (codes as written; {seq} has two digits) must fit a file name.
                let longest = ExportProduct.allCases.map {
                    template.name(hazard: top["hazard-code"]?.scalarString, product: $0, code: top["admin-code"]?.scalarString, seq: 1)
                }.max { $0.utf8.count < $1.utf8.count } ?? ""
                if longest.utf8.count > NamingTemplate.maximumLength {
                    n.error("the template makes names of \(longest.utf8.count) characters (\"\(longest.prefix(40))…\"); file names have at most 255 bytes, so a name before \".shp\" at most \(NamingTemplate.maximumLength)")
                }
            }
        }
        return (formats, naming)
    }

    /// `admin-code`: six digits (e.g. 150625, Hangjin Banner).
    func parseAdminCode(_ node: YNode) -> String? {
        guard let text = node.scalarString else { node.error("expected a 6-digit administrative code, got \(node.describe)"); return nil }
        guard text.count == 6, text.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            node.error("admin-code is the 6-digit administrative code of the county (e.g. \"150625\"), got \(node.describe)")
            return nil
        }
        return text
    }

    /// `hazard-code`: 1–8 letters or digits (e.g. ZH comprehensive, HS flood).
    func parseHazardCode(_ node: YNode) -> String? {
        guard let text = node.string() else { return nil }
        guard (1...8).contains(text.count), text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
            node.error("hazard-code is 1 to 8 letters or digits (e.g. ZH), got \(node.describe)")
            return nil
        }
        return text
    }
}

extension Plan {
    /// The exports a run of this plan writes, in order, with their file base names.
    var plannedExports: [(product: ExportProduct, name: String)] {
        let outputs = job.outputs
        guard outputs.export.contains(.shapefile) else { return [] }
        var products: [ExportProduct] = []
        if outputs.products.contains(.riskZones) { products.append(.riskZones) }
        if outputs.products.contains(.prevention) && prevention != nil { products.append(.preventionZones) }
        return products.enumerated().map { i, product in
            (product, outputs.naming?.name(hazard: job.hazardCode, product: product, code: job.adminCode, seq: i + 1) ?? product.rawValue)
        }
    }

    /// The `plan` line of the exports.
    var exportSummaryLines: [String] {
        let planned = plannedExports
        guard !planned.isEmpty else { return [] }
        return ["export (ESRI Shapefile, UTF-8, integer class): " + planned.map { "\($0.name).shp (\($0.product.rawValue), \($0.product.code))" }.joined(separator: ", ")]
    }
}

extension Manifest {
    /// One exported file set (a shapefile: .shp, .shx, .dbf, .prj, .cpg).
    public struct ExportInfo: Codable, Sendable, Equatable {
        public var format: String
        public var product: String
        public var productCode: String
        /// The file base name; the files are `<name>.shp` and its companions.
        public var name: String
        public var layer: String
        public var features: Int
    }
}
