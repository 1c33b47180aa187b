import Foundation
import FilePaths
import GDALKit
import Logging
import Testing
@testable import Zoning

/// A job on the census standard grid (`CensusGrid`) writing a census package: a hazard raster on
/// the standard grid's own cells (so the index is the raster's value), an exposure raster, the
/// hazard product 01 with fixed breaks, a risk product and a hazard shapefile.
struct CensusJob {
    static let hazardBreaks = [0.25, 0.5, 0.75]
    let grid: CensusGrid
    var project: Project { grid.project }
    var jobPath: String { project.path("jobs/census.yaml") }
    /// The hazard values on the standard grid, row-major.
    let hazard: [Float]

    init(hole: (Int, Int)? = nil, width: Int = 14, height: Int = 12, blockSize: Int = 512, edgeCodes: Bool = false) throws {
        grid = try CensusGrid(project: try Project(), width: width, height: height, edgeCodes: edgeCodes)
        let w = width, h = height
        var values = [Float](repeating: 0, count: w * h)
        for r in 0..<h { for c in 0..<w { values[r * w + c] = Float((c * 7 + r * 5) % 20) / 19 } }
        if let (c, r) = hole { values[r * w + c] = -9999 }
        hazard = values
        let gt = [CensusGrid.x0, CensusGrid.cell, 0, CensusGrid.y0, 0, -CensusGrid.cell]
        try project.raster("layers/h.tif", width: w, height: h, geoTransform: gt, crs: "EPSG:4490", nodata: -9999, values: values)
        try project.raster("layers/p.tif", width: w, height: h, geoTransform: gt, crs: "EPSG:4490", nodata: -9999,
                           values: (0..<(w * h)).map { Float($0 % 11) / 10 })
        try project.write("layers/standard-grid.yaml", "source: standard-grid.tif\n")
        try project.write("layers/h.yaml", "source: h.tif\n")
        try project.write("layers/p.yaml", "source: p.tif\n")
        try project.write("jobs/census.yaml", CensusJob.text(grid: "  standard-grid: standard-grid\n  admin-code: \"150625\"\n  block-size: \(blockSize)\n"))
    }

    static func text(grid: String = "  standard-grid: standard-grid\n  admin-code: \"150625\"\n", census: String? = nil) -> String {
        """
        version: 1
        name: census
        grid:
        \(grid)layers:
          h: { layer: h, normalize: { linear: [0, 1] } }
          p: { layer: p, normalize: { linear: [0, 1] } }
        indices:
          hazard: { maximum: [h] }
          people: { geometric-mean: { hazard: 0.5, p: 0.5 } }
        combine: { maximum: [people] }
        classify: { scheme: census-five, breaks: [0.2, 0.4, 0.6, 0.8] }
        outputs:
          directory: out/census
          products: [risk-index, risk-class]
        \(census ?? """
          census:
            hazard-code: BY
            products:
              - { code: "01", index: hazard, scheme: hazard-four, breaks: [0.25, 0.5, 0.75] }
              - { code: "02", index: risk }
              - { code: "10", index: hazard, scheme: hazard-four, breaks: [0.25, 0.5, 0.75], format: shp }
        """)
        """
    }
}

