import Cartography
import Foundation
import GDALKit
import Testing
@testable import Zoning

/// Issue 24's township prevention map and the persons of `hazard-zoning changes` between two jobs,
/// on the totals fixture (two townships, a population density and a floor area), against numpy
/// over gdal_rasterize / gdalwarp and the published rasters.
@Suite(.serialized) struct TownshipPreventionAndChangesTests {
    /// 乡镇防治分区图: each township filled with the category covering most of its valid area
    /// (numpy over prevention_class.tif and the rasterised townships), labelled with the category and
    /// its share, the rule printed.
    @Test func townshipPreventionMapColoursEachTownshipByItsDominantCategory() throws {
        // A4 and no zoning map: fewer pixels to draw, so the test stays quick.
        let (fx, job) = try TotalsTests.fixture(top: "maps: { page: a4-landscape }\n",
                                                products: "  products: [risk-class, statistics, prevention, maps]\n", prevention: true)
        let plan = try Planner().resolve(try JobLoader().load(job))
        let result = try Runner(plan: plan, options: RunOptions(threads: 2)).run()
        let run = result.runDirectory
        #expect(result.manifest.products.contains { $0.path == "township_prevention_map.pdf" })
        #expect(!(try FileManager.default.contentsOfDirectory(atPath: run)).contains { $0.hasPrefix(".maps-work") })
        let te = ["-te", "\(Fixture.xmin)", "\(Fixture.ymin)", "\(Fixture.xmax)", "\(Fixture.ymax)", "-tr", "30", "30"]
        try shell("/usr/bin/gdal_rasterize", ["-q", "-a", "tid", "-l", "towns"] + te + ["-ot", "UInt16", "-init", "0",
                  fx.project.path("layers/towns.gpkg"), fx.project.path("towns.tif")])
        let oracle = try shell("/usr/bin/python3", ["-c", """
            import sys, json, numpy as np; from osgeo import gdal
            c = gdal.Open(sys.argv[1]).ReadAsArray(); t = gdal.Open(sys.argv[2]).ReadAsArray()
            out = {}
            for town in (1, 2):
                counts = [int(((t == town) & (c == k)).sum()) for k in (1, 2, 3)]
                best = max(range(3), key=lambda i: (counts[i], -i))
                out[town] = [best + 1, round(100 * counts[best] / sum(counts))]
            print(json.dumps(out))
            """, "\(run)/prevention_class.tif", fx.project.path("towns.tif")])
        let dominant = try #require(try JSONSerialization.jsonObject(with: Data(oracle.utf8)) as? [String: [Int]])
        let categories = try #require(plan.prevention?.spec.categories)
        let words = try shell("/usr/bin/pdftotext", ["\(run)/township_prevention_map.pdf", "-"])
        #expect(words.contains("乡镇防治分区图 township prevention zoning") && words.contains("Township prevention rule"))
        for (town, name) in [(1, "西乡"), (2, "东乡")] {
            let d = try #require(dominant["\(town)"])
            let category = try #require(categories.first { $0.value == d[0] })
            #expect(words.contains("\(name)\n\(category.name) \(d[1]) %"), "\(name): \(category.name) \(d[1]) % missing in \(words)")
        }
        // Pixels: the township's 30 m cells (every 7th) show its category's colour on the PNG.
        let layout = try MapRenderer.layout(for: MapMaker(plan: plan, runID: result.runID).spec(raster: "\(run)/prevention_class.tif", title: "t"))
        let png = try Dataset(open: "\(run)/township_prevention_map.png", flags: [.raster])
        let rgb: [[UInt8]] = try (1...3).map { try png.band($0).read(PixelWindow(x: 0, y: 0, width: png.width, height: png.height)) }
        let towns = try Dataset(open: fx.project.path("towns.tif"), flags: [.raster])
        let ids: [Int32] = try towns.band(1).read(PixelWindow(x: 0, y: 0, width: towns.width, height: towns.height))
        let s = 150.0 / 72
        for town in [1, 2] {
            let category = try #require(categories.first { $0.value == dominant["\(town)"]![0] })
            var sampled = 0, matched = 0
            for i in stride(from: 0, to: ids.count, by: 7) where Int(ids[i]) == town {
                let (col, row) = (i % towns.width, i / towns.width)
                let pt = layout.transform.apply(x: Fixture.xmin + (Double(col) + 0.5) * 30, y: Fixture.ymax - (Double(row) + 0.5) * 30)
                let j = Int(pt.y * s) * png.width + Int(pt.x * s)
                sampled += 1
                if abs(Int(rgb[0][j]) - Int(category.red)) <= 6 && abs(Int(rgb[1][j]) - Int(category.green)) <= 6
                    && abs(Int(rgb[2][j]) - Int(category.blue)) <= 6 { matched += 1 }
            }
            #expect(sampled > 100 && Double(matched) >= 0.8 * Double(sampled), "township \(town): \(matched) of \(sampled)")
        }
    }

