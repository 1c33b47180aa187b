import Foundation
import FilePaths
import GDALKit
import RasterKernel
import Testing
@testable import Zoning

/// The products checked by the analyst's own tools: QGIS 3.22 (PyQGIS and `qgis_process.bin`,
/// headless), GDAL's GeoPackage and COG validators, `rio cogeo validate`, the STAC validator, and
/// gdalinfo/gdalwarp for the grid. QGIS must be installed (`scripts/setup`): a missing client
/// fails the test, it never skips.
@Suite(.serialized) struct ClientTests {
    static let qgisProcess = "/usr/bin/qgis_process.bin"
    static let systemPython = "/usr/bin/python3"
    /// The offline STAC validator of the steering repository's `shared/`, which lies beside the
    /// project's checkout (in CI too: a copy of `shared/` is laid beside the clone).
    static let stacValidator: String = {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let beside = repo.deletingLastPathComponent().appendingPathComponent("shared/stac-schemas/validate.py").path
        return FileManager.default.fileExists(atPath: beside) ? beside : "/work/shared/stac-schemas/validate.py"
    }()
    static let offscreen = ["QT_QPA_PLATFORM": "offscreen"]

    /// The prevention fixture (risk zones, prevention zones, shelters as a proximity factor,
    /// townships with code and English name), run once with every product.
    func run() throws -> (Fixture, RunResult) {
        let (fx, job) = try PreventionTests().fixture(
            zoning: "zoning:\n  majority: 3\n  min-area-ha: 2.5\n  connectivity: 8\n  townships: { layer: towns, name: name, code: code, english: name_en }\n")
        let result = try Runner(plan: try Planner().resolve(try JobLoader().load(job)), options: RunOptions(threads: 2)).run()
        return (fx, result)
    }

    /// One PyQGIS process: renders every GeoPackage layer with its default style (from
    /// `layer_styles`) and every class raster and the index with their `.qml` at one pixel per grid
    /// cell, counts the colours of each image, checks GEOS validity of every feature, and computes
    /// zonal statistics of the index over the townships.
    static let qgisScript = """
        import sys, json, os
        import numpy as np
        from qgis.core import (QgsApplication, QgsVectorLayer, QgsRasterLayer, QgsMapSettings, QgsMapRendererSequentialJob,
                               QgsFeatureRequest, QgsRectangle)
        from qgis.analysis import QgsZonalStatistics
        from qgis.PyQt.QtCore import QSize
        from qgis.PyQt.QtGui import QColor, QImage
        app = QgsApplication([], False); app.initQgis()
        run, towns, out_dir = sys.argv[1:4]
        grid = QgsRasterLayer(os.path.join(run, 'risk_class.tif'), 'grid')
        extent, w, h = grid.extent(), grid.width(), grid.height()
        def render(layer, name):
            s = QgsMapSettings(); s.setLayers([layer]); s.setDestinationCrs(layer.crs()); s.setExtent(extent)
            s.setOutputSize(QSize(w, h)); s.setOutputDpi(96); s.setBackgroundColor(QColor(0, 0, 0, 0))
            s.setFlag(QgsMapSettings.Antialiasing, False)
            job = QgsMapRendererSequentialJob(s); job.start(); job.waitForFinished()
            img = job.renderedImage().convertToFormat(QImage.Format_ARGB32)
            img.save(os.path.join(out_dir, name + '.png'))
            ptr = img.constBits(); ptr.setsize(img.sizeInBytes())
            a = np.frombuffer(ptr, np.uint8).reshape(img.height(), img.bytesPerLine())[:, :img.width() * 4].reshape(img.height(), img.width(), 4)
            colours, counts = np.unique(a.reshape(-1, 4), axis=0, return_counts=True)
            return {'%d,%d,%d,%d' % (c[2], c[1], c[0], c[3]): int(n) for c, n in zip(colours, counts)}
        result = {'layers': {}, 'rasters': {}, 'zonal': {}}
        for layer_name in ('risk_zones', 'prevention_zones'):
            v = QgsVectorLayer(os.path.join(run, 'zones.gpkg') + '|layername=' + layer_name, layer_name, 'ogr')
            r = v.renderer()
            invalid = sum(0 if f.geometry().isGeosValid() else 1 for f in v.getFeatures())
            result['layers'][layer_name] = {'valid': v.isValid(), 'renderer': r.type(),
                'attribute': r.classAttribute() if r.type() == 'categorizedSymbol' else None,
                'fields': [f.name() for f in v.fields()], 'features': v.featureCount(), 'invalid': invalid,
                'colours': render(v, layer_name)}
        for f in ('risk_index', 'risk_class', 'risk_zones', 'prevention_class', 'prevention_zones'):
            r = QgsRasterLayer(os.path.join(run, f + '.tif'), f)
            result['rasters'][f] = {'renderer': r.renderer().type(), 'colours': render(r, f)}
        t = QgsVectorLayer(towns, 'towns', 'ogr').materialize(QgsFeatureRequest())
        index = QgsRasterLayer(os.path.join(run, 'risk_index.tif'), 'index')
        z = QgsZonalStatistics(t, index, 'z_', 1, QgsZonalStatistics.Count | QgsZonalStatistics.Mean | QgsZonalStatistics.Max)
        z.calculateStatistics(None)
        for f in t.getFeatures():
            result['zonal'][f['name']] = {'count': f['z_count'], 'mean': f['z_mean'], 'max': f['z_max']}
        # Pixels per class and township: QGIS's zonal histogram (Processing) of the class raster.
        sys.path.append('/usr/share/qgis/python/plugins')
        import processing
        from processing.core.Processing import Processing
        Processing.initialize()
        histogram = processing.run('native:zonalhistogram', {'INPUT_RASTER': os.path.join(run, 'risk_class.tif'), 'RASTER_BAND': 1,
                                   'INPUT_VECTOR': towns, 'COLUMN_PREFIX': 'h_', 'OUTPUT': 'memory:'})['OUTPUT']
        result['histogram'] = {f['name']: {k[2:]: f[k] for k in f.fields().names() if k.startswith('h_')} for f in histogram.getFeatures()}
        print(json.dumps(result))
        # Leave without tearing QGIS down (PyQGIS 3.22 may crash in exitQgis once layers were rendered).
        sys.stdout.flush(); os._exit(0)
        """

