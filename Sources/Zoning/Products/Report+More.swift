import Foundation
import FilePaths
import RiskDatabase

extension ReportBuilder {
    /// 稳定性: the class-stability analysis (`sensitivity:`), per township from sensitivity.json.
    mutating func stability() -> ReportContent.Section? {
        guard let rows = inputs.sensitivity, let s = manifest.sensitivity else { return nil }
        var blocks: [ReportContent.Block] = [.paragraph(
            "对 \(s.index) 的权重作 \(s.scenarios.count) 组扰动 (±\(formatNumber(s.perturb * 100))%，\(s.samples) 个样本)，统计每个像元保持基准等级的情景比例。"
            + " \(s.scenarios.count) weight scenarios of \(s.index): the share of each township's area whose class stays the same, and the levels the township takes. "
            + "全域 whole area: \(groupedInteger(Double(s.stablePixels))) of \(groupedInteger(Double(s.validPixels))) valid pixels keep their class in every scenario.")]
        let cells = rows.map { r -> [ReportContent.Cell] in
            [.text(r.name), .text(levelName(r.level)), .number(r.stablePercent, .percent), .number(r.atLeast80Percent, .percent),
             .number(r.below50Percent, .percent), .text(levelName(r.lowestLevel)), .text(levelName(r.highestLevel)),
             .text(Set(r.scenarioLevels.compactMap { $0 }).sorted().map { levelName($0) }.joined(separator: "、")),
             .text(r.levelChanges ? "是 yes" : "否 no")]
        }
        blocks.append(table("sensitivity", "乡镇等级的稳定性 Stability of the township levels",
                            ["乡镇 township", "风险等级 level", "始终不变(%) stable (%)", "≥80%情景不变(%) ≥ 80 % (%)", "<50%情景不变(%) < 50 % (%)",
                             "最低等级 lowest level", "最高等级 highest level", "各情景等级 levels taken", "等级会变 level changes"], cells))
        return .init(title: "稳定性 Stability", blocks: blocks)
    }

    /// 变化: townships whose level changed since the previous run, and the people in their pixels
    /// whose class rose or fell (sums of the transitions of changes.json).
    mutating func changes() -> ReportContent.Section? {
        guard let c = inputs.changes, let towns = c["townships"]?.array else { return nil }
        let total = inputs.totals.first
        let from = c["from"]?["run_id"]?.string ?? ""
        var header = ["乡镇 township", "上次等级 previous level", "本次等级 level", "变化面积(公顷) changed area (ha)"]
        if let total { header += ["等级升高处\(total.name) (\(total.units)) in pixels whose class rose", "等级降低处\(total.name) (\(total.units)) in pixels whose class fell"] }
        let changed = towns.filter { $0["previous_level"]?.int != $0["level"]?.int }
        let explained = c["explanation"]?.string != nil
        header += explanationHeader(explained: explained)
        let rows = changed.map { t -> [ReportContent.Cell] in
            var up = 0.0, down = 0.0, area = 0.0
            for tr in t["transitions"]?.array ?? [] {
                guard let a = tr["from"]?.int, let b = tr["to"]?.int, a != b else { continue }
                area += tr["area_ha"]?.number ?? 0
                let v = total.flatMap { tr["totals"]?[$0.name]?.number } ?? 0
                if b > a { up += v } else { down += v }
            }
            var row: [ReportContent.Cell] = [.text(t["township"]?.string ?? ""), .text(levelName(t["previous_level"]?.int)),
                                             .text(levelName(t["level"]?.int)), .number(area, .area)]
            if total != nil { row += [.number(up, .integer), .number(down, .integer)] }
            return row + explanationCells(t, explained: explained)
        }
        var blocks: [ReportContent.Block] = [.paragraph("与上次运行 \(from) 相比 (compared with the previous run \(from))：\(changed.count) 个乡镇等级变化 townships changed level。")]
        if let method = c["explanation"]?.string {
            blocks.append(.paragraph("平均指数变化的分解 How the change of the mean index splits: \(method)"))
        }
        blocks.append(table("changes", "等级变化的乡镇 Townships whose level changed", header, rows))
        return .init(title: "变化 Changes since the previous run", blocks: blocks)
    }

    /// The columns of the explanation of a change (changes.json, `ChangeExplanation`): the change of
    /// the mean index, the level the township would have under the previous run's breaks, and, when
    /// the run explained its changes, the parts from the data, the weights and their interaction.
    private func explanationHeader(explained: Bool) -> [String] {
        ["平均指数变化 Δ mean index", "按上次分级的等级 level by the previous breaks"]
            + (explained ? ["数据所致 Δ from data", "权重所致 Δ from weights", "交互项 interaction"] : [])
    }

