import Foundation
import GDALKit
import RasterKernel
import Testing
@testable import Zoning

/// The class-stability analysis against a numpy recomputation of every scenario over layers
/// aligned by GDAL's command-line tools.
@Suite(.serialized) struct SensitivityTests {
    /// The pipeline fixture plus two townships (west and east of a diagonal) and `sensitivity:`.
    func fixture(sensitivity: String, method: String? = nil) throws -> Fixture {
        let fx = try Fixture(errorThreshold: 0)
        let (x0, y0, x1, y1) = (Fixture.xmin - 100, Fixture.ymin - 100, Fixture.xmax + 100, Fixture.ymax + 100)
        let xm = (x0 + x1) / 2
        func polygon(_ id: Int, _ name: String, _ ring: [(Double, Double)]) -> String {
            let coords = (ring + [ring[0]]).map { "[\($0.0),\($0.1)]" }.joined(separator: ",")
            return "{\"type\":\"Feature\",\"properties\":{\"tid\":\(id),\"name\":\"\(name)\"},\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[\(coords)]]}}"
        }
        try fx.project.vector("layers/towns.gpkg", layer: "towns", crs: "EPSG:4545", geojson: """
            {"type":"FeatureCollection","features":[\(polygon(1, "西镇", [(x0, y0), (xm - 1500, y0), (xm + 1500, y1), (x0, y1)])),
            \(polygon(2, "东镇", [(xm - 1500, y0), (x1, y0), (x1, y1), (xm + 1500, y1)]))]}
            """)
        try fx.project.write("layers/towns.yaml", "source: towns.gpkg\nlayer: towns\n")
        var job = try String(contentsOfFile: fx.jobPath, encoding: .utf8)
            .replacingOccurrences(of: "products: [risk-index, risk-class]", with: "products: [risk-index, risk-class, sensitivity]")
        if let method {
            job = job.replacingOccurrences(of: "breaks: [0.25, 0.5, 0.75]", with: "method: \(method)")
        }
        job += "\nzoning:\n  townships: { layer: towns, name: name }\nsensitivity: \(sensitivity)\n"
        try fx.project.write("jobs/fixture.yaml", job)
        return fx
    }

    /// numpy: every one-at-a-time scenario of the fixture's weighted sum (Float32, in the kernel's
    /// order), classified with the given breaks per scenario; stability, range and township levels.
    static let oracle = """
        import sys, json, numpy as np
        from osgeo import gdal
        w, run = sys.argv[1], sys.argv[2]
        breaks = json.loads(sys.argv[3])
        rd = lambda p: gdal.Open(p).ReadAsArray()
        A, B, C, D = (rd(f"{w}/{n}.tif") for n in ("flood", "fire", "seismic", "mask"))
        T = rd(f"{w}/towns.tif")
        f32 = np.float32
        flood = np.interp(A, [0, 0.5, 1.5, 3.0], [0, 0.3, 0.7, 1.0]).astype(f32)
        fire = np.clip((B.astype(f32) - f32(0)) * f32(1 / 100), f32(0), f32(1))
        seis = np.select([np.abs(C - f32(v)) <= 1e-5 for v in (0.05, 0.10, 0.15, 0.20)], [0.25, 0.5, 0.75, 1.0], 0).astype(f32)
        valid = np.isfinite(A) & np.isfinite(B) & np.isfinite(C) & (D != 0)
        base = np.array([0.45, 0.25, 0.30])
        scen = []
        for j in range(3):
            for s in (-1, 1):
                x = base.copy(); x[j] *= 1 + s * 0.2; scen.append(x / x.sum())
        base_class = rd(f"{run}/risk_class.tif")
        classes, near, idx = [], np.zeros(A.shape, bool), []
        for k, x in enumerate(scen):
            i = flood * f32(x[0]) + fire * f32(x[1]) + seis * f32(x[2])
            b = breaks[k]
            c = 1 + sum((i >= f32(t)).astype(np.int32) for t in b)
            for t in b: near |= np.abs(i.astype(np.float64) - t) < 1e-5
            classes.append(np.where(valid, c, 0)); idx.append(i)
        same = sum((c == base_class).astype(np.int32) for c in classes)
        stability = np.where(base_class > 0, np.rint(100 * same / len(scen)), 255).astype(np.int32)
        lo = np.min(np.stack(classes), axis=0); hi = np.max(np.stack(classes), axis=0)
        rng = np.where(base_class > 0, 10 * lo + hi, 0)
        ours_s, ours_r = rd(f"{run}/class_stability.tif"), rd(f"{run}/class_range.tif")
        ok = ~near
        out = {"stability_diff": int(np.sum((ours_s != stability) & ok)), "range_diff": int(np.sum((ours_r != rng) & ok)),
               "near": int(np.sum(near & valid)), "valid": int(np.sum(base_class > 0)), "towns": {}}
        for t in (1, 2):
            m = (T == t) & (base_class > 0)
            n = int(m.sum())
            levels = []
            for k in range(len(scen)):
                mean = float(np.mean(idx[k][m].astype(np.float64)))
                levels.append(1 + sum(mean >= v for v in breaks[k]))
            out["towns"][str(t)] = {"valid": n, "stable": 100 * float(np.sum(ours_s[m] == 100)) / n,
                                     "ge80": 100 * float(np.sum(ours_s[m] >= 80)) / n, "lt50": 100 * float(np.sum(ours_s[m] < 50)) / n,
                                     "levels": levels}
        print(json.dumps(out))
        """

