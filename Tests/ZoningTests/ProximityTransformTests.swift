import Foundation
import GDALKit
import RasterKernel
import Testing
@testable import Zoning

/// Runs a Python script with Debian's python3 (GDAL bindings and numpy) and decodes its JSON output.
private func oracle(_ script: String, _ args: [String]) throws -> [String: Any] {
    let out = try shell("/usr/bin/python3", ["-c", script] + args)
    return try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any], "oracle printed \(out)")
}

private func feature(_ geometry: String) -> String {
    "{\"type\":\"Feature\",\"properties\":{},\"geometry\":\(geometry)}"
}

private func collection(_ features: [String]) -> String {
    "{\"type\":\"FeatureCollection\",\"features\":[\(features.joined(separator: ","))]}"
}

/// numpy oracle: `gdal_rasterize` (the plan's arguments) and `gdal_proximity.py -distunits GEO`
/// on the command line, and the exact distance by brute force over every burnt pixel centre
/// (value as GDAL writes it: Float32 of Float32(√d px) × pixel width). Compares `sweep` (GDAL's
/// algorithm in memory, "-" for none) and `exact` (the distance transform) with them on the
/// window `x y w h` of the burnt raster and prints the counts.
private let proximityOracle = """
    import sys, json, subprocess, numpy as np
    from osgeo import gdal
    work, sweep, ours, x, y, w, h, pw, ph = *sys.argv[1:4], *map(int, sys.argv[4:8]), float(sys.argv[8]), float(sys.argv[9])
    rasterize = json.loads(sys.argv[10]); nofeature = np.float32(float(sys.argv[11]))
    def sh(*a): subprocess.run(a, check=True, stdout=subprocess.DEVNULL)
    sh('gdal_rasterize', '-q', *rasterize, work + '/f.tif')
    sh('gdal_proximity.py', '-q', work + '/f.tif', work + '/g.tif', '-distunits', 'GEO', '-ot', 'Float32', '-nodata', repr(float(nofeature)))
    f = gdal.Open(work + '/f.tif').ReadAsArray()
    g = gdal.Open(work + '/g.tif').ReadAsArray()[y:y + h, x:x + w]
    o = gdal.Open(ours).ReadAsArray()
    fy, fx = np.nonzero(f)
    R, C = np.mgrid[y:y + h, x:x + w]
    best = np.full((h, w), np.inf)
    for i in range(0, len(fx), 256):
        dx = (C[..., None] - fx[None, None, i:i + 256]).astype(np.float64)
        dy = (R[..., None] - fy[None, None, i:i + 256]).astype(np.float64)
        d = dx * dx + dy * dy if pw == ph else dx * dx * pw * pw + dy * dy * ph * ph
        best = np.minimum(best, d.min(axis=2))
    with np.errstate(invalid='ignore'):
        if pw == ph: exact = (np.sqrt(best).astype(np.float32).astype(np.float64) * pw).astype(np.float32)
        else: exact = np.sqrt(best).astype(np.float32)
    exact[np.isinf(best)] = nofeature
    gdal_exact = g == exact
    s = gdal.Open(sweep).ReadAsArray() if sweep != '-' else g
    print(json.dumps({
        "sweep_eq_gdal": int((s.view(np.uint32) == g.view(np.uint32)).sum()),
        "pixels": int(o.size), "shape": list(o.shape), "burnt": int(len(fx)),
        "ours_eq_exact": int((o.view(np.uint32) == exact.view(np.uint32)).sum()),
        "ours_eq_gdal_where_gdal_exact": bool((o[gdal_exact] == g[gdal_exact]).all()),
        "gdal_differs": int((~gdal_exact).sum()),
        "gdal_over_max": float((g.astype(np.float64) - exact)[~gdal_exact].max()) if (~gdal_exact).any() else 0.0,
        "gdal_under": int((g < exact).sum()),
        "nofeature": int((o == nofeature).sum()),
    }))
    """

