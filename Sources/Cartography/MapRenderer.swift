import CCairo
import Foundation
import GDALKit

/// Renders print maps: a vector PDF (text and boundaries as vectors, the class raster as one
/// embedded image without interpolation) and a PNG preview of the same page.
public enum MapRenderer {
    /// Renders `spec` to a PDF at `pdf` and a PNG at `png` (`spec.pngDPI`). Each file is written
    /// under a temporary name in its folder and renamed into place, so a failed render never
    /// leaves a partial file behind. Returns where things went on the page.
    ///
    /// The class raster must be north-up with a CRS that PROJ relates to WGS 84: the scale bar is
    /// true on the ground east-west at the map centre (the Gauss-Krüger point scale factor there is
    /// measured through PROJ), the north arrow points to true north there, and the frame carries
    /// longitude/latitude ticks. Context layers are reprojected to the raster's CRS.
    @discardableResult
    public static func render(_ spec: MapSpec, pdf: String, png: String) throws -> MapLayout {
        let map = try PreparedMap(spec)
        try writeAtomically(pdf) { try map.renderPDF(to: $0) }
        try writeAtomically(png) { try map.renderPNG(to: $0) }
        return map.layout
    }

    /// The page geometry `render` would produce, without drawing (reads the raster's header and the
    /// context layers).
    public static func layout(for spec: MapSpec) throws -> MapLayout {
        try PreparedMap(spec).layout
    }

    static func writeAtomically(_ path: String, _ write: (String) throws -> Void) throws {
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).partial-\(ProcessInfo.processInfo.processIdentifier)").path
        do {
            try write(temporary)
            if rename(temporary, path) != 0 {
                throw MapError.output(path: path, reason: String(cString: strerror(errno)))
            }
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
    }
}

// MARK: - Preparation: raster facts, scale, page geometry, context features

/// Everything needed to draw one map, computed once and drawn on any number of surfaces.
final class PreparedMap {
    let spec: MapSpec
    let page: PageSize
    let fs: Double  // font scale: 1 on A3, smaller on smaller paper
    let raster: RasterSource
    let parts: PageParts
    private(set) var layout: MapLayout
    let crsText: String
    let context: [(ContextLayer, [GeometryFeature])]
    /// The choropleth polygons (`spec.areas`) in the raster's CRS: class value and label per feature.
    let areas: [AreaFeature]
    let ticks: [GraticuleTick]
    /// The location and detail insets (`MapInsets.swift`), placed.
    private(set) var insets: [PreparedInset] = []

    struct AreaFeature {
        var value: Int?
        var label: String?
        var geometry: FeatureGeometry
    }

    struct PageParts {
        var title: PageRect
        var neatline: PageRect
        var frame: PageRect
        var panel: PageRect
        var legend: PageRect
        var scale: PageRect
        var north: PageRect
        var crs: PageRect
        var sources: PageRect
        var footer: PageRect
    }

    struct GraticuleTick {
        enum Side { case top, bottom, left, right }
        var side: Side
        var position: PagePoint
        var label: String
    }

    /// Long on purpose: the page is laid out top to bottom (title, frame, legend, scale bar,
    /// graticule, sources), each box placed from the ones before it.
    init(_ spec: MapSpec) throws {
        guard !spec.legend.isEmpty else { throw MapError.invalidSpec("the legend has no class") }
        guard spec.pngDPI >= 10, spec.pngDPI <= 1200 else { throw MapError.invalidSpec("pngDPI \(spec.pngDPI) is outside 10…1200") }
        guard spec.pdfRasterDPI >= 10, spec.pdfRasterDPI <= 2400 else {
            throw MapError.invalidSpec("pdfRasterDPI \(spec.pdfRasterDPI) is outside 10…2400")
        }
        if case .denominator(let d) = spec.scale, !(d > 0 && d.isFinite) {
            throw MapError.invalidSpec("scale denominator \(d) must be positive")
        }
        self.spec = spec
        page = spec.page.sizeInPoints
        fs = max(0.78, min(1.5, min(page.width, page.height) / 841.89))
        raster = try RasterSource(path: spec.classRaster, band: spec.band)

        let srs = raster.srs
        crsText = spec.crsName ?? (srs.name + (srs.authorityCode.map { " (\($0))" } ?? ""))

        // Page geometry (text is measured on a scratch surface: metrics are target-independent).
        let scratch = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1)!
        defer { cairo_surface_destroy(scratch) }
        let canvas = try Canvas(surface: scratch, scale: 1, family: spec.fontFamily)
        var parts = PreparedMap.pageFrame(page: page, orientation: spec.page.orientation, fs: fs)
        PreparedMap.placePanel(&parts, canvas: canvas, spec: spec, fs: fs, crsName: crsText)