    func align(_ fx: Fixture) throws -> String {
        let work = fx.project.path("oracle")
        if FileManager.default.fileExists(atPath: "\(work)/towns.tif") { return work }
        try fx.alignWithGDAL(into: work)
        try shell("/usr/bin/gdal_rasterize", ["-q", "-a", "tid", "-l", "towns"] + Fixture.targetExtent
            + ["-ot", "UInt16", "-init", "0", fx.project.path("layers/towns.gpkg"), "\(work)/towns.tif"])
        return work
    }

    func check(_ fx: Fixture, result: RunResult) throws {
        let info = try #require(result.manifest.sensitivity)
        #expect(info.scenarios.count == 6 && info.scenarios.map(\.member) == ["flood", "flood", "fire", "fire", "seismic", "seismic"])
        #expect(abs(info.scenarios[0].weights[0] - 0.36 / 0.91) < 1e-12)
        let breaks = info.scenarios.map(\.breaks)
        let json = String(decoding: try JSONEncoder().encode(breaks), as: UTF8.self)
        let out = try shell("/usr/bin/python3", ["-c", SensitivityTests.oracle, try align(fx), result.runDirectory, json])
        let o = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        #expect(o["stability_diff"] as? Int == 0 && o["range_diff"] as? Int == 0, "\(out)")
        #expect((o["valid"] as! Int) > 30_000 && (o["near"] as! Int) < 200, "\(out)")
        #expect(info.validPixels == o["valid"] as? Int)
        let rows = try JSONDecoder.snake.decode([TownshipSensitivity].self,
                                                from: Data(contentsOf: URL(fileURLWithPath: "\(result.runDirectory)/sensitivity.json")))
        let towns = o["towns"] as! [String: [String: Any]]
        #expect(rows.map(\.name) == ["西镇", "东镇"])
        for row in rows {
            let t = towns["\(row.id)"]!
            #expect(row.validPixels == t["valid"] as? Int)
            #expect(abs(row.stablePercent - (t["stable"] as! Double)) < 1e-9)
            #expect(abs(row.atLeast80Percent - (t["ge80"] as! Double)) < 1e-9)
            #expect(abs(row.below50Percent - (t["lt50"] as! Double)) < 1e-9)
            #expect(row.scenarioLevels == (t["levels"] as! [Int]).map { Optional($0) }, "\(row.name): \(row.scenarioLevels) vs numpy \(t["levels"]!)")
            #expect(row.levelChanges == (Set(row.scenarioLevels + [row.level]).count > 1))
        }
        // The COG, its colour ramp and nodata, and the QGIS style.
        let gdalinfo = try shell("/usr/bin/gdalinfo", ["\(result.runDirectory)/class_stability.tif"])
        #expect(gdalinfo.contains("NoData Value=255") && gdalinfo.contains("100: 26,150,65,255") && gdalinfo.contains("0: 215,25,28,255"))
        #expect(FileManager.default.fileExists(atPath: "\(result.runDirectory)/class_stability.qml"))
        // Streamed by the workers: valid COGs whose overviews are what GDAL's COG driver makes of
        // the same base pixels (NEAREST), with the band's tags and colour table.
        for file in ["class_stability.tif", "class_range.tif"] {
            let path = "\(result.runDirectory)/\(file)", gdal = "\(fx.project.path("gdal-\(file)"))"
            let check = try shell("/usr/bin/python3", ["/usr/lib/python3/dist-packages/osgeo_utils/samples/validate_cloud_optimized_geotiff.py",
                                                       "--full-check=yes", path])
            #expect(check.contains("is a valid cloud optimized GeoTIFF"), "\(file): \(check)")
            try shell("/usr/bin/gdal_translate", ["-q", "-of", "COG", "-co", "COMPRESS=DEFLATE", "-co", "BLOCKSIZE=512",
                                                  "-co", "OVERVIEW_RESAMPLING=NEAREST", path, gdal])
            let same = try shell("/usr/bin/python3", ["-c", """
                from osgeo import gdal
                a, b = gdal.Open('\(path)'), gdal.Open('\(gdal)')
                x, y = a.GetRasterBand(1), b.GetRasterBand(1)
                print(x.GetOverviewCount() == y.GetOverviewCount() and x.ReadRaster() == y.ReadRaster()
                      and all(x.GetOverview(i).ReadRaster() == y.GetOverview(i).ReadRaster() for i in range(x.GetOverviewCount()))
                      and x.GetNoDataValue() == y.GetNoDataValue() and x.GetDescription() == y.GetDescription()
                      and (x.GetColorTable() is None) == (y.GetColorTable() is None), x.GetOverviewCount())
                """])
            #expect(same.hasPrefix("True"), "\(file): \(same)")
        }
    }

