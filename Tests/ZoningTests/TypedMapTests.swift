import Cartography
import Foundation
import GDALKit
import Testing
@testable import Zoning

/// Issue 24 on runs: the words of every map from the product type (pdftotext), the furniture of a
/// plan figure, zones that are never outside a township nor under the print-scale unit, and a
/// zoning map that differs visibly from the class map.
@Suite(.serialized) struct TypedMapTests {
    /// The fixture as a typed job: two townships (9-digit codes) that leave the easternmost 900 m
    /// of the mask in no township, all products, an A4 map with the furniture.
    static func run(product: String, breaks: String) throws -> (Fixture, Plan, RunResult) {
        let fx = try Fixture()
        let (x0, x1, xm, y0, y1) = (Fixture.xmin, Fixture.xmax - 900, Fixture.xmin + 4500, Fixture.ymin, Fixture.ymax)
        func town(_ name: String, _ code: String, _ a: Double, _ b: Double) -> String {
            """
            {"type":"Feature","properties":{"name":"\(name)","code":"\(code)"},"geometry":{"type":"Polygon",
            "coordinates":[[[\(a),\(y0)],[\(b),\(y0)],[\(b),\(y1)],[\(a),\(y1)],[\(a),\(y0)]]]}}
            """
        }
        try fx.project.vector("layers/towns.gpkg", layer: "towns", crs: "EPSG:4545", geojson: """
            {"type":"FeatureCollection","features":[\(town("西乡", "150625100", x0, xm)),\(town("东乡", "150625101", xm, x1))]}
            """)
        try fx.project.write("layers/towns.yaml", "source: towns.gpkg\nlayer: towns\n")
        let text = try String(contentsOfFile: fx.jobPath, encoding: .utf8)
            .replacingOccurrences(of: "title: 测试\n", with: "title: 测试\nproduct: \(product)\n")
            .replacingOccurrences(of: "  scheme: four-colour\n  breaks: [0.25, 0.5, 0.75]\n", with: "  breaks: \(breaks)\n")
            .replacingOccurrences(of: "  products: [risk-index, risk-class]\n", with: "")
            .replacingOccurrences(of: "outputs:\n", with: """
                zoning:
                  majority: 3
                  townships: { layer: towns, name: name, code: code }
                maps:
                  page: a4-landscape
                  producer: 测试制图院
                  figure: "2-1"
                  usage: 内部用图 注意保存
                  data-date: "2025-05"
                outputs:

                """)
        try text.write(toFile: fx.jobPath, atomically: true, encoding: .utf8)
        let plan = try fx.plan()
        return (fx, plan, try Runner(plan: plan, options: RunOptions(threads: 2)).run())
    }

    static func words(_ pdf: String) throws -> String { try shell("/usr/bin/pdftotext", [pdf, "-"]) }