/// The projected proximity path (`DistanceTransform` on GDAL's burnt features) against
/// `gdal_proximity.py -distunits GEO` on the same burnt raster and against brute force.
@Suite(.serialized) struct ProximityTransformTests {
    static let (x0, y0) = (500_010.0, 4_400_000.0)
    static let (width, height) = (97, 83)

    /// One job, one proximity layer per fixture: points, lines, polygons, features outside the grid
    /// within the margin and only beyond it (nothing burnt), 400 scattered points.
    func project() throws -> (Project, Plan) {
        let p = try Project()
        let (x0, y0) = (Self.x0, Self.y0)
        let (x1, y1) = (x0 + Double(Self.width) * 30, y0 + Double(Self.height) * 30)
        func pt(_ x: Double, _ y: Double) -> String { feature("{\"type\":\"Point\",\"coordinates\":[\(x),\(y)]}") }
        func ln(_ pts: [(Double, Double)]) -> String {
            feature("{\"type\":\"LineString\",\"coordinates\":[" + pts.map { "[\($0.0),\($0.1)]" }.joined(separator: ",") + "]}")
        }
        func poly(_ pts: [(Double, Double)]) -> String {
            feature("{\"type\":\"Polygon\",\"coordinates\":[[" + (pts + [pts[0]]).map { "[\($0.0),\($0.1)]" }.joined(separator: ",") + "]]}")
        }
        var seeded: UInt64 = 42
        func unit() -> Double { seeded = seeded &* 6364136223846793005 &+ 1442695040888963407; return Double(seeded >> 11) / Double(1 << 53) }
        let layers: [(String, [String])] = [
            ("points", [pt(x0 + 1000.3, y0 + 700.1), pt(x0 + 2210, y0 + 1905), pt(x0 + 150, y1 - 40)]),
            ("lines", [ln([(x0 - 400, y0 + 300), (x0 + 1700, y0 + 2000), (x1 + 200, y1 - 300)]), ln([(x0 + 2500, y0 - 100), (x0 + 2600, y1 + 500)])]),
            ("polygons", [poly([(x0 + 300, y0 + 300), (x0 + 1200, y0 + 450), (x0 + 900, y0 + 1500)]),
                          poly([(x1 - 500, y1 - 700), (x1 + 100, y1 - 650), (x1 - 100, y1 + 100), (x1 - 650, y1 - 100)])]),
            ("outside", [pt(x0 - 1700, y0 + 900), ln([(x1 + 400, y0 - 2500), (x1 + 2600, y1 + 2500)]), pt(x0 + 1000, y1 + 2900)]),
            ("beyond", [pt(x0 - 3500, y0 + 900), pt(x1 + 4000, y1 + 4000)]),
            ("scatter", (0..<400).map { _ in pt(x0 - 2000 + unit() * (x1 - x0 + 4000), y0 - 2000 + unit() * (y1 - y0 + 4000)) }),
        ]
        var jobLayers = ""
        for (name, features) in layers {
            try p.vector("layers/\(name).gpkg", layer: name, crs: "EPSG:4545", geojson: collection(features))
            try p.write("layers/\(name).yaml", "source: \(name).gpkg\nlayer: \(name)\n")
            jobLayers += "  \(name): { layer: \(name), normalize: { proximity: { linear: [0, 3000] } } }\n"
        }
        let job = try p.write("jobs/prox.yaml", """
            version: 1
            name: prox
            grid: { crs: EPSG:4545, resolution: 30, extent: [\(x0), \(y0), \(x1), \(y1)], block-size: 32 }
            layers:
            \(jobLayers)combine: { weighted-sum: { points: 0.2, lines: 0.2, polygons: 0.2, outside: 0.1, beyond: 0.1, scatter: 0.2 } }
            classify: { scheme: four-colour, breaks: [0.25, 0.5, 0.75] }
            outputs: { directory: out/prox }

            """)
        return (p, try Planner().resolve(try JobLoader().load(job)))
    }

