import Foundation
import GDALKit
import RasterKernel
import Testing
@testable import Zoning

/// Zoning products against independent computations: numpy quantiles, gdal_sieve.py,
/// gdal_polygonize.py, and a numpy oracle of the statistics per township.
@Suite(.serialized) struct ZoningPipelineTests {
    /// The fixture plus two townships (west, east, split along a slanted line) and a zoning job.
    func zoningFixture(classify: String, zoning: String) throws -> (Fixture, String) {
        let fx = try Fixture()
        let (x0, y0, x1, y1) = (Fixture.xmin - 100, Fixture.ymin - 100, Fixture.xmax + 100, Fixture.ymax + 100)
        let mid0 = Fixture.xmin + 4000, mid1 = Fixture.xmin + 5500
        func poly(_ pts: [(Double, Double)]) -> String { "[[" + (pts + [pts[0]]).map { "[\($0.0),\($0.1)]" }.joined(separator: ",") + "]]" }
        try fx.project.vector("layers/towns.gpkg", layer: "towns", crs: "EPSG:4545", geojson: """
            {"type":"FeatureCollection","features":[
            {"type":"Feature","properties":{"name":"西乡","tid":1,"code":"150625101","name_en":"West"},"geometry":{"type":"Polygon","coordinates":\(poly([(x0, y0), (mid0, y0), (mid1, y1), (x0, y1)]))}},
            {"type":"Feature","properties":{"name":"东乡","tid":2,"code":"150625102","name_en":"East"},"geometry":{"type":"Polygon","coordinates":\(poly([(mid0, y0), (x1, y0), (x1, y1), (mid1, y1)]))}}]}
            """)
        try fx.project.write("layers/towns.yaml", "source: towns.gpkg\nlayer: towns\nattribute: tid\n")
        let text = try String(contentsOfFile: fx.jobPath, encoding: .utf8)
            .replacingOccurrences(of: "  scheme: four-colour\n  breaks: [0.25, 0.5, 0.75]\n", with: classify)
            .replacingOccurrences(of: "name: fixture", with: "name: zoning")
            .replacingOccurrences(of: "out/fixture", with: "out/zoning")
            .replacingOccurrences(of: "  products: [risk-index, risk-class]\n", with: "")
        let job = try fx.project.write("jobs/zoning.yaml", text + zoning)
        return (fx, job)
    }

    func python(_ script: String, _ args: [String] = [], interpreter: String = "/usr/bin/python3") throws -> String {
        try shell(interpreter, ["-c", script] + args)
    }

    @Test func quantileBreaksEqualNumpyOverEveryValidPixel() throws {
        let (fx, job) = try zoningFixture(classify: "  scheme: five-level\n  method: quantile\n", zoning: "")
        let result = try Runner(plan: try Planner().resolve(try JobLoader().load(job)), options: RunOptions(threads: 2)).run()
        let c = result.manifest.classification
        #expect(c.method == "quantile" && c.histogramResolution == 1e-4)
        let index = try readFloat("\(result.runDirectory)/risk_index.tif").filter { $0 != RiskKernel.indexNoData }
        let values = fx.project.path("values.txt")
        try index.map { String(($0 * 10_000).rounded() / 10_000) }.joined(separator: "\n").write(toFile: values, atomically: true, encoding: .utf8)
        let out = try python("""
            import numpy, sys
            v = numpy.round(numpy.loadtxt(sys.argv[1]) * 10000) / 10000
            print(" ".join(repr(float(q)) for q in numpy.quantile(v, [0.2, 0.4, 0.6, 0.8], method="inverted_cdf")))
            """, [values])
        let expected = out.split(separator: " ").map { Double($0.trimmingCharacters(in: .whitespacesAndNewlines))! }
        let got = try #require(c.methodBreaks)
        #expect(zip(got, expected).allSatisfy { abs($0 - $1) < 1e-9 } && got.count == 4, "\(got) vs numpy \(expected)")
        // Every pixel's class follows from the breaks: quantised value ≤ break i → class ≤ i.
        let classes = try readBytes("\(result.runDirectory)/risk_class.tif")
        let all = try readFloat("\(result.runDirectory)/risk_index.tif")
        var wrong = 0
        for (v, cls) in zip(all, classes) {
            if v == RiskKernel.indexNoData { if cls != 0 { wrong += 1 }; continue }
            let q = (Double(v) * 10_000).rounded() / 10_000
            if Int(cls) != 1 + got.filter({ q > $0 + 1e-12 }).count { wrong += 1 }
        }
        #expect(wrong == 0)
        #expect(result.manifest.statistics.classes.map(\.pixels).reduce(0, +) == index.count)
    }

