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

    public static let all: [ClassScheme] = [.fourColour, .fiveLevel]

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
