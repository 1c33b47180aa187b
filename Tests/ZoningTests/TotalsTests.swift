import Cartography
import Foundation
import GDALKit
import Logging
import Testing
@testable import Zoning

/// Exposure totals per township and class, township codes, the township risk-level map and the
/// shapefile export, against GDAL's command-line tools and numpy.
@Suite(.serialized) struct TotalsTests {
    /// The pipeline fixture plus: a population density (persons/km², 250 m, origin off the 30 m grid),
    /// a building floor area per pixel (m², 210 m pixels, also off the grid), two townships with
    /// codes, and a job summing both per township and class.
    static func fixture(zoning: String = "", top: String = "", outputs: String = "",
                        products: String = "  products: [risk-index, risk-class, risk-zones, statistics]\n",
                        prevention: Bool = false, level: String = "") throws -> (Fixture, String) {
        let fx = try Fixture()
        let p = fx.project
        let (x0, y0, x1, y1) = (Fixture.xmin, Fixture.ymin, Fixture.xmax, Fixture.ymax)
        let pw = 46, ph = 38, ox = x0 - 993, oy = y1 + 987
        var pop = [Float](repeating: 0, count: pw * ph)
        for r in 0..<ph {
            for c in 0..<pw {
                let x = ox + (Double(c) + 0.5) * 250, y = oy - (Double(r) + 0.5) * 250
                let d2 = (x - x0 - 6000) * (x - x0 - 6000) + (y - y0 - 4000) * (y - y0 - 4000)
                pop[r * pw + c] = Float(4 + 300 * exp(-d2 / (2 * 1800 * 1800)) + Double(c) * 0.5)
            }
        }
        try p.raster("layers/pop.tif", width: pw, height: ph, geoTransform: [ox, 250, 0, oy, 0, -250],
                     crs: "EPSG:4545", nodata: -9999, values: pop)
        // The same with a nodata patch inside the mask.
        var patchy = pop
        for r in 12..<16 { for c in 16..<21 { patchy[r * pw + c] = -9999 } }
        try p.raster("layers/patchy.tif", width: pw, height: ph, geoTransform: [ox, 250, 0, oy, 0, -250],
                     crs: "EPSG:4545", nodata: -9999, values: patchy)
        let fw = 47, fh = 38, fx0 = x0 - 497, fy0 = y1 + 489
        var floor = [Float](repeating: 0, count: fw * fh)
        for r in 0..<fh {
            for c in 0..<fw {
                let x = fx0 + (Double(c) + 0.5) * 210, y = fy0 - (Double(r) + 0.5) * 210
                let d2 = (x - x0 - 3000) * (x - x0 - 3000) + (y - y0 - 5000) * (y - y0 - 5000)
                floor[r * fw + c] = Float((50 + 2000 * exp(-d2 / (2 * 1200 * 1200))).rounded())
            }
        }
        try p.raster("layers/floor.tif", width: fw, height: fh, geoTransform: [fx0, 210, 0, fy0, 0, -210],
                     crs: "EPSG:4545", nodata: -9999, values: floor)
        let mid0 = x0 + 4000, mid1 = x0 + 5500
        func poly(_ pts: [(Double, Double)]) -> String { "[[" + (pts + [pts[0]]).map { "[\($0.0),\($0.1)]" }.joined(separator: ",") + "]]" }
        try p.vector("layers/towns.gpkg", layer: "towns", crs: "EPSG:4545", geojson: """
            {"type":"FeatureCollection","features":[
            {"type":"Feature","properties":{"name":"西乡","tid":1,"code":"150625101"},"geometry":{"type":"Polygon","coordinates":\(poly([(x0 - 100, y0 - 100), (mid0, y0 - 100), (mid1, y1 + 100), (x0 - 100, y1 + 100)]))}},
            {"type":"Feature","properties":{"name":"东乡","tid":2,"code":"150625102"},"geometry":{"type":"Polygon","coordinates":\(poly([(mid0, y0 - 100), (x1 + 100, y0 - 100), (x1 + 100, y1 + 100), (mid1, y1 + 100)]))}}]}
            """)
        try p.write("layers/towns.yaml", "source: towns.gpkg\nlayer: towns\nattribute: tid\n")
        try p.write("layers/pop.yaml", "source: pop.tif\nunits: persons/km2\n")
        try p.write("layers/patchy.yaml", "source: patchy.tif\nunits: persons/km2\n")
        try p.write("layers/floor.yaml", "source: floor.tif\nunits: m2 per pixel\n")
        let text = try String(contentsOfFile: fx.jobPath, encoding: .utf8)
            .replacingOccurrences(of: "name: fixture", with: "name: totals")
            .replacingOccurrences(of: "out/fixture", with: "out/totals")
            .replacingOccurrences(of: "  products: [risk-index, risk-class]\n", with: products + outputs)
        var job = top + text + """
            zoning:
              min-area-ha: 2.5
              townships: { layer: towns, name: name, code: code\(level) }

            """ + zoning
        if prevention {
            job += """
                prevention:
                  factors:
                    exposure: { layer: pop, resampling: average, breaks: [100] }
                  matrix:
                    - { risk: [3, 4], exposure: any, category: 1 }
                    - { risk: [1, 2], exposure: [2], category: 2 }
                    - { risk: [1, 2], exposure: [1], category: 3 }

                """
        }
        return (fx, try p.write("jobs/totals.yaml", job))
    }