    @Test func zonesEqualGdalSieveAndPolygonsEqualGdalPolygonize() throws {
        let (fx, job) = try zoningFixture(classify: "  scheme: four-colour\n  breaks: [0.25, 0.5, 0.75]\n",
                                          zoning: "zoning:\n  min-area-ha: 2.5\n  connectivity: 8\n  townships: { layer: towns, name: name, code: code, english: name_en }\n")
        let result = try Runner(plan: try Planner().resolve(try JobLoader().load(job)), options: RunOptions(threads: 2)).run()
        let run = result.runDirectory
        let threshold = Int((2.5 * 10_000 / 900).rounded(.up))
        #expect(result.manifest.zoning?.sieveThresholdPixels == threshold)
        let sieved = fx.project.path("sieved.tif")
        try shell("/usr/bin/gdal_sieve.py", ["-q", "-st", "\(threshold)", "-8", "\(run)/risk_class.tif", sieved])
        let ours = try readBytes("\(run)/risk_zones.tif")
        #expect(ours == (try readBytes(sieved)))
        #expect(ours != (try readBytes("\(run)/risk_class.tif")), "the sieve must change something for the test to mean anything")

        // Polygons: the zones cut by township (gdal_rasterize of the townships, numpy, gdal_polygonize.py).
        let oracle = try polygonsCutByTownshipOracle(zones: "\(run)/risk_zones.tif", townships: fx.project.path("layers/towns.gpkg"),
                                                     layer: "towns", attribute: "tid", folder: fx.project.path("."))
        func summary(_ path: String, _ layer: String) throws -> [Int: (Int, Double)] {
            let l = try Dataset(open: path, flags: [.vector]).layer(named: layer)
            let f = try #require(l.fieldIndex("class"))
            var r: [Int: (Int, Double)] = [:]
            l.readFeatures { x in let o = r[x.integer(f)] ?? (0, 0); r[x.integer(f)] = (o.0 + 1, o.1 + x.area) }
            return r
        }
        let a = try summary("\(run)/zones.gpkg", "risk_zones"), b = oracle.byClass
        #expect(a.keys.sorted() == b.keys.sorted() && !a.isEmpty)
        for k in a.keys {
            #expect(a[k]!.0 == b[k]!.0, "class \(k) feature count")
            #expect(abs(a[k]!.1 - b[k]!.1) < 1e-3, "class \(k) area")
        }
        #expect(result.manifest.zoning?.zoneFeatures == a.values.map(\.0).reduce(0, +))
        // Attributes: class name, area in hectares, the township (code, names) holding the polygon.
        let layer = try Dataset(open: "\(run)/zones.gpkg", flags: [.vector]).layer(named: "risk_zones")
        let fields = layer.fields.map(\.name)
        #expect(fields == ["class", "class_name", "area_ha", "township_code", "township", "township_en"])
        #expect(layer.geometryTypeName == "Multi Polygon")
        var towns = Set<String>()
        var checked = 0, invalid = 0
        let features = try layer.features(attribute: "township")
        for f in features { if let t = f.attribute { towns.insert(t) } }
        var codes: [String: Set<String>] = [:]
        for (f, code) in zip(features, try layer.features(attribute: "township_code")) { codes[f.attribute ?? "", default: []].insert(code.attribute ?? "") }
        for (f, en) in zip(features, try layer.features(attribute: "township_en")) { codes[f.attribute ?? "", default: []].insert(en.attribute ?? "") }
        layer.readFeatures { f in
            #expect(abs(f.real(2) - f.area / 10_000) < 1e-9)
            if !f.isValid { invalid += 1 }
            checked += 1
        }
        #expect(checked == features.count && invalid == 0)
        #expect(towns == ["西乡", "东乡"])
        #expect(codes["西乡"] == ["150625101", "West"] && codes["东乡"] == ["150625102", "East"])
        // Area per township: the polygons' sum equals the oracle's and stats.csv's valid area.
        let stats = try JSONDecoder.snake.decode([TownshipStatistics].self, from: Data(contentsOf: URL(fileURLWithPath: "\(run)/stats.json")))
        var sums: [String: Double] = [:]
        let areaLayer = try Dataset(open: "\(run)/zones.gpkg", flags: [.vector]).layer(named: "risk_zones")
        for (f, a) in zip(try areaLayer.features(attribute: "township"), try areaLayer.numericValues(field: "area_ha")) {
            sums[f.attribute ?? "", default: 0] += a ?? 0
        }
        for s in stats {
            #expect(abs((sums[s.name] ?? 0) - s.validAreaHa) < 1e-6, "township \(s.name): zones \(sums[s.name] ?? 0) ha, stats \(s.validAreaHa) ha")
            #expect(abs((oracle.byTownship[s.id] ?? 0) / 10_000 - s.validAreaHa) < 1e-6)
        }
    }