    @Test func oneAtATimeScenariosEqualNumpy() throws {
        let fx = try fixture(sensitivity: "{ perturb: 0.2 }")
        let result = try Runner(plan: try fx.plan(), options: RunOptions(threads: 2)).run()
        let info = try #require(result.manifest.sensitivity)
        #expect(info.scenarios.allSatisfy { $0.breaks == Fixture.breaks })   // fixed breaks stay fixed
        try check(fx, result: result)
    }

    @Test func dataDrivenBreaksAreRecomputedPerScenario() throws {
        let fx = try fixture(sensitivity: "{ perturb: 0.2 }", method: "standard-deviation")
        let result = try Runner(plan: try fx.plan(), options: RunOptions(threads: 2)).run()
        let info = try #require(result.manifest.sensitivity)
        #expect(Set(info.scenarios.map(\.breaks)).count == 6)
        // Each scenario's breaks: the mean and ±1σ (four classes) of its own index (numpy over the GDAL-aligned layers).
        let script = """
            import sys, json, numpy as np
            from osgeo import gdal
            w = sys.argv[1]
            rd = lambda n: gdal.Open(f"{w}/{n}.tif").ReadAsArray()
            A, B, C, D = rd("flood"), rd("fire"), rd("seismic"), rd("mask")
            f32 = np.float32
            flood = np.interp(A, [0, 0.5, 1.5, 3.0], [0, 0.3, 0.7, 1.0]).astype(f32)
            fire = np.clip(B.astype(f32) * f32(1 / 100), f32(0), f32(1))
            seis = np.select([np.abs(C - f32(v)) <= 1e-5 for v in (0.05, 0.10, 0.15, 0.20)], [0.25, 0.5, 0.75, 1.0], 0).astype(f32)
            valid = np.isfinite(A) & np.isfinite(B) & np.isfinite(C) & (D != 0)
            out = []
            for j in range(3):
                for s in (-1, 1):
                    x = np.array([0.45, 0.25, 0.30]); x[j] *= 1 + s * 0.2; x /= x.sum()
                    i = (flood * f32(x[0]) + fire * f32(x[1]) + seis * f32(x[2]))[valid].astype(np.float64)
                    m, sd = i.mean(), i.std()
                    out.append([m - sd, m, m + sd])   # four classes: the mean and ±1σ
            print(json.dumps(out))
            """
        let numpy = try JSONSerialization.jsonObject(with: Data(try shell("/usr/bin/python3", ["-c", script, try align(fx)]).utf8)) as! [[Double]]
        for (ours, theirs) in zip(info.scenarios.map(\.breaks), numpy) {
            #expect(zip(ours, theirs).allSatisfy { abs($0 - $1) < 2e-6 }, "\(ours) vs numpy \(theirs)")
        }
        try check(fx, result: result)
    }

