import CCairo
import Foundation

/// A printed report (A4, portrait) drawn with Cairo and Pango: a cover, then headings, paragraphs,
/// numbered tables (header repeated on every page they run onto) and figures (PNG files), with
/// page numbers. The fonts Pango picks (Noto Sans CJK for Chinese) are embedded by Cairo as subsets.
public struct ReportDocument: Sendable {
    public struct Table: Sendable {
        /// Caption with its number, e.g. "表 2 Table 2 各等级面积与人口 Area and people per level".
        public var caption: String
        public var header: [String]
        public var rows: [[String]]
        /// Per column: right-aligned (numbers).
        public var numeric: [Bool]
        public init(caption: String, header: [String], rows: [[String]], numeric: [Bool]) {
            self.caption = caption; self.header = header; self.rows = rows; self.numeric = numeric
        }
    }
    public enum Block: Sendable {
        case heading(String)
        case subheading(String)
        case paragraph(String)
        case table(Table)
        /// A PNG file drawn at the text width (at most `maxHeight` points high) with its caption.
        case figure(png: String, caption: String)
    }

    public var title: String
    public var subtitle: String
    /// Lines of the cover under the title (制图单位, date, run).
    public var coverLines: [String]
    public var blocks: [Block]
    public var fontFamily: String
    /// The PDF's creation date (`YYYY-MM-DDThh:mm:ss`), fixed so that the same report has the same bytes.
    public var date: String

    public init(title: String, subtitle: String, coverLines: [String], blocks: [Block], date: String,
                fontFamily: String = "Noto Sans CJK SC") {
        self.title = title; self.subtitle = subtitle; self.coverLines = coverLines; self.blocks = blocks
        self.date = date; self.fontFamily = fontFamily
    }

    static let page = (width: 595.28, height: 841.89)
    static let margin = 56.0
    static let maxFigureHeight = 318.0

    /// Writes the report as a PDF at `path`.
    public func renderPDF(to path: String) throws {
        let surface = cairo_pdf_surface_create(path, ReportDocument.page.width, ReportDocument.page.height)!
        defer { cairo_surface_destroy(surface) }
        try Canvas.check(cairo_surface_status(surface), "cairo_pdf_surface_create(\(path))")
        cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_TITLE, title)
        cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATOR, "HazardZoning report (Cairo, Pango)")
        cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATE_DATE, date)
        do {
            let canvas = try Canvas(surface: surface, scale: 1, family: fontFamily)
            var flow = ReportFlow(canvas: canvas)
            drawCover(canvas)
            cairo_show_page(canvas.cr)
            flow.pageNumber = 1
            for block in blocks { try flow.place(block) }
            flow.finishPage()
            try canvas.checkStatus("drawing the report")
        }
        cairo_surface_finish(surface)
        try Canvas.check(cairo_surface_status(surface), "writing \(path)")
    }

    private func drawCover(_ canvas: Canvas) {
        let (w, h) = ReportDocument.page
        let width = w - 2 * ReportDocument.margin
        canvas.fillRect(PageRect(x: 0, y: 0, width: w, height: 12), RGB(170, 20, 20))
        var y = h * 0.28
        for (text, size, bold) in [(title, 22.0, true), (subtitle, 13.0, false)] {
            let t = canvas.text(text, size: size, bold: bold, wrapWidth: width, align: .center)
            canvas.draw(t, at: PagePoint(x: ReportDocument.margin, y: y), color: RGB(20, 20, 20))
            y += t.height + 18
        }
        y = h * 0.62
        for line in coverLines {
            let t = canvas.text(line, size: 12, wrapWidth: width, align: .center)
            canvas.draw(t, at: PagePoint(x: ReportDocument.margin, y: y), color: RGB(40, 40, 40))
            y += t.height + 8
        }
    }
}

/// Places blocks top to bottom, starting a new page when the next piece does not fit.
struct ReportFlow {
    let canvas: Canvas
    var y = ReportDocument.margin
    var pageNumber = 0
    var width: Double { ReportDocument.page.width - 2 * ReportDocument.margin }
    var bottom: Double { ReportDocument.page.height - ReportDocument.margin }

    init(canvas: Canvas) { self.canvas = canvas }

    mutating func finishPage() {
        let t = canvas.text("第 \(pageNumber) 页  Page \(pageNumber)", size: 8.5, wrapWidth: width, align: .center)
        canvas.draw(t, at: PagePoint(x: ReportDocument.margin, y: ReportDocument.page.height - 36), color: RGB(90, 90, 90))
        cairo_show_page(canvas.cr)
        pageNumber += 1
        y = ReportDocument.margin
    }

    mutating func ensure(_ height: Double) {
        if y + height > bottom && y > ReportDocument.margin { finishPage() }
    }

    mutating func text(_ string: String, size: Double, bold: Bool = false, colour: RGB = RGB(20, 20, 20), after: Double) {
        let t = canvas.text(string, size: size, bold: bold, wrapWidth: width)
        ensure(t.height + (bold ? 40 : 0))
        canvas.draw(t, at: PagePoint(x: ReportDocument.margin, y: y), color: colour)
        y += t.height + after
    }

    mutating func place(_ block: ReportDocument.Block) throws {
        switch block {
        case .heading(let s):
            if y > ReportDocument.page.height * 0.55 { finishPage() }
            y += 6
            text(s, size: 15, bold: true, colour: RGB(150, 20, 20), after: 8)
        case .subheading(let s): y += 4; text(s, size: 11.5, bold: true, after: 5)
        case .paragraph(let s): text(s, size: 9.5, after: 7)
        case .table(let table): placeTable(table)
        case .figure(let png, let caption): try placeFigure(png: png, caption: caption)
        }
    }