    @Test func qgisRendersEveryLayerAndRasterWithItsStyleAndItsZonalStatisticsEqualTheTable() throws {
        #expect(FileManager.default.isExecutableFile(atPath: ClientTests.qgisProcess), "QGIS is not installed: run scripts/setup")
        let (fx, result) = try run()
        let run = result.runDirectory
        let out = try shell(ClientTests.systemPython, ["-c", ClientTests.qgisScript, run, fx.project.path("layers/towns.gpkg"),
                                                       fx.project.path(".")], environment: ClientTests.offscreen)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(out.split(separator: "\n").last.map(String.init)!.utf8)) as? [String: Any])
        let layers = try #require(json["layers"] as? [String: [String: Any]])
        let rasters = try #require(json["rasters"] as? [String: [String: Any]])
        func nodata(_ file: String) throws -> Int {
            try readBytes("\(run)/\(file)").filter { $0 == 0 }.count
        }
        func colours(_ entry: [String: Any]) -> [String: Int] { entry["colours"] as? [String: Int] ?? [:] }
        let risk = ["0,112,192,255", "255,230,0,255", "255,140,0,255", "230,0,0,255"]
        let prevention = ["230,0,0,255", "255,170,0,255", "56,168,0,255"]

        // The zone layers: their default style is categorised on a field the layer has, and every
        // class colour appears; nothing but the nodata area stays blank.
        for (name, field, palette, raster) in [("risk_zones", "class", risk, "risk_zones.tif"),
                                                ("prevention_zones", "category", prevention, "prevention_zones.tif")] {
            let layer = try #require(layers[name])
            #expect(layer["valid"] as? Bool == true && layer["renderer"] as? String == "categorizedSymbol", "\(name)")
            #expect(layer["attribute"] as? String == field, "\(name) style field")
            #expect((layer["fields"] as? [String])?.contains(field) == true)
            #expect(layer["invalid"] as? Int == 0, "\(name): GEOS-invalid polygons")
            let seen = colours(layer)
            let present = Set(try readBytes("\(run)/\(raster)").filter { $0 != 0 }).count
            #expect(palette.filter { (seen[$0] ?? 0) > 0 }.count == present, "\(name): class colours in \(seen.keys.sorted())")
            let blank = seen.filter { $0.key.hasSuffix(",0") }.values.reduce(0, +)
            #expect(blank <= (try nodata(raster)), "\(name): \(blank) blank pixels")
        }
        // The rasters with their QML: paletted, every pixel its class colour, nodata transparent.
        for (name, palette) in [("risk_class", risk), ("risk_zones", risk), ("prevention_class", prevention), ("prevention_zones", prevention)] {
            let raster = try #require(rasters[name])
            #expect(raster["renderer"] as? String == "paletted", "\(name)")
            let seen = colours(raster)
            let values = try readBytes("\(run)/\(name).tif")
            for (i, colour) in palette.enumerated() {
                #expect(seen[colour, default: 0] == values.filter { Int($0) == i + 1 }.count, "\(name) class \(i + 1) (\(colour))")
            }
            #expect(seen.filter { $0.key.hasSuffix(",0") }.values.reduce(0, +) == values.filter { $0 == 0 }.count, "\(name) blank")
        }
        let index = try #require(rasters["risk_index"])
        #expect(index["renderer"] as? String == "singlebandpseudocolor")
        #expect(colours(index).filter { $0.key.hasSuffix(",0") }.values.reduce(0, +) == (try nodata("risk_class.tif")))
        #expect(colours(index).count > 20, "the index renders as a colour ramp")

        // QGIS zonal statistics of the index over the townships equal stats.json.
        let zonal = try #require(json["zonal"] as? [String: [String: Double]])
        let stats = try JSONDecoder.snake.decode([TownshipStatistics].self, from: Data(contentsOf: URL(fileURLWithPath: "\(run)/stats.json")))
        #expect(stats.count == 2)
        for s in stats {
            let z = try #require(zonal[s.name])
            #expect(Int(z["count"] ?? -1) == s.validPixels, "\(s.name) count")
            #expect(abs((z["mean"] ?? 0) - (s.meanIndex ?? -1)) < 1e-6, "\(s.name) mean")
            #expect(abs((z["max"] ?? 0) - (s.maxIndex ?? -1)) < 1e-7, "\(s.name) max")
        }

        // QGIS's zonal histogram of the class raster equals the pixels per class and township.
        let histogram = try #require(json["histogram"] as? [String: [String: Int]])
        for s in stats {
            let h = try #require(histogram[s.name])
            for c in s.classes { #expect(h["\(c.value)", default: 0] == c.pixels, "\(s.name) class \(c.value): \(h)") }
        }

        // qgis_process (the command-line client) finds no GEOS-invalid polygon either.
        let process = try shell(ClientTests.qgisProcess, ["--json", "run", "qgis:checkvalidity",
                                                          "--INPUT_LAYER=\(run)/zones.gpkg|layername=risk_zones", "--METHOD=2",
                                                          "--IGNORE_RING_SELF_INTERSECTION=0", "--VALID_OUTPUT=TEMPORARY_OUTPUT",
                                                          "--INVALID_OUTPUT=TEMPORARY_OUTPUT", "--ERROR_OUTPUT=TEMPORARY_OUTPUT"],
                                environment: ClientTests.offscreen)
        let check = try #require(try JSONSerialization.jsonObject(with: Data(process.utf8)) as? [String: Any])
        let counts = try #require(check["results"] as? [String: Any])
        #expect(counts["INVALID_COUNT"] as? Int == 0 && counts["ERROR_COUNT"] as? Int == 0)
        #expect(counts["VALID_COUNT"] as? Int == layers["risk_zones"]?["features"] as? Int)

        // The validators: GeoPackage, COG (GDAL's and rio-cogeo's), STAC Item and Catalog.
        let validateGpkg = "/usr/lib/python3/dist-packages/osgeo_utils/samples/validate_gpkg.py"
        #expect(FileManager.default.fileExists(atPath: validateGpkg), "python3-gdal ships validate_gpkg.py")
        let (gpkgStatus, gpkgOut, gpkgErr) = try runProcess(ClientTests.systemPython, [validateGpkg, "\(run)/zones.gpkg"])
        #expect(gpkgStatus == 0, "\(gpkgOut)\(gpkgErr)")
        let validateCOG = "/usr/lib/python3/dist-packages/osgeo_utils/samples/validate_cloud_optimized_geotiff.py"
        for tif in ["risk_index", "risk_class", "risk_zones", "prevention_class", "prevention_zones"] {
            let (s1, o1, e1) = try runProcess(ClientTests.systemPython, [validateCOG, "\(run)/\(tif).tif"])
            #expect(s1 == 0 && o1.contains("is a valid cloud optimized GeoTIFF"), "\(tif): \(o1)\(e1)")
            let (s2, o2, e2) = try runProcess("/usr/bin/env", ["rio", "cogeo", "validate", "\(run)/\(tif).tif"])
            #expect(s2 == 0 && o2.contains("is a valid cloud optimized GeoTIFF"), "\(tif): rio cogeo: \(o2)\(e2)")
        }
        let catalog = result.runDirectory.parentPath + "/catalog.json"
        let (stacStatus, stacOut, stacErr) = try runProcess(ClientTests.systemPython, [ClientTests.stacValidator, "\(run)/item.json", catalog])
        #expect(stacStatus == 0 && stacOut.contains("item.json: valid (core, projection, file, classification)"), "\(stacOut)\(stacErr)")
    }

    @Test func metadataTablesAndMapsCarryWhatCataloguesAndAnalystsRead() throws {
        let (fx, result) = try run()
        let run = result.runDirectory
        _ = fx
        // GeoTIFF tags and band metadata, as gdalinfo -json reports them.
        for (tif, units) in [("risk_index", "1"), ("risk_class", "class"), ("prevention_class", "category")] {
            let info = try #require(try JSONSerialization.jsonObject(with: Data(try shell("/usr/bin/gdalinfo", ["-json", "\(run)/\(tif).tif"]).utf8)) as? [String: Any])
            let md = try #require((info["metadata"] as? [String: Any])?[""] as? [String: String])
            #expect(md["TIFFTAG_IMAGEDESCRIPTION"]?.hasPrefix("测试 · ") == true, "\(tif)")
            #expect(md["TIFFTAG_SOFTWARE"]?.hasPrefix("hazard-zoning ") == true)
            #expect(md["TIFFTAG_DATETIME"]?.range(of: #"^\d{4}:\d\d:\d\d \d\d:\d\d:\d\d$"#, options: .regularExpression) != nil)
            let band = try #require((info["bands"] as? [[String: Any]])?.first)
            #expect(band["unit"] as? String == units && !(band["description"] as? String ?? "").isEmpty, "\(tif)")
        }
        // Colour table of exactly the classes (+ nodata) and a raster attribute table gdalinfo shows.
        let info = try #require(try JSONSerialization.jsonObject(with: Data(try shell("/usr/bin/gdalinfo", ["-json", "\(run)/prevention_zones.tif"]).utf8)) as? [String: Any])
        let band = try #require((info["bands"] as? [[String: Any]])?.first)
        let table = try #require((band["colorTable"] as? [String: Any])?["entries"] as? [[Int]])
        #expect(table == [[0, 0, 0, 0], [230, 0, 0, 255], [255, 170, 0, 255], [56, 168, 0, 255]])
        let rat = try #require(info["rat"] as? [String: Any])
        let names = (rat["fieldDefn"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        #expect(names == ["value", "class_name", "english", "red", "green", "blue", "count"])
        let rows = try #require((rat["row"] as? [[String: Any]])?.compactMap { $0["f"] as? [Any] })
        let values = try readBytes("\(run)/prevention_zones.tif")
        #expect(rows.count == 3)
        for (i, row) in rows.enumerated() {
            #expect(row[0] as? Int == i + 1)
            #expect(row[6] as? Int == values.filter { Int($0) == i + 1 }.count, "pixel count of category \(i + 1)")
        }
        #expect(rows.map { $0[1] as? String } == ["重点防治区", "次重点防治区", "一般防治区"])
        #expect(rows.map { $0[2] as? String } == ["key prevention zone", "secondary prevention zone", "general prevention zone"])
        #expect(rows.map { [$0[3] as? Int, $0[4] as? Int, $0[5] as? Int] } == [[230, 0, 0], [255, 170, 0], [56, 168, 0]])
        let riskInfo = try #require(try JSONSerialization.jsonObject(with: Data(try shell("/usr/bin/gdalinfo", ["-json", "\(run)/risk_class.tif"]).utf8)) as? [String: Any])
        let riskTable = (((riskInfo["bands"] as? [[String: Any]])?.first?["colorTable"] as? [String: Any])?["entries"] as? [[Int]])
        #expect(riskTable?.count == 5, "four classes + nodata")
        for qml in ["risk_index", "risk_class", "risk_zones", "prevention_class", "prevention_zones"] {
            #expect(FileManager.default.fileExists(atPath: "\(run)/\(qml).qml"), "\(qml).qml")
        }

        // STAC Item: the grid, a footprint in EPSG:4326 (against gdalinfo's), every file with its
        // sha256sum, the classes of the class rasters; the job folder's catalog links it.
        let item = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(run)/item.json"))) as? [String: Any])
        let props = try #require(item["properties"] as? [String: Any])
        #expect(props["proj:epsg"] as? Int == 4545 && props["proj:shape"] as? [Int] == [Fixture.height, Fixture.width])
        #expect(props["proj:transform"] as? [Double] == [30, 0, Fixture.xmin, 0, -30, Fixture.ymax, 0, 0, 1])
        let wgs = try #require(try JSONSerialization.jsonObject(with: Data(try shell("/usr/bin/gdalinfo", ["-json", "\(run)/risk_index.tif"]).utf8)) as? [String: Any])
        let corners = try #require(((wgs["wgs84Extent"] as? [String: Any])?["coordinates"] as? [[[Double]]])?.first)
        let bbox = try #require(item["bbox"] as? [Double])
        #expect(abs(bbox[0] - corners.map { $0[0] }.min()!) < 1e-3 && abs(bbox[3] - corners.map { $0[1] }.max()!) < 1e-3, "\(bbox) vs \(corners)")
        let assets = try #require(item["assets"] as? [String: [String: Any]])
        let files = try runFiles(in: run).filter { $0 != "item.json" }   // job/ copies included
        #expect(assets.count == files.count, "one asset per file")
        for file in files {
            let asset = try #require(assets.values.first { $0["href"] as? String == "./\(file)" }, "\(file)")
            let sum = String(try shell("/usr/bin/sha256sum", ["\(run)/\(file)"]).prefix(64))
            #expect(asset["file:checksum"] as? String == "1220" + sum, "\(file)")
            #expect(!(asset["roles"] as? [String] ?? []).isEmpty && !(asset["type"] as? String ?? "").isEmpty)
        }
        let classes = try #require(assets["risk_class"]?["classification:classes"] as? [[String: Any]])
        #expect(classes.map { $0["value"] as? Int } == [1, 2, 3, 4] && classes.map { $0["color_hint"] as? String } == ["0070C0", "FFE600", "FF8C00", "E60000"])
        #expect(assets["risk_class"]?["type"] as? String == "image/tiff; application=geotiff; profile=cloud-optimized")
        let catalog = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run.parentPath + "/catalog.json"))) as? [String: Any])
        let links = try #require(catalog["links"] as? [[String: Any]])
        #expect(links.contains { $0["rel"] as? String == "item" && $0["href"] as? String == "./\(result.runID)/item.json" })

        // GeoPackage: the manifest in gpkg_metadata, layer and column descriptions.
        let sql = try shell(ClientTests.systemPython, ["-c", """
            import sqlite3, sys, json
            c = sqlite3.connect(sys.argv[1])
            md = [json.loads(m) for (m,) in c.execute("SELECT metadata FROM gpkg_metadata WHERE mime_type = 'application/json'")]
            cols = {f'{t}.{c}': title for t, c, title in c.execute('SELECT table_name, column_name, title FROM gpkg_data_columns')}
            desc = dict(c.execute('SELECT table_name, description FROM gpkg_contents'))
            print(json.dumps({'job': md[0]['job']['name'], 'inputs': len(md[0]['inputs']), 'cols': cols, 'desc': desc}))
            """, "\(run)/zones.gpkg"])
        let gpkg = try #require(try JSONSerialization.jsonObject(with: Data(sql.utf8)) as? [String: Any])
        #expect(gpkg["job"] as? String == "prev" && (gpkg["inputs"] as? Int ?? 0) >= 5)
        let cols = try #require(gpkg["cols"] as? [String: String])
        #expect(cols["prevention_zones.township_code"] == "乡镇代码 township code" && cols["risk_zones.area_ha"] == "面积(公顷) area (ha)")
        #expect((gpkg["desc"] as? [String: String])?["prevention_zones"]?.contains("防治区划") == true)

        // Tables: a UTF-8 BOM, bilingual headers, the township code and English name in every row.
        for csv in ["stats.csv", "prevention_stats.csv"] {
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(run)/\(csv)"))
            #expect(Array(data.prefix(3)) == [0xEF, 0xBB, 0xBF], "\(csv) starts with a BOM")
            let lines = String(decoding: data.dropFirst(3), as: UTF8.self).split(separator: "\n")
            #expect(lines[0].hasPrefix("township_id,township_code,乡镇 township,乡镇英文名 township_en,有效面积(公顷) valid_area_ha,"))
            #expect(lines[1].hasPrefix("1,150625101,西乡,West,") && lines[2].hasPrefix("2,150625102,东乡,East,"), "\(csv)")
        }
        let zones = try Dataset(open: "\(run)/zones.gpkg", flags: [.vector]).layer(named: "prevention_zones")
        let codes = Set(try zones.features(attribute: "township_code").compactMap(\.attribute))
        let english = Set(try zones.features(attribute: "township_en").compactMap(\.attribute))
        #expect(codes == ["150625101", "150625102"] && english == ["West", "East"])

        // Maps: titles per product, the shelters on the prevention map, the PNG's DPI.
        let maker = MapMaker(plan: try Planner().resolve(try JobLoader().load(fx.project.path("jobs/prev.yaml"))), runID: result.runID)
        let titles = Dictionary(uniqueKeysWithValues: maker.targets(in: run).map { ($0.base, $0.title) })
        #expect(titles["risk_map"] == "测试 · 综合风险等级 comprehensive risk level")
        #expect(titles["zoning_map"] == "测试 · 综合风险区划 comprehensive risk zoning")
        #expect(maker.spec(raster: "\(run)/prevention_class.tif", title: "", kind: .prevention).context.contains { $0.kind == .shelter })
        #expect(!maker.spec(raster: "\(run)/risk_class.tif", title: "", kind: .risk).context.contains { $0.kind == .shelter })
        let png = try shell(ClientTests.systemPython, ["-c", """
            import struct, sys, zlib
            d = open(sys.argv[1], 'rb').read(); i = 8; out = {}
            while i < len(d):
                n, = struct.unpack('>I', d[i:i+4]); t = d[i+4:i+8]
                if t == b'pHYs':
                    x, y, u = struct.unpack('>IIB', d[i+8:i+17])
                    assert zlib.crc32(d[i+4:i+8+n]) == struct.unpack('>I', d[i+8+n:i+12+n])[0]
                    out = {'x': x, 'y': y, 'unit': u}
                if t == b'IDAT': break
                i += 12 + n
            # The shelter symbol's green (0, 140, 70), decoded by GDAL's PNG driver.
            from osgeo import gdal
            import numpy as np
            a = gdal.Open(sys.argv[1]).ReadAsArray()
            out['shelter'] = int(((a[0] == 0) & (a[1] == 140) & (a[2] == 70)).sum())
            print(out)
            """, "\(run)/prevention_map.png"])
        #expect(png.contains("'x': 5906, 'y': 5906, 'unit': 1"), "150 dpi = 5906 px/m: \(png)")
        let shelterPixels = Int(png.components(separatedBy: "'shelter': ").last?.filter(\.isNumber) ?? "") ?? 0
        #expect(shelterPixels > 20, "shelters drawn on the prevention map")
        let riskPNG = try shell(ClientTests.systemPython, ["-c", """
            import sys
            from osgeo import gdal
            a = gdal.Open(sys.argv[1]).ReadAsArray()
            print(int(((a[0] == 0) & (a[1] == 140) & (a[2] == 70)).sum()))
            """, "\(run)/risk_map.png"])
        #expect(riskPNG.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "no shelters on the risk map")

        // `render` redraws the maps into a new run with a fresh Item: valid, checksums of the new files.
        let written = try Operations.renderLatest(fx.project.path("jobs/prev.yaml"))
        let rerendered = try #require(written.first.map { $0.parentPath })
        #expect(rerendered != run)
        let rendered = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(rerendered)/item.json"))) as? [String: Any])
        let map = try #require((rendered["assets"] as? [String: [String: Any]])?["risk_map_png"])
        #expect(map["file:checksum"] as? String == "1220" + String(try shell("/usr/bin/sha256sum", ["\(rerendered)/risk_map.png"]).prefix(64)))
        let (status, out, err) = try runProcess(ClientTests.systemPython, [ClientTests.stacValidator, "\(rerendered)/item.json"])
        #expect(status == 0, "\(out)\(err)")
    }
}