    @Test func monteCarloScenariosAreTheSameWhateverTheThreadCount() throws {
        let fx = try fixture(sensitivity: "{ perturb: 0.1, samples: 5, seed: 42, concentration: 50 }")
        var seen: [String] = []
        for threads in [1, 2, 5] {
            let plan = try Planner().resolve(try JobLoader().load(fx.jobPath), outputDirectory: fx.project.path("out/t\(threads)"))
            let result = try Runner(plan: plan, options: RunOptions(threads: threads)).run()
            let info = try #require(result.manifest.sensitivity)
            #expect(info.scenarios.count == 11 && info.scenarios.suffix(5).allSatisfy { $0.kind == "dirichlet" })
            #expect(info.scenarios.suffix(5).allSatisfy { abs($0.weights.reduce(0, +) - 1) < 1e-12 && $0.weights != info.baselineWeights })
            let stability = try readBytes("\(result.runDirectory)/class_stability.tif")
            let range = try readBytes("\(result.runDirectory)/class_range.tif")
            let table = try String(contentsOfFile: "\(result.runDirectory)/sensitivity.csv", encoding: .utf8)
            seen.append(SHA256.hex(Data(stability)) + SHA256.hex(Data(range)) + SHA256.hex(Data(table.utf8))
                        + "\(info.scenarios.map(\.weights))")
        }
        #expect(Set(seen).count == 1)
        // A different seed draws different weights.
        let a = WeightScenarios.dirichlet([0.45, 0.25, 0.30], concentration: 50, samples: 3, seed: 42)
        let b = WeightScenarios.dirichlet([0.45, 0.25, 0.30], concentration: 50, samples: 3, seed: 43)
        #expect(a != b && a == WeightScenarios.dirichlet([0.45, 0.25, 0.30], concentration: 50, samples: 3, seed: 42))
    }

