import Foundation
import RiskDatabase

extension ReportBuilder {
    /// 评估结果: the county table per level and the township table, from manifest.json and stats.json.
    mutating func results() -> ReportContent.Section {
        let m = manifest
        let totals = inputs.totals
        var header = ["等级 level", "面积(公顷) area (ha)", "占比(%) share (%)"]
        header += totals.map { "\($0.name) (\($0.units))" }
        var rows: [[ReportContent.Cell]] = m.statistics.classes.map { c in
            var row: [ReportContent.Cell] = [.text(levelName(c.value)), .number(c.areaHa, .area), .number(c.percent, .percent)]
            for t in m.totals ?? [] { row.append(.number(t.classes.first { $0.value == c.value }?.total, .integer)) }
            return row
        }
        if let t = m.totals, !t.isEmpty {
            rows.append([.text("未分级 unclassified"), .text(""), .text("")] + t.map { .number($0.unclassified, .integer) })
            rows.append([.text("合计 total (in the mask)"), .text(""), .text("")] + t.map { .number($0.total, .integer) })
        }
        var blocks = [table("county", "全域各风险等级的面积与暴露 Area and exposure per risk level (whole area)", header, rows)]
        blocks.append(townshipTable())
        blocks.append(.paragraph(levelRule))
        return .init(title: "评估结果 Results", blocks: blocks)
    }

    /// One row per township: level, mean index, valid area, area per class, each total (sum and per class).
    mutating func townshipTable() -> ReportContent.Block {
        var header = ["乡镇 township", "代码 code", "风险等级 level", "平均指数 mean index", "有效面积(公顷) valid area (ha)"]
        header += scheme.classes.map { "\($0.name)面积(公顷) \($0.english) area (ha)" }
        for t in inputs.totals {
            header.append("\(t.name)合计 total (\(t.units))")
            header += scheme.classes.map { "\(t.name) \($0.name) (\(t.units))" }
        }
        let rows = inputs.stats.map { r -> [ReportContent.Cell] in
            var row: [ReportContent.Cell] = [.text(r["name"]?.string ?? ""), .text(r["code"]?.string ?? ""),
                                             .text(levelName(r["level"]?.int)), .number(r["mean_index"]?.number, .index),
                                             .number(r["valid_area_ha"]?.number, .area)]
            let classes = r["classes"]?.array ?? []
            row += scheme.classes.map { c in .number(classes.first { $0["value"]?.int == Int(c.value) }?["area_ha"]?.number, .area) }
            for t in inputs.totals {
                row.append(.number(r["\(t.name)_total"]?.number, .integer))
                row += scheme.classes.map { c in .number(r["\(t.name)_class_\(c.value)"]?.number, .integer) }
            }
            return row
        }
        return table("townships", "各乡镇风险等级、面积与暴露 Township levels, areas and exposure", header, rows)
    }

    /// The workbook's chart: people (the first total) per level per township, from stats.json.
    var chart: ReportChart? {
        guard let total = inputs.totals.first, !inputs.stats.isEmpty else { return nil }
        let values = scheme.classes.map { c in inputs.stats.map { $0["\(total.name)_class_\(c.value)"]?.number ?? 0 } }
        return ReportChart(total: "\(total.name) (\(total.units))", levels: scheme.classes.map { "\($0.name) \($0.english)" },
                           colours: scheme.classes.map { UInt32($0.rgb.0) << 16 | UInt32($0.rgb.1) << 8 | UInt32($0.rgb.2) },
                           townships: inputs.stats.map { $0["name"]?.string ?? "" }, values: values)
    }

    /// 归因: the townships in the two highest levels, their mean index split among the members.
    mutating func attribution() -> ReportContent.Section? {
        guard let a = inputs.attribution else { return nil }
        // The scheme's two highest levels; when no township has them, the two highest levels held.
        let held = Set(a.townships.compactMap(\.level)).sorted()
        let schemeTop = scheme.classCount - 1
        let top = a.townships.contains { ($0.level ?? 0) >= schemeTop } ? schemeTop : (held.suffix(2).first ?? schemeTop)
        let towns = a.townships.filter { ($0.level ?? 0) >= top }
        let how: String
        switch a.split {
        case "proportional": how = "加权和：成员贡献 = 权重 × 成员均值 (w·mean(x))。Weighted sum: a member's contribution is its weight times its mean."
        case "log": how = "乘积/几何平均：按对数贡献分解 (wⱼ·ln xⱼ / ln I，逐像元)。Product or geometric mean: split by log-contributions, pixel by pixel."
        case "argmax": how = "最大值：逐像元归于取最大值的成员。Maximum: each pixel goes wholly to its largest member."
        case "shapley": how = "表达式：按成员的沙普利值分解（基准为全部成员取 0），降低指数的成员（如防灾减灾能力）贡献为负。Expression: split by the members' Shapley values (baseline: every member at 0); a member that lowers the index has a negative part."
        default: how = "不分解 (not split: a combination with direction negative, or an expression of more than 8 members)。"
        }
        let which = top == schemeTop ? "最高两个等级中各乡镇 the townships in the two highest levels"
            : "没有乡镇处于最高两个等级，下表为所处等级最高的两级中的乡镇 no township is in the two highest levels; the townships in the two highest levels held"
        var blocks: [ReportContent.Block] = [.paragraph("\(which)：平均指数的来源 where their mean index comes from。\(how) 方法 Method: \(a.method)。")]
        var header = ["乡镇 township", "风险等级 level", "平均指数 mean index"]
        header += a.members.map { "\($0) 贡献 contribution" }
        header += a.members.map { "\($0) 占比(%) share (%)" }
        header.append("决定性指标 deciding indicator")
        let rows = towns.map { t -> [ReportContent.Cell] in
            var row: [ReportContent.Cell] = [.text(t.name), .text(levelName(t.level)), .number(t.meanIndex, .index)]
            row += t.members.map { .number($0.contribution, .index) }
            row += t.members.map { .number($0.percent, .percent) }
            return row + [.text(t.deciding ?? "")]
        }
        if towns.isEmpty {
            blocks.append(.paragraph("没有乡镇处于最高两个等级。No township is in the two highest levels."))
        } else {
            blocks.append(table("attribution", "高风险乡镇的指数分解 Why the townships of the two highest levels have them", header, rows))
        }
        return .init(title: "等级成因 Why each township has its level", blocks: blocks)
    }
}
