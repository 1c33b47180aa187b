import Foundation
import GDALKit

/// The marginalia: legend, scale, north arrow, CRS and data sources. Every block is measured and
/// drawn by the same code, so what the layout reserved is what gets drawn.
extension PreparedMap {
    enum LegendSymbol {
        case fill(RGB)
        case context(ContextLayer.Kind)
    }

    struct LegendRow {
        var symbol: LegendSymbol
        var label: String
        /// First row of a new group (classes, then context layers).
        var groupStart: Bool
    }

    static func legendRows(_ spec: MapSpec) -> [LegendRow] {
        var rows = spec.legend.map { LegendRow(symbol: .fill($0.color), label: $0.label, groupStart: false) }
        if case .fill(let c, let label?) = spec.nodata {
            rows.append(LegendRow(symbol: .fill(c), label: label, groupStart: false))
        }
        var seen = Set<String>()
        var first = true
        for layer in spec.context {
            let label = layer.legendLabel ?? layer.kind.defaultLegendLabel
            guard !label.isEmpty, seen.insert("\(layer.kind)|\(label)").inserted else { continue }
            rows.append(LegendRow(symbol: .context(layer.kind), label: label, groupStart: first))
            first = false
        }
        return rows
    }

    struct LegendMetrics {
        let swatchWidth, swatchHeight, labelX, rowGap, groupGap, headingGap: Double
        init(_ fs: Double) {
            swatchWidth = 26 * fs; swatchHeight = 14 * fs; labelX = 34 * fs
            rowGap = 5 * fs; groupGap = 7 * fs; headingGap = 7 * fs
        }
    }

    /// Lays out (and with `draw`, draws) the legend in `rect`; returns its height.
    @discardableResult
    static func legend(_ spec: MapSpec, in rect: PageRect, canvas: Canvas, fs: Double, draw: Bool) -> Double {
        let fonts = Fonts(fs), m = LegendMetrics(fs)
        let heading = canvas.text(spec.legendTitle, size: fonts.heading, bold: true)
        if draw { canvas.draw(heading, at: PagePoint(x: rect.x, y: rect.y), color: .black) }
        var y = rect.y + heading.height + m.headingGap
        let labelWidth = max(20, rect.width - m.labelX)
        for row in legendRows(spec) {
            if row.groupStart { y += m.groupGap }
            let text = canvas.text(row.label, size: fonts.body, wrapWidth: labelWidth)
            let rowHeight = max(m.swatchHeight, text.height)
            let swatch = PageRect(x: rect.x, y: y + (rowHeight - m.swatchHeight) / 2,
                                  width: m.swatchWidth, height: m.swatchHeight)
            if draw {
                switch row.symbol {
                case .fill(let c):
                    canvas.fillRect(swatch, c)
                    canvas.strokeRect(swatch, RGB(90, 90, 90), width: 0.5)
                case .context(let kind):
                    drawContextSymbol(kind, in: swatch, canvas: canvas)
                }
                canvas.draw(text, at: PagePoint(x: rect.x + m.labelX, y: y + (rowHeight - text.height) / 2), color: .black)
            }
            y += rowHeight + m.rowGap
        }
        return y - m.rowGap - rect.y
    }

    static func drawContextSymbol(_ kind: ContextLayer.Kind, in r: PageRect, canvas: Canvas) {
        let left = PagePoint(x: r.minX + 1, y: r.midY), right = PagePoint(x: r.maxX - 1, y: r.midY)
        switch kind {
        case .place:
            drawPlaceSymbol(at: PagePoint(x: r.midX, y: r.midY), canvas: canvas)
        case .shelter:
            drawShelterSymbol(at: PagePoint(x: r.midX, y: r.midY), canvas: canvas)
        case .boundary, .outline, .river, .fault:
            canvas.save()
            for stroke in Style.strokes(kind) {
                stroke.apply(canvas)
                canvas.polyline([left, right])
                canvas.stroke()
            }
            canvas.restore()
        }
    }

