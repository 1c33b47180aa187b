import CCairo
import Foundation
import GDALKit

/// Line styles of the context layers (widths in points).
enum Style {
    struct Stroke {
        var color: RGB
        var alpha: Double = 1
        var width: Double
        var dash: [Double] = []

        func apply(_ canvas: Canvas) {
            canvas.color(color, alpha: alpha)
            canvas.lineWidth(width)
            canvas.dash(dash)
            canvas.roundJoins()
            if !dash.isEmpty { canvas.buttJoins() }
        }
    }

    static let riverBlue = RGB(28, 134, 238)
    static let riverLabel = RGB(16, 90, 180)
    static let lakeFill = RGB(190, 224, 250)
    static let faultColour = RGB(110, 40, 150)
    static let boundaryColour = RGB(110, 110, 110)
    static let outlineColour = RGB(25, 25, 25)

    /// Strokes drawn one over the other (a white casing first where the line crosses colours).
    static func strokes(_ kind: ContextLayer.Kind) -> [Stroke] {
        switch kind {
        case .river:
            return [Stroke(color: .white, alpha: 0.85, width: 3.0), Stroke(color: riverBlue, width: 1.5)]
        case .fault:
            return [Stroke(color: .white, alpha: 0.8, width: 2.6), Stroke(color: faultColour, width: 1.2, dash: [7, 2.2])]
        case .boundary:
            // Township boundaries as survey offices draw them: thin grey dash-dot (dash 4, gap 1.2,
            // dot 0.6), on a faint white casing so they read across every class colour.
            return [Stroke(color: .white, alpha: 0.5, width: 1.4),
                    Stroke(color: boundaryColour, width: 0.55, dash: [4, 1.2, 0.6, 1.2])]
        case .outline:
            return [Stroke(color: .white, alpha: 0.85, width: 4.0), Stroke(color: outlineColour, width: 1.8)]
        case .place, .shelter:
            return []
        }
    }

    /// Drawing order of the kinds (later on top).
    static let order: [ContextLayer.Kind] = [.boundary, .outline, .river, .fault, .shelter, .place]
}

extension PreparedMap {
    // MARK: surfaces