    /// Issue 21: `samples: 10000` (the documented maximum) with data-driven breaks held every
    /// weight set's index histogram (80 KB) in each unit in flight and again in total, 1.6 GB
    /// and more whatever the grid, against a 256 MiB budget: under an address limit the run
    /// aborted. A batch of weight sets a pass now fits the budget (`SensitivityMemory`); a run
    /// limited to 1 GiB of address space (ulimit -v, in a child process) publishes every scenario.
    @Test func tenThousandSamplesRunUnderAnAddressLimit() throws {
        let fx = try fixture(sensitivity: "{ perturb: 0.2, samples: 10000, seed: 5 }", method: "equal-interval")
        // 10 × 8 pixels across both townships: what is measured is the memory of 10 007 weight
        // sets, not of their pixels (each a kernel run, slow in a debug build).
        let job = try String(contentsOfFile: fx.jobPath, encoding: .utf8)
            .replacingOccurrences(of: #"extent: \[[^\]]*\]"#, with: "extent: [499300, 4403000, 499600, 4403240]", options: .regularExpression)
        try fx.project.write("jobs/fixture.yaml", job)
        let (status, reason, _, err) = try runProcessWithTimeout(
            "/bin/sh", ["-c", "ulimit -v 1048576 && exec \"$0\" run \"$1\" --threads 2", BadInputTests.executable, fx.jobPath], seconds: 120)
        #expect(reason == .exit && status == 0, "\(status) \(err)")
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: fx.project.path("out/fixture/latest/manifest.json"))))
        let scenarios = ((manifest as? [String: Any])?["sensitivity"] as? [String: Any])?["scenarios"] as? [[String: Any]]
        #expect(scenarios?.count == 10_006 && scenarios?.last?["kind"] as? String == "dirichlet")
        let table = try String(contentsOfFile: fx.project.path("out/fixture/latest/sensitivity.csv"), encoding: .utf8)
        #expect(table.split(separator: "\n").first?.hasSuffix(",level_scenario_10006") == true)
    }

    @Test func dirichletDrawsAreCentredOnTheBaseline() {
        let draws = WeightScenarios.dirichlet([0.5, 0.3, 0.2], concentration: 100, samples: 4000, seed: 9)
        for j in 0..<3 {
            let values = draws.map { $0.weights[j] }
            let mean = values.reduce(0, +) / Double(values.count)
            let expected = [0.5, 0.3, 0.2][j]
            // Var = w(1 − w)/(c + 1): the mean of 4000 draws is within 4 standard errors.
            let se = (expected * (1 - expected) / 101 / 4000).squareRoot()
            #expect(abs(mean - expected) < 4 * se, "member \(j): mean \(mean)")
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1)
            #expect(abs(variance - expected * (1 - expected) / 101) < 0.15 * expected * (1 - expected) / 101, "member \(j): variance \(variance)")
        }
    }

    @Test func validation() throws {
        let fx = try Fixture()
        let base = try String(contentsOfFile: fx.jobPath, encoding: .utf8)
            .replacingOccurrences(of: "products: [risk-index, risk-class]", with: "products: [risk-index, risk-class, sensitivity]")
        func errors(_ extra: String, combine: String? = nil) throws -> [String] {
            var text = base + "\nsensitivity: \(extra)\n"
            if let combine { text = text.replacingOccurrences(of: "weighted-sum: { flood: 0.45, fire: 0.25, seismic: 0.30 }", with: combine) }
            let path = try fx.project.write("jobs/s.yaml", text)
            let error = try #require(throws: DiagnosticsError.self) { try JobLoader().load(path) }
            return error.diagnostics.map { "\($0.line):\($0.column) \($0.message)" }
        }
        let line = base.split(separator: "\n", omittingEmptySubsequences: false).count + 1
        let zero = try errors("{ perturb: 0 }")
        #expect(zero.count == 1 && zero[0].hasPrefix("\(line):25 ") && zero[0].contains("strictly between 0 and 1"), "\(zero)")
        #expect(try errors("{ perturb: 1.5 }")[0].contains("strictly between 0 and 1"))
        let samples = try errors("{ perturb: 0.2, samples: -3 }")
        #expect(samples.count == 1 && samples[0].hasPrefix("\(line):39 ") && samples[0].contains("0 to 10000"), "\(samples)")
        let product = try errors("{ perturb: 0.2 }", combine: "product: [flood, fire, seismic]")
        #expect(product.count == 1 && product[0].hasPrefix("\(line):14 ") && product[0].contains("has none"), "\(product)")
        let unknown = try errors("{ perturb: 0.2, index: hazrd }")
        #expect(unknown.count == 1 && unknown[0].contains("no combination named \"hazrd\""), "\(unknown)")
    }
}