    static let totals = """
          totals:
            persons: { layer: pop, as: per-km2, units: persons }
            floor: { layer: floor, as: count, units: m2 }
            pop_ha: { layer: pop, as: per-ha }
            patchy: { layer: patchy, as: per-km2 }

        """

    /// The oracle: each layer warped by the gdalwarp command line (average or sum), times the pixel
    /// area, summed with numpy over the townships rasterised by gdal_rasterize and the published
    /// class raster; the mask likewise; and the exact source total inside the mask polygon (source
    /// pixels weighted by their share inside it, from a 10 m rasterisation).
    static let oracle = """
        import sys, json, subprocess, numpy as np
        from osgeo import gdal
        work, layers, run = sys.argv[1:4]
        x0, y0, x1, y1 = map(float, sys.argv[4:8])
        W, H = int(round((x1 - x0) / 30)), int(round((y1 - y0) / 30))
        def sh(*a): subprocess.run([str(x) for x in a], check=True, stdout=subprocess.DEVNULL)
        te = ['-te', x0, y0, x1, y1, '-tr', '30', '30']
        def read(p): return gdal.Open(p).ReadAsArray()
        sh('gdal_rasterize', '-q', '-a', 'tid', '-l', 'towns', *te, '-ot', 'UInt16', '-init', '0', layers + '/towns.gpkg', work + '/towns.tif')
        sh('gdal_rasterize', '-q', '-burn', '1', '-l', 'area', *te, '-ot', 'Byte', '-init', '0', layers + '/area.gpkg', work + '/mask.tif')
        sh('gdal_rasterize', '-q', '-burn', '1', '-l', 'area', '-te', x0, y0, x1, y1, '-ts', W * 10, H * 10, '-ot', 'Byte', '-init', '0',
           layers + '/area.gpkg', work + '/gridfine.tif')
        cover = read(work + '/gridfine.tif').reshape(H, 10, W, 10).mean(axis=(1, 3))
        boundary = (cover > 0) & (cover < 1)
        towns, mask, cls = read(work + '/towns.tif'), read(work + '/mask.tif'), read(run + '/risk_class.tif')
        def exact(path, density):
            ds = gdal.Open(path); gt = ds.GetGeoTransform(); a = ds.ReadAsArray().astype(np.float64)
            h, w = a.shape; k = int(round(gt[1] / 10))
            sh('gdal_rasterize', '-q', '-burn', '1', '-l', 'area', '-te', gt[0], gt[3] + h * gt[5], gt[0] + w * gt[1], gt[3],
               '-ts', w * k, h * k, '-ot', 'Byte', '-init', '0', layers + '/area.gpkg', work + '/fine.tif')
            f = read(work + '/fine.tif').reshape(h, k, w, k).mean(axis=(1, 3))
            return float((a * f).sum() * (gt[1] * gt[1] / 1e6 if density else 1))
        out = {}
        for name, src, alg, factor, density in (('persons', 'pop', 'average', 900 / 1e6, True), ('floor', 'floor', 'sum', 1, False),
                                                ('patchy', 'patchy', 'average', 900 / 1e6, True)):
            sh('gdalwarp', '-q', '-t_srs', 'EPSG:4545', *te, '-r', alg, '-ot', 'Float64', '-dstnodata', 'nan', '-et', '0.125',
               '-srcnodata', '-9999', layers + '/' + src + '.tif', work + '/' + name + '.tif')
            q = read(work + '/' + name + '.tif') * factor
            nodata = int(((mask == 1) & ~np.isfinite(q)).sum())
            q = np.where(np.isfinite(q), q, 0)
            out[name] = {
                'nodata': nodata,
                'town': [[float(q[(towns == t) & (cls == c)].sum()) for c in range(5)] for t in (1, 2)],
                'mask': [float(q[(mask == 1) & (cls == c)].sum()) for c in range(5)],
                'exact': exact(layers + '/' + src + '.tif', density),
                'boundary': float(q[boundary].sum()),
            }
        print(json.dumps(out))
        """

    static func near(_ a: Double, _ b: Double, _ rel: Double = 1e-9) -> Bool { abs(a - b) <= rel * max(1, abs(b)) }

