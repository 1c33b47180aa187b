/// A classification scheme: how many classes, their names and colours.
public struct ClassScheme: Sendable, Equatable {
    public struct ClassInfo: Sendable, Equatable {
        public let value: UInt8
        public let name: String
        public let english: String
        public let rgb: (UInt8, UInt8, UInt8)
        public static func == (a: ClassInfo, b: ClassInfo) -> Bool {
            a.value == b.value && a.name == b.name && a.english == b.english && a.rgb == b.rgb
        }
    }

    public let id: String
    /// Classes from lowest (value 1) to highest.
    public let classes: [ClassInfo]

    public var classCount: Int { classes.count }

    /// Warning-map colours: 1 blue, 2 yellow, 3 orange, 4 red (highest).
    public static let fourColour = ClassScheme(id: "four-colour", classes: [
        ClassInfo(value: 1, name: "蓝", english: "blue (low)", rgb: (0, 112, 192)),
        ClassInfo(value: 2, name: "黄", english: "yellow (moderate)", rgb: (255, 230, 0)),
        ClassInfo(value: 3, name: "橙", english: "orange (high)", rgb: (255, 140, 0)),
        ClassInfo(value: 4, name: "红", english: "red (very high)", rgb: (230, 0, 0)),
    ])

    /// Census practice: 低/较低/中/较高/高.
    public static let fiveLevel = ClassScheme(id: "five-level", classes: [
        ClassInfo(value: 1, name: "低", english: "low", rgb: (56, 168, 0)),
        ClassInfo(value: 2, name: "较低", english: "relatively low", rgb: (176, 224, 0)),
        ClassInfo(value: 3, name: "中", english: "moderate", rgb: (255, 255, 0)),
        ClassInfo(value: 4, name: "较高", english: "relatively high", rgb: (255, 128, 0)),
        ClassInfo(value: 5, name: "高", english: "high", rgb: (255, 0, 0)),
    ])

    public static let all: [ClassScheme] = [.fourColour, .fiveLevel, .censusFive, .romanFive, .hazardFour,
                                                .censusHazard, .censusHazardRoman]

    public static func named(_ id: String) -> ClassScheme? { all.first { $0.id == id } }

    /// GDAL category names, index = pixel value (0 = nodata).
    public var categoryNames: [String] {
        ["nodata"] + classes.map { "\($0.name) \($0.english)" }
    }

    /// GDAL colour table, index = pixel value; 0 is transparent.
    public var colorTable: [(UInt8, UInt8, UInt8, UInt8)] {
        [(0, 0, 0, 0)] + classes.map { ($0.rgb.0, $0.rgb.1, $0.rgb.2, 255) }
    }
}

extension ClassScheme {
    /// The census's five risk levels: 低 / 中低 / 中 / 中高 / 高.
    public static let censusFive = ClassScheme(id: "census-five", classes: [
        ClassInfo(value: 1, name: "低", english: "low", rgb: (26, 150, 65)),
        ClassInfo(value: 2, name: "中低", english: "medium-low", rgb: (166, 217, 106)),
        ClassInfo(value: 3, name: "中", english: "medium", rgb: (255, 255, 191)),
        ClassInfo(value: 4, name: "中高", english: "medium-high", rgb: (253, 174, 97)),
        ClassInfo(value: 5, name: "高", english: "high", rgb: (215, 25, 28)),
    ])

    /// Roman levels as Chinese plans write them: Ⅰ级 is the highest risk, so pixel value 5 is Ⅰ.
    public static let romanFive = ClassScheme(id: "roman-five", classes: [
        ClassInfo(value: 1, name: "Ⅴ级", english: "level V (lowest)", rgb: (26, 150, 65)),
        ClassInfo(value: 2, name: "Ⅳ级", english: "level IV", rgb: (166, 217, 106)),
        ClassInfo(value: 3, name: "Ⅲ级", english: "level III", rgb: (255, 255, 191)),
        ClassInfo(value: 4, name: "Ⅱ级", english: "level II", rgb: (253, 174, 97)),
        ClassInfo(value: 5, name: "Ⅰ级", english: "level I (highest)", rgb: (215, 25, 28)),
    ])