    private func explanationCells(_ t: JSONValue, explained: Bool) -> [ReportContent.Cell] {
        func index(_ key: String) -> ReportContent.Cell { t[key]?.number.map { .number($0, .index) } ?? .text("") }
        return [index("delta_index"), .text(t["level_by_old_breaks"]?.int.map { levelName($0) } ?? "")]
            + (explained ? [index("delta_index_data"), index("delta_index_weights"), index("delta_index_interaction")] : [])
    }

    /// 防治建议: per prevention category its area and the job's advice (manifest.json).
    mutating func prevention() -> ReportContent.Section? {
        guard let p = manifest.prevention else { return nil }
        let totals = inputs.totals
        let rows = p.categories.map { c -> [ReportContent.Cell] in
            [.text(c.name + (c.english.map { " \($0)" } ?? "")), .number(c.areaHa, .area)]
                + totals.map { t in .number(c.totals?[t.name], .integer) } + [.text(c.advice ?? "—")]
        }
        let header = ["防治分区 category", "面积(公顷) area (ha)"] + totals.map { "\($0.name) (\($0.units))" } + ["防治建议 advice"]
        let blocks: [ReportContent.Block] = [table("prevention", "防治分区、暴露与建议 Prevention categories, exposure and advice", header, rows)]
        return .init(title: "防治建议 Prevention", blocks: blocks)
    }

    /// The run's maps (PNG) as figures.
    mutating func maps() -> ReportContent.Section? {
        let pngs = ReportBuilder.maps(of: manifest)
        guard !pngs.isEmpty else { return nil }
        let blocks = pngs.map { name -> ReportContent.Block in
            figureCount += 1
            return .figure(file: name, number: figureCount, caption: ReportBuilder.mapCaptions[name.replacingOccurrences(of: ".png", with: "")] ?? name)
        }
        return .init(title: "图件 Maps", blocks: blocks)
    }

    /// The run's maps (PNG files of its folder) in the order a planner reads them.
    static func maps(of manifest: Manifest) -> [String] {
        let order = ["risk_map", "zoning_map", "township_map", "prevention_map", "stability_map", "risk_change_map"]
        func rank(_ name: String) -> Int { order.firstIndex(of: String(name.dropLast(4))) ?? order.count }
        return manifest.products.map(\.path).filter { $0.hasSuffix(".png") && !$0.contains("/") }
            .sorted { (rank($0), $0) < (rank($1), $1) }
    }

    static let mapCaptions = [
        "risk_map": "综合风险图 Risk index", "zoning_map": "风险区划图 Risk zoning", "risk_zoning_map": "风险区划图 Risk zoning",
        "township_map": "乡镇风险等级图 Township risk levels", "prevention_map": "防治区划图 Prevention zoning",
        "stability_map": "等级稳定性图 Class stability", "risk_change_map": "风险变化图 Risk change",
    ]

    /// Provenance: every input file with its checksum, the tool and library versions.
    mutating func provenance() -> ReportContent.Section {
        let m = manifest
        var rows: [[ReportContent.Cell]] = []
        for input in m.inputs {
            for f in [input.definition] + input.files {
                rows.append([.text(input.key), .text(f.path.fileName), .number(Double(f.size), .integer), .text(f.sha256)])
            }
        }
        rows.append([.text("作业 job"), .text(m.job.name), .text(""), .text(m.job.fileSha256)])
        let blocks: [ReportContent.Block] = [
            .paragraph("软件 Software: \(m.tool.name) \(m.tool.version)；GDAL \(m.tool.gdal)；PROJ \(m.tool.proj)。作业散列 job hash \(m.job.hash)；"
                + "运行 run \(m.runId)。"),
            .paragraph("文件名与校验和足以识别输入（完整路径见 manifest.json）。File names and checksums identify the inputs (full paths in manifest.json)."),
            table("provenance", "输入数据与校验和 Inputs and their SHA-256", ["输入 input", "文件 file", "字节 bytes", "SHA-256"], rows),
        ]
        return .init(title: "数据来源与可追溯性 Provenance", blocks: blocks)
    }

    /// The whole report.
    mutating func content() -> ReportContent {
        var content = ReportContent(title: job.report?.title ?? (job.title.map { "\($0) 风险评估报告" } ?? "\(job.name) 风险评估报告"),
                                    unit: job.report?.unit ?? job.maps.furniture.producer, date: String(manifest.finished.prefix(10)), runID: manifest.runId)
        content.sections = [overview(), results()]
        content.sections += [maps(), attribution(), stability(), changes(), prevention()].compactMap { $0 }
        content.sections.append(provenance())
        let numerals = ["一", "二", "三", "四", "五", "六", "七", "八", "九", "十"]
        for i in content.sections.indices { content.sections[i].title = "\(numerals[min(i, 9)])、\(content.sections[i].title)" }
        content.chart = chart
        return content
    }
}
