import Foundation
import FilePaths
import RiskDatabase

/// The report's sections, each from the run's JSON products (`ReportInputs`).
struct ReportBuilder {
    let inputs: ReportInputs
    /// The job as run: titles, the township level rule, the class scheme (words, not numbers).
    let job: JobSpec
    var tableCount = 0
    var figureCount = 0

    var manifest: Manifest { inputs.manifest }
    var scheme: ClassScheme { job.classify.scheme }

    mutating func table(_ key: String, _ caption: String, _ header: [String], _ rows: [[ReportContent.Cell]]) -> ReportContent.Block {
        tableCount += 1
        return .table(.init(key: key, number: tableCount, caption: caption, header: header, rows: rows))
    }

    func levelName(_ v: Int?) -> String {
        guard let v, let c = scheme.classes.first(where: { Int($0.value) == v }) else { return "" }
        return "\(c.name) \(c.english)"
    }

    /// 评估概况: question, area, date, grid, the model (tree, weights, normalisations), the classification.
    mutating func overview() -> ReportContent.Section {
        let m = manifest
        var blocks: [ReportContent.Block] = [
            .paragraph("评估问题：\(job.title ?? job.name) —— 各乡镇的风险等级、各等级的面积与人口、等级的成因与稳定性。"
                + " Assessment question: the risk level of every township of \(job.title ?? job.name), the area and people per level, why each township has its level and how stable it is."),
            .paragraph("运行 Run \(m.runId)；日期 date \(m.finished.prefix(10))；格网 grid \(m.grid.crs)，\(m.grid.width) × \(m.grid.height) 像元 pixels，"
                + "像元大小 pixel size \(formatNumber(m.grid.geoTransform[1]))；有效像元 valid pixels \(groupedInteger(Double(m.statistics.validPixels)))。"),
        ]
        if let sources = job.maps.sources, !sources.isEmpty {
            blocks.append(.subheading("数据来源与许可 Data sources and licences"))
            blocks += sources.map { .paragraph("· \($0)") }
        }
        if let model = m.model {
            blocks.append(.subheading("指标体系与权重 Indicator tree and weights"))
            blocks.append(.tree(ReportTree(model: model)))
            let rows = (model.indices + [model.combine]).map { n -> [ReportContent.Cell] in
                [.text(n.name), .text(n.form), .text(n.members.joined(separator: ", ")),
                 .text(n.weights.map { $0.map { String(format: "%.4f", $0) }.joined(separator: ", ") } ?? "—"),
                 .number(n.ahpConsistencyRatio, .index),
                 .text(n.entropy.map { $0.map { String(format: "%.4f", $0) }.joined(separator: ", ") } ?? "—"), .text(n.formula)]
            }
            blocks.append(table("model", "指标与权重 Indices and weights",
                                ["指数 index", "形式 form", "成员 members", "权重 weights", "AHP 一致性比率 CR", "熵 entropies eⱼ", "公式 formula"], rows))
            let layers = model.layers.map { l -> [ReportContent.Cell] in
                [.text(l.key), .text(l.normalization), .number(l.minimum, .text), .number(l.maximum, .text), .text(l.direction), .text(l.resampling)]
            }
            blocks.append(table("normalisation", "指标标准化 Normalisation of the indicators",
                                ["指标 indicator", "标准化 normalisation", "下限 min", "上限 max", "方向 direction", "重采样 resampling"], layers))
        }
        let c = m.classification
        blocks.append(.subheading("分级 Classification"))
        blocks.append(.paragraph("分级方案 scheme \(c.scheme)，方法 method \(c.method ?? "固定断点 fixed breaks")，断点 breaks "
            + c.breaks.map { String(format: "%.4f", $0) }.joined(separator: ", ") + "：等级 = 1 + 不大于指数的断点数 (class = 1 + number of breaks ≤ index)。"))
        return .init(title: "评估概况 Overview", blocks: blocks)
    }

    /// The township level rule in words.
    var levelRule: String {
        switch job.townshipSource?.level {
        case .highShare(let share)?:
            let p = formatNumber(share * 100)
            return "乡镇风险等级：从最高等级往下累计面积，首个使累计面积达到乡镇有效面积 \(p)% 的等级即为乡镇等级。"
                + " Township level: the highest level whose area, added to the areas of the levels above it, reaches \(p) % of the township's valid area."
        default:
            return "乡镇风险等级：乡镇内有效像元的平均风险指数按上述断点分级。"
                + " Township level: the mean risk index over the township's valid pixels, classified with the breaks above."
        }
    }
}
