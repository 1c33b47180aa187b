/// What a job makes (`product:`), with a fixed meaning: the census's product types. The type fixes
/// the number of levels, their names and colours, and the words of every title and legend, from
/// the one table below, so that the same township never reads in two vocabularies.
///
/// | type | levels (lowest first) | maps |
/// |---|---|---|
/// | `hazard` (危险性) | 低 / 较低 / 较高 / 高 | 危险性等级图, 危险性区划图, 乡镇危险性等级图 |
/// | `risk` (风险) | 低 / 中低 / 中 / 中高 / 高 | 风险等级图, 风险区划图, 乡镇风险等级图 |
/// | `zoning` (风险区划) | as `risk` | as `risk`; the zoning map is the product |
/// | `prevention` (防治区划) | as `risk`, plus the job's categories | as `risk`, and 防治区划图 |
///
/// One palette convention: red = highest level … green = lowest (ColorBrewer RdYlGn; 4 levels
/// leave out the yellow middle). A job may number levels Ⅰ–Ⅴ (Ⅰ = highest) with the `-roman` scheme.
public enum ProductType: String, Sendable, CaseIterable {
    case hazard, risk, zoning, prevention

    /// The schemes a job of this type may classify with; the first is the default.
    public var schemes: [ClassScheme] {
        switch self {
        case .hazard: return [.censusHazard, .censusHazardRoman]
        case .risk, .zoning, .prevention: return [.censusFive, .romanFive]
        }
    }

    /// The noun of the levels: 危险性 for hazard, 风险 otherwise.
    public var levelNoun: (zh: String, en: String) {
        self == .hazard ? ("危险性", "hazard") : ("风险", "risk")
    }

    /// The legend heading of the class and zone maps.
    public var legendTitle: String { "\(levelNoun.zh)等级 \(levelNoun.en.capitalizedFirst) level" }

    /// The title word of each map of a typed job, after the job's title.
    public func mapWord(_ kind: MapKind) -> String {
        let (zh, en) = levelNoun
        switch kind {
        case .classes: return "\(zh)等级图 \(en) levels"
        case .zoning: return "\(zh)区划图 \(en) zoning"
        case .township: return "乡镇\(zh)等级图 township \(en) levels"
        case .stability: return "\(zh)等级稳定性图 \(en) level stability"
        case .prevention: return "防治区划图 prevention zoning"
        }
    }

    /// The maps a run draws, by what they show.
    public enum MapKind: Sendable { case classes, zoning, township, stability, prevention }

    /// The paper size of the smallest area a zoning map shows (2 × 2 mm): with `product:` and no
    /// `zoning.min-area-ha`, the minimum mapping unit is this square at the map's print scale.
    public static let legibleMillimetres = 2.0
}

extension ClassScheme {
    /// The census's four hazard levels 低 / 较低 / 较高 / 高 (pixel value 4 = most hazardous),
    /// coloured from the risk palette without its yellow middle (one palette for every product).
    public static let censusHazard = hazardLevels(id: "census-hazard", [
        ("低", "low"), ("较低", "relatively low"), ("较高", "relatively high"), ("高", "high"),
    ])

    /// The four hazard levels numbered as plans write them: Ⅰ级 is the most hazardous (value 4).
    public static let censusHazardRoman = hazardLevels(id: "census-hazard-roman", [
        ("Ⅳ级", "level IV (lowest)"), ("Ⅲ级", "level III"), ("Ⅱ级", "level II"), ("Ⅰ级", "level I (highest)"),
    ])

    /// Four levels, lowest first, in the colours of `censusFive`'s levels 1, 2, 4 and 5.
    static func hazardLevels(id: String, _ names: [(String, String)]) -> ClassScheme {
        let colours = [0, 1, 3, 4].map { censusFive.classes[$0].rgb }
        return ClassScheme(id: id, classes: zip(names, colours).enumerated().map { i, level in
            ClassInfo(value: UInt8(i + 1), name: level.0.0, english: level.0.1, rgb: level.1)
        })
    }
}

extension JobLoader {
    /// `product:` — hazard, risk, zoning or prevention; checked against the sections it needs.
    func parseProduct(_ top: YObject) -> ProductType? {
        guard let node = top["product"], let text = node.string() else { return nil }
        guard let type = ProductType(rawValue: text) else {
            let names = ProductType.allCases.map(\.rawValue)
            let hint = closest(to: text, in: names).map { " (did you mean \"\($0)\"?)" } ?? ""
            node.error("unknown product type \"\(text)\"\(hint); expected one of: \(names.joined(separator: ", "))")
            return nil
        }
        if type == .zoning && top["zoning"] == nil { node.error("product: zoning needs a zoning: section (the zones and township levels)") }
        if type == .prevention && top["prevention"] == nil { node.error("product: prevention needs a prevention: section") }
        return type
    }

    /// The levels of a typed job whose `classify.scheme` is left out (read without reporting:
    /// `parseProduct` and `parseClassify` report).
    func typedClassCount(_ top: YObject) -> Int? {
        top["product"]?.scalarString.flatMap(ProductType.init(rawValue:))?.schemes[0].classCount
    }

    /// A typed job classifies with its type's levels: `classify.scheme` may be left out (the type's
    /// default) or name one of the type's schemes.
    func checkScheme(_ scheme: ClassScheme, product: ProductType, at node: YNode) {
        let allowed = product.schemes
        guard !allowed.contains(where: { $0.id == scheme.id }) else { return }
        let words = allowed[0].classes.reversed().map(\.name).joined(separator: "/")
        node.error("product: \(product.rawValue) has \(allowed[0].classCount) levels \(words) (scheme \(allowed.map(\.id).joined(separator: " or "))); scheme \(scheme.id) is \(scheme.classes.reversed().map(\.name).joined(separator: "/"))")
    }
}

extension String {
    /// The string with its first letter upper-cased ("risk" → "Risk").
    var capitalizedFirst: String { prefix(1).uppercased() + dropFirst() }
}
