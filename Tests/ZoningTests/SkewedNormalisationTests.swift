import Foundation
import GDALKit
import RasterKernel
import Testing
@testable import Zoning

/// `normalize: { log: data }`, `{ quantile: data }` and `{ min-max: data, transform: cbrt }`
/// through the whole pipeline, against numpy on the same raster.
@Suite(.serialized) struct SkewedNormalisationTests {
    static let (width, height) = (40, 30)

    /// A skewed density (many zeros, ties, a long tail), a NaN and a nodata pixel.
    func project(normalize: String, values: [Float]? = nil) throws -> (Project, String) {
        let p = try Project()
        var v = [Float](repeating: 0, count: Self.width * Self.height)
        for i in v.indices {
            let k = (i * 7919) % 101
            v[i] = k < 30 ? 0 : k < 40 ? 3 : Float(exp(Double(k) / 9)) / 10
        }
        v[17] = .nan; v[99] = -9999
        try p.raster("layers/density.tif", width: Self.width, height: Self.height, geoTransform: [500_000, 30, 0, 4_400_900, 0, -30],
                     crs: "EPSG:4545", nodata: -9999, values: values ?? v)
        try p.write("layers/density.yaml", "source: density.tif\n")
        let job = try p.write("jobs/skewed.yaml", """
            version: 1
            name: skewed
            grid:
              crs: EPSG:4545
              resolution: 30
              extent: [500000, 4400000, 501200, 4400900]
            layers:
              d: { layer: density, normalize: \(normalize) }
            combine: { weighted-sum: { d: 1 } }
            classify: { scheme: four-colour, breaks: [0.25, 0.5, 0.75] }
            outputs: { directory: out/skewed, products: [risk-index] }

            """)
        return (p, job)
    }

    /// numpy's normalised values of the raster (NaN where nodata), Float32 where the kernel is.
    func oracle(_ p: Project, form: String) throws -> [Float] {
        let path = p.path("oracle.f32")
        try shell("/usr/bin/python3", ["-c", """
            import sys, numpy as np
            from osgeo import gdal
            f32 = np.float32
            v = gdal.Open(sys.argv[1]).ReadAsArray().astype(f32)
            valid = np.isfinite(v) & (v != f32(-9999))
            form = sys.argv[2]
            if form == "quantile":
                x = v[valid]
                uniq, counts = np.unique(x, return_counts=True)
                below = np.cumsum(counts) - counts
                rank = (below + (counts - 1) / 2.0) / (x.size - 1)          # average ties
                out = np.full(v.shape, np.nan, dtype=f32)
                out[valid] = rank[np.searchsorted(uniq, x)].astype(f32)
            else:
                y = (np.log(v.astype(np.float64) + 1) if form == "log" else np.cbrt(v.astype(np.float64))).astype(f32)
                lo, hi = float(y[valid].min()), float(y[valid].max())
                out = np.clip((y - f32(lo)) * f32(1.0 / (hi - lo)), f32(0), f32(1))
                out[~valid] = np.nan
            out.astype(f32).tofile(sys.argv[3])
            """, p.path("layers/density.tif"), form, path])
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    func check(_ normalize: String, form: String, manifestForm: String, passes: Int) throws {
        let (p, job) = try project(normalize: normalize)
        let plan = try Planner().resolve(try JobLoader().load(job))
        let result = try Runner(plan: plan, options: RunOptions(threads: 3)).run()
        let index = try readFloat("\(result.runDirectory)/risk_index.tif")
        let expected = try oracle(p, form: form)
        var worst: Float = 0, valid = 0
        for (a, b) in zip(index, expected) {
            if b.isNaN { #expect(a == RiskKernel.indexNoData); continue }
            valid += 1
            worst = max(worst, abs(a - b))
        }
        print("\(form): \(valid) valid pixels, max |ours − numpy| = \(worst)")
        #expect(valid == Self.width * Self.height - 2 && worst <= 1e-6)
        let model = try #require(result.manifest.model)
        #expect(model.layers.first?.normalization == manifestForm && model.statisticsPasses == passes && plan.statisticsPasses == passes)
    }

    @Test func logIsLog1pThenMinMaxOverTheData() throws {
        try check("{ log: data }", form: "log", manifestForm: "log1p-min-max-data", passes: 2)
    }

    @Test func cubeRootBeforeMinMaxAsFEMAsNationalRiskIndex() throws {
        try check("{ min-max: data, transform: cbrt }", form: "cbrt", manifestForm: "cbrt-min-max-data", passes: 1)
    }

    @Test func quantileIsTheExactPercentileRankWithTiesAveraged() throws {
        try check("{ quantile: data }", form: "quantile", manifestForm: "quantile-data", passes: 1)
    }

    @Test func ranksAreTheSameWhateverTheThreadCount() throws {
        let (p, job) = try project(normalize: "{ quantile: data }")
        var indices: [[Float]] = []
        for threads in [1, 4] {
            let plan = try Planner().resolve(try JobLoader().load(job), outputDirectory: p.path("out/t\(threads)"))
            indices.append(try readFloat("\(try Runner(plan: plan, options: RunOptions(threads: threads)).run().runDirectory)/risk_index.tif"))
        }
        #expect(indices[0] == indices[1])
    }

    @Test func aLogOfValuesAtOrBelowMinusTheOffsetFailsNamingTheLayer() throws {
        let values = (0..<(Self.width * Self.height)).map { Float($0 % 50) - 3 }
        let (p, job) = try project(normalize: "{ log: data }", values: values)
        let plan = try Planner().resolve(try JobLoader().load(job))
        let error = try #require(throws: RunError.self) { try Runner(plan: plan).run() }
        #expect(error.status == .dataError)
        #expect(error.message.contains("layers.d (layer density)") && error.message.contains("needs v > -1") && error.message.contains("smallest -3"),
                "\(error.message)")
        #expect(!FileManager.default.fileExists(atPath: p.path("out/skewed/latest")))
        // An offset that covers them runs.
        let (p2, job2) = try project(normalize: "{ log: data, offset: 4 }", values: values)
        #expect(throws: Never.self) { try Runner(plan: try Planner().resolve(try JobLoader().load(job2))).run() }
        withExtendedLifetime(p2) {}
    }

    @Test func aConstantLayerCannotBeRankedAndBadFormsAreDiagnosed() throws {
        let (p, job) = try project(normalize: "{ quantile: data }", values: [Float](repeating: 2, count: Self.width * Self.height))
        defer { withExtendedLifetime(p) {} }
        let error = try #require(throws: RunError.self) { try Runner(plan: try Planner().resolve(try JobLoader().load(job))).run() }
        #expect(error.message.contains("quantile: data: the layer is constant (2 at all 1200 valid pixels"), "\(error.message)")
        for (form, message) in [("{ min-max: data, transform: sqrt }", "transform takes cbrt"), ("{ quantile: all }", "quantile takes data"),
                                ("{ log: data, base: 10 }", "unknown key \"base\"")] {
            let (q, bad) = try project(normalize: form)
            let e = try #require(throws: (any Error).self) { try JobLoader().load(bad) }
            withExtendedLifetime(q) {}
            #expect("\(e)".contains(message) && "\(e)".contains("skewed.yaml:"), "\(e)")
        }
    }
}