    /// `changes` between two jobs (other weights, other name): changes.csv gets the persons and the
    /// floor area of every township and transition, equal to numpy over the gdalwarp-aligned
    /// layers, the rasterised townships and the two published class rasters.
    @Test func changesBetweenTwoJobsCarryThePersonsOfEveryTownshipAndTransition() throws {
        let (fx, job) = try TotalsTests.fixture(zoning: "  totals:\n    persons: { layer: pop, as: per-km2, units: persons }\n    floor: { layer: floor, as: count, units: m2 }\n", products: "  products: [risk-index, risk-class, statistics]\n")
        let other = try String(contentsOfFile: job, encoding: .utf8)
            .replacingOccurrences(of: "name: totals", with: "name: totals-b").replacingOccurrences(of: "out/totals", with: "out/totals-b")
            .replacingOccurrences(of: "weighted-sum: { flood: 0.45, fire: 0.25, seismic: 0.30 }", with: "weighted-sum: { flood: 0.2, fire: 0.5, seismic: 0.30 }")
        let jobB = try fx.project.write("jobs/totals-b.yaml", other)
        let a = try Runner(plan: try Planner().resolve(try JobLoader().load(job)), options: RunOptions(threads: 2)).run()
        let b = try Runner(plan: try Planner().resolve(try JobLoader().load(jobB)), options: RunOptions(threads: 2)).run()
        let (folder, _) = try Operations.changes(from: a.runDirectory, to: b.runDirectory, output: fx.project.path("changes-ab"),
                                                 database: fx.project.path("out/risk-database.gpkg"))
        let expected = try TotalsTests.transitionTotalsOracle(fx, previous: "\(a.runDirectory)/risk_class.tif", current: "\(b.runDirectory)/risk_class.tif")
        let csv = try String(contentsOfFile: "\(folder)/changes.csv", encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let header = try #require(csv.first)
        #expect(header.suffix(2) == ["persons", "floor"], "\(header)")
        let town = ["(all)": 0, "西乡": 1, "东乡": 2]
        var seen: [String: Double] = [:]
        for row in csv.dropFirst() where row.count == header.count && !row[7].isEmpty {
            let t = try #require(town[row[1]])
            seen["persons \(t) \(row[7]) \(row[8])"] = Double(row[11])
            seen["floor \(t) \(row[7]) \(row[8])"] = Double(row[12])
        }
        #expect(!expected.isEmpty && Set(seen.keys) == Set(expected.keys), "keys \(seen.keys.sorted()) vs numpy \(expected.keys.sorted())")
        #expect(expected.keys.contains { $0.hasPrefix("persons 1 ") && $0.split(separator: " ")[2] != $0.split(separator: " ")[3] }, "some class changed in 西乡")
        for (key, value) in expected {
            #expect(abs((seen[key] ?? .nan) - value) <= max(2e-6, 1e-9 * abs(value)), "\(key): \(seen[key] ?? .nan) vs numpy \(value)")
        }
    }
}

extension TotalsTests {
    /// numpy: the persons (pop, per km²) and floor area (floor, per pixel) of the totals fixture in
    /// every transition previous → current class, over both classes' pixels (key "persons 0 1 2")
    /// and per township (1 西乡, 2 东乡), from gdalwarp-aligned layers and gdal_rasterize.
    static func transitionTotalsOracle(_ fx: Fixture, previous: String, current: String) throws -> [String: Double] {
        let work = fx.project.path("oracle-changes")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let out = try shell("/usr/bin/python3", ["-c", """
            import sys, json, subprocess, numpy as np
            from osgeo import gdal
            layers, work, prev, cur = sys.argv[1:5]
            te = ['-te', '\(Fixture.xmin)', '\(Fixture.ymin)', '\(Fixture.xmax)', '\(Fixture.ymax)', '-tr', '30', '30']
            def warp(name, alg):
                subprocess.run(['gdalwarp', '-q', '-t_srs', 'EPSG:4545', *te, '-r', alg, '-ot', 'Float64', '-dstnodata', 'nan',
                                '-et', '0.125', '-srcnodata', '-9999', f'{layers}/{name}.tif', f'{work}/{name}.tif'], check=True)
                return gdal.Open(f'{work}/{name}.tif').ReadAsArray()
            values = {'persons': warp('pop', 'average') * (30 * 30 / 1e6), 'floor': warp('floor', 'sum')}
            subprocess.run(['gdal_rasterize', '-q', '-a', 'tid', '-l', 'towns', *te, '-ot', 'UInt16', '-init', '0',
                            f'{layers}/towns.gpkg', f'{work}/towns.tif'], check=True)
            t = gdal.Open(f'{work}/towns.tif').ReadAsArray()
            a = gdal.Open(prev).ReadAsArray().astype(int); b = gdal.Open(cur).ReadAsArray().astype(int)
            out = {}
            for name, v in values.items():
                ok = (a > 0) & (b > 0) & np.isfinite(v)
                for town in (0, 1, 2):
                    sel = ok if town == 0 else ok & (t == town)
                    for i in range(1, 5):
                        for j in range(1, 5):
                            m = sel & (a == i) & (b == j)
                            if m.any(): out[f'{name} {town} {i} {j}'] = float(v[m].sum())
            print(json.dumps(out))
            """, fx.project.path("layers"), work, previous, current])
        return try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Double])
    }
}