    @Test func hazardMapsSpeakOfHazardInFourLevelsWithTheirFurnitureAndZonesInsideTownships() throws {
        let (fx, plan, result) = try Self.run(product: "hazard", breaks: "[0.25, 0.5, 0.75]")
        let run = result.runDirectory
        let risk = try Self.words("\(run)/risk_map.pdf"), zoning = try Self.words("\(run)/zoning_map.pdf")
        let township = try Self.words("\(run)/township_map.pdf")
        for (text, title, figure) in [(risk, "危险性等级图", "图2-1"), (zoning, "危险性区划图", "图2-2"), (township, "乡镇危险性等级图", "图2-3")] {
            for word in [title, figure, "测试制图院", "内部用图 注意保存", "数据截止 Data as of: 2025-05", "高 high", "较高 relatively high",
                         "较低 relatively low", "低 low"] {
                #expect(text.contains(word), "\(title): \(word) missing")
            }
            #expect(!text.contains("风险") && !text.contains("中高"), "\(title) speaks of risk")
        }
        #expect(risk.contains("危险性等级 Hazard level") && township.contains("乡镇危险性等级 Township hazard level"))
        #expect(township.contains("乡镇定级规则 Township level rule (level_rule)") && township.contains("pixel breaks"), "\(township)")

        // The unit: 2 × 2 mm at the scale the map is printed at, recomputed from the renderer's layout.
        let spec = MapMaker(plan: plan, runID: result.runID).spec(raster: "\(run)/risk_class.tif", title: "t")
        let denominator = try MapRenderer.layout(for: spec).scaleDenominator
        let unit = pow(0.002 * denominator, 2) / 10_000
        let recorded = try #require(result.manifest.zoning?.minAreaHa)
        #expect(abs(recorded - unit) < 1e-9, "\(recorded) ha recorded, \(unit) ha at 1:\(denominator)")
        // No polygon without a township; a polygon under the unit only where nothing of its township
        // touches it (GEOS, through python3-gdal).
        let check = try shell("/usr/bin/python3", ["-c", """
            import sys
            from osgeo import ogr
            ds = ogr.Open(sys.argv[1]); l = ds.GetLayer('risk_zones'); unit = float(sys.argv[2])
            fs = [(f.GetField('township'), f.GetField('township_code'), f.GetGeometryRef().GetArea() / 1e4, f.GetGeometryRef().Clone()) for f in l]
            orphans = sum(1 for t, c, a, g in fs if not t or not c)
            small = [i for i, (t, c, a, g) in enumerate(fs) if a < unit - 1e-6]
            touching = sum(1 for i in small if any(j != i and fs[j][0] == fs[i][0] and fs[i][3].Intersects(fs[j][3]) for j in range(len(fs))))
            print(len(fs), orphans, len(small), touching, sorted(set(c for t, c, a, g in fs)))
            """, "\(run)/zones.gpkg", "\(unit)"])
        let parts = check.split(separator: " ", maxSplits: 4).map(String.init)
        #expect(Int(parts[0])! > 3 && parts[1] == "0" && parts[3] == "0", "polygons, orphans, small, small touching: \(check)")
        #expect(check.contains("'150625100', '150625101'"), "\(check)")
        // The strip in no township: classes there, but no zone.
        let strip = try shell("/usr/bin/python3", ["-c", """
            import sys
            from osgeo import gdal
            print(int((gdal.Open(sys.argv[1]).ReadAsArray()[:, 280:] > 0).sum()), int((gdal.Open(sys.argv[2]).ReadAsArray()[:, 280:] > 0).sum()))
            """, "\(run)/risk_class.tif", "\(run)/risk_zones.tif"])
        let counts = strip.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        #expect(counts.count == 2 && counts[0] > 1000 && counts[1] == 0, "class pixels, zone pixels east of the townships: \(strip)")

        // The zoning map differs visibly from the class map: the share of differing pixels in the frame (numpy).
        let frame = try MapRenderer.layout(for: spec).frame, k = spec.pngDPI / 72
        let share = try shell("/usr/bin/python3", ["-c", """
            import sys
            from osgeo import gdal
            x0, y0, x1, y1 = (int(float(v)) for v in sys.argv[3:7])
            a = gdal.Open(sys.argv[1]).ReadAsArray()[:, y0:y1, x0:x1].astype(int)
            b = gdal.Open(sys.argv[2]).ReadAsArray()[:, y0:y1, x0:x1].astype(int)
            print((abs(a - b).max(axis=0) > 24).mean())
            """, "\(run)/risk_map.png", "\(run)/zoning_map.png", "\(frame.minX * k)", "\(frame.minY * k)", "\(frame.maxX * k)", "\(frame.maxY * k)"])
        // Without report.unit the report's cover names the maps' producer as 制图单位.
        let report = try Self.words("\(run)/report.pdf")
        #expect(report.contains("制图单位 Unit: 测试制图院"), "report.pdf's cover lacks the producer")
        let differing = try #require(Double(share.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(differing > 0.03, "only \(differing * 100) % of the frame's pixels differ")
        print("zoning map vs class map: \(differing * 100) % of the frame's pixels differ; unit \(unit) ha at 1:\(Int(denominator))")
        _ = fx
    }

    @Test func riskMapsSpeakOfRiskInFiveLevelsAndTheTablesStateTheLevelRule() throws {
        let (fx, _, result) = try Self.run(product: "risk", breaks: "[0.2, 0.4, 0.6, 0.8]")
        let run = result.runDirectory
        let risk = try Self.words("\(run)/risk_map.pdf"), zoning = try Self.words("\(run)/zoning_map.pdf")
        for (text, title) in [(risk, "风险等级图"), (zoning, "风险区划图")] {
            for word in [title, "风险等级 Risk level", "高 high", "中高 medium-high", "中 medium", "中低 medium-low", "低 low"] {
                #expect(text.contains(word), "\(title): \(word) missing")
            }
            #expect(!text.contains("危险性") && !text.contains("较高"), "\(title) speaks of hazard")
        }
        // level_rule in stats.json, stats.csv and township_levels.gpkg; township_code as wide as its codes.
        let rows = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(run)/stats.json"))) as! [[String: Any]]
        #expect(rows.count == 2 && rows.allSatisfy { ($0["level_rule"] as? String)?.hasPrefix("mean-index:") == true })
        let csv = try String(contentsOfFile: "\(run)/stats.csv", encoding: .utf8)
        #expect(csv.contains("等级规则 level_rule") && csv.components(separatedBy: "mean-index:").count == 3)
        let info = try shell("/usr/bin/ogrinfo", ["-ro", "-so", "\(run)/township_levels.gpkg", "township_levels"])
        #expect(info.contains("township_code: String (9.0)") && info.contains("level_rule: String"), "\(info)")
        let codes = try shell("/usr/bin/sqlite3", ["\(run)/township_levels.gpkg", "SELECT township_code FROM township_levels ORDER BY 1"])
        #expect(codes == "150625100\n150625101\n", "\(codes)")
        _ = fx
    }

