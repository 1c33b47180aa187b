import Cartography
import Foundation
import GDALKit
import Testing
@testable import Zoning

/// The shipped risk-zoning job on the real demo layers (at 600 m so the test is quick), its maps
/// rasterised with pdftoppm and read back: colours under known map positions, text, fonts, scale.
@Suite(.serialized) struct DemoMapTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func demoZoningMapShowsTheClassesTheTextAndATrueScaleBar() throws {
        let p = try Project()
        let text = try String(contentsOfFile: Self.root.appendingPathComponent("jobs/hangjin-risk-zoning.yaml").path, encoding: .utf8)
            .replacingOccurrences(of: "  resolution: 30\n", with: "  resolution: 600\n")
            .replacingOccurrences(of: "  majority: 5\n", with: "  majority: 5\n  min-area-ha: 2000\n")
        let job = try p.write("jobs/zoning.yaml", text)
        let spec = try JobLoader(layersDirectory: Self.root.appendingPathComponent("layers").path).load(job)
        let plan = try Planner().resolve(spec, outputDirectory: p.path("out"))
        let result = try Runner(plan: plan, options: RunOptions(threads: 2)).run()
        let run = result.runDirectory

        // The layout the renderer used, recomputed from the same map specification.
        let zones = "\(run)/zoning_map.pdf"
        let mapSpec = MapMaker(plan: plan, runID: result.runID).spec(raster: "\(run)/risk_zones.tif", title: spec.title!)
        let layout = try MapRenderer.layout(for: mapSpec)
        let dpi = 100.0
        try shell("/usr/bin/pdftoppm", ["-r", "\(Int(dpi))", "-png", "-singlefile", zones, p.path("page")])
        let page = try Dataset(open: p.path("page.png"), flags: [.raster])
        let window = PixelWindow(x: 0, y: 0, width: page.width, height: page.height)
        let rgb: [[UInt8]] = try (1...3).map { try page.band($0).read(window) }

        // Every 5th raster cell whose 5×5 neighbourhood is one class: the colour under its centre.
        let ds = try Dataset(open: "\(run)/risk_zones.tif", flags: [.raster])
        let classes: [UInt8] = try ds.band(1).read(PixelWindow(x: 0, y: 0, width: ds.width, height: ds.height))
        let gt = try #require(ds.geoTransform)
        let colours = Dictionary(uniqueKeysWithValues: spec.classify.scheme.classes.map { (Int($0.value), $0.rgb) })
        var sampled = 0, matched = 0
        for r in stride(from: 2, to: ds.height - 2, by: 5) {
            for c in stride(from: 2, to: ds.width - 2, by: 5) {
                let v = Int(classes[r * ds.width + c])
                guard v > 0 else { continue }
                let uniform = (-2...2).allSatisfy { dr in (-2...2).allSatisfy { dc in Int(classes[(r + dr) * ds.width + c + dc]) == v } }
                guard uniform else { continue }
                let pt = layout.transform.apply(x: gt[0] + (Double(c) + 0.5) * gt[1], y: gt[3] + (Double(r) + 0.5) * gt[5])
                let (x, y) = (Int(pt.x * dpi / 72), Int(pt.y * dpi / 72))
                let i = y * page.width + x
                let want = colours[v]!
                sampled += 1
                if abs(Int(rgb[0][i]) - Int(want.0)) <= 6 && abs(Int(rgb[1][i]) - Int(want.1)) <= 6 && abs(Int(rgb[2][i]) - Int(want.2)) <= 6 {
                    matched += 1
                }
            }
        }
        // Context lines and labels cover a few sample points; the rest must show the class colour.
        #expect(sampled > 150)
        #expect(Double(matched) >= 0.9 * Double(sampled), "\(matched) of \(sampled) sample points show their class colour")

        // Text: title, every legend label, township names, licences, the scale; no replacement glyphs.
        let words = try shell("/usr/bin/pdftotext", [zones, "-"])
        for label in [spec.title!, "低 low", "中低 medium-low", "中 medium", "中高 medium-high", "高 high", "风险区划图",
                      "锡尼镇", "独贵塔拉镇", "黄河 Yellow River", "CC BY 4.0", layout.scaleBar.label, "EPSG:4545"] {
            #expect(words.contains(label), "\(label) missing from the map text")
        }
        #expect(!words.contains("\u{FFFD}"))
        let fonts = try shell("/usr/bin/pdffonts", [zones])
        #expect(fonts.contains("NotoSansCJK"))
        #expect(!fonts.contains("Type 3"))
        // The scale bar's length on paper times the scale is its label's distance (to 1 %).
        let ground = layout.scaleBar.lengthPoints * 0.0254 / 72 * layout.scaleDenominator
        #expect(abs(ground - layout.scaleBar.groundMetres) / layout.scaleBar.groundMetres < 0.01)

        // The township risk-level map: every township named with the persons in its two highest levels.
        let rows = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(run)/stats.json"))) as! [[String: Any]]
        let townshipText = try shell("/usr/bin/pdftotext", ["\(run)/township_map.pdf", "-"])
        #expect(rows.count == 7)
        for row in rows {
            let people = (row["persons_class_5"] as! Double) + (row["persons_class_4"] as! Double)
            let label = "高+中高 \(groupedInteger(people)) persons"
            #expect(townshipText.contains(row["name"] as! String) && townshipText.contains(label), "\(row["name"]!): \(label)")
        }
        #expect(result.manifest.exports?.map(\.name) == ["ZH_FXQH_150625_01"])
    }
}
