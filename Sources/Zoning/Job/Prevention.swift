import Foundation
import GDALKit
import RasterKernel
import Yams

// Prevention zoning (综合防治区划): the job's risk class combined with further classified factors
// (exposure, distance to shelter, …) by a decision matrix written in the job. This file holds the
// job model and its validation; `Proximity.swift` the distance alignment, `PreventionStage.swift`
// the run.

extension JobSpec {
    /// A further factor of the prevention matrix: a layer classified into levels 1…n.
    public struct Factor: Sendable {
        public enum Kind: String, Sendable { case value, proximity }
        /// The factor's name in the job (`exposure`), a dimension of the matrix.
        public let name: String
        public let definition: LayerDefinition
        /// `value`: the layer's values on the grid; `proximity`: the distance to its nearest feature.
        public let kind: Kind
        /// Level = 1 + number of breaks ≤ value (compared in Float32, like the risk classes).
        public let breaks: [Double]
        public let resampling: Resampling
        public let errorThreshold: Double
        /// Vectors by attribute: burn every touched pixel. Proximity always rasterises all-touched.
        public let allTouched: Bool
        public let position: Position
        public var levels: Int { breaks.count + 1 }
    }

    public struct Category: Sendable, Equatable {
        public let value: Int
        public let name: String
        public let english: String?
        public let red: UInt8, green: UInt8, blue: UInt8
        public var label: String { english.map { "\(name) \($0)" } ?? name }
    }

    /// One row of the decision matrix: a set of levels per dimension (nil = any) and the category.
    public struct MatrixRule: Sendable, Equatable {
        /// One entry per dimension: risk first, then the factors in job order.
        public let levels: [Set<Int>?]
        public let category: Int
        public let line: Int

        public func matches(_ cell: [Int]) -> Bool {
            zip(levels, cell).allSatisfy { $0.0?.contains($0.1) ?? true }
        }
    }

    public struct Prevention: Sendable {
        public let factors: [Factor]
        public let categories: [Category]
        public let rules: [MatrixRule]
        /// Risk levels 1…riskLevels (the classification scheme's classes).
        public let riskLevels: Int
        /// The category of every cell, first matching rule; index = Σ (level − 1) · stride,
        /// risk slowest, the last factor fastest.
        public let table: [UInt8]

        /// Levels per dimension: risk, then each factor.
        public var dimensions: [Int] { [riskLevels] + factors.map(\.levels) }

        /// The category of one cell (levels start at 1).
        public func category(risk: Int, levels: [Int]) -> Int {
            var index = risk - 1
            for (f, l) in zip(factors, levels) { index = index * f.levels + (l - 1) }
            return Int(table[index])
        }

        /// The first rule matching each cell, nil where none does; cells in table order.
        static func evaluate(_ rules: [MatrixRule], dimensions: [Int]) -> [Int?] {
            let total = dimensions.reduce(1, *)
            var result: [Int?] = []
            result.reserveCapacity(total)
            var cell = dimensions.map { _ in 1 }
            for _ in 0..<total {
                result.append(rules.first { $0.matches(cell) }?.category)
                var d = dimensions.count - 1
                while d >= 0 {
                    cell[d] += 1
                    if cell[d] <= dimensions[d] { break }
                    cell[d] = 1
                    d -= 1
                }
            }
            return result
        }

        /// The demo's three categories, used when a job gives none.
        public static let defaultCategories: [Category] = [
            Category(value: 1, name: "重点防治区", english: "key prevention zone", red: 230, green: 0, blue: 0),
            Category(value: 2, name: "次重点防治区", english: "secondary prevention zone", red: 255, green: 170, blue: 0),
            Category(value: 3, name: "一般防治区", english: "general prevention zone", red: 56, green: 168, blue: 0),
        ]

        /// GDAL colour table, index = pixel value; 0 and unused values are transparent.
        public var colorTable: [(UInt8, UInt8, UInt8, UInt8)] {
            let top = categories.map(\.value).max() ?? 0
            return (0...top).map { v in
                categories.first { $0.value == v }.map { ($0.red, $0.green, $0.blue, 255) } ?? (0, 0, 0, 0)
            }
        }

