import Foundation

/// The census's hazard codes (灾害类别代码) as a data table: code, Chinese and English name, and
/// the product code of the hazard's hazard product in shapefiles (its classes are 1–4; every
/// other product's 1–5). The built-in rows are those of the public checker of the meteorological
/// hazards (github:wangfeng1981/risk_dataproduct_validate, RiskValidateTool v1.5.0): TF 12,
/// LD 4, SC 6, the others 10. A job (`outputs.census.hazard-codes`) or `census-check
/// --hazard-codes` adds rows from a CSV file of the same columns.
public struct CensusCatalogue: Sendable {
    public struct Hazard: Sendable, Equatable {
        public let code: String
        public let chinese: String
        public let english: String
        /// The shapefile product code of the hazard product (classes 1–4).
        public let hazardProduct: String
    }

    public private(set) var hazards: [String: Hazard]

    /// The built-in table, in the CSV form an extension file takes.
    public static let builtInCSV = """
        code,name_zh,name_en,hazard_product
        TF,台风,typhoon,12
        BY,暴雨,rainstorm,10
        BB,冰雹,hail,10
        DF,大风,gale,10
        DW,低温,low temperature,10
        GH,干旱,drought,10
        GW,高温,heat,10
        LD,雷电,lightning,4
        XZ,雪灾,snow disaster,10
        SC,沙尘暴,sand and dust storm,6
        DISA,综合,comprehensive,10
        """

    public static let builtIn: CensusCatalogue = {
        guard case .success(let rows) = parse(builtInCSV) else { preconditionFailure("the built-in hazard codes are a valid table") }
        return CensusCatalogue(hazards: Dictionary(uniqueKeysWithValues: rows.map { ($0.code, $0) }))
    }()

    /// The built-in table with the rows of the CSV file at `path` added (a code given again replaces its row).
    public static func extended(with path: String?) throws -> CensusCatalogue {
        var catalogue = builtIn
        guard let path else { return catalogue }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw RunError(.noInput, "\(path): hazard codes: cannot read the file (expected a UTF-8 CSV file: code,name_zh,name_en,hazard_product)")
        }
        switch parse(text) {
        case .success(let rows): for row in rows { catalogue.hazards[row.code] = row }
        case .failure(let problem): throw RunError(.dataError, "\(path): hazard codes: \(problem.message)")
        }
        return catalogue
    }

    struct Problem: Error { let message: String }

    /// Rows of `code,name_zh,name_en,hazard_product` after that header: codes of 2–4 capital
    /// letters, a numeric product code.
    static func parse(_ text: String) -> Result<[Hazard], Problem> {
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard lines.first?.replacingOccurrences(of: " ", with: "") == "code,name_zh,name_en,hazard_product" else {
            return .failure(Problem(message: "line 1: expected the header code,name_zh,name_en,hazard_product"))
        }
        var rows: [Hazard] = []
        for (i, line) in lines.enumerated().dropFirst() {
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count == 4 else { return .failure(Problem(message: "line \(i + 1): expected 4 cells, got \(cells.count)")) }
            guard cells[0].range(of: "^[A-Z]{2,4}$", options: .regularExpression) != nil else {
                return .failure(Problem(message: "line \(i + 1): hazard code \"\(cells[0])\": expected 2 to 4 capital letters"))
            }
            guard !cells[3].isEmpty, cells[3].allSatisfy(\.isASCII), cells[3].allSatisfy(\.isNumber) else {
                return .failure(Problem(message: "line \(i + 1): hazard product \"\(cells[3])\": expected a numeric product code"))
            }
            rows.append(Hazard(code: cells[0], chinese: cells[1], english: cells[2], hazardProduct: cells[3]))
        }
        return .success(rows)
    }

    /// Whether `product` of `hazard` is the hazard product (classes 1–4) in a file of this kind:
    /// product 01 in a GeoTIFF, the catalogue's hazard product in a shapefile.
    public func isHazardProduct(hazard: String, product: String, shapefile: Bool) -> Bool {
        guard shapefile else { return Int(product) == 1 }
        guard let expected = hazards[hazard]?.hazardProduct else { return false }
        return Int(product) == Int(expected)
    }
}