    /// A green square with a white outline and a white cross: an emergency shelter.
    static func drawShelterSymbol(at p: PagePoint, canvas: Canvas) {
        let r = 3.2
        let square = [PagePoint(x: p.x - r, y: p.y - r), PagePoint(x: p.x + r, y: p.y - r),
                      PagePoint(x: p.x + r, y: p.y + r), PagePoint(x: p.x - r, y: p.y + r)]
        canvas.polyline(square, closed: true)
        canvas.color(RGB(0, 140, 70))
        canvas.fillPreserve()
        canvas.color(.white)
        canvas.lineWidth(0.9)
        canvas.stroke()
        canvas.polyline([PagePoint(x: p.x - r * 0.55, y: p.y), PagePoint(x: p.x + r * 0.55, y: p.y)])
        canvas.polyline([PagePoint(x: p.x, y: p.y - r * 0.55), PagePoint(x: p.x, y: p.y + r * 0.55)])
        canvas.lineWidth(1.1)
        canvas.stroke()
    }

    static func drawPlaceSymbol(at p: PagePoint, canvas: Canvas) {
        canvas.circle(p, radius: 2.8)
        canvas.color(.white)
        canvas.fillPreserve()
        canvas.color(.black)
        canvas.lineWidth(0.9)
        canvas.stroke()
        canvas.circle(p, radius: 1.2)
        canvas.color(.black)
        canvas.fill()
    }

    // MARK: scale

    static func scaleText(_ denominator: Double) -> String { "比例尺 Scale 1:\(ScaleMath.grouped(denominator))" }

    struct ScaleMetrics {
        let headingHeight, labelTop, labelHeight, barTop, barHeight, height: Double
    }

    static func scaleMetrics(canvas: Canvas, fs: Double, denominator: Double) -> ScaleMetrics {
        let fonts = Fonts(fs)
        let heading = canvas.text(scaleText(denominator), size: fonts.body)
        let label = canvas.text("0", size: fonts.small)
        let labelTop = heading.height + 6 * fs
        let barTop = labelTop + label.height + 2 * fs
        let barHeight = 4.5 * fs
        return ScaleMetrics(headingHeight: heading.height, labelTop: labelTop, labelHeight: label.height,
                            barTop: barTop, barHeight: barHeight, height: barTop + barHeight)
    }

    /// The scale bar: the longest round ground length that fits the block, at the map centre's scale.
    static func scaleBar(in rect: PageRect, canvas: Canvas, fs: Double, groundPerPoint: Double,
                         denominator: Double) -> ScaleBarGeometry {
        let m = scaleMetrics(canvas: canvas, fs: fs, denominator: denominator)
        let reserve = canvas.text("000 km", size: Fonts(fs).small).width
        let maxLength = min(rect.width - reserve, 70 * Units.pointsPerMM * fs)
        let (ground, segments) = ScaleMath.roundBarLength(atMost: maxLength * groundPerPoint)
        return ScaleBarGeometry(origin: PagePoint(x: rect.x + 1, y: rect.y + m.barTop + m.barHeight / 2),
                                lengthPoints: ground / groundPerPoint, heightPoints: m.barHeight,
                                groundMetres: ground, segments: segments,
                                label: ScaleMath.distanceLabel(metres: ground))
    }

