import Foundation
import GDALKit

extension JobLoader {
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
        let riskLevels = schemeClassCount(top["classify"]) ?? typedClassCount(top)
        var ok = true

        // factors
        var factors: [JobSpec.Factor] = []
        /// Every factor name written, with its level count when its breaks are usable.
        var factorLevels: [(String, Int?)] = []
        if let f = p["factors"], let entries = f.entries() {
            if entries.isEmpty { f.error("at least one factor is needed"); ok = false }
            for (name, keyNode, value) in entries {
                let (factor, levels) = parseFactor(name: name, keyNode: keyNode, value: value, gridCRS: gridCRS, jobFile: jobFile,
                                                   sink: sink, cache: &cache, ok: &ok)
                factorLevels.append((name, levels))
                if let factor {
                    auxiliary[factor.definition.name] = factor.definition
                    factors.append(factor)
                }
            }
        } else { ok = false }

        let categories = p["categories"].map { parseCategories($0, ok: &ok) } ?? JobSpec.Prevention.defaultCategories

        // matrix
        let dimensionNames = ["risk"] + factorLevels.map(\.0)
        let sizes: [Int?] = [riskLevels] + factorLevels.map(\.1)
        guard let matrixKey = p.keys["matrix"], let m = p["matrix"], let items = m.sequence() else { return nil }
        if items.isEmpty { m.error("the matrix needs at least one rule"); ok = false }
        var rulesOK = true
        let rules = items.compactMap { parseRule($0, names: dimensionNames, sizes: sizes, categories: categories, ok: &rulesOK) }
        ok = ok && rulesOK
        // Coverage: every combination of levels must reach a rule.
        guard rulesOK, !rules.isEmpty, sizes.allSatisfy({ $0 != nil }),
              let table = coveredTable(rules, dimensions: sizes.map { $0! }, names: dimensionNames, at: matrixKey),
              ok, let riskLevels else { return nil }
        return JobSpec.Prevention(factors: factors, categories: categories, rules: rules, riskLevels: riskLevels, table: table)
    }

    /// One entry of `prevention.factors`, and its level count when its breaks are usable; problems
    /// clear `ok`.
    private func parseFactor(name: String, keyNode: YNode, value: YNode, gridCRS: String?, jobFile: String, sink: DiagnosticSink,
                             cache: inout [String: LayerDefinition?], ok: inout Bool) -> (JobSpec.Factor?, levels: Int?) {
        if name.range(of: "^[A-Za-z][A-Za-z0-9_-]*$", options: .regularExpression) == nil {
            keyNode.error("a factor name must start with a letter and hold letters, digits, '_' or '-'"); ok = false
        } else if name == "risk" || name == "category" {
            keyNode.error("\"\(name)\" is taken by the matrix itself; name the factor otherwise"); ok = false
        }
        guard let obj = value.object(allowed: ["layer", "breaks", "proximity", "resampling", "error-threshold", "all-touched"],
                                     required: ["layer"]) else { ok = false; return (nil, nil) }
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
            breaks = checkFactorBreaks(values, at: b, proximity: forms[0] == "proximity", gridCRS: gridCRS)
        }
        let levels = breaks.map { $0.count + 1 }
        guard let def, let breaks, forms.count == 1 else { ok = false; return (nil, levels) }
        let m = keyNode.mark
        return (JobSpec.Factor(name: name, definition: def, kind: forms[0] == "proximity" ? .proximity : .value,
                               breaks: breaks, resampling: resampling, errorThreshold: et, allTouched: allTouched,
                               position: .init(file: jobFile, line: m.line, column: m.column)), levels)
    }

    /// A factor's breaks (or proximity distances), nil when unusable.
    private func checkFactorBreaks(_ values: [Double], at b: YNode, proximity: Bool, gridCRS: String?) -> [Double]? {
        var breaks: [Double]? = values
        if values.isEmpty { b.error("give at least one break (n breaks make n + 1 levels)"); breaks = nil }
        for (i, (x, y)) in zip(values, values.dropFirst()).enumerated() where !(y > x) {
            b.error("breaks must increase: break \(i + 2) (\(formatNumber(y))) is not above break \(i + 1) (\(formatNumber(x)))")
            breaks = nil
        }
        if values.count > 254 { b.error("at most 254 breaks (255 levels)"); breaks = nil }
        if proximity {
            if let first = values.first, first <= 0 { b.error("distances must be positive"); breaks = nil }
        }
        return breaks
    }

    /// `prevention.categories`; problems clear `ok`.
    private func parseCategories(_ c: YNode, ok: inout Bool) -> [JobSpec.Category] {
        guard let items = c.sequence() else { return JobSpec.Prevention.defaultCategories }
        var categories: [JobSpec.Category] = []
        if items.isEmpty { c.error("at least one category is needed"); ok = false }
        for item in items {
            guard let obj = item.object(allowed: ["value", "name", "english", "colour", "color", "advice"], required: ["value", "name"]) else {
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
                var category = JobSpec.Category(value: value, name: name, english: english, red: rgb[0], green: rgb[1], blue: rgb[2])
                category.advice = parseAdvice(obj["advice"], ok: &ok)
                categories.append(category)
            }
        }
        return categories
    }

    /// One rule of `prevention.matrix`: levels (or any) per dimension and the category; problems
    /// clear `ok`. Nil only when the rule is not a mapping with the dimensions' keys.
    private func parseRule(_ item: YNode, names dimensionNames: [String], sizes: [Int?], categories: [JobSpec.Category],
                           ok rulesOK: inout Bool) -> JobSpec.MatrixRule? {
        guard let obj = item.object(allowed: dimensionNames + ["category"], required: dimensionNames + ["category"]) else {
            rulesOK = false; return nil
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
            if !categories.contains(where: { $0.value == value }) {
                c.error("unknown category \(value); categories: \(categories.map { "\($0.value) \($0.name)" }.joined(separator: ", "))")
                rulesOK = false
            }
        } else { rulesOK = false }
        return .init(levels: levels, category: category, line: item.mark.line)
    }

    /// The category of every cell (see `JobSpec.Prevention.table`), or nil after reporting at
    /// `matrixKey` a matrix too large or combinations no rule reaches.
    private func coveredTable(_ rules: [JobSpec.MatrixRule], dimensions dims: [Int], names dimensionNames: [String],
                              at matrixKey: YNode) -> [UInt8]? {
        let total = dims.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
        if total > JobSpec.maxMatrixCells {
            matrixKey.error("the matrix has \(total) cells (limit \(JobSpec.maxMatrixCells)); use fewer levels")
            return nil
        }
        let cells = JobSpec.Prevention.evaluate(rules, dimensions: dims)
        let missing = cells.indices.filter { cells[$0] == nil }
        if !missing.isEmpty {
            let shown = missing.prefix(8).map { describeCell($0, dimensions: dims, names: dimensionNames) }
            let more = missing.count > shown.count ? ", … and \(missing.count - shown.count) more" : ""
            matrixKey.error("matrix does not cover \(missing.count) of \(total) combinations: \(shown.joined(separator: ", "))\(more); add rules (or a last catch-all rule with any)")
            return nil
        }
        return cells.map { UInt8($0!) }
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
