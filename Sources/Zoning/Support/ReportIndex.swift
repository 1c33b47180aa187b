import Foundation
import FilePaths
import Logging

/// `hazard-zoning report OUT`: `OUT/index.html`, the county summary across jobs — every job folder
/// of OUT with a published run (`latest`), its level table (from that run's manifest.json), its
/// maps and a link to its report; the page a planner bookmarks. Regenerated after every `batch`.
public enum ReportIndex {
    /// Writes `folder/index.html`; returns its path and the jobs it lists.
    @discardableResult
    public static func write(_ folder: String) throws -> (path: String, jobs: [String]) {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted() } catch {
            throw RunError(.noInput, "\(folder): cannot list the output folder: \(error.localizedDescription)")
        }
        var sections: [String] = [], jobs: [String] = []
        for name in names where !name.hasPrefix(".") {
            let publisher = Publisher(outputDirectory: folder.appendingComponent(name))
            guard let run = publisher.latestRun, let manifest = publisher.latestManifest() else { continue }
            jobs.append(name)
            sections.append(jobSection(name: name, run: run.fileName, manifest: manifest,
                                      hasReport: FileManager.default.fileExists(atPath: run.appendingComponent("report.html"))))
        }
        guard !jobs.isEmpty else {
            throw RunError(.noInput, "\(folder): no job folder with a published run (a `latest` link) found; expected the outputs folder of `run` or `batch`")
        }
        var html = "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>风险评估汇总 Risk assessment summary</title>"
        html += "<style>\(ReportHTML.style)</style></head><body>\n<h1>风险评估汇总 Risk assessment summary</h1>\n"
        html += "<p>\(jobs.count) 个作业的最新运行 the latest run of \(jobs.count) job\(jobs.count == 1 ? "" : "s").</p>\n"
        html += sections.joined(separator: "\n") + "\n</body></html>\n"
        let path = folder.appendingComponent("index.html")
        try STAC.writeAtomically(Data(html.utf8), to: path)
        return (path, jobs)
    }

    /// One job: title, run, the level table (area, share, each total), maps and the report link.
    static func jobSection(name: String, run: String, manifest m: Manifest, hasReport: Bool) -> String {
        let base = "\(name)/\(run)"
        var html = "<section id=\"job-\(htmlEscaped(name))\"><h2>\(htmlEscaped(m.applied?.title ?? name)) (\(htmlEscaped(name)))</h2>"
        html += "<p>运行 run \(htmlEscaped(m.runId))，完成 finished \(htmlEscaped(m.finished))"
        if hasReport {
            html += " · <a href=\"\(htmlEscaped(base))/report.html\">评估报告 report</a> · <a href=\"\(htmlEscaped(base))/report.pdf\">PDF</a>"
                + " · <a href=\"\(htmlEscaped(base))/tables.xlsx\">tables.xlsx</a>"
        }
        html += "</p>"
        let totals = m.totals ?? []
        html += "<table class=\"levels\"><thead><tr><th>等级 level</th><th>面积(公顷) area (ha)</th><th>占比(%) share (%)</th>"
        html += totals.map { "<th>\(htmlEscaped($0.name)) (\(htmlEscaped($0.units ?? $0.name)))</th>" }.joined() + "</tr></thead><tbody>"
        for c in m.statistics.classes {
            html += "<tr><td>\(htmlEscaped(c.name))</td><td class=\"n\">\(c.areaHa.map { String(format: "%.1f", $0) } ?? "")</td>"
            html += "<td class=\"n\">\(c.percent.map { String(format: "%.1f", $0) } ?? "")</td>"
            for t in totals { html += "<td class=\"n\">\(t.classes.first { $0.value == c.value }.map { groupedInteger($0.total) } ?? "")</td>" }
            html += "</tr>"
        }
        html += "</tbody></table>"
        for png in ReportBuilder.maps(of: m) {
            html += "<figure><a href=\"\(htmlEscaped(base))/\(htmlEscaped(png))\"><img style=\"max-width:320px\" alt=\"\(htmlEscaped(png))\" src=\"\(htmlEscaped(base))/\(htmlEscaped(png))\"></a>"
                + "<figcaption>\(htmlEscaped(ReportBuilder.mapCaptions[String(png.dropLast(4))] ?? png))</figcaption></figure>"
        }
        return html + "</section>"
    }
}

extension ReportIndex {
    /// After `batch`: `index.html` of every outputs folder the batch published into; a failure is
    /// logged, not fatal (the runs themselves are published).
    static func regenerate(_ folders: [String], logger: Logger) {
        for folder in folders {
            do { try write(folder) } catch {
                logger.warning("summary page not written", metadata: ["folder": "\(folder)", "error": "\(error)"])
            }
        }
    }
}
