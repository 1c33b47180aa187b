import Foundation
import GDALKit

/// One view of the map: a frame on the page and the transform from the raster's CRS into it (the
/// main map, or a detail inset).
struct MapView {
    var frame: PageRect
    var transform: AffineTransform
    var ground: Bounds
    /// The part of the class raster drawn, in page points.
    var rasterRect: PageRect
    /// Where no point label goes (a detail inset's caption and scale bar).
    var reserved: [PageRect] = []
}

/// An inset ready to draw.
struct PreparedInset {
    var layout: InsetLayout
    enum Content {
        case location(LocationContent)
        case detail(view: MapView, label: String, groundPerPoint: Double, automatic: Bool)
    }
    var content: Content
}

/// The location inset's polygons in page points.
struct LocationContent {
    struct Area { var polygons: [[[PagePoint]]]; var home: Bool; var country: Bool }
    var areas: [Area]
    var county: [[[PagePoint]]]
    var homeName: String?
    var homeLabel: PagePoint?
    var caption: String
}

extension PreparedMap {
    /// The main map frame as a view.
    var mainView: MapView {
        let g = layout.frameGroundBounds
        return MapView(frame: parts.frame, transform: layout.transform,
                       ground: Bounds(minX: g.minX, minY: g.minY, maxX: g.maxX, maxY: g.maxY), rasterRect: layout.rasterRect)
    }

    /// The view of `ground` drawn into `frame` (same scale both ways; ground and frame have one aspect).
    func view(of ground: Bounds, in frame: PageRect) -> MapView {
        let s = frame.width / ground.width
        let t = AffineTransform(a: s, b: 0, c: frame.minX - ground.minX * s, d: 0, e: -s, f: frame.minY + ground.maxY * s)
        var rect = PageRect(x: frame.midX, y: frame.midY, width: 0, height: 0)
        if let w = raster.visibleWindow(ground) {
            let gt = raster.gt
            let tl = t.apply(x: gt[0] + Double(w.x) * gt[1], y: gt[3] + Double(w.y) * gt[5])
            let br = t.apply(x: gt[0] + Double(w.x + w.width) * gt[1], y: gt[3] + Double(w.y + w.height) * gt[5])
            rect = PageRect(x: tl.x, y: tl.y, width: br.x - tl.x, height: br.y - tl.y)
        }
        return MapView(frame: frame, transform: t, ground: ground, rasterRect: rect)
    }

    /// Places each detail inset, then the location inset, each where it covers the least data
    /// (`bestCorner`) and no other inset, nor a detail box on the main map.
    func prepareInsets() throws -> [PreparedInset] {
        let main = mainView.transform
        let boxes = try detailBoxes().map { box -> (Bounds, PageRect) in
            let a = main.apply(x: box.minX, y: box.maxY), b = main.apply(x: box.maxX, y: box.minY)
            return (box, PageRect(x: a.x, y: a.y, width: b.x - a.x, height: b.y - a.y))
        }
        // A map without insets reads no raster for their placement.
        guard !boxes.isEmpty || spec.location != nil else { return [] }
        let occupancy = try dataOccupancy()
        var taken = boxes.map { $0.1.insetBy(-4) }
        var result: [PreparedInset] = []
        // The detail insets first (larger, harder to place), then the location inset.
        for (i, (box, pageBox)) in boxes.enumerated() {
            let label = String(UnicodeScalar(UInt8(65 + i % 26)))
            let (size, denominator) = detailSize(box)
            guard let corner = bestCorner(size: size, occupancy: occupancy, avoiding: taken) else { continue }
            taken.append(corner)
            var v = view(of: box, in: corner)
            let line = (Fonts(fs).small + 1 * fs) * 1.4
            v.reserved = [PageRect(x: corner.minX, y: corner.minY, width: corner.width, height: 2 * line + 3 * fs),
                          PageRect(x: corner.minX, y: corner.maxY - 3 * line - 8 * fs, width: corner.width * 0.5, height: 3 * line + 8 * fs)]
            result.append(PreparedInset(
                layout: InsetLayout(kind: .detail(label), frame: corner, mainMapBox: pageBox, scaleDenominator: denominator),
                content: .detail(view: v, label: label, groundPerPoint: layout.groundMetresPerMapUnit / v.transform.a,
                                 automatic: spec.details.isAutomatic)))
        }
        if let location = spec.location {
            let pending = try prepareLocation(location)
            if let corner = bestCorner(size: pending.size, occupancy: occupancy, avoiding: taken) {
                result.insert(pending.place(corner), at: 0)
            }
        }
        return result
    }

    /// The boxes of the detail insets: the spec's, or the automatic one around a class.
    func detailBoxes() throws -> [Bounds] {
        switch spec.details {
        case .none: return []
        case .boxes(let boxes): return boxes.map { Bounds(minX: $0.minX, minY: $0.minY, maxX: $0.maxX, maxY: $0.maxY) }
        case .aroundClass(let value): return try automaticDetailBox(value).map { [$0] } ?? []
        }
    }

