import CXLSX
import Foundation

/// `tables.xlsx`: the report's tables as a workbook (libxlsxwriter): county summary, townships,
/// prevention, changes, sensitivity, and a bar chart of people per level per township. Headers
/// bilingual with units, frozen; number formats (people as integers, ha with one decimal);
/// column widths from the longest text.
enum Workbook {
    static let sheets: [(key: String, name: String)] = [
        ("county", "county 全域汇总"), ("townships", "townships 乡镇"), ("prevention", "prevention 防治"),
        ("changes", "changes 变化"), ("sensitivity", "sensitivity 稳定性"),
    ]

    static func write(_ content: ReportContent, to path: String, created: Date) throws {
        guard let wb = workbook_new(path) else { throw RunError(.cantCreate, "\(path): cannot create the workbook") }
        var properties = lxw_doc_properties()
        properties.created = time_t(created.timeIntervalSince1970)
        let title = strdup(content.title)
        defer { free(title) }
        properties.title = title
        workbook_set_properties(wb, &properties)
        let header = workbook_add_format(wb)
        format_set_bold(header)
        format_set_bg_color(header, 0xEEF0F4)
        format_set_text_wrap(header)
        var formats: [String: UnsafeMutablePointer<lxw_format>] = [:]
        for (key, pattern) in [("integer", "#,##0"), ("area", "0.0"), ("index", "0.000"), ("percent", "0.0")] {
            let f = workbook_add_format(wb)!
            format_set_num_format(f, pattern)
            formats[key] = f
        }
        func format(_ f: ReportContent.Format) -> UnsafeMutablePointer<lxw_format>? {
            switch f {
            case .integer: return formats["integer"]
            case .area: return formats["area"]
            case .index: return formats["index"]
            case .percent: return formats["percent"]
            case .text: return nil
            }
        }
        let tables = Dictionary(content.tables.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        for sheet in sheets {
            let ws = workbook_add_worksheet(wb, sheet.name)!
            let table = tables[sheet.key] ?? ReportContent.Table(key: sheet.key, number: 0, caption: "", header: ["无 none"],
                                                                   rows: [[.text("本次运行无此表 the run has no such table")]])
            fill(ws, table, header: header, format: format)
        }
        if let chart = content.chart { addChart(wb, chart) }
        let status = workbook_close(wb)
        guard status == LXW_NO_ERROR else {
            throw RunError(.ioError, "\(path): cannot write the workbook: \(String(cString: lxw_strerror(status)))")
        }
    }

    static func fill(_ ws: UnsafeMutablePointer<lxw_worksheet>, _ table: ReportContent.Table, header: UnsafeMutablePointer<lxw_format>?,
                     format: (ReportContent.Format) -> UnsafeMutablePointer<lxw_format>?) {
        var widths = table.header.map { min(40.0, Double($0.utf8.count) * 0.6 + 2) }
        for (j, h) in table.header.enumerated() { worksheet_write_string(ws, 0, lxw_col_t(j), h, header) }
        for (i, row) in table.rows.enumerated() {
            for (j, cell) in row.enumerated() {
                let r = lxw_row_t(i + 1), c = lxw_col_t(j)
                if let v = cell.number {
                    worksheet_write_number(ws, r, c, v, format(cell.format))
                } else if !cell.text.isEmpty {
                    worksheet_write_string(ws, r, c, cell.text, nil)
                }
                if j < widths.count { widths[j] = min(60, max(widths[j], Double(cell.text.utf8.count) * 1.1 + 2)) }
            }
        }
        for (j, w) in widths.enumerated() { worksheet_set_column(ws, lxw_col_t(j), lxw_col_t(j), w, nil) }
        worksheet_set_row(ws, 0, 45, nil)
        worksheet_freeze_panes(ws, 1, 0)
    }

    /// The chart sheet: people per level (columns) per township (rows), and a clustered bar chart of it.
    static func addChart(_ wb: UnsafeMutablePointer<lxw_workbook>, _ chart: ReportChart) {
        let ws = workbook_add_worksheet(wb, "chart")!
        let integer = workbook_add_format(wb)
        format_set_num_format(integer, "#,##0")
        worksheet_write_string(ws, 0, 0, "乡镇 township", nil)
        for (k, level) in chart.levels.enumerated() { worksheet_write_string(ws, 0, lxw_col_t(k + 1), "\(level) \(chart.total)", nil) }
        for (i, town) in chart.townships.enumerated() {
            worksheet_write_string(ws, lxw_row_t(i + 1), 0, town, nil)
            for k in chart.levels.indices { worksheet_write_number(ws, lxw_row_t(i + 1), lxw_col_t(k + 1), chart.values[k][i], integer) }
        }
        worksheet_set_column(ws, 0, lxw_col_t(chart.levels.count), 22, nil)
        worksheet_freeze_panes(ws, 1, 0)
        let c = workbook_add_chart(wb, UInt8(LXW_CHART_COLUMN.rawValue))!
        let last = lxw_row_t(chart.townships.count)
        for k in chart.levels.indices {
            let series = chart_add_series(c, nil, nil)!
            chart_series_set_categories(series, "chart", 1, 0, last, 0)
            chart_series_set_values(series, "chart", 1, lxw_col_t(k + 1), last, lxw_col_t(k + 1))
            chart_series_set_name(series, chart.levels[k])
            var fill = lxw_chart_fill(color: chart.colours[k], none: 0, transparency: 0)
            chart_series_set_fill(series, &fill)
        }
        chart_title_set_name(c, "各乡镇各等级\(chart.total) per level per township")
        chart_axis_set_name(c.pointee.x_axis, "乡镇 township")
        chart_axis_set_name(c.pointee.y_axis, chart.total)
        worksheet_insert_chart(ws, last + 2, 0, c)
    }
}