    mutating func placeFigure(png: String, caption: String) throws {
        let image = cairo_image_surface_create_from_png(png)!
        defer { cairo_surface_destroy(image) }
        try Canvas.check(cairo_surface_status(image), "reading \(png)")
        let iw = Double(cairo_image_surface_get_width(image)), ih = Double(cairo_image_surface_get_height(image))
        guard iw > 0, ih > 0 else { return }
        let scale = min(width / iw, ReportDocument.maxFigureHeight / ih)
        let captionText = canvas.text(caption, size: 9, bold: true, wrapWidth: width, align: .center)
        ensure(ih * scale + captionText.height + 12)
        canvas.save()
        canvas.translate(ReportDocument.margin + (width - iw * scale) / 2, y)
        cairo_scale(canvas.cr, scale, scale)
        cairo_set_source_surface(canvas.cr, image, 0, 0)
        cairo_paint(canvas.cr)
        canvas.restore()
        y += ih * scale + 4
        canvas.draw(captionText, at: PagePoint(x: ReportDocument.margin, y: y), color: RGB(20, 20, 20))
        y += captionText.height + 12
    }
}

extension ReportFlow {
    static let cellSize = 7.5, pad = 3.0

    /// Column widths in proportion to each column's widest cell (at least its share of the header),
    /// scaled to the text width.
    func columnWidths(_ table: ReportDocument.Table) -> [Double] {
        let n = table.header.count
        var widest = [Double](repeating: 38, count: n)   // no column narrower than a short bilingual word
        for row in [table.header] + table.rows {
            for (j, cell) in row.prefix(n).enumerated() {
                let w = canvas.text(cell, size: ReportFlow.cellSize).width + 2 * ReportFlow.pad
                widest[j] = max(widest[j], min(w, 180))
            }
        }
        let total = widest.reduce(0, +)
        return widest.map { $0 * width / total }
    }

    /// One row of cells; returns its height. With `draw` false only measures.
    func row(_ cells: [String], widths: [Double], numeric: [Bool], bold: Bool, fill: RGB?, draw: Bool) -> Double {
        let texts = cells.enumerated().map { j, cell in
            canvas.text(cell, size: ReportFlow.cellSize, bold: bold, wrapWidth: widths[j] - 2 * ReportFlow.pad,
                        align: numeric[j] && !bold ? .right : .left)
        }
        let height = (texts.map(\.height).max() ?? 0) + 2 * ReportFlow.pad
        guard draw else { return height }
        var x = ReportDocument.margin
        for (j, t) in texts.enumerated() {
            let cell = PageRect(x: x, y: y, width: widths[j], height: height)
            if let fill { canvas.fillRect(cell, fill) }
            canvas.strokeRect(cell, RGB(160, 160, 160), width: 0.4)
            canvas.draw(t, at: PagePoint(x: x + ReportFlow.pad, y: y + ReportFlow.pad), color: RGB(20, 20, 20))
            x += widths[j]
        }
        return height
    }

    /// Columns per printed table: a wider one is printed in parts, each repeating the first column.
    static let maxColumns = 10

    mutating func placeTable(_ table: ReportDocument.Table) {
        guard table.header.count > ReportFlow.maxColumns else { return placeTablePart(table) }
        let rest = Array(1..<table.header.count)
        let step = ReportFlow.maxColumns - 1
        let parts = stride(from: 0, to: rest.count, by: step).map { Array(rest[$0..<min($0 + step, rest.count)]) }
        for (k, columns) in parts.enumerated() {
            let keep = [0] + columns
            func pick(_ row: [String]) -> [String] { keep.map { $0 < row.count ? row[$0] : "" } }
            placeTablePart(.init(caption: "\(table.caption) (\(k + 1)/\(parts.count))", header: pick(table.header),
                                 rows: table.rows.map(pick), numeric: keep.map { $0 < table.numeric.count && table.numeric[$0] }))
        }
    }

    mutating func placeTablePart(_ table: ReportDocument.Table) {
        let widths = columnWidths(table)
        let numeric = table.numeric + [Bool](repeating: false, count: max(0, table.header.count - table.numeric.count))
        let headerFill = RGB(235, 235, 240)
        let headerHeight = row(table.header, widths: widths, numeric: numeric, bold: true, fill: nil, draw: false)
        let caption = canvas.text(table.caption, size: 9, bold: true, wrapWidth: width)
        let first = table.rows.first.map { row($0, widths: widths, numeric: numeric, bold: false, fill: nil, draw: false) } ?? 0
        ensure(caption.height + 4 + headerHeight + first)
        canvas.draw(caption, at: PagePoint(x: ReportDocument.margin, y: y), color: RGB(20, 20, 20))
        y += caption.height + 4
        y += row(table.header, widths: widths, numeric: numeric, bold: true, fill: headerFill, draw: true)
        for cells in table.rows {
            let h = row(cells, widths: widths, numeric: numeric, bold: false, fill: nil, draw: false)
            if y + h > bottom {
                finishPage()
                y += row(table.header, widths: widths, numeric: numeric, bold: true, fill: headerFill, draw: true)
            }
            y += row(cells, widths: widths, numeric: numeric, bold: false, fill: nil, draw: true)
        }
        y += 12
    }
}
