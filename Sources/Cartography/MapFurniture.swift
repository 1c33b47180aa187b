import Foundation

/// What a plan figure carries besides the map (set in the job's `maps:`): who made it, its figure
/// number, its usage line (内部用图 / 审图号) and the date the data are current to.
public struct MapFurniture: Sendable, Hashable {
    /// 编制单位 / 制图单位, e.g. "杭锦旗应急管理局".
    public var producer: String?
    /// The figure number as printed, e.g. "图3-1" (top left of the sheet).
    public var figure: String?
    /// The usage line, e.g. "内部用图 注意保存" or "审图号: …" (top right, red).
    public var usage: String?
    /// The data cut-off date, e.g. "2026-06" (数据截止).
    public var dataDate: String?

    public init(producer: String? = nil, figure: String? = nil, usage: String? = nil, dataDate: String? = nil) {
        self.producer = producer; self.figure = figure; self.usage = usage; self.dataDate = dataDate
    }

    /// The job keys under `maps:`.
    public static let keys = ["producer", "figure", "usage", "data-date"]

    /// The line under the map frame: producer and data date (empty when neither is set).
    public var creditLine: String {
        var parts: [String] = []
        if let producer, !producer.isEmpty { parts.append("编制单位 Producer: \(producer)") }
        if let dataDate, !dataDate.isEmpty { parts.append("数据截止 Data as of: \(dataDate)") }
        return parts.joined(separator: "    ")
    }
}

extension PreparedMap {
    /// Figure number (top left margin), usage line (top right margin, red) and the producer and data-date line
    /// (bottom right, on the tool line).
    func drawFurniture(_ canvas: Canvas) {
        let f = spec.furniture, fonts = Fonts(fs)
        // In the top margin, above the title row, so a long title never runs into them.
        if let figure = f.figure, !figure.isEmpty {
            let text = canvas.text(figure, size: fonts.heading, bold: true)
            canvas.draw(text, at: PagePoint(x: parts.title.x, y: parts.title.y - text.height - fs), color: .black)
        }
        if let usage = f.usage, !usage.isEmpty {
            let text = canvas.text(usage, size: fonts.heading, bold: true)
            canvas.draw(text, at: PagePoint(x: parts.title.maxX - text.width, y: parts.title.y - text.height - fs), color: RGB(200, 0, 0))
        }
        let credit = f.creditLine
        if !credit.isEmpty {
            let text = canvas.text(credit, size: fonts.small)
            canvas.draw(text, at: PagePoint(x: parts.footer.maxX - text.width, y: parts.footer.y + 2.5 * fs), color: RGB(30, 30, 30))
        }
    }
}
