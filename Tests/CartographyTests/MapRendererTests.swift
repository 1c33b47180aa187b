import Foundation
import GDALKit
import Testing
@testable import Cartography

/// Renders the fixture map and checks the PDF through poppler's tools (pdftoppm, pdftotext,
/// pdffonts, pdfinfo) and the PNG through GDAL. Nothing is mocked.
@Suite struct MapRendererTests {
    struct Rendered {
        let dir: TempDir
        let layout: MapLayout
        let pdf: String
        let png: String
        let spec: MapSpec
    }

    static func render(page: PageSetup = .a3Landscape) throws -> Rendered {
        let dir = try TempDir()
        let raster = dir.path("class.tif")
        try Fixture.makeRaster(at: raster)
        let spec = Fixture.spec(raster: raster, context: try Fixture.makeContext(in: dir), page: page)
        let pdf = dir.path("map.pdf"), png = dir.path("map.png")
        let layout = try MapRenderer.render(spec, pdf: pdf, png: png)
        return Rendered(dir: dir, layout: layout, pdf: pdf, png: png, spec: spec)
    }

    /// Sample points: stripe centres (20 px from every class edge), on rows clear of the river
    /// (row 30), the township (rows 100–140) and their labels.
    static let samples: [(column: Int, row: Int)] = [0, 1, 2, 3, 4].flatMap { stripe in
        [15, 60, 75].map { (column: 40 * stripe + 20, row: $0) }
    }

    static func expectedColour(column: Int) -> RGB {
        let value = Fixture.classAt(column: column)
        return Fixture.legend.first { $0.value == value }?.color ?? .white  // nodata: the white background
    }

    static func rasterise(_ r: Rendered, dpi: Int) throws -> RGBImage {
        let prefix = r.dir.path("page-\(dpi)")
        try run("/usr/bin/pdftoppm", ["-r", "\(dpi)", "-png", "-singlefile", r.pdf, prefix])
        return try RGBImage(path: prefix + ".png")
    }

    @Test func pdfAndPngShowTheClassColoursOfTheRasterBeneath() throws {
        let r = try Self.render()
        let pdfImage = try Self.rasterise(r, dpi: 100)
        let pngImage = try RGBImage(path: r.png)
        for s in Self.samples {
            let g = Fixture.ground(column: s.column, row: s.row)
            let p = r.layout.transform.apply(x: g.x, y: g.y)
            #expect(r.layout.frame.contains(p) && r.layout.rasterRect.contains(p), "sample \(s) at \(p)")
            let expected = Self.expectedColour(column: s.column)
            let fromPDF = pdfImage.pixel(at: p, dpi: 100)
            let fromPNG = pngImage.pixel(at: p, dpi: 150)
            #expect(close(fromPDF, expected), "PDF at 100 dpi, pixel \(s) (page \(p)): \(fromPDF), want \(expected)")
            #expect(close(fromPNG, expected), "PNG at 150 dpi, pixel \(s) (page \(p)): \(fromPNG), want \(expected)")
        }
        // Just outside the raster (inside the frame) the page is white.
        let outside = r.layout.transform.apply(x: Fixture.originX - 300, y: Fixture.originY - 600)
        if r.layout.frame.insetBy(3).contains(outside) {
            #expect(close(pdfImage.pixel(at: outside, dpi: 100), .white))
        }
    }

    @Test func pngHasTheExpectedSizeFor150dpiA3Landscape() throws {
        let r = try Self.render()
        let image = try RGBImage(path: r.png)
        // A3 = 420 × 297 mm: 2480.3 × 1753.9 px at 150 dpi.
        #expect(image.width == 2480 && image.height == 1754)
        #expect(r.layout.pngPixelWidth == 2480 && r.layout.pngPixelHeight == 1754)
        let info = try run("/usr/bin/pdfinfo", [r.pdf])
        #expect(info.contains("1190.55 x 841.89 pts (A3)"), "\(info)")
        #expect(info.split(separator: "\n").contains { $0.hasPrefix("Pages:") && $0.hasSuffix(" 1") })
    }

    @Test func a4PortraitIsConfigurable() throws {
        let r = try Self.render(page: PageSetup(.a4, .portrait))
        let info = try run("/usr/bin/pdfinfo", [r.pdf])
        #expect(info.contains("595.276 x 841.89 pts (A4)"), "\(info)")
        let image = try RGBImage(path: r.png)
        #expect(image.width == 1240 && image.height == 1754)
        #expect(r.layout.frame.width < r.layout.frame.height + 200)
        let pdfImage = try Self.rasterise(r, dpi: 100)
        for s in Self.samples {
            let g = Fixture.ground(column: s.column, row: s.row)
            let p = r.layout.transform.apply(x: g.x, y: g.y)
            #expect(close(pdfImage.pixel(at: p, dpi: 100), Self.expectedColour(column: s.column)), "sample \(s)")
        }
    }