    func renderPDF(to path: String) throws {
        let surface = cairo_pdf_surface_create(path, page.width, page.height)!
        defer { cairo_surface_destroy(surface) }
        try Canvas.check(cairo_surface_status(surface), "cairo_pdf_surface_create(\(path))")
        cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_TITLE, spec.title)
        cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATOR, "HazardZoning Cartography (Cairo, Pango)")
        // A fixed creation date (Cairo would stamp the current time): the same map, the same bytes.
        cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATE_DATE, spec.pdfDate)
        do {
            let canvas = try Canvas(surface: surface, scale: 1, family: spec.fontFamily)
            try drawPage(canvas, rasterDPI: spec.pdfRasterDPI)
            try canvas.checkStatus("drawing \(path)")
        }
        cairo_surface_finish(surface)
        try Canvas.check(cairo_surface_status(surface), "writing \(path)")
    }

    func renderPNG(to path: String) throws {
        let surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, Int32(layout.pngPixelWidth),
                                                 Int32(layout.pngPixelHeight))!
        defer { cairo_surface_destroy(surface) }
        try Canvas.check(cairo_surface_status(surface), "cairo_image_surface_create")
        do {
            let canvas = try Canvas(surface: surface, scale: spec.pngDPI / 72, family: spec.fontFamily)
            try drawPage(canvas, rasterDPI: spec.pngDPI)
            try canvas.checkStatus("drawing \(path)")
        }
        cairo_surface_flush(surface)
        try Canvas.check(cairo_surface_write_to_png(surface, path), "writing \(path)")
        try PNGResolution.set(dpi: spec.pngDPI, file: path)
    }

    // MARK: the page

    func drawPage(_ canvas: Canvas, rasterDPI: Double) throws {
        let fonts = Fonts(fs)
        canvas.paint(.white)

        // Title and subtitle, centred over the page.
        let title = canvas.text(spec.title, size: fonts.title, bold: true, wrapWidth: parts.title.width, align: .center)
        canvas.draw(title, at: PagePoint(x: parts.title.x, y: parts.title.y), color: .black)
        if let subtitle = spec.subtitle, !subtitle.isEmpty {
            let sub = canvas.text(subtitle, size: fonts.subtitle, wrapWidth: parts.title.width, align: .center)
            canvas.draw(sub, at: PagePoint(x: parts.title.x, y: parts.title.y + title.height + 1.5 * fs),
                        color: RGB(60, 60, 60))
        }

        try drawMapBody(canvas, rasterDPI: rasterDPI)
        try drawInsets(canvas, rasterDPI: rasterDPI)
        drawGraticule(canvas)

        // Frames: a thin line round the map, a heavy neatline round map and panel.
        canvas.strokeRect(parts.frame, .black, width: 0.7)
        if spec.page.orientation == .landscape {
            canvas.strokeRect(parts.panel, RGB(120, 120, 120), width: 0.5)
        }
        canvas.strokeRect(parts.neatline, .black, width: 1.8)

        PreparedMap.legend(spec, in: parts.legend, canvas: canvas, fs: fs, draw: true)
        drawScale(canvas: canvas)
        drawNorthArrow(canvas: canvas)
        let crs = PreparedMap.crsText(crsText, canvas: canvas, fs: fs, width: parts.crs.width)
        canvas.draw(crs, at: PagePoint(x: parts.crs.x, y: parts.crs.y), color: RGB(40, 40, 40))
        drawSources(canvas: canvas)
        drawFurniture(canvas)

        if !spec.footer.isEmpty {
            let footer = canvas.text(spec.footer, size: fonts.small, wrapWidth: parts.footer.width)
            canvas.draw(footer, at: PagePoint(x: parts.footer.x, y: parts.footer.y + 2.5 * fs), color: RGB(90, 90, 90))
        }
    }

    // MARK: the map body

    /// The map body in `view` (default: the main map frame; a detail inset draws its own view).
    func drawMapBody(_ canvas: Canvas, rasterDPI: Double, view: MapView? = nil) throws {
        let view = view ?? mainView
        canvas.save()
        canvas.rect(view.frame)
        canvas.clip()
        canvas.fillRect(view.frame, .white)

        // The class raster, one image, exact class colours (or, with areas, the polygons by class).
        if spec.areas != nil {
            drawAreas(canvas, view: view)
        } else if let window = raster.visibleWindow(view.ground) {
            let (w, h, values) = try raster.readForDisplay(window, pageRect: view.rasterRect, dpi: rasterDPI)
            let palette = raster.palette(legend: spec.legend, nodata: spec.nodata)
            try canvas.drawImage(width: w, height: h, into: view.rasterRect) { y, row in
                switch values {
                case .bytes(let v):
                    let table = palette.byteTable
                    for x in 0..<w { row[x] = table[Int(v[y * w + x])] }
                case .integers(let v):
                    for x in 0..<w { row[x] = palette.lookup(Int(v[y * w + x])) }
                }
            }
        }

        // Context layers, by kind, then their labels on top.
        let t = view.transform
        func page(_ line: [GeoPoint]) -> [PagePoint] { line.map { t.apply(x: $0.x, y: $0.y) } }
        for kind in Style.order {
            for (layer, features) in context where layer.kind == kind {
                switch kind {
                case .place:
                    for f in features {
                        for p in f.geometry.points { PreparedMap.drawPlaceSymbol(at: page([p])[0], canvas: canvas) }
                    }
                case .shelter:
                    for f in features {
                        for p in f.geometry.points { PreparedMap.drawShelterSymbol(at: page([p])[0], canvas: canvas) }
                    }
                default:
                    canvas.save()
                    if kind == .river {
                        // Lakes and river areas: filled.
                        for f in features {
                            for polygon in f.geometry.polygons {
                                for ring in polygon { canvas.polyline(page(ring), closed: true) }
                            }
                        }
                        canvas.color(Style.lakeFill)
                        canvas.fillEvenOdd()
                    }
                    for stroke in Style.strokes(kind) {
                        stroke.apply(canvas)
                        for f in features {
                            for line in f.geometry.lines { canvas.polyline(page(line)) }
                            for polygon in f.geometry.polygons {
                                for ring in polygon { canvas.polyline(page(ring), closed: true) }
                            }
                        }
                        canvas.stroke()
                    }
                    canvas.restore()
                }
            }
        }
        drawLabels(canvas, view: view)
        drawAreaLabels(canvas, view: view)
        canvas.restore()
    }

    /// The choropleth: each polygon filled with its class colour, then thin outlines.
    func drawAreas(_ canvas: Canvas, view: MapView) {
        let t = view.transform
        let colours = Dictionary(spec.legend.map { ($0.value, $0.color) }, uniquingKeysWith: { a, _ in a })
        for area in areas {
            guard let value = area.value, let colour = colours[value] else { continue }
            for polygon in area.geometry.polygons {
                for ring in polygon { canvas.polyline(ring.map { t.apply(x: $0.x, y: $0.y) }, closed: true) }
            }
            canvas.color(colour)
            canvas.fillEvenOdd()
        }
        canvas.save()
        Style.Stroke(color: RGB(60, 60, 60), width: 0.6).apply(canvas)
        for area in areas {
            for polygon in area.geometry.polygons {
                for ring in polygon { canvas.polyline(ring.map { t.apply(x: $0.x, y: $0.y) }, closed: true) }
            }
        }
        canvas.stroke()
        canvas.restore()
    }

    /// Choropleth labels (several lines, centred) on a point inside each feature's largest part.
    func drawAreaLabels(_ canvas: Canvas, view: MapView) {
        let fonts = Fonts(fs), t = view.transform, frame = view.frame
        for area in areas {
            guard let label = area.label, !label.isEmpty else { continue }
            let pieces = area.geometry.polygons.map { $0.map { ring in ring.map { t.apply(x: $0.x, y: $0.y) } } }
            guard let largest = pieces.max(by: { PreparedMap.ringArea($0.first ?? []) < PreparedMap.ringArea($1.first ?? []) }),
                  let p = PreparedMap.labelPoint(largest), frame.contains(p) else { continue }
            let text = canvas.text(label, size: fonts.body * 0.9, align: .center)
            canvas.draw(text, at: PagePoint(x: p.x - text.width / 2, y: p.y - text.height / 2), color: .black, halo: .white)
        }
    }

    /// Absolute area of a ring.
    static func ringArea(_ ring: [PagePoint]) -> Double {
        guard ring.count >= 3 else { return 0 }
        var a = 0.0
        for i in 0..<ring.count {
            let p = ring[i], q = ring[(i + 1) % ring.count]
            a += p.x * q.y - q.x * p.y
        }
        return abs(a) / 2
    }

    /// A point inside a polygon (rings, the first is the outer one): the outer ring's centroid when
    /// it lies inside, else the middle of the widest inside stretch of the horizontal line through it.
    static func labelPoint(_ polygon: [[PagePoint]]) -> PagePoint? {
        guard let outer = polygon.first, let c = centroid(outer) else { return nil }
        var crossings: [Double] = []
        for ring in polygon where ring.count >= 2 {
            for i in 0..<ring.count {
                let a = ring[i], b = ring[(i + 1) % ring.count]
                if (a.y > c.y) != (b.y > c.y) { crossings.append(a.x + (c.y - a.y) / (b.y - a.y) * (b.x - a.x)) }
            }
        }
        crossings.sort()
        var best: (Double, Double)?
        var i = 0
        while i + 1 < crossings.count {
            let span = (crossings[i], crossings[i + 1])
            if span.0 <= c.x && c.x <= span.1 { return c }
            if best == nil || span.1 - span.0 > best!.1 - best!.0 { best = span }
            i += 2
        }
        return best.map { PagePoint(x: ($0.0 + $0.1) / 2, y: c.y) }
    }

    func drawLabels(_ canvas: Canvas, view: MapView) {
        let fonts = Fonts(fs), t = view.transform, frame = view.frame
        // Greedy placement for point labels: the first free spot of right, left, above, below;
        // a label that fits nowhere is left out rather than drawn over another.
        let symbolRadius = 3.2
        var taken: [PageRect] = context.filter { $0.0.kind == .place || $0.0.kind == .shelter }.flatMap { $0.1 }.flatMap { $0.geometry.points }
            .map { t.apply(x: $0.x, y: $0.y) }
            .map { PageRect(x: $0.x - symbolRadius, y: $0.y - symbolRadius, width: 2 * symbolRadius, height: 2 * symbolRadius) }
        taken += view.reserved
        func free(_ r: PageRect) -> Bool {
            frame.insetBy(2).contains(PagePoint(x: r.minX, y: r.minY)) && frame.insetBy(2).contains(PagePoint(x: r.maxX, y: r.maxY))
                && !taken.contains { $0.intersects(r) }
        }
        var labelRects: [PageRect] = []
        for (layer, features) in context where layer.labelField != nil {
            // Seats of government first, so that no other label takes their place.
            let ordered = features.filter { $0.attribute?.contains("驻地") == true } + features.filter { $0.attribute?.contains("驻地") != true }
            for f in ordered {
                guard let label = f.attribute, !label.isEmpty else { continue }
                switch layer.kind {
                case .place, .shelter:
                    for p in f.geometry.points {
                        let q = t.apply(x: p.x, y: p.y)
                        guard frame.contains(q) else { continue }
                        let text = canvas.text(label, size: fonts.body * 0.9)
                        let w = text.width, h = text.height, d = symbolRadius + 2
                        let candidates = [
                            PageRect(x: q.x + d, y: q.y - h / 2, width: w, height: h),
                            PageRect(x: q.x - d - w, y: q.y - h / 2, width: w, height: h),
                            PageRect(x: q.x - w / 2, y: q.y - d - h, width: w, height: h),
                            PageRect(x: q.x - w / 2, y: q.y + d, width: w, height: h),
                        ]
                        // The seat of government ("驻地" in its label) is never dropped: over symbols, else at the right.
                        let seat = label.contains("驻地")
                        let freeOfLabels = { (r: PageRect) in !labelRects.contains { $0.intersects(r) } }
                        guard let spot = candidates.first(where: free)
                                ?? (seat ? candidates.first(where: freeOfLabels) ?? candidates[0] : nil) else { continue }
                        taken.append(spot)
                        labelRects.append(spot)
                        canvas.draw(text, at: PagePoint(x: spot.x, y: spot.y), color: .black, halo: .white)
                    }
                case .boundary, .outline:
                    for polygon in f.geometry.polygons {
                        guard let ring = polygon.first, let c = PreparedMap.centroid(ring.map { t.apply(x: $0.x, y: $0.y) }),
                              frame.contains(c) else { continue }
                        let text = canvas.text(label, size: fonts.body * 0.85)
                        canvas.draw(text, at: PagePoint(x: c.x - text.width / 2, y: c.y - text.height / 2),
                                    color: RGB(50, 50, 50), halo: .white)
                    }
                case .river, .fault:
                    // Along the middle of the longest visible line.
                    let lines = f.geometry.lines.map { $0.map { t.apply(x: $0.x, y: $0.y) }.filter { frame.insetBy(20).contains($0) } }
                    guard let line = lines.max(by: { $0.count < $1.count }), line.count >= 2 else { continue }
                    let mid = line.count / 2
                    let a = line[max(0, mid - 1)], b = line[min(line.count - 1, mid + 1)]
                    var angle = atan2(b.y - a.y, b.x - a.x) * 180 / .pi
                    if angle > 90 { angle -= 180 } else if angle < -90 { angle += 180 }
                    let text = canvas.text(label, size: fonts.body * 0.9)
                    canvas.save()
                    canvas.translate(line[mid].x, line[mid].y)
                    canvas.rotate(degrees: angle)
                    canvas.draw(text, at: PagePoint(x: -text.width / 2, y: -text.height - 2),
                                color: layer.kind == .river ? Style.riverLabel : Style.faultColour, halo: .white)
                    canvas.restore()
                }
            }
        }
    }

    /// Area centroid of a ring (page points), nil for a degenerate ring.
    static func centroid(_ ring: [PagePoint]) -> PagePoint? {
        guard ring.count >= 3 else { return nil }
        var a = 0.0, cx = 0.0, cy = 0.0
        for i in 0..<ring.count {
            let p = ring[i], q = ring[(i + 1) % ring.count]
            let cross = p.x * q.y - q.x * p.y
            a += cross; cx += (p.x + q.x) * cross; cy += (p.y + q.y) * cross
        }
        guard abs(a) > 1e-9 else { return nil }
        return PagePoint(x: cx / (3 * a), y: cy / (3 * a))
    }

    // MARK: graticule ticks

    /// Longitude/latitude ticks where the meridians and parallels cross the frame edges.
    static func graticule(frame: PageRect, frameGround: Bounds, transform: AffineTransform,
                          toLonLat: CoordinateTransformation, fromLonLat: CoordinateTransformation) throws -> [GraticuleTick] {
        var edge: [GeoPoint] = []
        for i in 0...20 {
            let f = Double(i) / 20
            let x = frameGround.minX + f * frameGround.width, y = frameGround.minY + f * frameGround.height
            edge += [GeoPoint(x: x, y: frameGround.minY), GeoPoint(x: x, y: frameGround.maxY),
                     GeoPoint(x: frameGround.minX, y: y), GeoPoint(x: frameGround.maxX, y: y)]
        }
        let ll = try toLonLat.transform(edge)
        let lonMin = ll.map(\.x).min()!, lonMax = ll.map(\.x).max()!
        let latMin = ll.map(\.y).min()!, latMax = ll.map(\.y).max()!
        let step = ScaleMath.graticuleStep(span: max(lonMax - lonMin, latMax - latMin))
        var ticks: [GraticuleTick] = []

        func crossings(_ line: [PagePoint], horizontalAt y: Double) -> [Double] {
            zip(line, line.dropFirst()).compactMap { p, q in
                guard (p.y - y) * (q.y - y) <= 0, p.y != q.y else { return nil }
                return p.x + (y - p.y) / (q.y - p.y) * (q.x - p.x)
            }
        }
        func crossings(_ line: [PagePoint], verticalAt x: Double) -> [Double] {
            zip(line, line.dropFirst()).compactMap { p, q in
                guard (p.x - x) * (q.x - x) <= 0, p.x != q.x else { return nil }
                return p.y + (x - p.x) / (q.x - p.x) * (q.y - p.y)
            }
        }
        let samples = 64
        for k in stride(from: Int((lonMin / step).rounded(.up)), through: Int((lonMax / step).rounded(.down)), by: 1) {
            let lon = Double(k) * step
            let meridian = try fromLonLat.transform((0...samples).map {
                GeoPoint(x: lon, y: latMin - step + Double($0) / Double(samples) * (latMax - latMin + 2 * step))
            }).map { transform.apply(x: $0.x, y: $0.y) }
            let label = ScaleMath.formatAngle(lon, positive: "E", negative: "W")
            for x in crossings(meridian, horizontalAt: frame.maxY) where x > frame.minX + 1 && x < frame.maxX - 1 {
                ticks.append(GraticuleTick(side: .bottom, position: PagePoint(x: x, y: frame.maxY), label: label))
            }
            for x in crossings(meridian, horizontalAt: frame.minY) where x > frame.minX + 1 && x < frame.maxX - 1 {
                ticks.append(GraticuleTick(side: .top, position: PagePoint(x: x, y: frame.minY), label: label))
            }
        }
        for k in stride(from: Int((latMin / step).rounded(.up)), through: Int((latMax / step).rounded(.down)), by: 1) {
            let lat = Double(k) * step
            let parallel = try fromLonLat.transform((0...samples).map {
                GeoPoint(x: lonMin - step + Double($0) / Double(samples) * (lonMax - lonMin + 2 * step), y: lat)
            }).map { transform.apply(x: $0.x, y: $0.y) }
            let label = ScaleMath.formatAngle(lat, positive: "N", negative: "S")
            for y in crossings(parallel, verticalAt: frame.minX) where y > frame.minY + 1 && y < frame.maxY - 1 {
                ticks.append(GraticuleTick(side: .left, position: PagePoint(x: frame.minX, y: y), label: label))
            }
            for y in crossings(parallel, verticalAt: frame.maxX) where y > frame.minY + 1 && y < frame.maxY - 1 {
                ticks.append(GraticuleTick(side: .right, position: PagePoint(x: frame.maxX, y: y), label: label))
            }
        }
        return ticks
    }

    func drawGraticule(_ canvas: Canvas) {
        let length = 4.0 * fs, gap = 1.5 * fs
        canvas.save()
        canvas.color(.black)
        canvas.lineWidth(0.5)
        canvas.dash([])
        canvas.buttJoins()
        for tick in ticks {
            let p = tick.position
            switch tick.side {
            case .top: canvas.polyline([p, PagePoint(x: p.x, y: p.y - length)])
            case .bottom: canvas.polyline([p, PagePoint(x: p.x, y: p.y + length)])
            case .left: canvas.polyline([p, PagePoint(x: p.x - length, y: p.y)])
            case .right: canvas.polyline([p, PagePoint(x: p.x + length, y: p.y)])
            }
        }
        canvas.stroke()
        canvas.restore()
        let size = Fonts(fs).tick
        for tick in ticks {
            let text = canvas.text(tick.label, size: size)
            let p = tick.position
            switch tick.side {
            case .top:
                canvas.draw(text, at: PagePoint(x: p.x - text.width / 2, y: p.y - length - gap - text.height), color: .black)
            case .bottom:
                canvas.draw(text, at: PagePoint(x: p.x - text.width / 2, y: p.y + length + gap), color: .black)
            case .left, .right:
                // Vertical labels reading upwards, centred on the tick.
                canvas.save()
                let x = tick.side == .left ? p.x - length - gap - text.height : p.x + length + gap
                canvas.translate(x, p.y)
                canvas.rotate(degrees: -90)
                canvas.draw(text, at: PagePoint(x: -text.width / 2, y: 0), color: .black)
                canvas.restore()
            }
        }
    }
}