    /// `MapInsetRule`: the class raster at 0.5 mm cells; the largest 8-connected part of `value`;
    /// when it is at most `narrowWidthMM` wide, the window of the inset's largest size at the
    /// magnified scale holding most of its cells (first in row order on ties).
    func automaticDetailBox(_ value: Int) throws -> Bounds? {
        let r = layout.rasterRect
        guard let window = raster.visibleWindow(mainView.ground), r.width > 0 else { return nil }
        let (w, h, values) = try raster.readForDisplay(window, pageRect: r, dpi: 25.4 / 0.5)
        var mask = [Bool](repeating: false, count: w * h)
        switch values {
        case .bytes(let v): for i in 0..<(w * h) { mask[i] = Int(v[i]) == value }
        case .integers(let v): for i in 0..<(w * h) { mask[i] = Int(v[i]) == value }
        }
        guard let cluster = ZoneCells.largestCluster(mask, width: w, height: h) else { return nil }
        let cellW = r.width / Double(w), cellH = r.height / Double(h)
        let widthMM = Double(ZoneCells.maximumWidth(cluster, width: w, height: h)) * min(cellW, cellH) / Units.pointsPerMM
        guard widthMM <= MapInsetRule.narrowWidthMM else { return nil }
        let denominator = ScaleMath.roundDenominator(atLeast: layout.scaleDenominator / MapInsetRule.magnification)
        let ratio = denominator / layout.scaleDenominator
        let maxSize = detailMaximum
        let bw = min(w, max(1, Int((maxSize.width * ratio / cellW).rounded(.down))))
        let bh = min(h, max(1, Int((maxSize.height * ratio / cellH).rounded(.down))))
        let (bx, by) = ZoneCells.densestWindow(cluster, width: w, height: h, windowWidth: bw, windowHeight: bh)
        let inverse = layout.transform.inverted
        let p0 = inverse.apply(x: r.minX + Double(bx) * cellW, y: r.minY + Double(by) * cellH)
        let p1 = inverse.apply(x: r.minX + Double(bx + bw) * cellW, y: r.minY + Double(by + bh) * cellH)
        return Bounds(minX: p0.x, minY: p1.y, maxX: p1.x, maxY: p0.y)
    }

    /// The frame's corners, then places along its edges (at ¼, ½, ¾), for a rectangle of `size`; the
    /// one covering the least data wins (ties: that order, the corners bottom left, top left,
    /// bottom right, top right first). A data cell of the highest class counts 10.
    func bestCorner(size: (width: Double, height: Double), occupancy: [(PagePoint, Int)], avoiding: [PageRect]) -> PageRect? {
        let f = parts.frame, w = size.width, h = size.height
        guard w < f.width * 0.6, h < f.height * 0.6 else { return nil }
        func at(_ x: Double, _ y: Double) -> PageRect { PageRect(x: x, y: y, width: w, height: h) }
        var candidates = [at(f.minX, f.maxY - h), at(f.minX, f.minY), at(f.maxX - w, f.maxY - h), at(f.maxX - w, f.minY)]
        for t in [0.25, 0.5, 0.75] {
            let x = f.minX + t * (f.width - w), y = f.minY + t * (f.height - h)
            candidates += [at(x, f.maxY - h), at(x, f.minY), at(f.minX, y), at(f.maxX - w, y)]
        }
        func cost(_ r: PageRect) -> Int { occupancy.reduce(0) { $0 + (r.contains($1.0) ? $1.1 : 0) } }
        let free = candidates.filter { c in !avoiding.contains { $0.intersects(c) } }
        return free.map { ($0, cost($0)) }.min { $0.1 < $1.1 }?.0
    }

    /// The page positions of the class raster's data pixels (any colour drawn), at about 0.7 mm,
    /// each with its weight: 10 for the highest class (the legend's first entry), else 1.
    func dataOccupancy() throws -> [(PagePoint, Int)] {
        guard let window = raster.visibleWindow(mainView.ground), layout.rasterRect.width > 0 else { return [] }
        let (w, h, values) = try raster.readForDisplay(window, pageRect: layout.rasterRect, dpi: 36)
        let palette = raster.palette(legend: spec.legend, nodata: .transparent)
        let top = spec.legend.first?.value
        let r = layout.rasterRect
        var points: [(PagePoint, Int)] = []
        for y in 0..<h {
            for x in 0..<w {
                let value: Int
                switch values {
                case .bytes(let v): value = Int(v[y * w + x])
                case .integers(let v): value = Int(v[y * w + x])
                }
                guard palette.lookup(value) != 0 else { continue }
                points.append((PagePoint(x: r.minX + (Double(x) + 0.5) * r.width / Double(w),
                                         y: r.minY + (Double(y) + 0.5) * r.height / Double(h)), value == top ? 10 : 1))
            }
        }
        return points
    }

    /// The largest a detail inset may be on the page.
    var detailMaximum: (width: Double, height: Double) {
        (min(parts.frame.width * 0.3, 80 * Units.pointsPerMM * fs), min(parts.frame.height * 0.3, 56 * Units.pointsPerMM * fs))
    }

    /// A detail box's inset size on the page and its scale: the next round scale at which the box
    /// fits `detailMaximum`.
    func detailSize(_ box: Bounds) -> ((width: Double, height: Double), Double) {
        let unitsPerPoint = 1 / layout.transform.a
        let maxSize = detailMaximum
        let need = max(box.width / maxSize.width, box.height / maxSize.height) / unitsPerPoint
        let denominator = ScaleMath.roundDenominator(atLeast: layout.scaleDenominator * need)
        let insetUnitsPerPoint = unitsPerPoint * denominator / layout.scaleDenominator
        return ((box.width / insetUnitsPerPoint, box.height / insetUnitsPerPoint), denominator)
    }
}