        /// GDAL category names, index = pixel value (0 = nodata).
        public var categoryNames: [String] {
            let top = categories.map(\.value).max() ?? 0
            return (0...top).map { v in v == 0 ? "nodata" : categories.first { $0.value == v }?.label ?? "" }
        }
    }

    /// Cells of a matrix beyond this are refused (the lookup table stays small).
    static let maxMatrixCells = 1 << 20
}

extension JobLoader {
    /// `normalize:` of a layer, which may wrap a curve or linear form in `proximity:` (the values are
    /// then the distance from each pixel to the layer's nearest feature, in grid CRS units).
    /// A layer's `normalize:` — returns the normalisation, whether it is a distance (`proximity`)
    /// and whether its range comes from the data (`min-max: data`; the normalisation is then a
    /// placeholder filled in by the run's statistics pass).
    func parseLayerNormalization(_ node: YNode?, gridCRS: String?) -> (Normalization?, Bool, Bool) {
        guard let node else { return (nil, false, false) }
        if case .mapping(let map) = node.node, map.contains(where: { $0.key.string == "min-max" }) {
            guard let obj = node.object(allowed: ["min-max"]), let value = obj["min-max"] else { return (nil, false, true) }
            guard let text = value.string() else { return (nil, false, true) }
            guard text == "data" else {
                value.error("min-max takes data (the layer's own range over its valid pixels on the grid inside the mask), got \(value.describe); for fixed bounds use linear: [min, max]")
                return (nil, false, true)
            }
            return (.linear(min: 0, max: 1), false, true)
        }
        guard case .mapping(let map) = node.node, map.contains(where: { $0.key.string == "proximity" }) else {
            return (parseNormalization(node), false, false)
        }
        guard let obj = node.object(allowed: ["proximity"]), let inner = obj["proximity"] else { return (nil, true, false) }
        if let gridCRS, let srs = try? SpatialReference(definition: gridCRS), !srs.isProjected {
            obj.keys["proximity"]!.error("proximity measures distances in grid CRS units and needs a projected grid CRS (grid.crs is \(gridCRS))")
        }
        if case .mapping(let m) = inner.node, m.contains(where: { $0.key.string == "table" || $0.key.string == "default" }) {
            inner.error("proximity takes curve or linear (a distance is continuous)")
            return (nil, true, false)
        }
        return (parseNormalization(inner), true, false)
    }

    /// The number of classes of `classify.scheme`, read without reporting (classify reports itself).
    private func schemeClassCount(_ node: YNode?) -> Int? {
        guard let node, case .mapping(let map) = node.node else { return nil }
        for (key, value) in map where key.string == "scheme" {
            if case .sequence(let levels) = value { return levels.count }
            return value.string.flatMap(ClassScheme.named)?.classCount
        }
        return nil
    }