    @Test func textIsRealTextWithEveryLegendLabelAndTheChineseTitle() throws {
        let r = try Self.render()
        let text = try run("/usr/bin/pdftotext", ["-enc", "UTF-8", r.pdf, "-"])
        // The title round-trips exactly (its glyphs map back to the same characters: no boxes).
        let firstLine = text.split(separator: "\n").first.map(String.init)
        #expect(firstLine == Fixture.title, "first line: \(firstLine ?? "none")")
        for entry in Fixture.legend {
            #expect(text.contains(entry.label), "legend label \(entry.label) missing")
        }
        for expected in ["图例 Legend", "黄河 Yellow River", "黄河", "锡尼镇", "Xini 锡尼", "GEM Global Active Faults, CC BY 4.0",
                         "hazard-zoning 0.1.0 · run 20260102T000000Z", "EPSG:4545", r.layout.scaleBar.label,
                         "1:\(ScaleMath.grouped(r.layout.scaleDenominator))"] {
            #expect(text.contains(expected), "\(expected) missing from the PDF text")
        }
        #expect(!text.contains("\u{FFFD}"))
    }

    @Test func fontsAreEmbeddedNotoSansCJKAndNoType3() throws {
        let r = try Self.render()
        let out = try run("/usr/bin/pdffonts", [r.pdf])
        let lines = out.split(separator: "\n").map(String.init)
        guard let header = lines.first, let emb = header.range(of: "emb") else {
            Issue.record("unexpected pdffonts output: \(out)")
            return
        }
        let fonts = lines.dropFirst(2)
        #expect(!fonts.isEmpty)
        #expect(fonts.contains { $0.contains("NotoSansCJK") }, "\(out)")
        let column = header.distance(from: header.startIndex, to: emb.lowerBound)
        for line in fonts {
            let embedded = line.dropFirst(column).prefix(3)
            #expect(embedded == "yes", "font not embedded: \(line)")
            #expect(!line.contains("Type 3"), "Type 3 font: \(line)")
        }
    }

    @Test func scaleBarLengthMatchesItsLabelAtTheMapScale() throws {
        let r = try Self.render()
        let bar = r.layout.scaleBar
        let metresPerPoint = 0.0254 / 72
        // From the layout: the ground length at the centre's scale (points per map unit × map units
        // per ground metre) and, to 1 %, the nominal scale.
        let pointsPerMapUnit = r.layout.transform.a
        let fromGround = bar.groundMetres / r.layout.groundMetresPerMapUnit * pointsPerMapUnit
        #expect(abs(bar.lengthPoints - fromGround) < 1e-9 * fromGround)
        let fromScale = bar.groundMetres / r.layout.scaleDenominator / metresPerPoint
        #expect(abs(bar.lengthPoints - fromScale) <= 0.01 * fromScale, "\(bar.lengthPoints) vs \(fromScale)")
        // 70 km west of the central meridian the Gauss-Krüger point scale factor k is about 1.00006:
        // a map metre there is 1/k ground metres.
        #expect(r.layout.groundMetresPerMapUnit > 0.9999 && r.layout.groundMetresPerMapUnit < 0.99997,
                "\(r.layout.groundMetresPerMapUnit)")
        // A round length.
        let mantissa = bar.groundMetres / pow(10, log10(bar.groundMetres).rounded(.down))
        #expect([1, 2, 2.5, 3, 4, 5].contains { abs($0 - mantissa) < 1e-9 }, "\(bar.groundMetres)")