        // Scale: ground metres per map unit at the centre, from PROJ (includes the point scale factor).
        let b = raster.bounds
        let cx = (b.minX + b.maxX) / 2, cy = (b.minY + b.maxY) / 2
        let geographic = try SpatialReference(definition: "EPSG:4326")
        let toLonLat = try wrapInput(spec.classRaster) { try CoordinateTransformation(from: srs, to: geographic) }
        let fromLonLat = try wrapInput(spec.classRaster) { try CoordinateTransformation(from: geographic, to: srs) }
        let h = max(b.width, b.height) / 1000
        let ends = try wrapInput(spec.classRaster) {
            try toLonLat.transform([GeoPoint(x: cx - h, y: cy), GeoPoint(x: cx + h, y: cy)])
        }
        let groundPerUnit = ScaleMath.shortGeodesicDistance(lon1: ends[0].x, lat1: ends[0].y,
                                                            lon2: ends[1].x, lat2: ends[1].y) / (2 * h)
        let nominalMetresPerUnit = srs.isProjected ? srs.linearUnitsInMetres : groundPerUnit
        let frame = parts.frame
        let denominator: Double
        switch spec.scale {
        case .denominator(let d):
            denominator = d
        case .automatic:
            let unitsPerPoint = max(b.width / frame.width, b.height / frame.height) * 1.03
            denominator = ScaleMath.roundDenominator(atLeast: unitsPerPoint * nominalMetresPerUnit / Units.metresPerPoint)
        }
        let unitsPerPoint = denominator * Units.metresPerPoint / nominalMetresPerUnit
        let transform = AffineTransform(a: 1 / unitsPerPoint, b: 0, c: frame.midX - cx / unitsPerPoint,
                                        d: 0, e: -1 / unitsPerPoint, f: frame.midY + cy / unitsPerPoint)
        let inverse = transform.inverted
        let g0 = inverse.apply(x: frame.minX, y: frame.maxY), g1 = inverse.apply(x: frame.maxX, y: frame.minY)
        let frameGround = Bounds(minX: g0.x, minY: g0.y, maxX: g1.x, maxY: g1.y)

        // North: the direction of the meridian through the centre, on the page.
        let centreLonLat = try wrapInput(spec.classRaster) { try toLonLat.transform(GeoPoint(x: cx, y: cy)) }
        let north = try wrapInput(spec.classRaster) {
            try fromLonLat.transform(GeoPoint(x: centreLonLat.x, y: centreLonLat.y + 0.01))
        }
        let northRotation = atan2(north.x - cx, north.y - cy) * 180 / .pi

        // Panel blocks, then the scale bar inside its block.
        let groundPerPoint = unitsPerPoint * groundPerUnit
        let scaleBar = PreparedMap.scaleBar(in: parts.scale, canvas: canvas, fs: fs, groundPerPoint: groundPerPoint,
                                            denominator: denominator)
        self.parts = parts

        let visible = raster.visibleWindow(frameGround)
        let rasterRect: PageRect
        if let w = visible {
            let tl = transform.apply(x: raster.gt[0] + Double(w.x) * raster.gt[1], y: raster.gt[3] + Double(w.y) * raster.gt[5])
            let br = transform.apply(x: raster.gt[0] + Double(w.x + w.width) * raster.gt[1],
                                     y: raster.gt[3] + Double(w.y + w.height) * raster.gt[5])
            rasterRect = PageRect(x: tl.x, y: tl.y, width: br.x - tl.x, height: br.y - tl.y)
        } else {
            rasterRect = PageRect(x: frame.midX, y: frame.midY, width: 0, height: 0)
        }

        layout = MapLayout(
            pageSize: page, frame: frame, transform: transform, rasterRect: rasterRect,
            frameGroundBounds: (frameGround.minX, frameGround.minY, frameGround.maxX, frameGround.maxY),
            scaleDenominator: denominator, groundMetresPerMapUnit: groundPerUnit, scaleBar: scaleBar,
            northRotationDegrees: northRotation,
            pngPixelWidth: Int((page.width * spec.pngDPI / 72).rounded()),
            pngPixelHeight: Int((page.height * spec.pngDPI / 72).rounded()))

