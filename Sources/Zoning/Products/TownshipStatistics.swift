import Foundation

/// Per township: area per class, mean and max index, dominant class and level.
public struct TownshipStatistics: Codable, Sendable, Equatable {
    public struct ClassArea: Codable, Sendable, Equatable {
        public var value: Int
        public var name: String
        public var pixels: Int
        public var areaHa: Double
        public var percent: Double
    }
    /// One extra numeric column: an exposure total per class or per township (see `Totals.swift`).
    public struct Column: Sendable, Equatable {
        public var name: String
        public var value: Double
    }
    public var id: Int
    /// The township's administrative code and English name (`zoning.townships.code`/`english`).
    public var code: String?
    public var name: String
    public var english: String?
    public var validPixels: Int
    public var validAreaHa: Double
    public var meanIndex: Double?
    public var maxIndex: Double?
    public var dominantClass: Int?
    public var dominantClassName: String?
    public var level: Int?
    public var levelName: String?
    public var classes: [ClassArea]
    /// Exposure totals, `<total>_class_<k>` and `<total>_total`: written as top-level keys of the
    /// JSON row and as CSV columns (decoding ignores them; read them from the JSON object).
    public var totals: [Column] = []
    /// How `level` was decided (`JobSpec.TownshipLevel.rule`), e.g. "mean-index: …".
    public var levelRule: String? = nil

    enum CodingKeys: String, CodingKey {
        case id, code, name, english, validPixels, validAreaHa, meanIndex, maxIndex, dominantClass, dominantClassName, level, levelName, classes
        case levelRule
    }

    struct ColumnKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encodeIfPresent(code, forKey: .code)
        try c.encode(name, forKey: .name)
        try c.encodeIfPresent(english, forKey: .english)
        try c.encode(validPixels, forKey: .validPixels)
        try c.encode(validAreaHa, forKey: .validAreaHa)
        try c.encodeIfPresent(meanIndex, forKey: .meanIndex)
        try c.encodeIfPresent(maxIndex, forKey: .maxIndex)
        try c.encodeIfPresent(dominantClass, forKey: .dominantClass)
        try c.encodeIfPresent(dominantClassName, forKey: .dominantClassName)
        try c.encodeIfPresent(level, forKey: .level)
        try c.encodeIfPresent(levelName, forKey: .levelName)
        try c.encodeIfPresent(levelRule, forKey: .levelRule)
        try c.encode(classes, forKey: .classes)
        var extra = encoder.container(keyedBy: ColumnKey.self)
        for column in totals { try extra.encode(column.value, forKey: ColumnKey(stringValue: column.name)) }
    }
}

/// Per township: area per prevention category.
public struct TownshipPreventionStatistics: Codable, Sendable, Equatable {
    public struct CategoryArea: Codable, Sendable, Equatable {
        public var value: Int
        public var name: String
        public var pixels: Int
        public var areaHa: Double
        public var percent: Double
    }
    public var id: Int
    public var code: String?
    public var name: String
    public var english: String?
    public var validPixels: Int
    public var validAreaHa: Double
    public var dominantCategory: Int?
    public var dominantCategoryName: String?
    public var categories: [CategoryArea]
}

/// Per township: how stable its pixels' classes and its level are under the scenarios.
public struct TownshipSensitivity: Codable, Sendable, Equatable {
    public var id: Int
    public var name: String
    public var validPixels: Int
    public var validAreaHa: Double
    /// Shares (%) of the valid area with stability 100 %, ≥ 80 %, < 50 %.
    public var stablePercent: Double
    public var atLeast80Percent: Double
    public var below50Percent: Double
    public var level: Int?
    /// The township's level in every scenario, in scenario order.
    public var scenarioLevels: [Int?]
    public var lowestLevel: Int?
    public var highestLevel: Int?
    public var levelChanges: Bool
}