    @Test func totalsPerTownshipAndClassEqualANumpyOracleAndConserveTheSourceTotal() throws {
        let (fx, job) = try Self.fixture(zoning: Self.totals)
        let plan = try Planner().resolve(try JobLoader().load(job))
        #expect(plan.summary.contains("-r sum") && plan.summary.contains("-r average"), "plan prints the warps")
        let result = try Runner(plan: plan, options: RunOptions(threads: 3)).run()
        let run = result.runDirectory
        let out = try shell("/usr/bin/python3", ["-c", Self.oracle, fx.project.path(""), fx.project.path("layers"), run,
                                                 "\(Fixture.xmin)", "\(Fixture.ymin)", "\(Fixture.xmax)", "\(Fixture.ymax)"])
        let oracle = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: [String: Any]]

        // stats.json: flat columns <total>_class_<k> and <total>_total per township row.
        let rows = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(run)/stats.json"))) as! [[String: Any]]
        #expect(rows.map { $0["code"] as? String } == ["150625101", "150625102"])
        for name in ["persons", "floor", "patchy"] {
            let town = oracle[name]!["town"] as! [[Double]]
            for (t, row) in rows.enumerated() {
                for c in 1...4 {
                    let ours = try #require(row["\(name)_class_\(c)"] as? Double)
                    #expect(Self.near(ours, town[t][c]), "\(name) township \(t + 1) class \(c): \(ours) vs numpy \(town[t][c])")
                }
                let total = try #require(row["\(name)_total"] as? Double)
                #expect(Self.near(total, town[t].reduce(0, +)), "\(name) township \(t + 1) total \(total)")
                #expect(town[t][1...].reduce(0, +) > 0)
            }
        }
        // per-ha reads the same values as a density per hectare: 100 × per km².
        for row in rows { #expect(Self.near(row["pop_ha_total"] as! Double, 100 * (row["persons_total"] as! Double), 1e-12)) }

        // The manifest: banner-wide (inside the mask) per class, and the source total inside the mask
        // within the conservation error (at most the exposure of the pixels the boundary crosses).
        let totals = try #require(result.manifest.totals)
        #expect(totals.map(\.name) == ["persons", "floor", "pop_ha", "patchy"])
        #expect(totals.map(\.resampling) == ["average", "sum", "average", "average"])
        // Source nodata (a patch inside the mask) counts 0, and its pixels are counted.
        let patchy = try #require(totals.last)
        #expect(patchy.nodataPixels == oracle["patchy"]!["nodata"] as! Int && patchy.nodataPixels > 100, "\(patchy.nodataPixels)")
        #expect(totals[0].nodataPixels == 0 && patchy.total < totals[0].total)
        #expect(Self.near(patchy.total, (oracle["patchy"]!["mask"] as! [Double]).reduce(0, +)))
        for info in totals.prefix(2) {
            let o = oracle[info.name]!
            let mask = o["mask"] as! [Double]
            #expect(info.classes.map(\.value) == [1, 2, 3, 4])
            for c in info.classes { #expect(Self.near(c.total, mask[c.value]), "\(info.name) class \(c.value)") }
            #expect(Self.near(info.unclassified, mask[0]))
            #expect(Self.near(info.total, mask.reduce(0, +)))
            let exact = o["exact"] as! Double, boundary = o["boundary"] as! Double
            let error = abs(info.total - exact)
            #expect(error <= boundary + 1e-6 * exact, "\(info.name): |\(info.total) − \(exact)| exceeds the boundary exposure \(boundary)")
            #expect(error / exact < 0.005, "\(info.name): conservation error \(error / exact)")
        }

        // The code column everywhere: stats.csv, the zone polygons, the township layer.
        // (Foundation drops the byte-order mark while decoding; the bytes keep it.)
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(run)/stats.csv")).prefix(3) == Data([0xEF, 0xBB, 0xBF]))
        let csv = try String(contentsOfFile: "\(run)/stats.csv", encoding: .utf8).split(separator: "\n")
        let header = csv[0].split(separator: ",").map(String.init)
        #expect(Array(header.prefix(3)) == ["township_id", "township_code", "乡镇 township"])
        #expect(Array(header.suffix(20).prefix(15)) == ["persons_class_1", "persons_class_2", "persons_class_3", "persons_class_4", "persons_total",
                                             "floor_class_1", "floor_class_2", "floor_class_3", "floor_class_4", "floor_total",
                                             "pop_ha_class_1", "pop_ha_class_2", "pop_ha_class_3", "pop_ha_class_4", "pop_ha_total"])
        #expect(csv[1].hasPrefix("1,150625101,西乡,") && csv[2].hasPrefix("2,150625102,东乡,"))
        let zones = try Dataset(open: "\(run)/zones.gpkg", flags: [.vector]).layer(named: "risk_zones")
        #expect(zones.fields.map(\.name) == ["class", "class_name", "area_ha", "township_code", "township", "township_en"])
        let names = try zones.features(attribute: "township").map(\.attribute), codes = try zones.features(attribute: "township_code").map(\.attribute)
        #expect(!names.isEmpty && zip(names, codes).allSatisfy { ($0 == "西乡" && $1 == "150625101") || ($0 == "东乡" && $1 == "150625102") })
        let levels = try Dataset(open: "\(run)/township_levels.gpkg", flags: [.vector]).layer(named: "township_levels")
        #expect(levels.featureCount == 2)
        let info = try shell("/usr/bin/ogrinfo", ["-ro", "-al", "-geom=NO", "\(run)/township_levels.gpkg"])
        #expect(info.contains("township_code (String) = 150625101") && info.contains("level (Integer) = "))
        let levelValues = try levels.numericValues(field: "level").map { $0.map(Int.init) }
        #expect(levelValues == rows.map { $0["level"] as? Int })