        // Context layers, read once in the raster's CRS, only what meets the frame.
        var context: [(ContextLayer, [GeometryFeature])] = []
        for layer in spec.context {
            let features = try wrapInput(layer.source) { () throws -> [GeometryFeature] in
                let ds = try Dataset(open: layer.source, flags: [.vector])
                let vl = try layer.layer.map { try ds.layer(named: $0) } ?? ds.layer(0)
                return try vl.features(in: srs, attribute: layer.labelField, within: frameGround)
            }
            context.append((layer, features))
        }
        self.context = context
        var areas: [AreaFeature] = []
        if let a = spec.areas {
            areas = try wrapInput(a.source) { () throws -> [AreaFeature] in
                let ds = try Dataset(open: a.source, flags: [.vector])
                let vl = try a.layer.map { try ds.layer(named: $0) } ?? ds.layer(0)
                let classes = try vl.features(in: srs, attribute: a.classField, within: frameGround)
                let labels = try a.labelField.map { try vl.features(in: srs, attribute: $0, within: frameGround) }
                let byID = Dictionary(labels?.map { ($0.id, $0.attribute) } ?? [], uniquingKeysWith: { a, _ in a })
                return classes.map { f in
                    AreaFeature(value: f.attribute.flatMap { Int($0) }, label: byID[f.id] ?? nil, geometry: f.geometry)
                }
            }
        }
        self.areas = areas
        ticks = (try? PreparedMap.graticule(frame: frame, frameGround: frameGround, transform: transform,
                                            toLonLat: toLonLat, fromLonLat: fromLonLat)) ?? []
        insets = try prepareInsets()
        layout.insets = insets.map(\.layout)
    }

    // MARK: page frame

    static func pageFrame(page: PageSize, orientation: PageSetup.Orientation, fs: Double) -> PageParts {
        let mm = Units.pointsPerMM
        let margin = 12 * mm
        let titleHeight = 21 * mm * fs
        let footerHeight = 7 * mm * fs
        let neat = PageRect(x: margin, y: margin + titleHeight, width: page.width - 2 * margin,
                            height: page.height - 2 * margin - titleHeight - footerHeight)
        let pad = 8 * mm * fs  // between the neatline and the map frame: room for graticule labels
        let title = PageRect(x: margin, y: margin, width: page.width - 2 * margin, height: titleHeight)
        let footer = PageRect(x: margin, y: neat.maxY, width: neat.width, height: footerHeight)
        let zero = PageRect(x: 0, y: 0, width: 0, height: 0)
        switch orientation {
        case .landscape:
            let panelWidth = 84 * mm * fs
            let frame = PageRect(x: neat.x + pad, y: neat.y + pad,
                                 width: neat.width - 2 * pad - panelWidth, height: neat.height - 2 * pad)
            let panel = PageRect(x: frame.maxX + pad, y: frame.y, width: neat.maxX - pad * 0.75 - (frame.maxX + pad),
                                 height: frame.height)
            return PageParts(title: title, neatline: neat, frame: frame, panel: panel, legend: zero, scale: zero,
                             north: zero, crs: zero, sources: zero, footer: footer)
        case .portrait:
            let panelHeight = 58 * mm * fs
            let frame = PageRect(x: neat.x + pad, y: neat.y + pad,
                                 width: neat.width - 2 * pad, height: neat.height - 2 * pad - panelHeight)
            let panel = PageRect(x: frame.x, y: frame.maxY + pad, width: frame.width,
                                 height: neat.maxY - pad * 0.5 - (frame.maxY + pad))
            return PageParts(title: title, neatline: neat, frame: frame, panel: panel, legend: zero, scale: zero,
                             north: zero, crs: zero, sources: zero, footer: footer)
        }
    }

    // MARK: font sizes

    struct Fonts {
        let title, subtitle, heading, body, small, tick: Double
        init(_ fs: Double) {
            title = 24 * fs; subtitle = 11.5 * fs; heading = 12 * fs; body = 10 * fs
            small = max(6, 7 * fs); tick = max(6, 7 * fs)
        }
    }
}

/// Runs a GDAL-touching step and turns its error into a `MapError.input` naming `path`.
func wrapInput<T>(_ path: String, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as GDALError {
        throw MapError.input(path: path, reason: error.description)
    }
}

// MARK: - The class raster

/// The class raster: header facts, colours, and reading at display resolution.
final class RasterSource {
    let path: String
    let dataset: Dataset
    let bandIndex: Int
    let gt: [Double]
    let srs: SpatialReference
    let width: Int, height: Int
    let noData: Double?
    let pixelType: PixelType
    let colorTable: [(UInt8, UInt8, UInt8, UInt8)]?