@Suite struct CensusPackageTests {
    @Test func aRunWritesAPackageThatPassesTheCensusCheck() throws {
        let job = try CensusJob()
        let (status, _, err) = try runProcess(BadInputTests.executable, ["run", job.jobPath])
        #expect(status == 0, "\(err)")
        let census = job.project.path("out/census/latest/census")
        let files = ["BY_P_01_150625_01.tif", "BY_P_02_150625_01.tif", "BY_P_10_150625_01.shp"].map { census.appendingComponent($0) }
        let (check, out, _) = try runProcess(BadInputTests.executable, ["census-check", "--standard-grid", job.grid.path] + files)
        #expect(check == 0, "\(out)")
        #expect(out == "PASS BY_P_01_150625_01.tif\nPASS BY_P_02_150625_01.tif\nPASS BY_P_10_150625_01.shp\n")
        let qc = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: census.appendingComponent("QC.json")))) as! [String: Any]
        #expect(qc["passed"] as? Bool == true)
        let report = try String(contentsOfFile: census.appendingComponent("质检报告 QC report.txt"), encoding: .utf8)
        #expect(report.contains("PASS 通过 BY_P_10_150625_01.shp") && report.contains("✓ [prj] .prj 为 CGCS2000(EPSG:4490) / .prj is CGCS2000 (EPSG:4490)"))

        // The hazard product: class = 1 + number of breaks ≤ the hazard value, at the county's cells only.
        let k = job.grid.county
        let w = k.c1 - k.c0 + 1
        let classes = try readBytes(files[0])
        var expected = [UInt8](repeating: 0, count: classes.count)
        for i in expected.indices {
            let c = k.c0 + i % w, r = k.r0 + i / w
            guard job.grid.codes[r * job.grid.width + c] / 1000 == 150_625 else { continue }
            let v = Double(job.hazard[r * job.grid.width + c])
            expected[i] = 1 + UInt8(CensusJob.hazardBreaks.filter { v >= $0 }.count)
        }
        #expect(classes == expected)
        let dbf = try shell("/usr/bin/ogrinfo", ["-q", "-sql", "SELECT SUM(OGR_GEOM_AREA) AS a, MIN(class) AS lo, MAX(class) AS hi FROM BY_P_10_150625_01", files[2]])
        #expect(dbf.contains("lo (Integer) = 1") && dbf.contains("hi (Integer) = 4"), "\(dbf)")
    }

    /// The grid and mask of `grid.standard-grid` are those gdal and numpy compute from the standard
    /// grid: the envelope of the cells whose code // 1000 is 150625, and exactly those cells.
    @Test func theStandardGridGridAndMaskAreTheCountysCells() throws {
        let job = try CensusJob(edgeCodes: true)
        try shell(BadInputTests.executable, ["run", job.jobPath])
        let script = """
            import sys, json, numpy as np
            from osgeo import gdal
            ds = gdal.Open(sys.argv[1]); a = ds.GetRasterBand(1).ReadAsArray().astype(np.int64); gt = ds.GetGeoTransform()
            rows, cols = np.nonzero(a // 1000 == 150625)
            r0, r1, c0, c1 = rows.min(), rows.max(), cols.min(), cols.max()
            cut = gdal.Translate("/vsimem/cut.tif", ds, srcWin=[int(c0), int(r0), int(c1 - c0 + 1), int(r1 - r0 + 1)])
            mask = (cut.GetRasterBand(1).ReadAsArray().astype(np.int64) // 1000 == 150625).astype(int)
            print(json.dumps({"gt": cut.GetGeoTransform(), "mask": mask.flatten().tolist(), "w": cut.RasterXSize, "h": cut.RasterYSize}))
            """
        let oracle = try JSONSerialization.jsonObject(with: Data(try shell("/usr/bin/python3", ["-c", script, job.grid.path]).utf8)) as! [String: Any]
        let ds = try Dataset(open: job.project.path("out/census/latest/risk_class.tif"), flags: [.raster])
        #expect(ds.width == oracle["w"] as! Int && ds.height == oracle["h"] as! Int)
        for (a, b) in zip(ds.geoTransform!, oracle["gt"] as! [Double]) { #expect(abs(a - b) < 1e-12) }
        let classes = try readBytes(job.project.path("out/census/latest/risk_class.tif"))
        #expect(classes.map { $0 > 0 ? 1 : 0 } == oracle["mask"] as! [Int])
        // The cells of codes 150625000 and 150625999 are in, those of 150624999 and 150626000 out.
        let codes = Array(job.grid.codes)
        let k = job.grid.county
        for edge: Int32 in [150_625_000, 150_625_999, 150_624_999, 150_626_000] {
            let i = try #require(codes.firstIndex(of: edge))
            let (c, r) = (i % job.grid.width - k.c0, i / job.grid.width - k.r0)
            #expect((classes[r * ds.width + c] > 0) == (edge / 1000 == 150_625), "code \(edge)")
        }
    }

    @Test func aPackageFailingTheCheckFailsTheRunAndPublishesNothing() throws {
        let grid = try CensusGrid(project: try Project())
        let k = grid.county
        let hole = ((k.c0 + k.c1) / 2, (k.r0 + k.r1) / 2)
        let job = try CensusJob(hole: hole)
        let (status, _, err) = try runProcess(BadInputTests.executable, ["run", job.jobPath])
        #expect(status == 65)
        let x = CensusGrid.x0 + (Double(hole.0) + 0.5) / 120, y = CensusGrid.y0 - (Double(hole.1) + 0.5) / 120
        #expect(err.contains("outputs.census: the package fails the census check, nothing was published"), "\(err)")
        #expect(err.contains(String(format: "1 cell(s) of county 150625 have no data (centres %.6f, %.6f)", x, y)), "\(err)")
        let out = job.project.path("out/census")
        let left = (try? FileManager.default.contentsOfDirectory(atPath: out))?.filter { !$0.hasPrefix(".") && $0 != "risk-database.gpkg" } ?? []
        #expect(left.isEmpty, "\(left)")
    }

    /// Every file of the package is byte-identical whatever the thread count (16-px blocks, 4 × 4).
    @Test func thePackageIsTheSameWhateverTheThreadCount() throws {
        let job = try CensusJob(width: 70, height: 60, blockSize: 16)
        var packages: [[String: Data]] = []
        for threads in ["1", "3"] {
            let out = job.project.path("out/t\(threads)")
            try shell(BadInputTests.executable, ["run", job.jobPath, "--threads", threads, "--output", out])
            let census = out.appendingComponent("latest/census")
            let names = try FileManager.default.contentsOfDirectory(atPath: census).sorted()
            packages.append(Dictionary(uniqueKeysWithValues: try names.map { ($0, try Data(contentsOf: URL(fileURLWithPath: census.appendingComponent($0)))) }))
        }
        #expect(packages[0].count == 9)   // 2 GeoTIFFs, 5 shapefile parts, QC.json, the report
        for (name, data) in packages[0] where name != "QC.json" && !name.hasSuffix(".txt") { #expect(packages[1][name] == data, "\(name)") }
        // The risk product is the run's risk classes.
        let risk = try readBytes(job.project.path("out/t1/latest/census/BY_P_02_150625_01.tif"))
        #expect(risk == (try readBytes(job.project.path("out/t1/latest/risk_class.tif"))))
        #expect(Set(risk).isSuperset(of: [0, 1, 2, 3, 4, 5]))
        let plan = try shell(BadInputTests.executable, ["plan", job.jobPath])
        #expect(StageListTests().stages(plan) == ["align", "statistics", "township grid", "compute", "classify", "export", "census",
                                                  "write", "record", "manifest"], "\(plan)")
        #expect(plan.contains("    BY_P_10_150625_01.shp: index hazard, hazard-four, breaks 0.25, 0.5, 0.75\n"), "\(plan)")
    }

    /// Two shards and their merge write the same package as one process (16-px blocks).
    @Test func aShardedRunWritesTheSamePackage() throws {
        let job = try CensusJob(width: 70, height: 60, blockSize: 16)
        let exe = BadInputTests.executable
        let single = job.project.path("out/single"), sharded = job.project.path("out/sharded")
        try shell(exe, ["run", job.jobPath, "--run-id", "r1", "--output", single, "--threads", "2"])
        for i in 0..<2 { try shell(exe, ["run", job.jobPath, "--shard", "\(i)/2", "--run-id", "r1", "--output", sharded, "--threads", "1"]) }
        try shell(exe, ["merge", job.jobPath, "--run-id", "r1", "--output", sharded])
        for name in ["BY_P_01_150625_01.tif", "BY_P_02_150625_01.tif", "BY_P_10_150625_01.shp", "BY_P_10_150625_01.dbf"] {
            let a = try Data(contentsOf: URL(fileURLWithPath: "\(single)/r1/census/\(name)"))
            #expect(a == (try Data(contentsOf: URL(fileURLWithPath: "\(sharded)/r1/census/\(name)"))), "\(name)")
        }
    }

    @Test func standardGridAndCensusKeysAreCheckedWithTheirPositions() throws {
        let job = try CensusJob()
        func errors(_ text: String) throws -> [Diagnostic] {
            try job.project.write("jobs/bad.yaml", text)
            let error = try #require(throws: DiagnosticsError.self) { try JobLoader().load(job.project.path("jobs/bad.yaml")) }
            return error.diagnostics
        }
        let crs = try errors(CensusJob.text(grid: "  standard-grid: standard-grid\n  admin-code: \"150625\"\n  crs: EPSG:4545\n"))
        #expect(crs.map { "\($0.line):\($0.column)" } == ["6:3"])
        #expect(crs.first?.message.contains("grid.standard-grid fixes the grid") == true && crs.first?.message.contains("remove grid.crs") == true)
        let noGrid = try errors(CensusJob.text(grid: "  crs: EPSG:4490\n  resolution: 0.008333333333333333\n  extent: [108, 39.9, 108.1, 40]\n"))
        #expect(noGrid.first?.message.contains("outputs.census needs the census standard grid") == true, "\(noGrid)")
        let census = """
              census:
                hazard-code: BY
                products:
                  - { code: "01", index: hazard }
                  - { code: "02", index: nothing }
            """
        let products = try errors(CensusJob.text(census: census))
        #expect(products.map { "\($0.line):\($0.column)" } == ["20:9", "21:30"], "\(products)")
        #expect(products[0].message.contains("is its hazard product, classes 1–4: scheme census-five has 5"))
        #expect(products[1].message.contains("unknown index \"nothing\"; expected risk (the combined index) or one of indices: hazard, people"))
    }
}