    @Test func equalsGdalProximityWhereExactAndBruteForceEverywhere() throws {
        let (p, plan) = try project()
        #expect(plan.sources.count == 6)
        var gdalDiffers: [String: String] = [:]
        for source in plan.sources {
            let window = try #require(source.proximity)
            #expect(window.marginPixels == 100 && window.ellipsoid == nil)
            let work = p.path("work-\(source.key)")
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
            let sweep = try Runner(plan: plan, options: RunOptions(threads: 2)).alignProximity(source, work: work)
            #expect(sweep.hasSuffix("\(source.key).tif"))
            try FileManager.default.moveItem(atPath: sweep, toPath: work + "/sweep.tif")
            var options = RunOptions(threads: 2)
            options.exactProximity = true
            let exact = try Runner(plan: plan, options: options).alignProximity(source, work: work)
            let args = source.arguments + [source.definition.source]
            let r = try oracle(proximityOracle, [work, work + "/sweep.tif", exact, "\(window.marginPixels)", "\(window.marginRows)", "\(Self.width)",
                                                 "\(Self.height)", "30", "30", String(decoding: try JSONEncoder().encode(args), as: UTF8.self),
                                                 "\(window.noFeatureDistance)"])
            let pixels = Self.width * Self.height
            #expect(r["shape"] as? [Int] == [Self.height, Self.width], "\(source.key): \(r)")
            // GDAL's algorithm in memory: gdal_proximity.py bit for bit, everywhere.
            #expect(r["sweep_eq_gdal"] as? Int == pixels, "\(source.key): \(r)")
            // The exact transform: bit for bit the exact distance everywhere, and GDAL's value wherever GDAL's sweeps are exact.
            #expect(r["ours_eq_exact"] as? Int == pixels, "\(source.key): \(r)")
            #expect(r["ours_eq_gdal_where_gdal_exact"] as? Bool == true, "\(source.key): \(r)")
            // GDAL's propagation only ever overestimates.
            #expect(r["gdal_under"] as? Int == 0, "\(source.key): \(r)")
            #expect((r["nofeature"] as? Int) == (source.key == "beyond" ? pixels : 0), "\(source.key): \(r)")
            gdalDiffers[source.key] = "\(r["gdal_differs"] ?? "?") of \(pixels) px, by up to \(r["gdal_over_max"] ?? "?")"
            if source.key == "scatter" {
                // Many nearby points: GDAL's two sweeps miss the nearest one at some pixels.
                #expect((r["gdal_differs"] as? Int ?? 0) > 0, "\(r)")
                #expect((r["gdal_over_max"] as? Double ?? 99) < 15, "\(r)")
            }
        }
        print("gdal_proximity.py differs from the exact transform at pixels: \(gdalDiffers.sorted { $0.key < $1.key })")
    }

    /// `--align-with-gdal` keeps GDAL's proximity (a VRT of GDAL's distances on disk): identical to
    /// the in-memory path, also where GDAL's sweeps miss the nearest feature (34 pixels of this layer).
    @Test func alignWithGdalKeepsGdalsProximity() throws {
        let (p, plan) = try project()
        let source = try #require(plan.sources.first { $0.key == "outside" })
        var options = RunOptions(threads: 1)
        options.alignFastPaths = false
        let work = p.path("work")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let gdalPath = try Runner(plan: plan, options: options).alignProximity(source, work: work)
        #expect(gdalPath.hasSuffix("outside.vrt"))
        let ours = try Runner(plan: plan, options: RunOptions(threads: 2)).alignProximity(source, work: work)
        let out = try shell("/usr/bin/python3", ["-c", """
            import sys, numpy as np
            from osgeo import gdal
            a, b = gdal.Open(sys.argv[1]).ReadAsArray(), gdal.Open(sys.argv[2]).ReadAsArray()
            print(int((a.view(np.uint32) != b.view(np.uint32)).sum()), a.shape, gdal.Open(sys.argv[2]).GetGeoTransform() == gdal.Open(sys.argv[1]).GetGeoTransform())
            """, gdalPath, ours])
        #expect(out.trimmingCharacters(in: .whitespacesAndNewlines) == "0 (\(Self.height), \(Self.width)) True")
    }