/// The grid: an explicit extent is honoured exactly (gdalwarp -te semantics), `align: resolution`
/// snaps it like -tap, and the census-30s preset is the national standard grid.
@Suite(.serialized) struct GridExtentTests {
    /// A raster on an unaligned 30 m grid (corners not multiples of 30) and a job over its extent.
    func project(align: String?) throws -> (Project, String, [Double]) {
        let p = try Project()
        let (x0, y0) = (495_007.0, 4_400_013.0), w = 97, h = 61
        let te = [x0, y0, x0 + Double(w) * 30, y0 + Double(h) * 30]
        var values = [Float](repeating: 0, count: w * h)
        for r in 0..<h { for c in 0..<w { values[r * w + c] = Float((r * 37 + c * 11) % 100) / 100 } }
        try p.raster("layers/grid30.tif", width: w, height: h, geoTransform: [x0, 30, 0, te[3], 0, -30], crs: "EPSG:4545",
                     nodata: nil, values: values)
        try p.write("layers/grid30.yaml", "source: grid30.tif\n")
        let job = try p.write("jobs/unaligned.yaml", """
            version: 1
            name: unaligned
            grid:
              crs: EPSG:4545
              resolution: 30
              extent: [\(te.map { "\($0)" }.joined(separator: ", "))]
            \(align.map { "  align: \($0)" } ?? "")
            layers:
              v: { layer: grid30, resampling: bilinear, normalize: { linear: [0, 1] } }
            combine: { weighted-sum: { v: 1 } }
            classify: { scheme: four-colour, breaks: [0.25, 0.5, 0.75] }
            outputs: { directory: out/unaligned, products: [risk-index] }

            """)
        return (p, job, te)
    }