    func drawScale(canvas: Canvas) {
        let fonts = Fonts(fs), rect = parts.scale, bar = layout.scaleBar
        let m = PreparedMap.scaleMetrics(canvas: canvas, fs: fs, denominator: layout.scaleDenominator)
        canvas.draw(canvas.text(PreparedMap.scaleText(layout.scaleDenominator), size: fonts.body),
                    at: PagePoint(x: rect.x, y: rect.y), color: .black)
        let top = bar.origin.y - bar.heightPoints / 2
        let step = bar.lengthPoints / Double(bar.segments)
        canvas.save()
        canvas.buttJoins()
        for i in 0..<bar.segments {
            let segment = PageRect(x: bar.origin.x + Double(i) * step, y: top, width: step, height: bar.heightPoints)
            canvas.fillRect(segment, i % 2 == 0 ? .black : .white)
        }
        canvas.strokeRect(PageRect(x: bar.origin.x, y: top, width: bar.lengthPoints, height: bar.heightPoints),
                          .black, width: 0.6)
        canvas.restore()
        let km = bar.groundMetres >= 1000
        let unit = km ? 1000.0 : 1.0
        for i in 0...bar.segments {
            let value = bar.groundMetres / Double(bar.segments) * Double(i) / unit
            let number = ScaleMath.format(value)
            let x = bar.origin.x + Double(i) * step
            let numberText = canvas.text(number, size: fonts.small)
            let shown = i == bar.segments ? canvas.text(bar.label, size: fonts.small) : numberText
            canvas.draw(shown, at: PagePoint(x: x - numberText.width / 2, y: rect.y + m.labelTop), color: .black)
        }
    }

    // MARK: north arrow and CRS

    static func northArrowSize(_ fs: Double) -> (width: Double, height: Double) { (30 * fs, 62 * fs) }

    static func crsText(_ crs: String, canvas: Canvas, fs: Double, width: Double) -> Canvas.Text {
        canvas.text("坐标系 CRS\n\(crs)\n北向箭头指向地图中心的真北\nNorth arrow: true north at the map centre",
                    size: Fonts(fs).small + 0.5 * fs, wrapWidth: width, lineSpacing: 1.15)
    }

    func drawNorthArrow(canvas: Canvas) {
        let r = parts.north
        let fonts = Fonts(fs)
        let n = canvas.text("N", size: fonts.heading, bold: true)
        canvas.save()
        canvas.translate(r.midX, r.midY)
        canvas.rotate(degrees: layout.northRotationDegrees)
        let half = r.height / 2
        let arrowTop = -half + n.height + 1 * fs
        let halfWidth = r.width * 0.32
        let tip = PagePoint(x: 0, y: arrowTop), base = PagePoint(x: 0, y: half - r.height * 0.12)
        let leftFoot = PagePoint(x: -halfWidth, y: half), rightFoot = PagePoint(x: halfWidth, y: half)
        canvas.roundJoins()
        canvas.polyline([tip, base, leftFoot], closed: true)
        canvas.color(.black)
        canvas.fill()
        canvas.polyline([tip, rightFoot, base], closed: true)
        canvas.color(.white)
        canvas.fill()
        canvas.polyline([tip, rightFoot, base, leftFoot], closed: true)
        canvas.color(.black)
        canvas.lineWidth(0.8)
        canvas.stroke()
        canvas.draw(n, at: PagePoint(x: -n.width / 2, y: -half), color: .black)
        canvas.restore()
    }

    // MARK: sources

    static func sourcesText(_ spec: MapSpec, canvas: Canvas, fs: Double, width: Double) -> (Canvas.Text, Canvas.Text)? {
        guard !spec.sources.isEmpty else { return nil }
        let heading = canvas.text("数据来源 Data sources", size: Fonts(fs).small + 1.5 * fs, bold: true)
        let body = canvas.text(spec.sources.joined(separator: "\n"), size: Fonts(fs).small, wrapWidth: width,
                               lineSpacing: 1.15)
        return (heading, body)
    }

    func drawSources(canvas: Canvas) {
        guard let (heading, body) = PreparedMap.sourcesText(spec, canvas: canvas, fs: fs, width: parts.sources.width)
        else { return }
        canvas.draw(heading, at: PagePoint(x: parts.sources.x, y: parts.sources.y), color: .black)
        canvas.draw(body, at: PagePoint(x: parts.sources.x, y: parts.sources.y + heading.height + 3 * fs),
                    color: RGB(40, 40, 40))
    }

    // MARK: placing the blocks