    init(path: String, band: Int) throws {
        self.path = path
        let dataset = try wrapInput(path) { try Dataset(open: path, flags: [.raster]) }
        self.dataset = dataset
        bandIndex = band
        let b = try wrapInput(path) { try dataset.band(band) }
        guard let gt = dataset.geoTransform else { throw MapError.input(path: path, reason: "the raster has no geotransform") }
        guard gt[2] == 0, gt[4] == 0, gt[1] > 0, gt[5] < 0 else {
            throw MapError.input(path: path, reason: "the raster is not north-up (geotransform \(gt))")
        }
        guard let srs = dataset.spatialReference else { throw MapError.input(path: path, reason: "the raster has no CRS") }
        self.gt = gt
        self.srs = srs
        width = dataset.width
        height = dataset.height
        noData = b.noDataValue
        pixelType = b.pixelType
        colorTable = b.colorTable
    }

    var bounds: Bounds {
        Bounds(minX: gt[0], minY: gt[3] + Double(height) * gt[5], maxX: gt[0] + Double(width) * gt[1], maxY: gt[3])
    }

    /// The pixel window covering the part of `ground` inside the raster, or nil.
    func visibleWindow(_ ground: Bounds) -> PixelWindow? {
        let x0 = max(0, Int(((ground.minX - gt[0]) / gt[1]).rounded(.down)))
        let x1 = min(width, Int(((ground.maxX - gt[0]) / gt[1]).rounded(.up)))
        let y0 = max(0, Int(((ground.maxY - gt[3]) / gt[5]).rounded(.down)))
        let y1 = min(height, Int(((ground.minY - gt[3]) / gt[5]).rounded(.up)))
        guard x1 > x0, y1 > y0 else { return nil }
        return PixelWindow(x: x0, y: y0, width: x1 - x0, height: y1 - y0)
    }

    /// Premultiplied ARGB32 colour per class value: legend colours first, then the raster's
    /// colour table; nodata per `style`; anything else transparent.
    func palette(legend: [LegendEntry], nodata style: NodataStyle) -> (lookup: (Int) -> UInt32, byteTable: [UInt32]) {
        func argb(_ c: RGB) -> UInt32 { 0xFF00_0000 | UInt32(c.r) << 16 | UInt32(c.g) << 8 | UInt32(c.b) }
        var map: [Int: UInt32] = [:]
        if let table = colorTable {
            for (i, e) in table.enumerated() where e.3 > 0 {
                // Premultiply by alpha.
                let a = UInt32(e.3)
                map[i] = a << 24 | (UInt32(e.0) * a / 255) << 16 | (UInt32(e.1) * a / 255) << 8 | UInt32(e.2) * a / 255
            }
        }
        for entry in legend { map[entry.value] = argb(entry.color) }
        let nodataColour: UInt32
        switch style {
        case .transparent: nodataColour = 0
        case .fill(let c, _): nodataColour = argb(c)
        }
        if let nd = noData, nd == nd.rounded(), abs(nd) < 1e15 { map[Int(nd)] = nodataColour }
        let lookup: (Int) -> UInt32 = { map[$0] ?? 0 }
        let byteTable = (0..<256).map { lookup($0) }
        return (lookup, byteTable)
    }

    /// Class values of a window, read at display resolution.
    enum DisplayValues {
        case bytes([UInt8])
        case integers([Int32])
    }

    /// Reads `window` resampled (nearest neighbour) to at most `dpi` over `pageRect`, never above the
    /// raster's own resolution. Memory is bounded by the output size: GDAL reads through a
    /// downsampling RasterIO (and from overviews when the raster has them).
    func readForDisplay(_ window: PixelWindow, pageRect: PageRect, dpi: Double) throws
        -> (width: Int, height: Int, values: DisplayValues) {
        let outW = max(1, min(window.width, Int((pageRect.width * dpi / 72).rounded(.up))))
        let outH = max(1, min(window.height, Int((pageRect.height * dpi / 72).rounded(.up))))
        return try wrapInput(path) {
            let small = try Utilities.translate(dataset, to: "", arguments: [
                "-of", "MEM", "-b", "\(bandIndex)", "-r", "nearest",
                "-srcwin", "\(window.x)", "\(window.y)", "\(window.width)", "\(window.height)",
                "-outsize", "\(outW)", "\(outH)",
            ])
            let all = PixelWindow(x: 0, y: 0, width: outW, height: outH)
            let band = try small.band(1)
            if pixelType == .byte {
                return (outW, outH, .bytes(try band.read(all)))
            }
            return (outW, outH, .integers(try band.read(all)))
        }
    }
}