/// The township units of a standard grid are its 9-digit codes, joined by code to the townships
/// layer for names (ids in the layer's order).
@Suite struct StandardGridTownshipTests {
    func townships(_ job: CensusJob, features: [(code: String, name: String)]) throws -> JobSpec.Townships {
        let items = features.enumerated().map { i, f in
            let x = CensusGrid.x0 + Double(i) * 0.01
            return """
                {"type":"Feature","properties":{"name":"\(f.name)","census_code":"\(f.code)"},"geometry":{"type":"Polygon","coordinates":[[[\(x),39.9],[\(x + 0.01),39.9],[\(x + 0.01),40],[\(x),40],[\(x),39.9]]]}}
                """
        }
        try job.project.vector("layers/towns.gpkg", layer: "towns", crs: "EPSG:4490",
                               geojson: "{\"type\":\"FeatureCollection\",\"features\":[\(items.joined(separator: ","))]}")
        let file = try job.project.write("layers/towns.yaml", "source: towns.gpkg\n")
        let def = try #require(LayerDefinition.load(name: "towns", file: file, sink: DiagnosticSink()))
        var spec = JobSpec.Townships(definition: def, nameField: "name", level: .meanIndex)
        spec.codeField = "census_code"
        return spec
    }

    func stage(_ job: CensusJob) throws -> (TownshipGridStage, String) {
        let plan = try Planner().resolve(try JobLoader().load(job.jobPath))
        let work = job.project.path("work")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        return (TownshipGridStage(RunEnvironment(plan: plan, options: RunOptions(), logger: Logger(label: "test"))), work)
    }

