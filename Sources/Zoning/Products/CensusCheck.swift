import FilePaths
import Foundation
import GDALKit

/// The census's acceptance checks on a deliverable (GeoTIFF or shapefile), as the public checker
/// of the meteorological hazards applies them (RiskValidateTool v1.5.0; `docs` in CENSUS.md):
/// the name, then the raster's type, rotation, 30″ cells, nodata, values and cells against the
/// county's standard-grid cells, or the shapefile's CRS, envelope and integer `class`. Every
/// check gives its reason in Chinese and English (`census-check`, `census/QC.json`).
public struct CensusCheck {
    public struct Finding: Codable, Sendable, Equatable {
        public let rule: String
        public let passed: Bool
        public let zh: String
        public let en: String
    }

    public struct FileReport: Codable, Sendable {
        public let file: String
        public let passed: Bool
        public let checks: [Finding]

        /// `PASS name` or `FAIL name: 原因 / reason; …`.
        public var line: String {
            let name = file.fileName
            if passed { return "PASS \(name)" }
            return "FAIL \(name): " + checks.filter { !$0.passed }.map { "\($0.zh) / \($0.en)" }.joined(separator: "; ")
        }
    }

    /// The name's parts: `{hazard}_{type}_{product}_{county6}_{seq}`.
    struct Name { let hazard: String; let product: String; let county: String }

    public static let cellSize = 1.0 / 120
    public static let tolerance = 1e-6

    public let standardGrid: String
    public let catalogue: CensusCatalogue
    private var counties: [String: Result<CountyCells, RunError>] = [:]

    public init(standardGrid: String, catalogue: CensusCatalogue = .builtIn) {
        self.standardGrid = standardGrid
        self.catalogue = catalogue
    }

    /// Every check on the file at `path`.
    public mutating func check(_ path: String) -> FileReport {
        var findings: [Finding] = []
        let name = checkName(path.fileName, into: &findings)
        let ext = path.fileExtension.lowercased()
        var county: CountyCells?
        if let name {
            switch countyCells(name.county) {
            case .success(let cells): county = cells
            case .failure(let error):
                findings.append(Finding(rule: "standard-grid", passed: false, zh: "无法读取县 \(name.county) 的标准格网",
                                        en: "the county's standard-grid cells cannot be read: \(error.message)"))
            }
        }
        let hazardProduct = name.map { catalogue.isHazardProduct(hazard: $0.hazard, product: $0.product, shapefile: ext == "shp") } ?? false
        let maxClass = hazardProduct ? 4 : 5
        switch ext {
        case "tif", "tiff": findings += checkGeoTIFF(path, county: county, maxClass: maxClass)
        case "shp": findings += checkShapefile(path, county: county, maxClass: maxClass)
        default:
            findings.append(Finding(rule: "format", passed: false, zh: "文件格式应为 GeoTIFF(.tif)或 Shapefile(.shp)",
                                    en: "expected a GeoTIFF (.tif) or a shapefile (.shp), got .\(ext)"))
        }
        return FileReport(file: path, passed: findings.allSatisfy(\.passed), checks: findings)
    }

    private mutating func countyCells(_ code: String) -> Result<CountyCells, RunError> {
        if let known = counties[code] { return known }
        let result: Result<CountyCells, RunError>
        do { result = .success(try CountyCells.read(standardGrid, adminCode: code)) } catch {
            result = .failure(error as? RunError ?? RunError(.dataError, "\(error)"))
        }
        counties[code] = result
        return result
    }

    /// `{hazard}_{type}_{product}_{county6}_{seq}`: at least 5 parts, a catalogued hazard code, a
    /// numeric product code, a 6-digit county code, a numeric sequence.
    func checkName(_ file: String, into findings: inout [Finding]) -> Name? {
        let parts = file.removingExtension.split(separator: "_", omittingEmptySubsequences: false).map(String.init)
        func digits(_ s: String) -> Bool { !s.isEmpty && s.allSatisfy { $0.isASCII && $0.isNumber } }
        guard parts.count >= 5, digits(parts[2]), digits(parts[3]), parts[3].count == 6, digits(parts[4]) else {
            findings.append(Finding(rule: "name", passed: false,
                                    zh: "文件名应为 灾种_类型_产品代码_6位县代码_序号(5段,以_分隔),实际 \(parts.count) 段",
                                    en: "name \(file): expected {hazard}_{type}_{product}_{county6}_{seq} (5 parts split on _, numeric product, 6-digit county, numeric sequence), got \(parts.count) part(s)"))
            return nil
        }
        findings.append(Finding(rule: "name", passed: true, zh: "文件名符合规范", en: "name has the 5 parts"))
        if let hazard = catalogue.hazards[parts[0]] {
            findings.append(Finding(rule: "hazard-code", passed: true, zh: "灾种代码 \(parts[0])(\(hazard.chinese))",
                                    en: "hazard code \(parts[0]) (\(hazard.english))"))
        } else {
            findings.append(Finding(rule: "hazard-code", passed: false, zh: "灾种代码 \(parts[0]) 不在代码表中",
                                    en: "hazard code \(parts[0]) is not in the catalogue (\(catalogue.hazards.keys.sorted().joined(separator: " ")))"))
        }
        return Name(hazard: parts[0], product: parts[2], county: parts[3])
    }

    static func pass(_ rule: String, _ zh: String, _ en: String) -> Finding { Finding(rule: rule, passed: true, zh: zh, en: en) }
    static func fail(_ rule: String, _ zh: String, _ en: String) -> Finding { Finding(rule: rule, passed: false, zh: zh, en: en) }
    static func near(_ a: Bounds, _ b: Bounds) -> Bool {
        abs(a.minX - b.minX) <= tolerance && abs(a.minY - b.minY) <= tolerance
            && abs(a.maxX - b.maxX) <= tolerance && abs(a.maxY - b.maxY) <= tolerance
    }
    static func describe(_ b: Bounds) -> String {
        "[\(String(format: "%.6f", b.minX)), \(String(format: "%.6f", b.minY)), \(String(format: "%.6f", b.maxX)), \(String(format: "%.6f", b.maxY))]"
    }
}

extension CensusCheck {
    /// `census-check`: every file checked, in the order given. The standard grid and the hazard
    /// codes must be readable (else one error); a file's own problems are its report's.
    public static func run(standardGrid: String, hazardCodes: String?, files: [String]) throws -> [FileReport] {
        guard FileManager.default.fileExists(atPath: standardGrid) else {
            throw RunError(.noInput, "\(standardGrid): --standard-grid: file does not exist")
        }
        var checker = CensusCheck(standardGrid: standardGrid, catalogue: try CensusCatalogue.extended(with: hazardCodes))
        return files.map { checker.check($0) }
    }
}
