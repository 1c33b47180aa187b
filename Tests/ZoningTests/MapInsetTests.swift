import Cartography
import Foundation
import GDALKit
import Testing
@testable import Zoning

/// Issue 24's insets: the location inset (区位图) of the banner in Inner Mongolia, detail insets
/// (局部放大图) by box and automatic around a narrow top class, read back with pdftotext, the PNG's
/// pixels, ogr and numpy.
@Suite(.serialized) struct MapInsetTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var provinces: String { root.appendingPathComponent("layers/reference/dcw_provinces_china.geojson").path }
    static var county: String { root.appendingPathComponent("layers/hangjin-study-area.gpkg").path }

    /// The banner rasterised at 1 km in EPSG:4545 (1 inside, 0 nodata outside), with `strip` rows of
    /// class 4 along its northern edge when asked: a stand-in for a class raster of the demo.
    static func bannerRaster(_ p: Project, stripKm: Int = 0) throws -> String {
        try shell("/usr/bin/ogr2ogr", ["-t_srs", "EPSG:4545", p.path("banner.gpkg"), county])
        try shell("/usr/bin/gdal_rasterize", ["-q", "-burn", "1", "-tr", "1000", "1000", "-tap", "-ot", "Byte", "-a_nodata", "0",
                                              "-init", "0", p.path("banner.gpkg"), p.path("banner.tif")])
        guard stripKm > 0 else { return p.path("banner.tif") }
        let script = """
            import sys, numpy as np
            from osgeo import gdal
            ds = gdal.Open(sys.argv[1], gdal.GA_Update); a = ds.ReadAsArray(); k = int(sys.argv[2])
            for c in range(a.shape[1]):
                rows = np.nonzero(a[:, c])[0]
                if len(rows): a[rows[0]:rows[0] + k, c] = 4
            ds.GetRasterBand(1).WriteArray(a); ds = None
            """
        try shell("/usr/bin/python3", ["-c", script, p.path("banner.tif"), "\(stripKm)"])
        return p.path("banner.tif")
    }

    /// numpy: the raster's pixels whose value passes `test` (e.g. "a != 0") with centres in the
    /// page rectangle `rect` of `layout`.
    static func pixels(of raster: String, where test: String, under rect: PageRect, _ layout: MapLayout) throws -> Int {
        let inverse = layout.transform.inverted
        let g0 = inverse.apply(x: rect.minX, y: rect.maxY), g1 = inverse.apply(x: rect.maxX, y: rect.minY)
        let out = try shell("/usr/bin/python3", ["-c", """
            import sys, numpy as np; from osgeo import gdal
            ds = gdal.Open(sys.argv[1]); a = ds.ReadAsArray(); gt = ds.GetGeoTransform()
            x0, y0, x1, y1 = map(float, sys.argv[2:6])
            xs = gt[0] + (0.5 + np.arange(a.shape[1])) * gt[1]; ys = gt[3] + (0.5 + np.arange(a.shape[0])) * gt[5]
            m = (\(test)) & ((xs >= x0) & (xs <= x1))[None, :] & ((ys >= y0) & (ys <= y1))[:, None]
            print(int(m.sum()))
            """, raster, "\(g0.x)", "\(g0.y)", "\(g1.x)", "\(g1.y)"])
        return Int(out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    static let legend = [LegendEntry(value: 4, label: "高 high", color: RGB(230, 0, 0)),
                         LegendEntry(value: 1, label: "低 low", color: RGB(56, 168, 0))]

    /// The PNG's RGB bands.
    static func pixels(_ png: String) throws -> (width: Int, height: Int, rgb: [[UInt8]]) {
        let ds = try Dataset(open: png, flags: [.raster])
        let window = PixelWindow(x: 0, y: 0, width: ds.width, height: ds.height)
        return (ds.width, ds.height, try (1...3).map { try ds.band($0).read(window) })
    }

    @Test func locationInsetShowsTheBannerFilledInsideInnerMongoliaInAFreeCorner() throws {
        let p = try Project()
        var spec = MapSpec(title: "杭锦旗 区位图测试", legend: Self.legend, classRaster: try Self.bannerRaster(p), pngDPI: 100)
        spec.location = LocationInset(provinces: Self.provinces, nameField: "name", county: Self.county)
        let layout = try MapRenderer.render(spec, pdf: p.path("map.pdf"), png: p.path("map.png"))
        let inset = try #require(layout.insets.first { $0.kind == .location })
        let f = layout.frame, r = inset.frame
        #expect((abs(r.minX - f.minX) < 0.01 || abs(r.maxX - f.maxX) < 0.01) && (abs(r.minY - f.minY) < 0.01 || abs(r.maxY - f.maxY) < 0.01),
                "the inset \(r) sits in a corner of the frame \(f)")
        let words = try shell("/usr/bin/pdftotext", [p.path("map.pdf"), "-"])
        #expect(words.contains("区位图 Location") && words.contains("内蒙古自治区"))

        // It covers no data: the banner raster's pixels under the inset (numpy) are all nodata.
        #expect(try Self.pixels(of: p.path("banner.tif"), where: "a != 0", under: r, layout) == 0)

        // Pixels: the county's red and the home province's fill inside the inset; every pixel 5 px
        // around the red blob is warm (the home province's fill, or its blend with the county's
        // red and outline), never the grey of another province, a country or the white ground.
        let (w, _, rgb) = try Self.pixels(p.path("map.png"))
        let s = 100.0 / 72
        func colour(_ x: Int, _ y: Int) -> RGB { RGB(rgb[0][y * w + x], rgb[1][y * w + x], rgb[2][y * w + x]) }
        func near(_ a: RGB, _ b: RGB, _ t: Int = 8) -> Bool { abs(Int(a.r) - Int(b.r)) <= t && abs(Int(a.g) - Int(b.g)) <= t && abs(Int(a.b) - Int(b.b)) <= t }
        let xs = Int((r.minX * s).rounded(.up)) + 2..<Int((r.maxX * s).rounded(.down)) - 2
        let ys = Int((r.minY * s).rounded(.up)) + 2..<Int((r.maxY * s).rounded(.down)) - 2
        var red: [(Int, Int)] = [], home = 0
        for y in ys { for x in xs {
            let c = colour(x, y)
            if near(c, LocationInset.countyFill, 30) { red.append((x, y)) }
            if near(c, LocationInset.homeFill) { home += 1 }
        } }
        #expect(red.count > 15 && home > 500, "county pixels \(red.count), home province pixels \(home)")
        let redSet = Set(red.map { $0.0 * 100_000 + $0.1 })
        var ring = 0, inHome = 0, other: [RGB] = []
        for (x, y) in red {
            for (dx, dy) in [(5, 0), (-5, 0), (0, 5), (0, -5)] where !redSet.contains((x + dx) * 100_000 + y + dy) {
                let c = colour(x + dx, y + dy)
                ring += 1
                if Int(c.r) - Int(c.b) > 30 { inHome += 1 } else { other.append(c) }
            }
        }
        #expect(ring > 10 && Double(inHome) >= 0.95 * Double(ring), "around the county: \(inHome) of \(ring) home-province pixels, others \(other.prefix(12))")

        // Independently (ogr): the banner lies inside 内蒙古自治区 of the outlines, and in no other province.
        let shares = try shell("/usr/bin/python3", ["-c", """
            import sys; from osgeo import ogr
            p = ogr.Open(sys.argv[1]); c = ogr.Open(sys.argv[2]); cl = c.GetLayer(0); pl = p.GetLayer(0)
            cf = cl.GetNextFeature(); g = cf.GetGeometryRef().Clone()
            for f in pl:
                a = f.GetGeometryRef().Intersection(g).GetArea() / g.GetArea()
                if a > 0: print(f.GetField('name'), round(a, 4))
            """, Self.provinces, Self.county])
        #expect(shares.split(separator: "\n").count == 1 && shares.hasPrefix("内蒙古自治区 ") && (Double(shares.split(separator: " ")[1]
            .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) >= 0.99, "shares: \(shares)")
    }

    @Test func automaticDetailInsetMagnifiesTheNarrowTopClassWithItsOwnScaleBar() throws {
        let p = try Project()
        var spec = MapSpec(title: "局部放大图测试", legend: Self.legend, classRaster: try Self.bannerRaster(p, stripKm: 4), pngDPI: 100)
        spec.details = .aroundClass(4)
        let layout = try MapRenderer.render(spec, pdf: p.path("map.pdf"), png: p.path("map.png"))
        let detail = try #require(layout.insets.first { $0.kind == .detail("A") })
        let box = try #require(detail.mainMapBox)
        let denominator = try #require(detail.scaleDenominator)
        // 3× the main map's scale, to the next round scale.
        #expect(denominator < layout.scaleDenominator / 2.5 && denominator >= layout.scaleDenominator / 3)
        // The inset frame is the box magnified by the ratio of the scales.
        #expect(abs(detail.frame.width / box.width - layout.scaleDenominator / denominator) < 0.02 * layout.scaleDenominator / denominator)
        let words = try shell("/usr/bin/pdftotext", [p.path("map.pdf"), "-"])
        #expect(words.contains("局部放大图 A Detail A") && words.contains("1:\(Int(denominator) / 1000) 000") && words.contains(MapInsetRule.caption))
        // Its own scale bar: a label "N km" inside the inset besides the main bar's.
        #expect(words.components(separatedBy: " km").count - 1 >= 2)

        // Pixels: the strip's red is about (main / inset scale) times thicker in the inset than on the map.
        let (w, _, rgb) = try Self.pixels(p.path("map.png"))
        let s = 100.0 / 72
        func isRed(_ x: Int, _ y: Int) -> Bool { rgb[0][y * w + x] > 200 && rgb[1][y * w + x] < 40 && rgb[2][y * w + x] < 40 }
        func thickness(_ rect: PageRect) -> Double {
            var runs: [Int] = []
            for x in stride(from: Int(rect.minX * s) + 2, to: Int(rect.maxX * s) - 2, by: 3) {
                let n = (Int(rect.minY * s) + 1..<Int(rect.maxY * s) - 1).filter { isRed(x, $0) }.count
                if n > 0 { runs.append(n) }
            }
            runs.sort()
            return runs.isEmpty ? 0 : Double(runs[runs.count / 2])
        }
        let onMap = thickness(box), inInset = thickness(detail.frame)
        let ratio = layout.scaleDenominator / denominator
        #expect(onMap > 0 && abs(inInset / onMap - ratio) <= 0.25 * ratio, "strip \(onMap) px on the map, \(inInset) px in the inset, expected ×\(ratio)")
        // The box lies on the strip (numpy: class-4 pixels inside it); no inset covers class 4.
        #expect(try Self.pixels(of: p.path("banner.tif"), where: "a == 4", under: box, layout) > 20)
        for inset in layout.insets {
            #expect(try Self.pixels(of: p.path("banner.tif"), where: "a == 4", under: inset.frame, layout) == 0, "\(inset.kind)")
        }
    }

    @Test func aWideTopClassGetsNoAutomaticInsetAndExplicitBoxesDo() throws {
        let p = try Project()
        let raster = try Self.bannerRaster(p, stripKm: 30)
        var spec = MapSpec(title: "t", legend: Self.legend, classRaster: raster, pngDPI: 50)
        spec.details = .aroundClass(4)
        #expect(try MapRenderer.layout(for: spec).insets.isEmpty, "a 30 km wide zone is legible at the map's scale")
        let ds = try Dataset(open: raster, flags: [.raster])
        let gt = try #require(ds.geoTransform)
        let (x0, y1) = (gt[0] + 40_000, gt[3] - 20_000)
        spec.details = .boxes([DetailInset(minX: x0, minY: y1 - 20_000, maxX: x0 + 30_000, maxY: y1)])
        let layout = try MapRenderer.render(spec, pdf: p.path("m.pdf"), png: p.path("m.png"))
        let detail = try #require(layout.insets.first { $0.kind == .detail("A") })
        // The smallest round scale at which 30 × 20 km fit the largest inset (≤ 80 × 56 mm, ≤ 30 % of the frame).
        let maxW = min(layout.frame.width * 0.3, 80 * 72 / 25.4), maxH = min(layout.frame.height * 0.3, 56 * 72 / 25.4)
        let need = max(30_000 / (maxW * 0.0254 / 72), 20_000 / (maxH * 0.0254 / 72))
        #expect(try #require(detail.scaleDenominator) >= need && detail.scaleDenominator! <= need * 1.25)
        #expect(try shell("/usr/bin/pdftotext", [p.path("m.pdf"), "-"]).contains("局部放大图 A Detail A"))
    }

    @Test func zoneCellsFindTheLargestPartItsWidthAndTheDensestWindow() {
        // 10 × 6: a 2-cell blob top left, a 3-row strip below (widest 3), the window over the strip.
        var mask = [Bool](repeating: false, count: 60)
        mask[0] = true; mask[1] = true
        for y in 2...4 { for x in 1...8 { mask[y * 10 + x] = true } }
        let part = try? #require(ZoneCells.largestCluster(mask, width: 10, height: 6))
        #expect(part?.filter { $0 }.count == 24 && part?[0] == false)
        #expect(ZoneCells.maximumWidth(part ?? [], width: 10, height: 6) == 3)
        #expect(ZoneCells.maximumWidth((0..<60).map { $0 / 10 == 3 }, width: 10, height: 6) == 1)
        #expect(ZoneCells.densestWindow(part ?? [], width: 10, height: 6, windowWidth: 4, windowHeight: 3) == (1, 2))
        #expect(ZoneCells.largestCluster([Bool](repeating: false, count: 4), width: 2, height: 2) == nil)
    }

    /// `maps.insets`: a box of 3 numbers, an inverted box and a box outside the grid are errors
    /// naming the job file, line and column.
    @Test func badInsetBoxesAreErrorsWithTheirPosition() throws {
        let fx = try Fixture()
        let (x0, y0) = (Fixture.xmin, Fixture.ymin)
        let text = try String(contentsOfFile: fx.jobPath, encoding: .utf8)
        let bad = text + "maps:\n  insets:\n    - [\(x0), \(y0), \(x0 + 1000)]\n    - [\(x0 + 2000), \(y0), \(x0 + 1000), \(y0 + 1000)]\n"
        try bad.write(toFile: fx.jobPath, atomically: true, encoding: .utf8)
        let line = bad.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.hasPrefix("    - [") }! + 1
        let (status, _, err) = try runProcess(BadInputTests.executable, ["validate", fx.jobPath])
        #expect(status != 0)
        #expect(err.contains("\(fx.jobPath):\(line):7: error: maps.insets[0]: a detail inset is [xmin, ymin, xmax, ymax] in the grid CRS: 4 numbers, got 3"), "\(err)")
        #expect(err.contains("\(fx.jobPath):\(line + 1):7: error: maps.insets[1]:") && err.contains("(inverted)"), "\(err)")
        let outside = text + "maps:\n  insets:\n    - [\(x0 - 5000), \(y0), \(x0 + 1000), \(y0 + 1000)]\n"
        try outside.write(toFile: fx.jobPath, atomically: true, encoding: .utf8)
        let (planStatus, _, planErr) = try runProcess(BadInputTests.executable, ["plan", fx.jobPath])
        #expect(planStatus != 0)
        #expect(planErr.contains("\(fx.jobPath):\(line):7: maps.insets[0]: the box") && planErr.contains("is not inside the grid"), "\(planErr)")
    }
}