    @Test func theTownshipGridIsTheGridsCodesJoinedByCode() throws {
        let job = try CensusJob()
        let spec = try townships(job, features: [("150625102", "东镇"), ("150625101", "西镇"), ("150625999", "无格网镇")])
        let (stage, work) = try stage(job)
        let grid = try stage.prepareStandardGridTownships(spec, work: work)
        #expect(grid.townships.names == ["东镇", "西镇", "无格网镇"])
        #expect(grid.townships.codes == ["150625102", "150625101", "150625999"])
        let ds = try Dataset(open: grid.raster, flags: [.raster])
        let ids = try ds.band(1).read(PixelWindow(x: 0, y: 0, width: ds.width, height: ds.height), as: Int32.self)
        let k = job.grid.county
        #expect(ds.width == k.c1 - k.c0 + 1 && ds.height == k.r1 - k.r0 + 1)
        var expected = [Int32](repeating: 0, count: ids.count)
        for i in expected.indices {
            let code = job.grid.codes[(k.r0 + i / ds.width) * job.grid.width + k.c0 + i % ds.width]
            expected[i] = code == 150_625_102 ? 1 : code == 150_625_101 ? 2 : 0
        }
        #expect(ids == expected)
        #expect(Set(ids) == [0, 1, 2])
    }

    @Test func aCodeOfTheGridNoFeatureHasIsNamed() throws {
        let job = try CensusJob()
        let spec = try townships(job, features: [("150625102", "东镇")])
        let (stage, work) = try stage(job)
        let error = try #require(throws: RunError.self) { try stage.prepareStandardGridTownships(spec, work: work) }
        #expect(error.message.contains("has cells of code(s) 150625101 in county 150625, which no feature has in field census_code"), "\(error.message)")
    }
}

/// A standard grid that is not one: each refused at `standard-grid:` with the reason.
@Suite struct StandardGridInputTests {
    @Test func aProjectedOrRemoteOrCountylessStandardGridIsRefused() throws {
        let job = try CensusJob()
        func messages(_ source: String) throws -> [String] {
            try job.project.write("layers/standard-grid.yaml", "source: \(source)\n")
            do { _ = try Planner().resolve(try JobLoader().load(job.jobPath)); return [] } catch let e as DiagnosticsError {
                return e.diagnostics.map { "\($0.line):\($0.column): \($0.message)" }
            } catch let e as RunError { return [e.message] }
        }
        try writeRaster(job.project.path("layers/projected.tif"), type: .int32, width: 4, height: 4,
                        geoTransform: [500_000, 30, 0, 4_400_000, 0, -30], nodata: 0, values: [Int32](repeating: 150_625_101, count: 16),
                        crs: "EPSG:4545")
        let projected = try messages("projected.tif")
        #expect(projected == ["4:18: grid.standard-grid: standard grid \(job.project.path("layers/projected.tif")) (layer standard-grid): expected a raster in a geographic CRS (CGCS2000, EPSG:4490)"], "\(projected)")
        #expect(try messages("/vsicurl/https://example.invalid/grid.tif").first?.contains("expected a local raster file") == true)
        try writeRaster(job.project.path("layers/other.tif"), type: .int32, width: 4, height: 4,
                        geoTransform: [108, 1.0 / 120, 0, 40, 0, -1.0 / 120], nodata: 0, values: [Int32](repeating: 150_626_101, count: 16))
        let other = try messages("other.tif")
        #expect(other.count == 1 && other[0].contains("other.tif: standard grid: no cell of county 150625 (no code 150625000–150625999)"), "\(other)")
        #expect(other.first?.contains("grid.standard-grid, admin-code 150625") == true)
    }
}