    func geoTransformAndSize(_ path: String) throws -> ([Double], Int, Int) {
        let ds = try Dataset(open: path, flags: [.raster])
        return (try #require(ds.geoTransform), ds.width, ds.height)
    }

    @Test func anExplicitUnalignedExtentGivesGdalwarpsGridAndTheRasterOnItIsNotResampled() throws {
        let (p, job, te) = try project(align: nil)
        let result = try Runner(plan: try Planner().resolve(try JobLoader().load(job)), options: RunOptions(threads: 2)).run()
        let warped = p.path("warped.tif")
        try shell("/usr/bin/gdalwarp", ["-q", "-te"] + te.map { "\($0)" } + ["-tr", "30", "30", "-r", "bilinear", p.path("layers/grid30.tif"), warped])
        let ours = try geoTransformAndSize("\(result.runDirectory)/risk_index.tif"), theirs = try geoTransformAndSize(warped)
        #expect(ours.0 == theirs.0 && ours.1 == theirs.1 && ours.2 == theirs.2, "\(ours) vs gdalwarp \(theirs)")
        #expect(ours.0 == [te[0], 30, 0, te[3], 0, -30] && ours.1 == 97 && ours.2 == 61)
        // The layer already on that grid comes through unchanged (bilinear at the same pixel centres).
        #expect(try readFloat("\(result.runDirectory)/risk_index.tif") == (try readFloat(p.path("layers/grid30.tif"))))
        #expect(try readFloat(warped) == (try readFloat(p.path("layers/grid30.tif"))))

        // A gdalwarp -te whose size is not a whole number of pixels: gdalwarp's rounding.
        let odd = [te[0], te[1], te[2] - 14, te[3] + 16]
        let g = GridGeometry.exact(minX: odd[0], minY: odd[1], maxX: odd[2], maxY: odd[3], resolution: 30)
        let warpedOdd = p.path("warped-odd.tif")
        try shell("/usr/bin/gdalwarp", ["-q", "-te"] + odd.map { "\($0)" } + ["-tr", "30", "30", p.path("layers/grid30.tif"), warpedOdd])
        let o = try geoTransformAndSize(warpedOdd)
        #expect(g.geoTransform == o.0 && g.width == o.1 && g.height == o.2, "\(g) vs \(o)")
    }

    @Test func mapTitlesNameTheHazardOfTheJob() throws {
        let (p, job, _) = try project(align: nil)
        func kind(_ hazard: String?) throws -> String {
            try p.write("layers/grid30.yaml", "source: grid30.tif\n" + (hazard.map { "hazard: \($0)\n" } ?? ""))
            let (zh, en) = MapMaker(plan: try Planner().resolve(try JobLoader().load(job)), runID: "r").riskKind
            return zh + "风险等级 " + en + "risk level"
        }
        #expect(try kind("flood") == "洪水风险等级 flood risk level")
        #expect(try kind("seismic") == "地震风险等级 seismic risk level")
        #expect(try kind(nil) == "风险等级 risk level")
    }

    @Test func alignResolutionSnapsTheExtentLikeTap() throws {
        let (p, job, te) = try project(align: "resolution")
        let plan = try Planner().resolve(try JobLoader().load(job))
        let tap = p.path("tap.tif")
        try shell("/usr/bin/gdalwarp", ["-q", "-tap", "-te"] + te.map { "\($0)" } + ["-tr", "30", "30", p.path("layers/grid30.tif"), tap])
        let theirs = try geoTransformAndSize(tap)
        #expect(plan.grid.geoTransform == theirs.0 && plan.grid.width == theirs.1 && plan.grid.height == theirs.2)
        #expect(plan.grid.width == 98 && plan.grid.height == 62, "one pixel larger each way when snapped")
    }

    @Test func census30sPresetIsTheNationalGridWithCornersOnWholeHalfMinutes() throws {
        let p = try Project()
        // A small EPSG:4490 raster (0.001°) with corners on no particular multiple.
        let w = 40, h = 30
        try p.raster("layers/small.tif", width: w, height: h, geoTransform: [107.5037, 0.001, 0, 39.6218, 0, -0.001], crs: "EPSG:4490",
                     nodata: nil, values: (0..<(w * h)).map { Float($0 % 10) / 10 })
        try p.write("layers/small.yaml", "source: small.tif\n")
        let job = try p.write("jobs/census.yaml", """
            version: 1
            name: census
            grid:
              preset: census-30s
              extent: small
            layers:
              v: { layer: small, normalize: { linear: [0, 1] } }
            combine: { weighted-sum: { v: 1 } }
            classify: { scheme: four-colour, breaks: [0.25, 0.5, 0.75] }
            outputs: { directory: out/census, products: [risk-index, risk-class] }

            """)
        let result = try Runner(plan: try Planner().resolve(try JobLoader().load(job)), options: RunOptions(threads: 1)).run()
        let info = try shell("/usr/bin/gdalinfo", ["\(result.runDirectory)/risk_class.tif"])
        #expect(info.contains("ID[\"EPSG\",4490]"))
        #expect(info.contains("Pixel Size = (0.008333333333333,-0.008333333333333)"), "\(info)")
        let corners = info.split(separator: "\n").filter { line in
            ["Upper Left", "Lower Left", "Upper Right", "Lower Right"].contains { line.hasPrefix($0) }
        }
        #expect(corners.count == 4)
        for line in corners {
            // gdalinfo prints each corner as d°m's.ss" twice (longitude, latitude).
            let seconds = line.matches(of: /(\d+)d\s*(\d+)'\s*(\d+\.\d+)"/).map { String($0.output.3) }
            #expect(seconds.count == 2 && seconds.allSatisfy { $0 == "0.00" || $0 == "30.00" }, "\(line)")
        }
        // Snapped outwards: 107.5037 → 107°30'0" (107.5), 39.6218 → 39°37'30" (39.625), …
        let gt = try #require(try Dataset(open: "\(result.runDirectory)/risk_class.tif").geoTransform)
        #expect(gt[0] == 107.5 && gt[3] == 39.625)
        let ds = try Dataset(open: "\(result.runDirectory)/risk_class.tif")
        #expect(ds.width == 6 && ds.height == 4, "\(ds.width)×\(ds.height): 107.5…107.55, 39.591667…39.625")
    }

    @Test func thePresetRefusesItsOwnCrsResolutionAndAlignAtTheirPositions() throws {
        let p = try Project()
        try p.raster("layers/small.tif", width: 4, height: 4, geoTransform: [107.5, 0.01, 0, 39.6, 0, -0.01], crs: "EPSG:4490",
                     nodata: nil, values: [Float](repeating: 0.5, count: 16))
        try p.write("layers/small.yaml", "source: small.tif\n")
        let job = try p.write("jobs/bad.yaml", """
            version: 1
            name: bad
            grid:
              preset: census-30s
              crs: EPSG:4545
              resolution: 30
              align: none
              extent: small
            layers:
              v: { layer: small, normalize: { linear: [0, 1] } }
            combine: { weighted-sum: { v: 1 } }
            classify: { scheme: four-colour, breaks: [0.25, 0.5, 0.75] }
            outputs: { directory: out/bad }

            """)
        do {
            _ = try JobLoader().load(job)
            Issue.record("the job must be refused")
        } catch let error as DiagnosticsError {
            let text = error.description
            #expect(text.contains("bad.yaml:5:3: error: grid.crs: grid.preset census-30s fixes the grid"), "\(text)")
            #expect(text.contains("bad.yaml:6:3: error: grid.resolution: grid.preset census-30s fixes the grid"), "\(text)")
            #expect(text.contains("bad.yaml:7:10: error: grid.align: grid.preset census-30s snaps every corner outwards to 30″"), "\(text)")
        }
        // An unknown align value and a grid without crs are refused where they are written.
        let bad2 = try p.write("jobs/bad2.yaml", """
            version: 1
            name: bad2
            grid:
              resolution: 30
              align: tap
              extent: [0, 0, 300, 300]
            layers:
              v: { layer: small, normalize: { linear: [0, 1] } }
            combine: { weighted-sum: { v: 1 } }
            classify: { scheme: four-colour, breaks: [0.25, 0.5, 0.75] }
            outputs: { directory: out/bad2 }

            """)
        do {
            _ = try JobLoader().load(bad2)
            Issue.record("the job must be refused")
        } catch let error as DiagnosticsError {
            let text = error.description
            #expect(text.contains("bad2.yaml:5:10: error: grid.align: unknown align \"tap\""), "\(text)")
            #expect(text.contains("bad2.yaml:4:3: error: grid: missing required key \"crs\" (or preset: census-30s)"), "\(text)")
        }
    }
}