    static func placePanel(_ parts: inout PageParts, canvas: Canvas, spec: MapSpec, fs: Double, crsName: String) {
        let mm = Units.pointsPerMM
        let arrow = northArrowSize(fs)
        let scaleHeight = scaleMetrics(canvas: canvas, fs: fs, denominator: 1_000_000).height
        func sourcesHeight(_ width: Double) -> Double {
            guard let (h, b) = sourcesText(spec, canvas: canvas, fs: fs, width: width) else { return 0 }
            return h.height + 3 * fs + b.height
        }
        let panel = parts.panel
        let hasPanelBox = spec.page.orientation == .landscape
        let inset = hasPanelBox ? 5 * mm * fs : 0
        let inner = PageRect(x: panel.x + inset, y: panel.y + inset, width: panel.width - 2 * inset,
                             height: panel.height - 2 * inset)
        switch spec.page.orientation {
        case .landscape:
            // Legend at the top, data sources at the bottom, scale and north arrow + CRS between,
            // the free height shared out evenly (each gap at least 8 mm).
            let w = inner.width
            let legendHeight = legend(spec, in: PageRect(x: inner.x, y: inner.y, width: w, height: 0), canvas: canvas,
                                      fs: fs, draw: false)
            let crsX = inner.x + arrow.width + 14 * fs
            let crs = crsText(crsName, canvas: canvas, fs: fs, width: inner.maxX - crsX)
            let northHeight = max(arrow.height, crs.height)
            let sh = sourcesHeight(w)
            let free = inner.height - legendHeight - scaleHeight - northHeight - sh
            let gap = max(8 * mm * fs, min(free / 3, 30 * mm * fs))
            var y = inner.y
            parts.legend = PageRect(x: inner.x, y: y, width: w, height: legendHeight)
            y += legendHeight + gap
            parts.scale = PageRect(x: inner.x, y: y, width: w, height: scaleHeight)
            y += scaleHeight + gap
            parts.north = PageRect(x: inner.x + 2 * fs, y: y + (northHeight - arrow.height) / 2,
                                   width: arrow.width, height: arrow.height)
            parts.crs = PageRect(x: crsX, y: y + (northHeight - crs.height) / 2, width: inner.maxX - crsX, height: crs.height)
            y += northHeight + gap
            parts.sources = PageRect(x: inner.x, y: max(y, inner.maxY - sh), width: w, height: sh)
        case .portrait:
            // Three columns under the map: legend | scale, north arrow, CRS | data sources. The
            // panel grows upwards (and the map frame shrinks) until the tallest column fits.
            let gap = 8 * mm * fs
            let columnWidth = (inner.width - 2 * gap) / 3
            let c0 = inner.x, c1 = c0 + columnWidth + gap, c2 = c1 + columnWidth + gap
            let legendHeight = legend(spec, in: PageRect(x: c0, y: 0, width: columnWidth, height: 0),
                                      canvas: canvas, fs: fs, draw: false)
            let crsX = c1 + arrow.width + 14 * fs
            let crs = crsText(crsName, canvas: canvas, fs: fs, width: c1 + columnWidth - crsX)
            let middleHeight = scaleHeight + 8 * mm * fs + max(arrow.height, crs.height)
            let sh = sourcesHeight(columnWidth)
            let needed = max(legendHeight, middleHeight, sh) + 2 * fs
            let grow = min(max(0, needed - panel.height), parts.frame.height * 0.4)
            parts.frame.height -= grow
            parts.panel.y -= grow
            parts.panel.height += grow
            let top = parts.panel.y
            parts.legend = PageRect(x: c0, y: top, width: columnWidth, height: legendHeight)
            parts.scale = PageRect(x: c1, y: top, width: columnWidth, height: scaleHeight)
            let y = top + scaleHeight + 8 * mm * fs
            parts.north = PageRect(x: c1 + 2 * fs, y: y, width: arrow.width, height: arrow.height)
            parts.crs = PageRect(x: crsX, y: y + max(0, (arrow.height - crs.height) / 2),
                                 width: c1 + columnWidth - crsX, height: crs.height)
            parts.sources = PageRect(x: c2, y: top, width: columnWidth, height: sh)
        }
    }
}
