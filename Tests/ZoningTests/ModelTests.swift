import Foundation
import GDALKit
import RasterKernel
import Testing
@testable import Zoning

/// The census risk model through the whole pipeline: min-max over the data, direction, nested
/// indices, entropy weights with a prior, an expression and standard-deviation breaks, against
/// numpy over layers aligned by GDAL's own command-line tools.
@Suite(.serialized) struct ModelTests {
    static let job = """
        version: 1
        name: model
        grid:
          crs: EPSG:4545
          resolution: 30
          extent: [\(Fixture.xmin), \(Fixture.ymin), \(Fixture.xmax), \(Fixture.ymax)]
          mask: study-area
          block-size: 64
        layers:
          flood:
            layer: flood-depth
            resampling: bilinear
            error-threshold: 0
            normalize: { curve: [[0, 0], [0.5, 0.3], [1.5, 0.7], [3.0, 1.0]] }
          fire:
            layer: fire-danger
            resampling: bilinear
            error-threshold: 0
            normalize: { min-max: data }
          dryness:
            layer: fire-danger
            resampling: bilinear
            error-threshold: 0
            normalize: { linear: [0, 100] }
            direction: negative
          seismic:
            layer: seismic-pga
            normalize: { table: { 0.05: 0.25, 0.10: 0.5, 0.15: 0.75, 0.20: 1.0 }, default: 0 }
        indices:
          relief:
            product: [hazard, exposure]
            direction: negative
          hazard:
            weighted-sum: { flood: 0.5, seismic: 0.5 }
          exposure:
            entropy: { members: [fire, dryness], prior: { fire: 0.6, dryness: 0.4 } }
        combine:
          expression: "hazard * (0.25 + 0.75 * exposure) + 0.1 * relief * hazard"
        classify:
          scheme: census-five
          method: standard-deviation
        outputs:
          directory: out/model
          products: [risk-index, risk-class]

        """

    @Test func matchesNumpyOverGDALAlignedLayers() throws {
        let fx = try Fixture()
        let jobPath = try fx.project.write("jobs/model.yaml", ModelTests.job)
        let spec = try JobLoader().load(jobPath)
        #expect(!spec.usesFixedKernel)
        #expect(spec.indices.map(\.name) == ["hazard", "exposure", "relief"])  // dependency order
        let plan = try Planner().resolve(spec)
        #expect(plan.summary.contains("entropy weights computed from the data at run time"))
        let result = try Runner(plan: plan, options: RunOptions(threads: 2)).run()
        let model = try #require(result.manifest.model)
        #expect(model.kernel == "model" && model.statisticsPasses == 2)

        // GDAL aligns, numpy computes the model (Float32 where the kernel computes in Float32).
        let work = fx.project.path("oracle")
        try fx.alignWithGDAL(into: work)
        let script = """
            import sys, json, numpy as np
            from osgeo import gdal
            w = sys.argv[1]
            rd = lambda n: gdal.Open(f"{w}/{n}.tif").ReadAsArray()
            A, B, C, D = rd("flood").astype(np.float32), rd("fire").astype(np.float32), rd("seismic").astype(np.float32), rd("mask")
            f32 = np.float32
            inside = D != 0
            flood = np.interp(A, [0, 0.5, 1.5, 3.0], [0, 0.3, 0.7, 1.0]).astype(f32)
            flood[~np.isfinite(A)] = np.nan
            ok = np.isfinite(B) & inside
            lo, hi = float(B[ok].min()), float(B[ok].max())
            fire = np.clip((B - f32(lo)) * f32(1.0 / (hi - lo)), f32(0), f32(1))
            dry = f32(1) - np.clip((B - f32(0)) * f32(1.0 / 100.0), f32(0), f32(1))
            seis = np.select([np.abs(C - f32(0.05)) <= 1e-5 * 1, np.abs(C - f32(0.10)) <= 1e-5, np.abs(C - f32(0.15)) <= 1e-5,
                              np.abs(C - f32(0.20)) <= 1e-5], [0.25, 0.5, 0.75, 1.0], 0).astype(f32)
            seis[~np.isfinite(C)] = np.nan
            hazard = flood * f32(0.5) + seis * f32(0.5)
            # Entropy weights (熵权法) over the pixels valid in both members inside the mask.
            both = np.isfinite(fire) & np.isfinite(dry) & inside
            x = np.stack([fire[both], dry[both]], axis=1).astype(np.float64)
            n = x.shape[0]
            p = x / x.sum(axis=0)
            with np.errstate(divide="ignore", invalid="ignore"):
                e = -np.where(p > 0, p * np.log(p), 0).sum(axis=0) / np.log(n)
            d = 1 - e
            wobj = d / d.sum()
            wts = wobj * np.array([0.6, 0.4]); wts = wts / wts.sum()
            exposure = fire * f32(wts[0]) + dry * f32(wts[1])
            relief = f32(1) - hazard * exposure
            index = hazard * (f32(0.25) + exposure * f32(0.75)) + relief * f32(0.1) * hazard
            valid = np.isfinite(flood) & np.isfinite(B) & np.isfinite(seis) & inside & np.isfinite(index)
            index = np.where(valid, index, f32(-9999)).astype(f32)
            index.tofile(f"{w}/index.f32")
            print(json.dumps({"lo": lo, "hi": hi, "weights": list(wts), "objective": list(wobj), "entropy": list(e), "n": int(n)}))
            """
        let out = try shell("/usr/bin/python3", ["-c", script, work])
        let oracle = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: Any]