        // Same sums whatever the thread count (the totals pass is sequential, in block order).
        let again = try Runner(plan: plan, options: RunOptions(threads: 1, runID: "again")).run()
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(again.runDirectory)/stats.json")) == (try Data(contentsOf: URL(fileURLWithPath: "\(run)/stats.json"))))
    }

    /// A model layer and a total on the same source, resampling, grid and nodata are warped once
    /// (issue 26): the layer as Float64 read as Float32, the total from the Float64 values the model's
    /// passes kept. The model's index equals the run that aligns every layer with gdalwarp (Float32),
    /// the totals equal numpy over gdalwarp's Float64 warp, and a total on another warp (`sum`, or a
    /// layer resampled otherwise) keeps its own.
    @Test func aTotalSharingAModelLayersWarpReadsItsFloat64ValuesOnceAndChangesNothing() throws {
        let (fx, job) = try Self.fixture(zoning: Self.totals, products: "  products: [risk-index, risk-class, statistics]\n")
        let text = try String(contentsOfFile: job, encoding: .utf8)
        try text.replacingOccurrences(of: "  seismic:\n    layer: seismic-pga\n", with: """
              people:
                layer: pop
                resampling: average
                normalize: { min-max: data }
              patches:
                layer: patchy
                resampling: bilinear
                normalize: { min-max: data }
              seismic:
                layer: seismic-pga

            """).replacingOccurrences(of: "weighted-sum: { flood: 0.45, fire: 0.25, seismic: 0.30 }",
                                      with: "weighted-sum: { flood: 0.35, fire: 0.15, people: 0.2, patches: 0.05, seismic: 0.25 }")
            .write(toFile: job, atomically: true, encoding: .utf8)
        let plan = try Planner().resolve(try JobLoader().load(job))
        // persons (0) and pop_ha (2) average `pop` as the layer `people` does; floor sums, patchy is
        // bilinear in the model.
        let people = try #require(plan.sources.firstIndex { $0.key == "people" })
        #expect(plan.totalsSharingALayerWarp == [0: people], "\(plan.totalsSharingALayerWarp)")

        let lines = LogTests.Lines()
        let logger = Logger(label: "t") { LineLogHandler(label: $0, format: .text, level: .debug, sink: { lines.add($0) }) }
        let shared = try Runner(plan: plan, options: RunOptions(threads: 2), logger: logger).run()
        var gdalOptions = RunOptions(threads: 1, runID: "gdal")
        gdalOptions.alignFastPaths = false
        let own = try Runner(plan: plan, options: gdalOptions).run()
        let totals = try #require(shared.manifest.totals)
        // The debug log says which values each total summed: persons every block from the layer's cache.
        let blocks = plan.grid.blocks(width: plan.blockSize, height: plan.blockSize).count
        let read = lines.all.filter { $0.contains("totals read") }
        #expect(read.count == 4 && read[0].contains("shared_warp=layers.people") && read[0].contains("blocks_from_cache=\(blocks)"), "\(read)")
        #expect(read.dropFirst().allSatisfy { $0.contains("shared_warp=none") }, "\(read)")
        for file in ["risk_index.tif", "risk_class.tif"] {
            let a: [Float] = try Dataset(open: "\(shared.runDirectory)/\(file)", flags: [.raster]).band(1).read(PixelWindow(x: 0, y: 0, width: plan.grid.width, height: plan.grid.height))
            let b: [Float] = try Dataset(open: "\(own.runDirectory)/\(file)", flags: [.raster]).band(1).read(PixelWindow(x: 0, y: 0, width: plan.grid.width, height: plan.grid.height))
            #expect(a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern }, "\(file) differs from the gdalwarp-aligned run")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(shared.runDirectory)/stats.json"))
                == (try Data(contentsOf: URL(fileURLWithPath: "\(own.runDirectory)/stats.json"))), "the same sums in the same order")
        let out = try shell("/usr/bin/python3", ["-c", Self.oracle, fx.project.path(""), fx.project.path("layers"), shared.runDirectory,
                                                 "\(Fixture.xmin)", "\(Fixture.ymin)", "\(Fixture.xmax)", "\(Fixture.ymax)"])
        let oracle = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: [String: Any]]
        let mask = oracle["persons"]!["mask"] as! [Double]
        for c in totals[0].classes { #expect(Self.near(c.total, mask[c.value]), "persons class \(c.value): \(c.total) vs numpy \(mask[c.value])") }
        #expect(mask[1...].reduce(0, +) > 0)
    }

    @Test func shapefilesKeepTheClassFieldTheChineseNamesAndTheGeometryOfTheGeoPackage() throws {
        let (fx, job) = try Self.fixture(top: "admin-code: \"150625\"\nhazard-code: ZH\n",
                                         outputs: "  export: [shapefile]\n  naming: \"{hazard}_{product}_{code}_{seq}\"\n",
                                         products: "  products: [risk-class, risk-zones, prevention]\n", prevention: true)
        let plan = try Planner().resolve(try JobLoader().load(job))
        #expect(plan.summary.contains("export (ESRI Shapefile, UTF-8, integer class): ZH_FXQH_150625_01.shp (risk_zones, FXQH), ZH_FZQH_150625_02.shp (prevention_zones, FZQH)"))
        let result = try Runner(plan: plan, options: RunOptions(threads: 2)).run()
        let run = result.runDirectory
        let exports = try #require(result.manifest.exports)
        #expect(exports.map(\.name) == ["ZH_FXQH_150625_01", "ZH_FZQH_150625_02"])
        let listed = Set(result.manifest.products.map(\.path))
        for name in exports.map(\.name) {
            for ext in ["shp", "shx", "dbf", "prj", "cpg"] { #expect(listed.contains("\(name).\(ext)"), "\(name).\(ext) is a product") }
            #expect(try String(contentsOfFile: "\(run)/\(name).cpg", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) == "UTF-8")
            #expect(try String(contentsOfFile: "\(run)/\(name).prj", encoding: .utf8).contains("CGCS2000"))
            // A fixed DBF date (2000-01-01), so identical runs give identical files.
            let dbf = try Data(contentsOf: URL(fileURLWithPath: "\(run)/\(name).dbf"))
            #expect(Array(dbf[1...3]) == [100, 1, 1])
        }
        // ogrinfo reads the integer class field, the Chinese names and the township codes.
        let risk = try shell("/usr/bin/ogrinfo", ["-ro", "-al", "-geom=NO", "\(run)/ZH_FXQH_150625_01.shp"])
        for text in ["class: Integer", "class_name: String", "twp_code: String", "township (String) = 西乡", "township (String) = 东乡",
                     "twp_code (String) = 150625102", "class_name (String) = 橙 orange (high)"] {
            #expect(risk.contains(text), "\(text) missing from ogrinfo of the risk zones")
        }
        let prevention = try shell("/usr/bin/ogrinfo", ["-ro", "-al", "-geom=NO", "\(run)/ZH_FZQH_150625_02.shp"])
        for text in ["class: Integer", "name (String) = 重点防治区", "english (String) = key prevention zone", "township (String) = 西乡"] {
            #expect(prevention.contains(text), "\(text) missing from ogrinfo of the prevention zones")
        }
        // Per class: polygon count and area equal to the GeoPackage layer (read by GDAL's Python bindings).
        let out = try shell("/usr/bin/python3", ["-c", """
            import sys, json
            from osgeo import ogr
            def summary(path, layer, field):
                ds = ogr.Open(path); l = ds.GetLayerByName(layer); r = {}
                for f in l:
                    k = str(f.GetField(field)); n, a = r.get(k, (0, 0.0)); r[k] = (n + 1, a + f.GetGeometryRef().GetArea())
                return r
            run = sys.argv[1]
            print(json.dumps([summary(run + '/zones.gpkg', 'risk_zones', 'class'), summary(run + '/ZH_FXQH_150625_01.shp', 'ZH_FXQH_150625_01', 'class'),
                              summary(run + '/zones.gpkg', 'prevention_zones', 'category'), summary(run + '/ZH_FZQH_150625_02.shp', 'ZH_FZQH_150625_02', 'class')]))
            """, run])
        let s = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [[String: [Double]]]
        for (gpkg, shp) in [(s[0], s[1]), (s[2], s[3])] {
            #expect(!gpkg.isEmpty && gpkg.keys.sorted() == shp.keys.sorted())
            for (k, v) in gpkg {
                #expect(v[0] == shp[k]![0], "class \(k): polygon count")
                #expect(abs(v[1] - shp[k]![1]) <= 1e-6 * v[1], "class \(k): area \(v[1]) vs \(shp[k]![1])")
            }
        }
        #expect(exports.map(\.features) == [Int(s[0].values.map { $0[0] }.reduce(0, +)), Int(s[2].values.map { $0[0] }.reduce(0, +))])
        // The prevention statistics carry the township codes too.
        let csv = try String(contentsOfFile: "\(run)/prevention_stats.csv", encoding: .utf8).split(separator: "\n")
        #expect(csv[0].hasPrefix("township_id,township_code,乡镇 township,乡镇英文名 township_en,") && csv[1].hasPrefix("1,150625101,西乡,"))
        let rows = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(run)/prevention_stats.json"))) as! [[String: Any]]
        #expect(rows.map { $0["code"] as? String } == ["150625101", "150625102"])
    }

    /// A second run after the weights changed: its changes carry the people and floor area of every
    /// transition (previous class → class), per township and over the mask, equal to numpy over the
    /// gdalwarp-aligned layers, the township raster and the two published class rasters.
    @Test func changesCarryTheTotalsOfEveryTransition() throws {
        let (fx, job) = try Self.fixture(zoning: "  totals:\n    persons: { layer: pop, as: per-km2, units: persons }\n    floor: { layer: floor, as: count, units: m2 }\n",
                                         products: "  products: [risk-index, risk-class, statistics]\n")
        let first = try Runner(plan: try Planner().resolve(try JobLoader().load(job)), options: RunOptions(threads: 2)).run()
        let text = try String(contentsOfFile: job, encoding: .utf8)
        try text.replacingOccurrences(of: "weighted-sum: { flood: 0.45, fire: 0.25, seismic: 0.30 }",
                                      with: "weighted-sum: { flood: 0.25, fire: 0.45, seismic: 0.30 }").write(toFile: job, atomically: true, encoding: .utf8)
        let second = try Runner(plan: try Planner().resolve(try JobLoader().load(job)), options: RunOptions(threads: 2)).run()
        let expected = try Self.transitionTotalsOracle(fx, previous: "\(first.runDirectory)/risk_class.tif", current: "\(second.runDirectory)/risk_class.tif")
        let changes = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(second.runDirectory)/changes.json"))) as? [String: Any])
        var seen: [String: Double] = [:]
        func collect(_ transitions: [[String: Any]], town: Int) {
            for t in transitions {
                let from = t["from"] as! Int, to = t["to"] as! Int
                for (name, value) in (t["totals"] as? [String: Double]) ?? [:] { seen["\(name) \(town) \(from) \(to)"] = value }
            }
        }
        collect(changes["transitions"] as! [[String: Any]], town: 0)
        for (i, town) in (changes["townships"] as! [[String: Any]]).enumerated() { collect(town["transitions"] as! [[String: Any]], town: i + 1) }
        #expect(!expected.isEmpty && Set(seen.keys) == Set(expected.keys), "keys \(seen.keys.sorted()) vs numpy \(expected.keys.sorted())")
        #expect(expected.keys.contains { $0.hasPrefix("persons 0 ") && $0.split(separator: " ")[2] != $0.split(separator: " ")[3] },
                "some class changed")
        for (key, value) in expected {
            #expect(abs((seen[key] ?? .nan) - value) <= 1e-6 * max(1, abs(value)), "\(key): \(seen[key] ?? .nan) vs numpy \(value)")
        }
        let csv = try String(contentsOfFile: "\(second.runDirectory)/changes.csv", encoding: .utf8)
        #expect(csv.hasPrefix("township_code,township,previous_level,previous_level_name,level,level_name,change,from_class,to_class,pixels,area_ha,persons,floor\n"))
    }

    @Test func townshipRiskLevelMapColoursEachTownshipByItsLevelAndLabelsThePeopleInTheTopLevels() throws {
        let (fx, job) = try Self.fixture(zoning: Self.totals, products: "  products: [risk-class, statistics, maps]\n",
                                         level: ", level: high-share, high-share: 0.7")
        let plan = try Planner().resolve(try JobLoader().load(job))
        let result = try Runner(plan: plan, options: RunOptions(threads: 2)).run()
        let run = result.runDirectory
        #expect(result.manifest.products.contains { $0.path == "township_map.pdf" } && result.manifest.products.contains { $0.path == "township_map.png" })
        let rows = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(run)/stats.json"))) as! [[String: Any]]
        let levels = rows.map { $0["level"] as! Int }
        #expect(Set(levels).count == 2, "the two townships should differ in level for the colours to mean something: \(levels)")

        let maker = MapMaker(plan: plan, runID: result.runID)
        let target = try #require(maker.targets(in: run).first { $0.base == "township_map" })
        let layout = try MapRenderer.layout(for: maker.spec(raster: target.raster, title: target.title, legendTitle: target.legendTitle,
                                                            legend: target.legend, areas: target.areas))
        let dpi = 100.0
        try shell("/usr/bin/pdftoppm", ["-r", "\(Int(dpi))", "-png", "-singlefile", "\(run)/township_map.pdf", fx.project.path("page")])
        let page = try Dataset(open: fx.project.path("page.png"), flags: [.raster])
        let rgb: [[UInt8]] = try (1...3).map { try page.band($0).read(PixelWindow(x: 0, y: 0, width: page.width, height: page.height)) }
        let colours = Dictionary(uniqueKeysWithValues: plan.job.classify.scheme.classes.map { (Int($0.value), $0.rgb) })
        // Points well inside each township (away from the slanted border between them).
        let (x0, y0, y1) = (Fixture.xmin, Fixture.ymin, Fixture.ymax)
        var sampled = [0, 0], matched = [0, 0]
        for x in stride(from: x0 + 300, to: Fixture.xmax - 300, by: 350) {
            for y in stride(from: y0 + 300, to: y1 - 300, by: 350) {
                let border = x0 + 4000 + (y - (y0 - 100)) / (y1 - y0 + 200) * 1500
                guard abs(x - border) > 500 else { continue }
                let t = x < border ? 0 : 1
                let p = layout.transform.apply(x: x, y: y)
                let i = Int(p.y * dpi / 72) * page.width + Int(p.x * dpi / 72)
                let want = colours[levels[t]]!
                sampled[t] += 1
                if abs(Int(rgb[0][i]) - Int(want.0)) <= 6 && abs(Int(rgb[1][i]) - Int(want.1)) <= 6 && abs(Int(rgb[2][i]) - Int(want.2)) <= 6 {
                    matched[t] += 1
                }
            }
        }
        for t in 0..<2 {
            #expect(sampled[t] > 40 && Double(matched[t]) >= 0.9 * Double(sampled[t]),
                    "township \(t + 1): \(matched[t]) of \(sampled[t]) points show the colour of level \(levels[t])")
        }
        // Labels: the name and the persons in the two highest classes (red + orange), from stats.json.
        let text = try shell("/usr/bin/pdftotext", ["\(run)/township_map.pdf", "-"])
        for (row, name) in zip(rows, ["西乡", "东乡"]) {
            let people = (row["persons_class_4"] as! Double) + (row["persons_class_3"] as! Double)
            let label = "红+橙 \(groupedInteger(people)) persons"
            #expect(text.contains(name) && text.contains(label), "\(name) / \(label) missing from the map text")
        }
        for label in ["乡镇风险等级图 township risk levels", "乡镇风险等级 Township risk level", "红 red (very high)", "蓝 blue (low)"] {
            #expect(text.contains(label), "\(label) missing from the map text")
        }
    }

    @Test func badTotalsExportAndCodesAreReportedWhereTheyAreWritten() throws {
        let p = try Project()
        try p.raster("layers/a.tif", width: 10, height: 10, geoTransform: [0, 30, 0, 300, 0, -30], crs: "EPSG:4545", nodata: nil,
                     values: (0..<100).map(Float.init))
        try p.write("layers/a.yaml", "source: a.tif\n")
        let job = try p.write("jobs/v.yaml", """
            version: 1
            name: v
            admin-code: "15062"
            hazard-code: Z-H
            grid: { crs: EPSG:4545, resolution: 30, extent: [0, 0, 300, 300] }
            layers:
              a: { layer: a, normalize: { linear: [0, 1] } }
            combine: { weighted-sum: { a: 1 } }
            classify: { scheme: five-level, breaks: [0.2, 0.4, 0.6, 0.8] }
            zoning:
              totals:
                Persons: { layer: a, as: per-km }
            outputs:
              directory: out/v
              export: [shapefile, geojson]
              naming: "{hazard}_{prodcut}_{seq}"

            """)
        let error = try #require(throws: DiagnosticsError.self) { try JobLoader().load(job) }
        let found = error.diagnostics.map { "\($0.line):\($0.column)" }
        #expect(found == [
            "3:13",   // admin-code is not 6 digits
            "4:14",   // hazard-code with a '-'
            "12:5",   // totals without zoning.townships
            "12:5",   // total name with an upper-case letter
            "12:30",  // unknown measure
            "15:23",  // unknown export format
            "16:21",  // unknown placeholder, at its "{"
        ], "\(error.diagnostics)")
        let messages = error.diagnostics.map(\.message)
        #expect(messages[0].contains("6-digit"))
        #expect(messages[2].contains("need zoning.townships"))
        #expect(messages[4].contains("did you mean \"per-km2\""))
        #expect(messages[6].contains("unknown placeholder {prodcut}") && messages[6].contains("did you mean {product}"))

        // Placeholders without their job keys; naming without export.
        let job2 = try p.write("jobs/w.yaml", """
            version: 1
            name: w
            grid: { crs: EPSG:4545, resolution: 30, extent: [0, 0, 300, 300] }
            layers:
              a: { layer: a, normalize: { linear: [0, 1] } }
            combine: { weighted-sum: { a: 1 } }
            classify: { scheme: five-level, breaks: [0.2, 0.4, 0.6, 0.8] }
            zoning: { majority: 3 }
            outputs:
              directory: out/w
              naming: "{hazard}_{product}_{code}"

            """)
        let error2 = try #require(throws: DiagnosticsError.self) { try JobLoader().load(job2) }
        #expect(error2.diagnostics.map(\.message).count == 3, "\(error2.diagnostics)")
        #expect(error2.diagnostics.allSatisfy { $0.line == 11 && $0.column == 11 })
        #expect(error2.diagnostics.contains { $0.message.contains("goes with export") })
        #expect(error2.diagnostics.contains { $0.message.contains("{hazard} needs the job's hazard-code") })
        #expect(error2.diagnostics.contains { $0.message.contains("{code} needs the job's admin-code") })
    }

    /// Issue 21: a naming template whose names pass the file system's 255 bytes (a file name)
    /// passed validate and failed after computing; refused at the template, the longest name it
    /// may make (251 characters before ".shp") still exported.
    @Test func namingTemplatesMakingTooLongFileNamesAreRefusedAtValidate() throws {
        let top = "admin-code: \"150625\"\nhazard-code: ZH\n"
        func naming(_ filler: Int) -> String { "  export: [shapefile]\n  naming: \"{hazard}_{product}_{code}_{seq}_\(String(repeating: "x", count: filler))\"\n" }
        let (fx, long) = try Self.fixture(top: top, outputs: naming(282), products: "  products: [risk-class, risk-zones]\n")
        let error = try #require(throws: DiagnosticsError.self) { try JobLoader().load(long) }
        let lines = try String(contentsOfFile: long, encoding: .utf8).components(separatedBy: "\n")
        let line = try #require(lines.firstIndex { $0.hasPrefix("  naming:") }) + 1
        #expect(error.diagnostics.map { "\($0.line):\($0.column) \($0.message)" }
                == ["\(line):11 outputs.naming: the template makes names of 300 characters (\"ZH_FXQH_150625_01_\(String(repeating: "x", count: 22))…\"); file names have at most 255 bytes, so a name before \".shp\" at most 251"])
        let (fx2, longest) = try Self.fixture(top: top, outputs: naming(233), products: "  products: [risk-class, risk-zones]\n")
        let result = try Runner(plan: try Planner().resolve(try JobLoader().load(longest)), options: RunOptions(threads: 2)).run()
        let name = "ZH_FXQH_150625_01_" + String(repeating: "x", count: 233)
        #expect(result.manifest.exports?.map(\.name) == [name] && name.count == 251)
        #expect(FileManager.default.fileExists(atPath: "\(result.runDirectory)/\(name).dbf"))
        withExtendedLifetime((fx, fx2)) {}
    }

    @Test func aVectorTotalAndAMissingCodeFieldAreOneClearErrorNamingTheFile() throws {
        let (fx, job) = try Self.fixture(zoning: "  totals:\n    bad: { layer: study-area, as: count }\n")
        let error = try #require(throws: RunError.self) { try Planner().resolve(try JobLoader().load(job)) }
        #expect(error.status == .dataError)
        #expect(error.message.contains(fx.project.path("layers/area.gpkg")) && error.message.contains("zoning.totals.bad (layer study-area)")
                && error.message.contains("a total sums a raster layer"), "\(error.message)")

        let (fx2, job2) = try Self.fixture()
        let text = try String(contentsOfFile: job2, encoding: .utf8).replacingOccurrences(of: "code: code", with: "code: kode")
        try text.write(toFile: job2, atomically: true, encoding: .utf8)
        let error2 = try #require(throws: RunError.self) { try Runner(plan: try fx2.plan(job: job2), options: RunOptions(threads: 2)).run() }
        #expect(error2.status == .dataError)
        #expect(error2.message.contains("towns.gpkg") && error2.message.contains("no attribute \"kode\""), "\(error2.message)")
        #expect(!FileManager.default.fileExists(atPath: fx2.project.path("out/totals/latest")), "nothing published")
    }
}

/// The naming template alone: parts, placeholders, two-digit sequence numbers.
@Suite struct NamingTemplateTests {
    @Test func placeholdersAndSequenceNumbers() throws {
        let t = try NamingTemplate.parse("{hazard}_{product}_{code}_{seq}").get()
        #expect(t.name(hazard: "ZH", product: .riskZones, code: "150625", seq: 1) == "ZH_FXQH_150625_01")
        #expect(t.name(hazard: "HS", product: .preventionZones, code: "150625", seq: 12) == "HS_FZQH_150625_12")
        #expect(try NamingTemplate.parse("zones-{seq}").get().name(hazard: nil, product: .riskZones, code: nil, seq: 2) == "zones-02")
        for (bad, offset) in [("{hazard}_{code}", 0), ("a b_{seq}", 1), ("{seq", 0), ("x_{Seq}", 2), ("风险_{seq}", 0)] {
            guard case .failure(let problem) = NamingTemplate.parse(bad) else { Issue.record("\(bad) accepted"); continue }
            #expect(problem.offset == offset, "\(bad): \(problem.message)")
        }
    }
}

extension Fixture {
    func plan(job: String) throws -> Plan { try Planner().resolve(try JobLoader().load(job)) }
}
