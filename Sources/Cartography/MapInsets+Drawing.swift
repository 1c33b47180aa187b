import Foundation
import GDALKit

extension PreparedMap {
    /// The insets over the map frame: each detail box outlined on the main map, then every inset
    /// in its corner (white ground, content clipped, a frame, caption).
    func drawInsets(_ canvas: Canvas, rasterDPI: Double) throws {
        let fonts = Fonts(fs)
        for inset in insets {
            guard case .detail(_, let label, _, _) = inset.content, let box = inset.layout.mainMapBox else { continue }
            canvas.save()
            canvas.rect(parts.frame)
            canvas.clip()
            canvas.strokeRect(box, .white, width: 2.6)
            canvas.strokeRect(box, RGB(20, 20, 20), width: 1.1)
            let text = canvas.text(label, size: fonts.heading, bold: true)
            canvas.draw(text, at: PagePoint(x: box.minX + 2, y: box.minY - text.height - 1), color: .black, halo: .white)
            canvas.restore()
        }
        for inset in insets {
            let frame = inset.layout.frame
            switch inset.content {
            case .location(let content):
                drawLocation(content, in: frame, canvas: canvas)
            case .detail(let view, let label, let groundPerPoint, let automatic):
                try drawMapBody(canvas, rasterDPI: rasterDPI, view: view)
                let scale = "1:\(ScaleMath.grouped(inset.layout.scaleDenominator ?? 0))"
                let caption = canvas.text("局部放大图 \(label) Detail \(label)  \(scale)" + (automatic ? "\n" + MapInsetRule.caption : ""),
                                          size: fonts.small + 1 * fs, bold: true, wrapWidth: frame.width - 6 * fs)
                canvas.fillRect(PageRect(x: frame.minX, y: frame.minY, width: caption.width + 6 * fs, height: caption.height + 3 * fs), .white)
                canvas.draw(caption, at: PagePoint(x: frame.minX + 3 * fs, y: frame.minY + 1.5 * fs), color: .black)
                drawInsetScaleBar(in: frame, groundPerPoint: groundPerPoint, canvas: canvas)
            }
            canvas.strokeRect(frame, .white, width: 3)
            canvas.strokeRect(frame, .black, width: 1.0)
        }
    }

    /// The location inset: neighbouring countries, provinces, the home province, the county filled.
    func drawLocation(_ content: LocationContent, in frame: PageRect, canvas: Canvas) {
        canvas.save()
        canvas.rect(frame)
        canvas.clip()
        canvas.fillRect(frame, .white)
        for area in content.areas {
            for polygon in area.polygons { for ring in polygon { canvas.polyline(ring, closed: true) } }
            canvas.color(area.home ? LocationInset.homeFill : area.country ? LocationInset.countryFill : LocationInset.provinceFill)
            canvas.fillEvenOdd()
        }
        Style.Stroke(color: RGB(130, 130, 130), width: 0.35).apply(canvas)
        for area in content.areas where !area.home {
            for polygon in area.polygons { for ring in polygon { canvas.polyline(ring, closed: true) } }
        }
        canvas.stroke()
        Style.Stroke(color: RGB(60, 60, 60), width: 0.8).apply(canvas)
        for area in content.areas where area.home {
            for polygon in area.polygons { for ring in polygon { canvas.polyline(ring, closed: true) } }
        }
        canvas.stroke()
        for polygon in content.county { for ring in polygon { canvas.polyline(ring, closed: true) } }
        canvas.color(LocationInset.countyFill)
        canvas.fillPreserve()
        canvas.color(RGB(90, 0, 0))
        canvas.lineWidth(0.4)
        canvas.stroke()
        let fonts = Fonts(fs)
        if let name = content.homeName, let p = content.homeLabel {
            let text = canvas.text(name, size: fonts.small)
            canvas.draw(text, at: PagePoint(x: p.x - text.width / 2, y: p.y - text.height - 4 * fs), color: RGB(40, 40, 40), halo: .white)
        }
        let caption = canvas.text(content.caption, size: fonts.small + 1 * fs, bold: true)
        canvas.draw(caption, at: PagePoint(x: frame.minX + 3 * fs, y: frame.minY + 2 * fs), color: .black, halo: .white)
        canvas.restore()
    }

    /// A detail inset's own scale bar, bottom left inside its frame: two segments and the length.
    func drawInsetScaleBar(in frame: PageRect, groundPerPoint: Double, canvas: Canvas) {
        let fonts = Fonts(fs)
        let (ground, _) = ScaleMath.roundBarLength(atMost: min(frame.width * 0.4, 40 * Units.pointsPerMM * fs) * groundPerPoint)
        let length = ground / groundPerPoint, height = 3 * fs
        let label = canvas.text("0   \(ScaleMath.distanceLabel(metres: ground))", size: fonts.small)
        let origin = PagePoint(x: frame.minX + 4 * fs, y: frame.maxY - 5 * fs - height)
        canvas.fillRect(PageRect(x: origin.x - 2 * fs, y: origin.y - label.height - 3 * fs, width: max(length, label.width) + 4 * fs + 14 * fs,
                                 height: label.height + height + 5 * fs), .white)
        canvas.fillRect(PageRect(x: origin.x, y: origin.y, width: length / 2, height: height), .black)
        canvas.fillRect(PageRect(x: origin.x + length / 2, y: origin.y, width: length / 2, height: height), .white)
        canvas.strokeRect(PageRect(x: origin.x, y: origin.y, width: length, height: height), .black, width: 0.5)
        let zero = canvas.text("0", size: fonts.small), end = canvas.text(ScaleMath.distanceLabel(metres: ground), size: fonts.small)
        canvas.draw(zero, at: PagePoint(x: origin.x - zero.width / 2, y: origin.y - zero.height - 1 * fs), color: .black)
        canvas.draw(end, at: PagePoint(x: origin.x + length - end.width / 2, y: origin.y - end.height - 1 * fs), color: .black)
    }
}