    /// The census's four hazard levels; the pixel value is the level (4 = most hazardous).
    public static let hazardFour = ClassScheme(id: "hazard-four", classes: [
        ClassInfo(value: 1, name: "低危险", english: "hazard level 1 (low)", rgb: (255, 255, 178)),
        ClassInfo(value: 2, name: "较低危险", english: "hazard level 2 (relatively low)", rgb: (254, 204, 92)),
        ClassInfo(value: 3, name: "较高危险", english: "hazard level 3 (relatively high)", rgb: (253, 141, 60)),
        ClassInfo(value: 4, name: "高危险", english: "hazard level 4 (high)", rgb: (227, 26, 28)),
    ])

    /// An explicit list of levels from a job (`id` "custom").
    public static func custom(_ levels: [(name: String, english: String, rgb: (UInt8, UInt8, UInt8))]) -> ClassScheme {
        ClassScheme(id: "custom", classes: levels.enumerated().map { i, level in
            ClassInfo(value: UInt8(i + 1), name: level.name, english: level.english, rgb: level.rgb)
        })
    }

    /// A scheme may have this many levels (class rasters are Byte; legends stay readable).
    public static let levelRange = 2...9
}

extension JobLoader {
    /// `classify.scheme`: a preset name or a list of `{name, english, colour}` levels, lowest first.
    func parseScheme(_ node: YNode) -> ClassScheme? {
        if case .sequence = node.node {
            guard let items = node.sequence() else { return nil }
            guard ClassScheme.levelRange.contains(items.count) else {
                node.error("a scheme has \(ClassScheme.levelRange.lowerBound) to \(ClassScheme.levelRange.upperBound) levels, got \(items.count)")
                return nil
            }
            var levels: [(name: String, english: String, rgb: (UInt8, UInt8, UInt8))] = []
            for item in items {
                guard let o = item.object(allowed: ["name", "english", "colour", "color"], required: ["name"]) else { continue }
                let name = o["name"]?.line()
                let colourNode = o["colour"] ?? o["color"]
                if colourNode == nil { item.error("missing required key \"colour\"") }
                let rgb = colourNode.flatMap(parseColour)
                let english = o["english"]?.line()
                if let name, let rgb, o["english"] == nil || english != nil { levels.append((name, english ?? "", rgb)) }
            }
            if let first = levels.first, Set(levels.map(\.name)).count != levels.count {
                node.error("level names must be unique (\"\(first.name)\"…)")
                return nil
            }
            return levels.count == items.count ? ClassScheme.custom(levels) : nil
        }
        guard let id = node.string() else { return nil }
        if let scheme = ClassScheme.named(id) { return scheme }
        let names = ClassScheme.all.map(\.id)
        let hint = closest(to: id, in: names).map { " (did you mean \"\($0)\"?)" } ?? ""
        node.error("unknown scheme \"\(id)\"\(hint); expected one of: \(names.joined(separator: ", ")), or a list of levels")
        return nil
    }

    /// A colour as "#rrggbb" or [r, g, b] (0…255).
    func parseColour(_ node: YNode) -> (UInt8, UInt8, UInt8)? {
        if case .sequence = node.node {
            guard let v = node.doubles(count: 3) else { return nil }
            guard v.allSatisfy({ $0 >= 0 && $0 <= 255 && $0 == $0.rounded() }) else {
                node.error("colour components are whole numbers 0…255")
                return nil
            }
            return (UInt8(v[0]), UInt8(v[1]), UInt8(v[2]))
        }
        guard let text = node.string() else { return nil }
        let hex = text.hasPrefix("#") ? String(text.dropFirst()) : ""
        guard hex.count == 6, let value = UInt32(hex, radix: 16) else {
            node.error("a colour is \"#rrggbb\" or [r, g, b], got \(node.describe)")
            return nil
        }
        return (UInt8(value >> 16), UInt8((value >> 8) & 0xff), UInt8(value & 0xff))
    }
}