    /// `prevention:` — factors, categories and the decision matrix, checked for complete coverage.
    func parsePrevention(_ node: YNode, top: YObject, gridCRS: String?, jobFile: String, sink: DiagnosticSink,
                         cache: inout [String: LayerDefinition?], auxiliary: inout [String: LayerDefinition]) -> JobSpec.Prevention? {
        guard let p = node.object(allowed: ["factors", "categories", "matrix"], required: ["factors", "matrix"]) else { return nil }
        let riskLevels = schemeClassCount(top["classify"])
        var ok = true

        // factors
        var factors: [JobSpec.Factor] = []
        /// Every factor name written, with its level count when its breaks are usable.
        var factorLevels: [(String, Int?)] = []
        if let f = p["factors"], let entries = f.entries() {
            if entries.isEmpty { f.error("at least one factor is needed"); ok = false }
            for (name, keyNode, value) in entries {
                var levels: Int?
                defer { factorLevels.append((name, levels)) }
                if name.range(of: "^[A-Za-z][A-Za-z0-9_-]*$", options: .regularExpression) == nil {
                    keyNode.error("a factor name must start with a letter and hold letters, digits, '_' or '-'"); ok = false
                } else if name == "risk" || name == "category" {
                    keyNode.error("\"\(name)\" is taken by the matrix itself; name the factor otherwise"); ok = false
                }
                guard let obj = value.object(allowed: ["layer", "breaks", "proximity", "resampling", "error-threshold", "all-touched"],
                                             required: ["layer"]) else { ok = false; continue }
                let forms = ["breaks", "proximity"].filter { obj[$0] != nil }
                if forms.count != 1 {
                    value.error("give exactly one of breaks (the layer's values) or proximity (distances to its nearest feature)")
                    ok = false
                }
                let def = obj["layer"].flatMap { definition(named: $0, jobFile: jobFile, sink: sink, cache: &cache) }
                let errorsBefore = sink.items.count
                let resampling = obj["resampling"].map(parseResampling) ?? .nearest
                if sink.items.count != errorsBefore { ok = false }
                let et = obj["error-threshold"]?.double() ?? 0.125
                if let e = obj["error-threshold"], et < 0 { e.error("error-threshold must be ≥ 0 (pixels)"); ok = false }
                let allTouched = obj["all-touched"]?.bool() ?? false
                var breaks: [Double]?
                if forms.count == 1, let b = obj[forms[0]], let values = b.doubles() {
                    breaks = values
                    if values.isEmpty { b.error("give at least one break (n breaks make n + 1 levels)"); breaks = nil }
                    for (i, (x, y)) in zip(values, values.dropFirst()).enumerated() where !(y > x) {
                        b.error("breaks must increase: break \(i + 2) (\(formatNumber(y))) is not above break \(i + 1) (\(formatNumber(x)))")
                        breaks = nil
                    }
                    if values.count > 254 { b.error("at most 254 breaks (255 levels)"); breaks = nil }
                    if forms[0] == "proximity" {
                        if let first = values.first, first <= 0 { b.error("distances must be positive"); breaks = nil }
                        if let gridCRS, let srs = try? SpatialReference(definition: gridCRS), !srs.isProjected {
                            b.error("proximity measures distances in grid CRS units and needs a projected grid CRS (grid.crs is \(gridCRS))")
                            breaks = nil
                        }
                    }
                }
                levels = breaks.map { $0.count + 1 }
                guard let def, let breaks, forms.count == 1 else { ok = false; continue }
                auxiliary[def.name] = def
                let m = keyNode.mark
                factors.append(JobSpec.Factor(name: name, definition: def, kind: forms[0] == "proximity" ? .proximity : .value,
                                              breaks: breaks, resampling: resampling, errorThreshold: et, allTouched: allTouched,
                                              position: .init(file: jobFile, line: m.line, column: m.column)))
            }
        } else { ok = false }

        // categories
        var categories = JobSpec.Prevention.defaultCategories
        if let c = p["categories"], let items = c.sequence() {
            categories = []
            if items.isEmpty { c.error("at least one category is needed"); ok = false }
            for item in items {
                guard let obj = item.object(allowed: ["value", "name", "english", "colour", "color"], required: ["value", "name"]) else {
                    ok = false; continue
                }
                let value = obj["value"]?.int()
                if let v = obj["value"], let value {
                    if value < 1 || value > 255 { v.error("a category value is a pixel value, 1 to 255"); ok = false }
                    if categories.contains(where: { $0.value == value }) { v.error("category \(value) is given twice"); ok = false }
                }
                let name = obj["name"]?.string()
                let english = obj["english"]?.string()
                if obj["colour"] != nil && obj["color"] != nil { obj.keys["color"]!.error("give colour or color, not both"); ok = false }
                var rgb: [UInt8] = [128, 128, 128]
                if let node = obj["colour"] ?? obj["color"] {
                    if let v = node.doubles(count: 3) {
                        if v.allSatisfy({ $0 >= 0 && $0 <= 255 && $0 == $0.rounded() }) { rgb = v.map { UInt8($0) } } else {
                            node.error("a colour is [red, green, blue], integers 0 to 255"); ok = false
                        }
                    } else { ok = false }
                } else {
                    item.error("missing required key \"colour\" ([red, green, blue])"); ok = false
                }
                if let value, let name {
                    categories.append(.init(value: value, name: name, english: english, red: rgb[0], green: rgb[1], blue: rgb[2]))
                }
            }
        }
        let categoryValues = Set(categories.map(\.value))

        // matrix
        var rules: [JobSpec.MatrixRule] = []
        let dimensionNames = ["risk"] + factorLevels.map(\.0)
        let sizes: [Int?] = [riskLevels] + factorLevels.map(\.1)
        if let matrixKey = p.keys["matrix"], let m = p["matrix"], let items = m.sequence() {
            if items.isEmpty { m.error("the matrix needs at least one rule"); ok = false }
            var rulesOK = true
            for item in items {
                guard let obj = item.object(allowed: dimensionNames + ["category"], required: dimensionNames + ["category"]) else {
                    rulesOK = false; continue
                }
                var levels: [Set<Int>?] = []
                for (d, name) in dimensionNames.enumerated() {
                    guard let v = obj[name] else { rulesOK = false; levels.append(nil); continue }
                    if v.scalarString == "any" { levels.append(nil); continue }
                    let values: [YNode]
                    if case .sequence = v.node { values = v.sequence() ?? [] } else { values = [v] }
                    if values.isEmpty { v.error("give levels or any"); rulesOK = false }
                    var set = Set<Int>()
                    for node in values {
                        guard case .scalar = node.node, let level = node.int() else {
                            if case .scalar = node.node {} else { node.error("expected a level (integer) or any, got \(node.describe)") }
                            rulesOK = false; continue
                        }
                        if let size = sizes[d], level < 1 || level > size {
                            let what = d == 0 ? "risk has levels 1 to \(size) (the \(size) classes of classify.scheme)"
                                : "factor \(name) has levels 1 to \(size) (\(size - 1) break\(size == 2 ? "" : "s"))"
                            node.error("level \(level) is out of range: \(what)")
                            rulesOK = false
                        }
                        set.insert(level)
                    }
                    levels.append(set)
                }
                var category = 0
                if let c = obj["category"], let value = c.int() {
                    category = value
                    if !categoryValues.contains(value) {
                        c.error("unknown category \(value); categories: \(categories.map { "\($0.value) \($0.name)" }.joined(separator: ", "))")
                        rulesOK = false
                    }
                } else { rulesOK = false }
                rules.append(.init(levels: levels, category: category, line: item.mark.line))
            }
            ok = ok && rulesOK
            // Coverage: every combination of levels must reach a rule.
            if rulesOK, !rules.isEmpty, sizes.allSatisfy({ $0 != nil }) {
                let dims = sizes.map { $0! }
                let total = dims.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
                if total > JobSpec.maxMatrixCells {
                    matrixKey.error("the matrix has \(total) cells (limit \(JobSpec.maxMatrixCells)); use fewer levels")
                    ok = false
                } else {
                    let cells = JobSpec.Prevention.evaluate(rules, dimensions: dims)
                    let missing = cells.indices.filter { cells[$0] == nil }
                    if !missing.isEmpty {
                        let shown = missing.prefix(8).map { describeCell($0, dimensions: dims, names: dimensionNames) }
                        let more = missing.count > shown.count ? ", … and \(missing.count - shown.count) more" : ""
                        matrixKey.error("matrix does not cover \(missing.count) of \(total) combinations: \(shown.joined(separator: ", "))\(more); add rules (or a last catch-all rule with any)")
                        ok = false
                    } else if ok, let riskLevels {
                        return JobSpec.Prevention(factors: factors, categories: categories, rules: rules, riskLevels: riskLevels,
                                                  table: cells.map { UInt8($0!) })
                    }
                }
            }
        }
        return nil
    }

    /// "risk 3 × exposure 1 × capacity 2" for a cell index (risk slowest, last factor fastest).
    private func describeCell(_ index: Int, dimensions: [Int], names: [String]) -> String {
        var rest = index
        var levels = [Int](repeating: 0, count: dimensions.count)
        for d in stride(from: dimensions.count - 1, through: 0, by: -1) {
            levels[d] = rest % dimensions[d] + 1
            rest /= dimensions[d]
        }
        return zip(names, levels).map { "\($0) \($1)" }.joined(separator: " × ")
    }
}