    @Test func statisticsPerTownshipEqualANumpyOracle() throws {
        let (fx, job) = try zoningFixture(classify: "  scheme: four-colour\n  breaks: [0.25, 0.5, 0.75]\n",
                                          zoning: "zoning:\n  majority: 3\n  townships: { layer: towns, name: name, level: high-share, high-share: 0.2 }\n")
        let result = try Runner(plan: try Planner().resolve(try JobLoader().load(job)), options: RunOptions(threads: 2)).run()
        let run = result.runDirectory
        let te = ["-te", "\(Fixture.xmin)", "\(Fixture.ymin)", "\(Fixture.xmax)", "\(Fixture.ymax)", "-tr", "30", "30"]
        let towns = fx.project.path("towns.tif")
        try shell("/usr/bin/gdal_rasterize", ["-q", "-a", "tid", "-l", "towns"] + te + ["-ot", "UInt16", "-init", "0", fx.project.path("layers/towns.gpkg"), towns])
        let out = try python("""
            import json, sys, numpy
            from osgeo import gdal
            idx = gdal.Open(sys.argv[1]).ReadAsArray().astype(numpy.float64)
            cls = gdal.Open(sys.argv[2]).ReadAsArray()
            town = gdal.Open(sys.argv[3]).ReadAsArray()
            rows = []
            for t in (1, 2):
                m = (town == t) & (cls > 0)
                counts = [int(((town == t) & (cls == c)).sum()) for c in range(1, 5)]
                rows.append({"id": t, "valid": int(m.sum()), "mean": float(idx[m].mean()), "max": float(idx[m].max()), "counts": counts})
            print(json.dumps(rows))
            """, ["\(run)/risk_index.tif", "\(run)/risk_class.tif", towns])
        let oracle = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [[String: Any]]
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let stats = try decoder.decode([TownshipStatistics].self, from: Data(contentsOf: URL(fileURLWithPath: "\(run)/stats.json")))
        #expect(stats.map(\.name) == ["西乡", "东乡"])
        for (row, s) in zip(oracle, stats) {
            let counts = row["counts"] as! [Int]
            #expect(s.validPixels == row["valid"] as! Int)
            #expect(abs(s.meanIndex! - (row["mean"] as! Double)) < 1e-6)
            #expect(abs(s.maxIndex! - (row["max"] as! Double)) < 1e-6)
            #expect(s.classes.map(\.pixels) == counts)
            #expect(abs(s.classes.map(\.percent).reduce(0, +) - 100) < 1e-9)
            #expect(abs(s.validAreaHa - Double(s.validPixels) * 0.09) < 1e-9)
            // Dominant class and the high-share level (highest class reached by ≥ 20 % of the area).
            #expect(s.dominantClass == 1 + counts.indices.max { counts[$0] < counts[$1] || (counts[$0] == counts[$1] && $0 > $1) }!)
            var level = 1, cumulative = 0
            for c in stride(from: 4, through: 1, by: -1) {
                cumulative += counts[c - 1]
                if Double(cumulative) >= 0.2 * Double(s.validPixels) { level = c; break }
            }
            #expect(s.level == level)
        }
        let csv = try String(contentsOfFile: "\(run)/stats.csv", encoding: .utf8).split(separator: "\n")
        #expect(csv.count == 3)
        #expect(csv[0].hasPrefix("township_id,township_code,乡镇 township,乡镇英文名 township_en,有效面积(公顷) valid_area_ha,平均指数 mean_index,最大指数 max_index,主导等级 dominant_class"))
        #expect(csv[1].hasPrefix("1,,西乡,,"))
        // The generalised zones keep nodata where the classes have it (the filter never invents data).
        let zones = try readBytes("\(run)/risk_zones.tif"), classes = try readBytes("\(run)/risk_class.tif")
        #expect(zip(zones, classes).allSatisfy { ($0 == 0) == ($1 == 0) })
        let filtered = MajorityFilter.threeByThree.apply(to: classes, width: Fixture.width, height: Fixture.height)
        #expect(zones == filtered)
    }
}