    /// Non-square pixels (no job grid has them: the kernels alone, on a raster GDAL burnt): the exact
    /// distance dx²·pw² + dy²·ph²; GDAL (and `ProximitySweep`, bit for bit) multiplies the pixel
    /// distance by the pixel width only.
    @Test func anisotropicPixelsAreExact() throws {
        let p = try Project()
        let (x0, y0) = (Self.x0, Self.y0)
        try p.vector("layers/l.gpkg", layer: "l", crs: "EPSG:4545", geojson: collection([
            feature("{\"type\":\"LineString\",\"coordinates\":[[\(x0 + 100),\(y0 + 50)],[\(x0 + 1500),\(y0 + 900)]]}"),
            feature("{\"type\":\"Point\",\"coordinates\":[\(x0 + 2000),\(y0 + 200)]}"),
        ]))
        let args = ["-burn", "1", "-at", "-l", "l", "-te", "\(x0)", "\(y0)", "\(x0 + 2400)", "\(y0 + 1200)", "-tr", "30", "20",
                    "-ot", "Byte", "-init", "0", p.path("layers/l.gpkg")]
        let burnt = p.path("f-ours.tif")
        try shell("/usr/bin/gdal_rasterize", ["-q"] + args + [burnt])
        let ds = try Dataset(open: burnt)
        let (w, h) = (ds.width, ds.height)
        #expect(w == 80 && h == 60)
        let flags: [UInt8] = try ds.band(1).read(PixelWindow(x: 0, y: 0, width: w, height: h))
        var bits = FeatureBits(width: w, height: h)
        flags.withUnsafeBufferPointer { bits.setRows(0, h, from: $0) }
        let t = DistanceTransform(features: bits, x: 5, y: 4, width: 70, height: 50, pixelWidth: 30, pixelHeight: 20, noFeature: -1)
        let out = try Dataset.create(driver: "GTiff", path: p.path("ours.tif"), width: 70, height: 50, bands: 1, type: .float32)
        try t.run(bandRows: 16, threads: 2) { row, rows, values in
            try out.band(1).write(PixelWindow(x: 0, y: row, width: 70, height: rows), from: values)
        }
        try out.close()
        let work = p.path("o")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let sweep = ProximitySweep(features: bits, x: 5, y: 4, width: 70, height: 50, pixelWidth: 30, noFeature: -1)
        let gdalLike = try Dataset.create(driver: "GTiff", path: p.path("sweep.tif"), width: 70, height: 50, bands: 1, type: .float32)
        let write = { (row: Int, rows: Int, values: UnsafeBufferPointer<Float>) in
            try gdalLike.band(1).write(PixelWindow(x: 0, y: row, width: 70, height: rows), from: values)
        }
        try sweep.run(bandRows: 16, stash: write, unstash: { row, rows, into in
            try gdalLike.band(1).read(PixelWindow(x: 0, y: row, width: 70, height: rows), into: into)
        }, emit: write)
        try gdalLike.close()
        let r = try oracle(proximityOracle, [work, p.path("sweep.tif"), p.path("ours.tif"), "5", "4", "70", "50", "30", "20",
                                             String(decoding: try JSONEncoder().encode(args), as: UTF8.self), "-1"])
        #expect(r["ours_eq_exact"] as? Int == 70 * 50, "\(r)")
        #expect(r["sweep_eq_gdal"] as? Int == 70 * 50, "\(r)")
        // GDAL's "Pixels not square, distances will be inaccurate": most pixels differ.
        #expect((r["gdal_differs"] as? Int ?? 0) > 1000, "\(r)")
    }
}