        // min-max over the data, direction, entropy weights: equal to numpy.
        let fire = try #require(model.layers.first { $0.key == "fire" })
        #expect(fire.normalization == "min-max-data")
        // (JSONSerialization's Double may differ from the printed one in the last bit.)
        #expect(abs(fire.minimum! - (oracle["lo"] as! Double)) < 1e-12 && abs(fire.maximum! - (oracle["hi"] as! Double)) < 1e-12,
                "min-max \(String(describing: fire.minimum))…\(String(describing: fire.maximum)) vs numpy \(oracle["lo"]!)…\(oracle["hi"]!)")
        #expect(model.layers.first { $0.key == "dryness" }?.direction == "negative")
        let exposure = try #require(model.indices.first { $0.name == "exposure" })
        let numpyWeights = oracle["weights"] as! [Double], objective = oracle["objective"] as! [Double], entropy = oracle["entropy"] as! [Double]
        let used = try #require(exposure.weights)
        #expect(exposure.entropyPixels == oracle["n"] as? Int)
        for j in 0..<2 {
            #expect(abs(used[j] - numpyWeights[j]) < 1e-9, "entropy weight \(j): \(used[j]) vs numpy \(numpyWeights[j])")
            #expect(abs(exposure.objectiveWeights![j] - objective[j]) < 1e-9)
            #expect(abs(exposure.entropy![j] - entropy[j]) < 1e-9)
        }
        #expect(exposure.prior == [0.6, 0.4])

        // The index: same nodata mask, values within Float32 rounding of numpy.
        let index = try readFloat("\(result.runDirectory)/risk_index.tif")
        let expected: [Float] = try Data(contentsOf: URL(fileURLWithPath: "\(work)/index.f32")).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        #expect(index.count == expected.count)
        var maskDiff = 0, worst: Float = 0, valid = 0
        for p in 0..<index.count {
            if (index[p] == -9999) != (expected[p] == -9999) { maskDiff += 1; continue }
            if index[p] == -9999 { continue }
            valid += 1
            worst = max(worst, abs(index[p] - expected[p]))
        }
        #expect(maskDiff == 0 && valid > 30_000 && worst < 2e-6, "mask differs at \(maskDiff), worst Δ \(worst), valid \(valid)")

        // Standard-deviation breaks: mean ± 0.5σ, ±1.5σ of the published index (numpy, population σ).
        let breaksScript = """
            import sys, numpy as np
            from osgeo import gdal
            a = gdal.Open(sys.argv[1]).ReadAsArray().astype(np.float64)
            v = a[a != -9999]
            m, s = v.mean(), v.std()
            print(" ".join(repr(float(m + k * s)) for k in (-1.5, -0.5, 0.5, 1.5)))
            """
        let numpyBreaks = try shell("/usr/bin/python3", ["-c", breaksScript, "\(result.runDirectory)/risk_index.tif"])
            .split(separator: "\n")[0].split(separator: " ").compactMap { Double($0) }
        let breaks = result.manifest.classification.breaks
        #expect(result.manifest.classification.method == "standard-deviation" && breaks.count == 4)
        for (a, b) in zip(breaks, numpyBreaks) { #expect(abs(a - b) < 1e-9, "break \(a) vs numpy \(b)") }
        let classes = try readBytes("\(result.runDirectory)/risk_class.tif")
        var classDiff = 0
        for p in 0..<index.count where index[p] != -9999 {
            let c = 1 + breaks.filter { Float(index[p]) >= Float($0) }.count
            if Int(classes[p]) != c { classDiff += 1 }
        }
        #expect(classDiff == 0)
        #expect(result.manifest.classification.scheme == "census-five")
    }

    @Test func sameBytesWhateverTheThreadCount() throws {
        let fx = try Fixture()
        let jobPath = try fx.project.write("jobs/model.yaml", ModelTests.job)
        var digests: [String] = []
        for threads in [1, 2, 5] {
            let plan = try Planner().resolve(try JobLoader().load(jobPath), outputDirectory: fx.project.path("out/t\(threads)"))
            let result = try Runner(plan: plan, options: RunOptions(threads: threads)).run()
            let index = try readFloat("\(result.runDirectory)/risk_index.tif")
            let classes = try readBytes("\(result.runDirectory)/risk_class.tif")
            digests.append(SHA256.hex(index.withUnsafeBytes { Data($0) }) + SHA256.hex(Data(classes))
                + "\(result.manifest.model!.indices.map { $0.weights ?? [] })")
        }
        #expect(Set(digests).count == 1)
    }

    @Test func aConstantLayerCannotBeNormalisedByItsRange() throws {
        let fx = try Fixture()
        try fx.project.raster("layers/flat.tif", width: 20, height: 20,
                              geoTransform: [Fixture.xmin - 300, 600, 0, Fixture.ymax + 300, 0, -600], crs: "EPSG:4545",
                              nodata: nil, values: [Float](repeating: 3, count: 400))
        try fx.project.write("layers/flat.yaml", "source: flat.tif\n")
        let job = ModelTests.job.replacingOccurrences(of: """
              fire:
                layer: fire-danger
                resampling: bilinear
                error-threshold: 0
                normalize: { min-max: data }
            """, with: """
              fire:
                layer: flat
                normalize: { min-max: data }
            """)
        let jobPath = try fx.project.write("jobs/model.yaml", job)
        let plan = try Planner().resolve(try JobLoader().load(jobPath))
        let error = try #require(throws: RunError.self) { try Runner(plan: plan).run() }
        #expect(error.status == .dataError)
        #expect(error.message.contains("layers.fire (layer flat)") && error.message.contains("constant (3 at all"))
        #expect(!FileManager.default.fileExists(atPath: fx.project.path("out/model/latest")))
    }

    @Test func anIndexOutsideTheRangeFailsTheRun() throws {
        let fx = try Fixture()
        let job = ModelTests.job.replacingOccurrences(of: "\"hazard * (0.25 + 0.75 * exposure) + 0.1 * relief * hazard\"",
                                                      with: "\"hazard + exposure\"")
        let jobPath = try fx.project.write("jobs/model.yaml",
                                           job.replacingOccurrences(of: "  relief:\n    product: [hazard, exposure]\n    direction: negative\n", with: ""))
        let plan = try Planner().resolve(try JobLoader().load(jobPath))
        let error = try #require(throws: RunError.self) { try Runner(plan: plan).run() }
        #expect(error.status == .dataError && error.message.contains("leaves 0..1") && error.message.contains("clamp"))
    }

    // MARK: validation

    func diagnostics(_ text: String) throws -> [String] {
        let fx = try Fixture()
        let path = try fx.project.write("jobs/bad.yaml", text)
        let error = try #require(throws: DiagnosticsError.self) { try JobLoader().load(path) }
        return error.diagnostics.map { "\($0.line):\($0.column) \($0.message)" }
    }

    func job(layers extra: String = "", indices: String, combine: String, scheme: String = "census-five") -> String {
        """
        version: 1
        name: bad
        grid: { crs: EPSG:4545, resolution: 30, extent: [\(Fixture.xmin), \(Fixture.ymin), \(Fixture.xmax), \(Fixture.ymax)] }
        layers:
          flood: { layer: flood-depth, normalize: { linear: [0, 3] } }
          fire: { layer: fire-danger, normalize: { min-max: data } }\(extra)
        indices:
        \(indices)
        combine:
        \(combine)
        classify:
          scheme: \(scheme)
          method: natural-breaks
        outputs: { directory: out/bad }

        """
    }

    @Test func unknownMembersCyclesAndCollisionsAreReportedWhereWritten() throws {
        let found = try diagnostics(job(indices: """
              hazard: { weighted-sum: { flood: 0.5, fier: 0.5 } }
              a: { maximum: [b, fire] }
              b: { product: [a] }
              flood: { maximum: [fire] }
            """, combine: "  maximum: [hazard, a]"))
        #expect(found.contains { $0.hasPrefix("8:41 ") && $0.contains("\"fier\" is not a layer or index") && $0.contains("did you mean \"fire\"") })
        #expect(found.contains { $0.hasPrefix("10:18 ") && $0.contains("cycle: a → b → a") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("11:3 ") && $0.contains("has the name of a layer") })
    }

    /// Issue 21: 15 000 chained indices passed validate and overflowed the stack (validate, or the
    /// model compiler in run). Chains deeper than `ModelNode.maxDepth` are refused where the index
    /// passing the limit is written; at the limit a ladder of indices (two a level, each using both
    /// of the level below: 2⁶⁴ paths) under an entropy combination runs.
    @Test func chainsOfIndicesDeeperThanTheLimitAreRefusedAtValidate() throws {
        let fx = try Fixture()
        let chain = (1..<15_000).map { "  i\($0): { weighted-sum: { i\($0 - 1): 1 } }" }.joined(separator: "\n")
        let deep = try fx.project.write("jobs/deep.yaml", job(indices: "  i0: { weighted-sum: { flood: 0.5, fire: 0.5 } }\n" + chain,
                                                              combine: "  weighted-sum: { i14999: 1 }"))
        let (status, _, _, err) = try runProcessWithTimeout(BadInputTests.executable, ["validate", deep], seconds: 60)
        #expect(status == 65 && err == "\(deep):72:3: error: indices.i64: indices nest 65 levels deep (i64 → i63 → i62 → … → i1 → i0); at most 64 levels: combine fewer indices in a row\n",
                "\(status) \(err)")
        let ladder = (1..<64).map { "  x\($0): { weighted-sum: { x\($0 - 1): 0.5, y\($0 - 1): 0.5 } }\n  y\($0): { weighted-sum: { y\($0 - 1): 0.5, x\($0 - 1): 0.5 } }" }
        let limit = try fx.project.write("jobs/limit.yaml", job(indices: "  x0: { maximum: [flood, fire] }\n  y0: { product: [flood, fire] }\n" + ladder.joined(separator: "\n"),
                                                                combine: "  entropy: [x63, y63]")
            .replacingOccurrences(of: "resolution: 30,", with: "resolution: 300,"))   // 128 steps a pixel: a debug build's kernel is slow
        let (ran, reason, _, runErr) = try runProcessWithTimeout(BadInputTests.executable, ["run", limit, "--threads", "2"], seconds: 60)
        #expect(reason == .exit && ran == 0, "\(ran) \(runErr)")
    }

    /// Issue 21: an expression's tree is as high as its longest chain (`a + a + … + a`), and walks
    /// over it recurse; past 200 levels it is refused at the operator that passes the limit.
    /// `clamp(x, lo, hi)` with constant bounds needs lo ≤ hi.
    @Test func expressionsTooDeepOrClampingBackwardsAreRefused() throws {
        let long = try diagnostics(job(indices: "  h: { maximum: [flood, fire] }",
                                       combine: "  expression: \"" + Array(repeating: "h", count: 5_000).joined(separator: " + ") + "\""))
        // The 200th "+" (4 characters a term) makes the tree 201 high.
        #expect(long.count == 1 && long[0].hasPrefix("10:\(16 + 200 * 4 - 2) ") && long[0].contains("nests deeper than 200 levels"), "\(long.map { $0.prefix(200) })")
        let clamp = try diagnostics(job(indices: "  h: { maximum: [flood, fire] }", combine: "  expression: \"h * clamp(fire, 1, 0)\""))
        #expect(clamp.count == 1 && clamp[0].hasPrefix("10:20 ") && clamp[0].contains("clamp(x, lo, hi) needs lo ≤ hi, got lo 1 > hi 0"), "\(clamp)")
        let folded = try diagnostics(job(indices: "  h: { maximum: [flood, fire] }", combine: "  expression: \"clamp(h, 0.5 + 0.25, 1 / 2)\""))
        #expect(folded.count == 1 && folded[0].hasPrefix("10:16 ") && folded[0].contains("got lo 0.75 > hi 0.5"), "\(folded)")
        // Bounds that read a layer are the data's business; equal bounds are allowed.
        let fine = try Fixture()
        for expression in ["clamp(h, fire, 0)", "clamp(h, 0.5, 0.5) + 0 * fire"] {
            let path = try fine.project.write("jobs/fine.yaml", job(indices: "  h: { maximum: [flood, fire] }", combine: "  expression: \"\(expression)\""))
            _ = try JobLoader().load(path)
        }
    }

    @Test func expressionErrorsPointAtTheCharacterInTheJobFile() throws {
        let syntax = try diagnostics(job(indices: "  h: { maximum: [flood, fire] }", combine: "  expression: \"h * (1 - fire\""))
        #expect(syntax.count == 1 && syntax[0].hasPrefix("10:29 ") && syntax[0].contains("expected \")\""), "\(syntax)")
        let plain = try diagnostics(job(indices: "  h: { maximum: [flood, fire] }", combine: "  expression: h * 2 + flod"))
        #expect(plain.count == 1 && plain[0].hasPrefix("10:23 ") && plain[0].contains("unknown name \"flod\"")
                && plain[0].contains("did you mean \"flood\""), "\(plain)")
    }

    @Test func entropyNeedsTwoMembersAndSchemesTwoToNineLevels() throws {
        let entropy = try diagnostics(job(indices: "  h: { entropy: [flood] }", combine: "  product: [h, fire]"))
        #expect(entropy.contains { $0.hasPrefix("8:17 ") && $0.contains("at least 2 members") }, "\(entropy)")
        let one = try diagnostics(job(indices: "  h: { maximum: [flood, fire] }", combine: "  maximum: [h]",
                                      scheme: "[{ name: 高, colour: \"#ff0000\" }]"))
        #expect(one.contains { $0.hasPrefix("12:11 ") && $0.contains("2 to 9 levels, got 1") }, "\(one)")
        let levels = (1...10).map { "{ name: L\($0), colour: \"#0000\(String(format: "%02x", $0 * 20))\" }" }.joined(separator: ", ")
        let ten = try diagnostics(job(indices: "  h: { maximum: [flood, fire] }", combine: "  maximum: [h]", scheme: "[\(levels)]"))
        #expect(ten.contains { $0.hasPrefix("12:11 ") && $0.contains("2 to 9 levels, got 10") }, "\(ten)")
    }

    @Test func everyLayerMustReachTheResult() throws {
        let found = try diagnostics(job(layers: "\n  seismic: { layer: seismic-pga, normalize: { linear: [0, 1] } }",
                                        indices: "  h: { maximum: [flood, fire] }", combine: "  maximum: [h]"))
        #expect(found.contains { $0.hasPrefix("7:3 ") && $0.contains("layer \"seismic\" is not used") }, "\(found)")
    }

    @Test func anExplicitSchemeNamesEveryProduct() throws {
        let fx = try Fixture()
        let job = try fx.project.write("jobs/j.yaml", try String(contentsOfFile: fx.jobPath, encoding: .utf8)
            .replacingOccurrences(of: "scheme: four-colour", with: """
                scheme:
                    - { name: 低, english: low, colour: "#2b83ba" }
                    - { name: 中, english: medium, colour: [255, 255, 191] }
                    - { name: 较高, english: elevated, colour: "#fdae61" }
                    - { name: 高, english: high, colour: "#d7191c" }
                """))
        let spec = try JobLoader().load(job)
        #expect(spec.classify.scheme.id == "custom" && spec.classify.scheme.classes.map(\.name) == ["低", "中", "较高", "高"])
        #expect(spec.usesFixedKernel)
        let result = try Runner(plan: try Planner().resolve(spec)).run()
        let info = try shell("/usr/bin/gdalinfo", ["\(result.runDirectory)/risk_class.tif"])
        #expect(info.contains("2: 中 medium") && info.contains("4: 高 high"), "\(info)")
        #expect(info.contains("4: 215,25,28,255") && info.contains("2: 255,255,191,255"), "\(info)")
    }

    /// The shipped v1 hazard jobs run on the fixed kernel, unchanged (so their pixels are too); the
    /// others are on the census model by design (issue 24: risk-zoning, prevention-zoning and the
    /// 200-year scenario zone the one comprehensive risk of hangjin-census-risk; the per-hazard risk
    /// jobs combine hazard and exposure by an expression over entropy weights).
    @Test func shippedV1JobsKeepTheFixedKernel() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let fixed = ["hangjin-flood-zoning", "hangjin-fire-zoning", "hangjin-seismic-zoning", "hangjin-comprehensive-risk"]
        let census = ["hangjin-risk-zoning", "hangjin-prevention-zoning", "hangjin-scenario-flood-200yr", "hangjin-census-risk",
                      "hangjin-flood-risk", "hangjin-fire-risk", "hangjin-seismic-risk", "hangjin-census-package"]
        let jobs = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("jobs").path)
            .filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) }
        #expect(Set(jobs) == Set(fixed + census), "a shipped job is in neither list: \(jobs)")
        for name in fixed + census {
            let spec = try JobLoader().load(root.appendingPathComponent("jobs/\(name).yaml").path)
            #expect(spec.usesFixedKernel == fixed.contains(name), "\(name)")
        }
    }
}