        // Measured in the rasterised PDF (100 dpi) and in the PNG (150 dpi): the dark span along the
        // bar's middle row, less the outline's width.
        for (image, dpi) in [(try Self.rasterise(r, dpi: 100), 100.0), (try RGBImage(path: r.png), 150.0)] {
            let scale = dpi / 72
            let y = Int(bar.origin.y * scale)
            let x0 = Int((bar.origin.x - 8) * scale), x1 = Int((bar.origin.x + bar.lengthPoints + 8) * scale)
            let dark = (x0...x1).map { x -> Bool in
                let c = image.pixel(x, y)
                return (Int(c.r) + Int(c.g) + Int(c.b)) / 3 < 128
            }
            guard let first = dark.firstIndex(of: true), let last = dark.lastIndex(of: true) else {
                Issue.record("no scale bar found at \(dpi) dpi")
                continue
            }
            let measured = Double(last - first + 1) / scale - 0.6
            #expect(abs(measured - bar.lengthPoints) <= 0.01 * bar.lengthPoints,
                    "\(dpi) dpi: measured \(measured) pt, layout \(bar.lengthPoints) pt")
            // Alternating segments: count the dark runs (black segments, plus the end outline after a
            // final white segment).
            var runs = 0
            for i in first...last where dark[i] && (i == first || !dark[i - 1]) { runs += 1 }
            let expectedRuns = (bar.segments + 1) / 2 + (bar.segments % 2 == 0 ? 1 : 0)
            #expect(runs == expectedRuns, "\(dpi) dpi: \(runs) dark runs for \(bar.segments) segments")
        }
    }

    @Test func automaticScaleIsRoundAndFitsTheWholeRaster() throws {
        let dir = try TempDir()
        let raster = dir.path("class.tif")
        try Fixture.makeRaster(at: raster)
        let layout = try MapRenderer.layout(for: MapSpec(title: "t", legend: Fixture.legend, classRaster: raster))
        #expect(layout.scaleDenominator == 25_000, "\(layout.scaleDenominator)")
        let f = layout.frame, r = layout.rasterRect
        #expect(r.minX >= f.minX && r.maxX <= f.maxX && r.minY >= f.minY && r.maxY <= f.maxY, "\(r) in \(f)")
        #expect(abs(r.width - 6000 / 25_000 / (0.0254 / 72)) < 1e-6)
        // Round trip through the transform.
        let back = layout.transform.inverted.apply(x: r.minX, y: r.minY)
        #expect(abs(back.x - Fixture.originX) < 1e-6 && abs(back.y - Fixture.originY) < 1e-6)
        // Fixed scale: the raster is cut at the frame, the frame centre stays on the raster centre.
        var spec = MapSpec(title: "t", legend: Fixture.legend, classRaster: raster)
        spec.scale = .denominator(10_000)
        let fixed = try MapRenderer.layout(for: spec)
        #expect(fixed.scaleDenominator == 10_000)
        let centre = fixed.transform.apply(x: Fixture.originX + 3000, y: Fixture.originY - 2250)
        #expect(abs(centre.x - fixed.frame.midX) < 1e-6 && abs(centre.y - fixed.frame.midY) < 1e-6)
    }

    @Test func badInputsNameTheFileAndLeaveNoOutput() throws {
        let dir = try TempDir()
        let pdf = dir.path("m.pdf"), png = dir.path("m.png")
        let missing = dir.path("missing.tif")
        do {
            try MapRenderer.render(MapSpec(title: "t", legend: Fixture.legend, classRaster: missing), pdf: pdf, png: png)
            Issue.record("a missing raster must throw")
        } catch let MapError.input(path, reason) {
            #expect(path == missing && !reason.isEmpty)
        }
        let raster = dir.path("class.tif")
        try Fixture.makeRaster(at: raster)
        let badLayer = ContextLayer(kind: .river, source: try Fixture.makeContext(in: dir).river, layer: "no_such_layer")
        do {
            try MapRenderer.render(MapSpec(title: "t", legend: Fixture.legend, classRaster: raster, context: [badLayer]),
                                   pdf: pdf, png: png)
            Issue.record("a missing layer must throw")
        } catch let MapError.input(path, reason) {
            #expect(path == badLayer.source && reason.contains("no_such_layer"))
        }
        // An unwritable destination: the error comes from Cairo, nothing is left behind.
        do {
            try MapRenderer.render(MapSpec(title: "t", legend: Fixture.legend, classRaster: raster),
                                   pdf: dir.path("no/such/folder/m.pdf"), png: png)
            Issue.record("an unwritable PDF path must throw")
        } catch is MapError {}
        #expect(throws: MapError.self) {
            try MapRenderer.render(MapSpec(title: "t", legend: [], classRaster: raster), pdf: pdf, png: png)
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.url.path).filter { !$0.hasSuffix(".geojson") }
        #expect(left == ["class.tif"], "\(left)")
    }

    @Test func roundDenominators() {
        for (x, want) in [(20_890.0, 25_000.0), (25_000, 25_000), (768_000, 800_000), (1_000_001, 1_200_000), (9.5, 10)] {
            #expect(ScaleMath.roundDenominator(atLeast: x) == want, "\(x)")
        }
    }

    @Test func roundBarLengths() {
        for (x, want, segments) in [(1297.0, 1000.0, 5), (48_000, 40_000, 4), (2_600, 2_500, 5), (99, 50, 5), (31_000, 30_000, 3)] {
            let (l, s) = ScaleMath.roundBarLength(atMost: x)
            #expect(l == want && s == segments, "\(x)")
        }
        #expect(ScaleMath.distanceLabel(metres: 40_000) == "40 km")
        #expect(ScaleMath.distanceLabel(metres: 2_500) == "2.5 km")
        #expect(ScaleMath.distanceLabel(metres: 500) == "500 m")
        #expect(ScaleMath.grouped(800_000) == "800 000")
    }

    @Test func anglesAndDistances() {
        #expect(ScaleMath.formatAngle(107.5, positive: "E", negative: "W") == "107°30′E")
        #expect(ScaleMath.formatAngle(40, positive: "N", negative: "S") == "40°N")
        #expect(ScaleMath.formatAngle(-0.25, positive: "N", negative: "S") == "0°15′S")
        // One degree of latitude at 40°N on GRS80 is 111 034 m (within 1 m for a 0.01° baseline ×100).
        let d = ScaleMath.shortGeodesicDistance(lon1: 108, lat1: 39.995, lon2: 108, lat2: 40.005) * 100
        #expect(abs(d - 111_034) < 2, "\(d)")
    }
}
