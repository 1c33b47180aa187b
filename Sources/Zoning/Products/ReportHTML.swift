import Foundation
import Cartography
import FilePaths

/// `report.html`: the report as one self-contained page — inline CSS, the indicator tree as inline
/// SVG, the maps as PNG data URIs; no script, no request leaves the page.
enum ReportHTML {
    static let style = """
        body{font-family:"Noto Sans CJK SC","Noto Sans",sans-serif;margin:2em auto;max-width:1100px;color:#222;line-height:1.5}
        h1{color:#a01010}h2{border-bottom:2px solid #a01010;padding-bottom:.2em;margin-top:1.6em}
        table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:13px}th,td{border:1px solid #bbb;padding:3px 6px}
        th{background:#eef0f4;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
        caption{caption-side:top;text-align:left;font-weight:bold;padding:.3em 0}figure{margin:1em 0}
        figure img{max-width:100%;border:1px solid #ccc}figcaption{font-weight:bold}.tree,.wide{overflow-x:auto}
        .cover{color:#555}
        """

    static func page(_ content: ReportContent, folder: String) throws -> String {
        var html = "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>\(htmlEscaped(content.title))</title>"
        html += "<style>\(style)</style></head><body>\n<h1>\(htmlEscaped(content.title))</h1>\n"
        html += "<p class=\"cover\">制图单位 Unit: \(htmlEscaped(content.unit ?? "—"))<br>日期 Date: \(content.date)<br>运行 Run: \(htmlEscaped(content.runID))</p>\n"
        for section in content.sections {
            html += "<section><h2>\(htmlEscaped(section.title))</h2>\n"
            for block in section.blocks { html += try self.block(block, folder: folder) + "\n" }
            html += "</section>\n"
        }
        return html + "</body></html>\n"
    }

    static func block(_ block: ReportContent.Block, folder: String) throws -> String {
        switch block {
        case .subheading(let s): return "<h3>\(htmlEscaped(s))</h3>"
        case .paragraph(let s): return "<p>\(htmlEscaped(s))</p>"
        case .tree(let tree): return "<div class=\"tree\">\(tree.svg)</div>"
        case .table(let t): return table(t)
        case .figure(let file, let number, let caption):
            let path = folder.appendingComponent(file)
            guard let data = FileManager.default.contents(atPath: path) else {
                throw RunError(.ioError, "\(path): cannot be read for the report")
            }
            return "<figure id=\"figure-\(number)\"><img alt=\"\(htmlEscaped(caption))\" src=\"data:image/png;base64,\(data.base64EncodedString())\">"
                + "<figcaption>图 \(number) Figure \(number) \(htmlEscaped(caption))</figcaption></figure>"
        }
    }

    static func table(_ t: ReportContent.Table) -> String {
        var html = "<div class=\"wide\"><table id=\"\(t.key)\"><caption>\(htmlEscaped(t.numbered))</caption><thead><tr>"
        html += t.header.map { "<th>\(htmlEscaped($0))</th>" }.joined() + "</tr></thead><tbody>"
        for row in t.rows {
            html += "<tr>" + row.map { c in c.number != nil ? "<td class=\"n\">\(htmlEscaped(c.text))</td>" : "<td>\(htmlEscaped(c.text))</td>" }.joined() + "</tr>"
        }
        return html + "</tbody></table></div>"
    }
}

/// `report.pdf`: the same content for print through Cartography's `ReportDocument`.
enum ReportPDF {
    static func document(_ content: ReportContent, folder: String, created: String) -> ReportDocument {
        var blocks: [ReportDocument.Block] = []
        for section in content.sections {
            blocks.append(.heading(section.title))
            for block in section.blocks {
                switch block {
                case .subheading(let s): blocks.append(.subheading(s))
                case .paragraph(let s): blocks.append(.paragraph(s))
                case .tree: continue  // the table of indices and weights follows it
                case .table(let t):
                    blocks.append(.table(.init(caption: t.numbered, header: t.header, rows: t.rows.map { $0.map(\.text) },
                                               numeric: t.header.indices.map { j in t.rows.contains { j < $0.count && $0[j].number != nil } })))
                case .figure(let file, let number, let caption):
                    blocks.append(.figure(png: folder.appendingComponent(file), caption: "图 \(number) Figure \(number) \(caption)"))
                }
            }
        }
        var cover = ["制图单位 Unit: \(content.unit ?? "—")", "日期 Date: \(content.date)", "运行 Run: \(content.runID)"]
        cover.append("风险评估报告 Risk assessment report")
        return ReportDocument(title: content.title, subtitle: "自然灾害综合风险评估与区划 Natural-disaster risk assessment and zoning",
                              coverLines: cover, blocks: blocks, date: created)
    }
}