    @Test func theCensusJobsClassRangeHasItsStyleAndAttributeTableInLevelWords() throws {
        let root = ProductTypeTests.root
        let p = try Project()
        let text = try String(contentsOfFile: root.appendingPathComponent("jobs/hangjin-census-risk.yaml").path, encoding: .utf8)
            .replacingOccurrences(of: "  resolution: 30\n", with: "  resolution: 1200\n")
            .replacingOccurrences(of: "  keep: 7\n", with: "  products: [risk-index, risk-class, risk-zones, statistics, sensitivity]\n")
        let job = try p.write("jobs/census.yaml", text)
        let spec = try JobLoader(layersDirectory: root.appendingPathComponent("layers").path).load(job)
        let result = try Runner(plan: try Planner().resolve(spec, outputDirectory: p.path("out")), options: RunOptions(threads: 2)).run()
        let run = result.runDirectory
        // The attribute table as GDAL reads it, and the pixel counts numpy finds.
        let rat = try shell("/usr/bin/python3", ["-c", """
            import sys, numpy
            from osgeo import gdal
            ds = gdal.Open(sys.argv[1]); b = ds.GetRasterBand(1); t = b.GetDefaultRAT(); a = ds.ReadAsArray()
            cols = [t.GetNameOfCol(i) for i in range(t.GetColumnCount())]
            v, n, c = cols.index('value'), cols.index('class_name'), cols.index('count')
            rows = [(t.GetValueAsInt(r, v), t.GetValueAsString(r, n), t.GetValueAsInt(r, c)) for r in range(t.GetRowCount())]
            print(len(rows), all(cnt == int((a == val).sum()) for val, name, cnt in rows), int((a > 0).sum()) == sum(r[2] for r in rows))
            print('|'.join(name for val, name, cnt in rows if val in (11, 15, 33, 45)))
            """, "\(run)/class_range.tif"])
        #expect(rat == "15 True True\n始终低|低 → 高|始终中|中高 → 高\n", "\(rat)")
        let qml = try String(contentsOfFile: "\(run)/class_range.qml", encoding: .utf8)
        #expect(qml.contains("paletteEntry value=\"15\"") && qml.contains("低 → 高 low → high"))
        // township_code as wide as the codes (XNZ …), not TEXT(1).
        let info = try shell("/usr/bin/ogrinfo", ["-ro", "-so", "\(run)/township_levels.gpkg", "township_levels"])
        #expect(info.contains("township_code: String (3.0)"), "\(info)")
        #expect(try shell("/usr/bin/sqlite3", ["\(run)/township_levels.gpkg", "SELECT count(*) FROM township_levels WHERE length(township_code) = 3"]) == "7\n")
    }

    @Test func theChangeMapLegendHasOneRowPerColourNamingTheTransitions() {
        let names = ["低", "中低", "中", "中高", "高"]
        // As `Tally.legend` lists them: up (most levels first), unchanged (one grey row), down.
        let present = [(1, 3), (2, 3), (3, 4), (3, 3), (4, 4), (4, 3)]
        let legend = present.map { a, b in
            LegendEntry(value: 10 * a + b, label: a == b ? "= 等级不变 unchanged" : "\(ChangeReport.arrow(from: a, to: b)) \(names[a - 1]) → \(names[b - 1])",
                        color: ChangeReport.colour(from: a, to: b))
        }
        let grouped = ChangeReport.groupedLegend(legend)
        #expect(grouped.map(\.label) == ["↑ 升2级 up 2 levels: 低 → 中", "↑ 升1级 up 1 level: 中低 → 中, 中 → 中高", "= 等级不变 unchanged",
                                          "↓ 降1级 down 1 level: 中高 → 中"], "\(grouped.map(\.label))")
        #expect(Set(grouped.map(\.color)).count == grouped.count)
    }
}
