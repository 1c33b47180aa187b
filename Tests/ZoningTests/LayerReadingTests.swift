import Foundation
import GDALKit
import Logging
import RasterKernel
import Testing
@testable import Zoning

/// The reading layer's fast paths against GDAL's own tools on every pixel: a shifted window
/// against `gdalwarp`, per-block burning against `gdal_rasterize`, each with the arguments the
/// plan prints.
@Suite(.serialized) struct LayerReadingTests {
    static let x0 = 495_000.0, y1 = 4_407_360.0, gridWidth = 150, gridHeight = 110

    /// A project with one raster layer `src.tif` (type, size, offset in grid pixels, nodata,
    /// values from `value(column, row)`) and a job on a 150 × 110 grid of 30 m pixels.
    func project(type: PixelType, width: Int, height: Int, offset: (Double, Double), nodata: Double?,
                 resampling: String = "near", crs: String = "EPSG:4545", blockSize: Int = 64, layerNodata: Double? = nil,
                 value: (Int, Int) -> Float) throws -> (Project, Plan) {
        let p = try Project()
        let ds = try Dataset.create(driver: "GTiff", path: p.path("layers/src.tif"), width: width, height: height, bands: 1,
                                    type: type, options: ["TILED=YES", "BLOCKXSIZE=32", "BLOCKYSIZE=32"])
        try ds.setGeoTransform([Self.x0 + offset.0 * 30, 30, 0, Self.y1 - offset.1 * 30, 0, -30])
        try ds.setSpatialReference(try SpatialReference(definition: crs))
        let band = try ds.band(1)
        if let nodata { try band.setNoDataValue(nodata) }
        var values = [Float](repeating: 0, count: width * height)
        for r in 0..<height { for c in 0..<width { values[r * width + c] = value(c, r) } }
        try values.withUnsafeBufferPointer { try band.write(PixelWindow(x: 0, y: 0, width: width, height: height), from: $0) }
        try ds.close()
        try p.write("layers/src.yaml", "source: src.tif\n" + (layerNodata.map { "nodata: \($0)\n" } ?? ""))
        let x1 = Self.x0 + Double(Self.gridWidth) * 30, y0 = Self.y1 - Double(Self.gridHeight) * 30
        try p.write("jobs/t.yaml", """
            version: 1
            name: t
            grid:
              crs: EPSG:4545
              resolution: 30
              extent: [\(Self.x0), \(y0), \(x1), \(Self.y1)]
              block-size: \(blockSize)
            layers:
              a:
                layer: src
                resampling: \(resampling)
                normalize: { linear: [0, 100] }
            combine:
              weighted-sum: { a: 1 }
            classify:
              scheme: four-colour
              breaks: [0.25, 0.5, 0.75]
            outputs:
              directory: out/t
              products: [risk-index, risk-class]
            """)
        return (p, try Planner().resolve(try JobLoader().load(p.path("jobs/t.yaml"))))
    }

    /// Every pixel of the layer read through the reading layer in blocks of `block` × `block`.
    func readAll(_ layer: AlignedLayer, grid: GridGeometry, block: Int) throws -> [Float] {
        var out = [Float](repeating: 0, count: grid.pixelCount)
        let reader = try layer.reader()
        var buffer = [Float](repeating: 0, count: block * block)
        for b in grid.blocks(width: block, height: block) {
            let w = b.window
            try buffer.withUnsafeMutableBufferPointer {
                try reader.read(PixelWindow(x: w.x, y: w.y, width: w.width, height: w.height), into: UnsafeMutableBufferPointer(rebasing: $0[0..<w.count]))
            }
            for r in 0..<w.height { for c in 0..<w.width { out[(w.y + r) * grid.width + w.x + c] = buffer[r * w.width + c] } }
        }
        return out
    }

    /// Pixels whose bits differ (NaN equals NaN).
    func differing(_ a: [Float], _ b: [Float]) -> Int {
        guard a.count == b.count else { return max(a.count, b.count) }
        return zip(a, b).filter { !($0.isNaN && $1.isNaN) && $0.bitPattern != $1.bitPattern }.count
    }

    /// `gdalwarp` with the plan's own arguments (what `hazard-zoning plan` prints).
    func gdalwarp(_ source: SourcePlan, folder: String) throws -> [Float] {
        let out = "\(folder)/warped-\(UUID().uuidString).tif"
        try shell("/usr/bin/gdalwarp", ["-q"] + source.arguments + [source.definition.source, out])
        return try readFloat(out)
    }

    struct Case: CustomStringConvertible {
        var type: PixelType
        var size: (Int, Int)
        var offset: (Double, Double)
        var nodata: Double?
        /// The layer file's `nodata` (gdalwarp -srcnodata), overriding the band's.
        var layerNodata: Double? = nil
        var description: String { "\(type.rawValue) \(size.0)×\(size.1) offset \(offset) nodata \(nodata.map { "\($0)" } ?? "none")" }
    }

    /// Values with nodata, NaN, ±inf (Float32) and, for Float32 nodata, neighbours one and twelve ulps away.
    static func value(_ c: Case) -> (Int, Int) -> Float {
        { col, row in
            let k = (col * 7 + row * 13) % 101
            if k == 4, let n = c.layerNodata { return Float(n) }
            switch c.type {
            case .byte: return k == 5 ? Float(c.nodata ?? 17) : Float((col * 3 + row * 5) % 250)
            case .int16: return k == 5 ? Float(c.nodata ?? -3) : Float((col * 37 - row * 53) % 30000)
            default:
                if k == 5, let n = c.nodata { return n.isNaN ? .nan : Float(n) }
                if k == 6 { return .nan }
                if k == 7, let n = c.nodata, !n.isNaN { return Float(n).nextUp }
                if k == 8, let n = c.nodata, !n.isNaN { return Float(n).nextDown }
                // Twelve ulps away: outside ARE_REAL_EQUAL's tolerance (at most 8 ulps), so valid for GDAL.
                if k == 9, let n = c.nodata, !n.isNaN { return (0..<12).reduce(Float(n)) { v, _ in v.nextUp } }
                if k == 10, let n = c.nodata, !n.isNaN { return (0..<12).reduce(Float(n)) { v, _ in v.nextDown } }
                if col == 19 && row == 14 { return .infinity }
                if col == 21 && row == 16 { return -.infinity }
                return Float(sin(Double(col) * 0.37) * 50 + Double(row) * 0.25)
            }
        }
    }

    @Test func shiftedWindowsEqualGdalwarpOnEveryPixel() throws {
        let offsets: [(Double, Double)] = [(0, 0), (0.3, -0.3), (-0.3, 0.3), (0.5 - 1e-3, 0.5 + 1e-3), (0.5 + 1e-4, -0.5 + 1e-4),
                                           (3, -5), (-2.3, 7.4), (12.7, 20.2)]
        var cases: [Case] = []
        for o in offsets {
            cases.append(Case(type: .float32, size: (170, 130), offset: o, nodata: -9999))
        }
        cases += [
            Case(type: .float32, size: (40, 30), offset: (20.4, 30.8), nodata: nil),        // smaller than the grid, inside
            Case(type: .float32, size: (90, 80), offset: (100.2, -20.6), nodata: .nan),     // across the east and north edges
            Case(type: .float32, size: (400, 300), offset: (-120.3, -90.6), nodata: 0),    // much larger
            // -FLT_MAX (a common nodata): the warper tests nodata on its Float64 working values,
            // where value + nodata does not overflow; in Float32 it does, and values twelve ulps
            // away would be taken for nodata.
            Case(type: .float32, size: (170, 130), offset: (0.3, -0.3), nodata: -Double(Float.greatestFiniteMagnitude)),
            Case(type: .byte, size: (160, 120), offset: (-4.25, 1.4), nodata: 255),
            Case(type: .byte, size: (160, 120), offset: (0.2, 0.2), nodata: nil),
            Case(type: .int16, size: (160, 120), offset: (2.6, -3.7), nodata: -32768),
            Case(type: .int16, size: (50, 200), offset: (-10.1, -40.1), nodata: nil),
            // The layer file's nodata replaces the band's (-srcnodata): -9999 pixels stay valid.
            Case(type: .float32, size: (170, 130), offset: (-1.3, 2.2), nodata: -9999, layerNodata: 25),
            Case(type: .int16, size: (160, 120), offset: (0.7, 0.7), nodata: -3, layerNodata: -32768),
        ]
        for c in cases {
            let (p, plan) = try project(type: c.type, width: c.size.0, height: c.size.1, offset: c.offset, nodata: c.nodata,
                                        layerNodata: c.layerNodata, value: Self.value(c))
            let runner = Runner(plan: plan, options: RunOptions(threads: 1))
            let layer = try runner.alignLayer(plan.sources[0], work: p.path("work"))
            #expect(layer.alignment == .window, "\(c)")
            #expect(plan.sources[0].arguments.contains("-srcnodata") == (c.layerNodata != nil))
            let expected = try gdalwarp(plan.sources[0], folder: p.path("layers"))
            for block in [64, 37, 150] {
                let got = try readAll(layer, grid: plan.grid, block: block)
                #expect(differing(got, expected) == 0, "\(c), blocks of \(block): \(differing(got, expected)) pixels differ from gdalwarp")
            }
            #expect(expected.contains { $0.isFinite }, "\(c): the case should exercise valid pixels")
            if c.nodata != nil { #expect(expected.contains { $0.isNaN }, "\(c): the case should exercise nodata pixels") }
        }
    }

    /// Whole-pixel offsets: every resampling kernel's result is the source pixel (weights 1 and 0),
    /// so the window path takes bilinear, cubic, … too; a sub-pixel offset sends them to the warper.
    @Test(arguments: ["bilinear", "cubic", "cubicspline", "lanczos", "average", "mode"])
    func wholePixelOffsetsEqualGdalwarpForEveryKernel(resampling: String) throws {
        let cases = [
            Case(type: .float32, size: (150, 110), offset: (0, 0), nodata: -9999),          // the grid itself
            Case(type: .float32, size: (170, 130), offset: (3, -5), nodata: .nan),          // larger, shifted
            Case(type: .float32, size: (60, 45), offset: (20, 30), nodata: -9999),          // ends inside the grid
            Case(type: .float32, size: (90, 80), offset: (100, -20), nodata: nil),          // across two edges
            Case(type: .int16, size: (160, 120), offset: (-4, 2), nodata: -32768),
            Case(type: .byte, size: (160, 120), offset: (1, 1), nodata: 255),
        ]
        for c in cases {
            let (p, plan) = try project(type: c.type, width: c.size.0, height: c.size.1, offset: c.offset, nodata: c.nodata,
                                        resampling: resampling, value: Self.value(c))
            let runner = Runner(plan: plan, options: RunOptions(threads: 1))
            let layer = try runner.alignLayer(plan.sources[0], work: p.path("work"))
            #expect(layer.alignment == .window, "\(resampling) \(c)")
            let expected = try gdalwarp(plan.sources[0], folder: p.path("layers"))
            for block in [64, 37] {
                let got = try readAll(layer, grid: plan.grid, block: block)
                #expect(differing(got, expected) == 0, "\(resampling) \(c), blocks of \(block): \(differing(got, expected)) pixels differ from gdalwarp")
            }
            if c.nodata != nil { #expect(expected.contains { $0.isNaN }, "\(c): the case should exercise nodata pixels") }
        }
        // Off by a sub-pixel amount (or 1e-6 px): the warper.
        for offset in [(0.3, 0.0), (1e-6, 0.0)] {
            let c = Case(type: .float32, size: (170, 130), offset: offset, nodata: -9999)
            let (p, plan) = try project(type: .float32, width: 170, height: 130, offset: offset, nodata: -9999,
                                        resampling: resampling, value: Self.value(c))
            try FileManager.default.createDirectory(atPath: p.path("work"), withIntermediateDirectories: true)
            let layer = try Runner(plan: plan, options: RunOptions(threads: 1)).alignLayer(plan.sources[0], work: p.path("work"))
            // (bilinear and average 0.3 px: the warped VRT's blocks resampled by the own kernel,
            // WarpKernelTests; 1e-6 px is GDAL's translation on pixel boundaries, which it resamples with nearest)
            let kernel = ["bilinear", "average"].contains(resampling) && offset.0 == 0.3
            #expect(layer.alignment == (kernel ? .warpKernel : .warp), "\(resampling) offset \(offset)")
        }
    }

    @Test func aBandOfAMultibandRasterIsReadAsAWindowToo() throws {
        // Band 2 of a 2-band UInt16 raster with nodata 0, offset (-3.4, 2.3): window path, equal
        // to gdalwarp on band 2 (the plan's command names the band; GDAL's own -b 2 here).
        let p = try Project()
        let path = p.path("layers/two.tif")
        let ds = try Dataset.create(driver: "GTiff", path: path, width: 160, height: 120, bands: 2, type: .uint16,
                                    options: ["TILED=YES", "BLOCKXSIZE=32", "BLOCKYSIZE=32"])
        try ds.setGeoTransform([Self.x0 - 3.4 * 30, 30, 0, Self.y1 - 2.3 * 30, 0, -30])
        try ds.setSpatialReference(try SpatialReference(definition: "EPSG:4545"))
        for b in 1...2 {
            let band = try ds.band(b)
            try band.setNoDataValue(0)
            let values = (0..<(160 * 120)).map { i -> Float in i % 89 == 0 ? 0 : Float((i * b * 7) % 60000) }
            try values.withUnsafeBufferPointer { try band.write(PixelWindow(x: 0, y: 0, width: 160, height: 120), from: $0) }
        }
        try ds.close()
        try p.write("layers/src.yaml", "source: two.tif\nband: 2\n")
        let x1 = Self.x0 + Double(Self.gridWidth) * 30, y0 = Self.y1 - Double(Self.gridHeight) * 30
        try p.write("jobs/t.yaml", """
            version: 1
            name: t
            grid: { crs: EPSG:4545, resolution: 30, extent: [\(Self.x0), \(y0), \(x1), \(Self.y1)], block-size: 64 }
            layers:
              a: { layer: src, normalize: { linear: [0, 100] } }
            combine: { weighted-sum: { a: 1 } }
            classify: { scheme: four-colour, breaks: [0.25, 0.5, 0.75] }
            outputs: { directory: out/t, products: [risk-index, risk-class] }
            """)
        let plan = try Planner().resolve(try JobLoader().load(p.path("jobs/t.yaml")))
        let layer = try Runner(plan: plan, options: RunOptions(threads: 1)).alignLayer(plan.sources[0], work: p.path("layers"))
        #expect(layer.alignment == .window)
        let out = p.path("layers/warped.tif")
        try shell("/usr/bin/gdal_translate", ["-q", "-b", "2", "-of", "VRT", path, p.path("layers/band2.vrt")])
        try shell("/usr/bin/gdalwarp", ["-q"] + plan.sources[0].arguments + [p.path("layers/band2.vrt"), out])
        let expected = try readFloat(out)
        #expect(differing(try readAll(layer, grid: plan.grid, block: 41), expected) == 0)
        #expect(expected.contains { $0.isNaN } && expected.contains { $0 > 0 })
    }

    @Test func centresOnAPixelEdgeBilinearAndOtherCRSGoToTheWarper() throws {
        let c = Case(type: .float32, size: (170, 130), offset: (0.5, 0.25), nodata: -9999)
        for (offset, resampling, crs) in [((0.5, 0.25), "near", "EPSG:4545"), ((0.5 + 1e-9, 0.25), "near", "EPSG:4545"),
                                          ((0.3, 0.3), "bilinear", "EPSG:4545"), ((0.3, 0.3), "near", "+proj=tmerc +lat_0=0 +lon_0=108 +k=1 +x_0=500000.001 +y_0=0 +ellps=GRS80 +units=m +no_defs")] {
            let (p, plan) = try project(type: .float32, width: 170, height: 130, offset: offset, nodata: -9999,
                                        resampling: resampling, crs: crs, value: Self.value(c))
            let runner = Runner(plan: plan, options: RunOptions(threads: 1))
            try FileManager.default.createDirectory(atPath: p.path("work"), withIntermediateDirectories: true)
            if crs != "EPSG:4545" {
                // Another CRS: the window path is refused before anything is aligned.
                #expect(try runner.shiftedWindow(plan.sources[0]) == nil)
                continue
            }
            let layer = try runner.alignLayer(plan.sources[0], work: p.path("work"))
            #expect(layer.alignment == (resampling == "bilinear" ? .warpKernel : .warp), "offset \(offset) \(resampling)")
            let expected = try gdalwarp(plan.sources[0], folder: p.path("layers"))
            #expect(differing(try readAll(layer, grid: plan.grid, block: 64), expected) == 0)
        }
    }

    /// Each input warped once per run: a warped layer with a block cache is read from its source
    /// once, every later pass reads the cached values, and every pass equals gdalwarp on every
    /// pixel; the cache leaves no file in the work folder.
    @Test func aCachedLayerIsWarpedOnceAndEveryPassEqualsGdalwarp() throws {
        let c = Case(type: .float32, size: (170, 130), offset: (0.3, 0.3), nodata: -9999)
        let (p, plan) = try project(type: .float32, width: 170, height: 130, offset: (0.3, 0.3), nodata: -9999,
                                    resampling: "bilinear", value: Self.value(c))
        let runner = Runner(plan: plan, options: RunOptions(threads: 1))
        let work = p.path("work")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let before = try FileManager.default.contentsOfDirectory(atPath: work)
        let layer = runner.cachingBlocks([try runner.alignLayer(plan.sources[0], work: work)], work: work, names: ["a"])[0]
        let cache = try #require(layer.cache)
        #expect(layer.alignment == .warpKernel)
        let expected = try gdalwarp(plan.sources[0], folder: p.path("layers"))
        let blocks = plan.grid.blocks(width: 64, height: 64).count
        #expect(differing(try readAll(layer, grid: plan.grid, block: 64), expected) == 0)
        #expect(cache.stored == blocks && cache.loaded == 0)
        for pass in 2...3 {
            #expect(differing(try readAll(layer, grid: plan.grid, block: 64), expected) == 0, "pass \(pass)")
        }
        #expect(cache.stored == blocks && cache.loaded == 2 * blocks)
        // Another cut of the grid is read from the source, and equals gdalwarp too.
        #expect(differing(try readAll(layer, grid: plan.grid, block: 50), expected) == 0)
        #expect(cache.loaded == 2 * blocks)
        let after = Set(try FileManager.default.contentsOfDirectory(atPath: work)).subtracting(before)
        #expect(after.allSatisfy { $0.hasSuffix(".vrt") }, "\(after)")
    }

    /// The layers are cached only when more than one pass reads them: the one-pass comprehensive
    /// job writes no cache, the census job (statistics passes, attribution, sensitivity) does, a
    /// shard (its statistics from statistics.json) does not.
    @Test func layersAreCachedOnlyWhenASecondPassReadsThem() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        func align(_ job: String, role: Pipeline.Role = .run) throws -> AlignStage {
            let plan = try Planner().resolve(try JobLoader().load(root.appendingPathComponent("jobs/\(job).yaml").path))
            let env = RunEnvironment(plan: plan, options: RunOptions(), logger: Logger(label: "test"))
            return try #require(Pipeline(env, role: role).steps.first?.stage as? AlignStage)
        }
        #expect(try !align("hangjin-comprehensive-risk").cachesBlocks)
        #expect(try align("hangjin-census-risk").cachesBlocks)
        #expect(try align("hangjin-census-risk", role: .statistics).cachesBlocks)
        #expect(try !align("hangjin-census-risk", role: .shard(units: 0..<1, rasters: ShardRasters(index: "", classes: ""))).cachesBlocks)
        // Weight scenarios with fixed breaks are classified in the main pass: one pass, nothing
        // cached (the index-path bench's scenario job wrote 1 GB of cache for nothing: 6.2 s → 7.6 s);
        // data-driven breaks classify them in a pass of their own.
        for (method, caches) in [(nil, false), ("natural-breaks", true)] as [(String?, Bool)] {
            let fx = try SensitivityTests().fixture(sensitivity: "{ perturb: 0.2 }", method: method)
            let env = RunEnvironment(plan: try fx.plan(), options: RunOptions(), logger: Logger(label: "test"))
            let stage = try #require(Pipeline(env).steps.first?.stage as? AlignStage)
            #expect(stage.cachesBlocks == caches, "breaks \(method ?? "fixed")")
        }
    }

    @Test func perBlockBurningEqualsGdalRasterizeOnEveryPixel() throws {
        // The fixture's seismic polygons (EPSG:4490, reprojected, burnt by attribute) and mask
        // (grid CRS, burn 1); the same with all-touched; plus lines and points burnt all-touched.
        let fx = try Fixture(blockSize: 64)
        try fx.project.vector("layers/lines.gpkg", layer: "lines", crs: "EPSG:4545", geojson: """
            {"type":"FeatureCollection","features":[
            {"type":"Feature","properties":{"v":2.5},"geometry":{"type":"LineString","coordinates":[[495123.4,4401000.7],[503111.1,4407001.3],[504000.2,4404100.9]]}},
            {"type":"Feature","properties":{"v":7},"geometry":{"type":"Point","coordinates":[497777.7,4403333.3]}},
            {"type":"Feature","properties":{"v":null},"geometry":{"type":"Point","coordinates":[500001.7,4406001.3]}},
            {"type":"Feature","properties":{"v":4},"geometry":{"type":"Polygon","coordinates":[[[496000.3,4401500.2],[499000.9,4402000.1],[497500.5,4405000.4],[496000.3,4401500.2]]]}}]}
            """)
        try fx.project.write("layers/lines.yaml", "source: lines.gpkg\nlayer: lines\nattribute: v\n")
        let original = try String(contentsOfFile: fx.jobPath, encoding: .utf8)
        for allTouched in [false, true] {
            var job = original
            job = job.replacingOccurrences(of: "    layer: seismic-pga\n", with: "    layer: seismic-pga\n    all-touched: \(allTouched)\n")
            job = job.replacingOccurrences(of: "combine:", with: "  lines:\n    layer: lines\n    all-touched: \(allTouched)\n    normalize: { linear: [0, 10] }\ncombine:")
            job = job.replacingOccurrences(of: "seismic: 0.30 }", with: "seismic: 0.20, lines: 0.1 }")
            try job.write(toFile: fx.jobPath, atomically: true, encoding: .utf8)
            let plan = try fx.plan()
            let runner = Runner(plan: plan, options: RunOptions(threads: 1))
            for source in plan.sources.filter({ $0.kind == .vector }) + [plan.mask!] {
                let layer = try runner.alignLayer(source, work: fx.project.path("work"))
                #expect(layer.alignment == .rasterisePerBlock, "\(source.key)")
                #expect(source.arguments.contains("-at") == (allTouched && source.key != "mask"))
                // The oracle: ogr2ogr + gdal_rasterize with the plan's arguments.
                let folder = fx.project.path("oracle-\(source.key)-\(allTouched)")
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                var input = source.definition.source
                if let reproject = source.reprojectArguments {
                    input = "\(folder)/reprojected.gpkg"
                    try shell("/usr/bin/ogr2ogr", reproject + [input, source.definition.source, source.layerName ?? ""])
                }
                try shell("/usr/bin/gdal_rasterize", ["-q"] + source.arguments + [input, "\(folder)/out.tif"])
                let expected = try readFloat("\(folder)/out.tif")
                for block in [64, 50, 17, 310] {
                    let got = try readAll(layer, grid: plan.grid, block: block)
                    #expect(differing(got, expected) == 0, "\(source.key) all-touched \(allTouched), blocks of \(block): \(differing(got, expected)) pixels differ from gdal_rasterize")
                }
                #expect(Set(expected.filter { !$0.isNaN }).count >= 2, "\(source.key): burnt and unburnt pixels")
            }
        }
    }

    @Test func aRunKeepsNoFullSizeVectorRasterAndRecordsEachPath() throws {
        // The fixture with the flood raster re-sampled nearest: window (flood), warp (fire),
        // burning per block (seismic, mask).
        let fx = try Fixture()
        var job = try String(contentsOfFile: fx.jobPath, encoding: .utf8)
        job = job.replacingOccurrences(of: "    layer: flood-depth\n    resampling: bilinear", with: "    layer: flood-depth\n    resampling: near")
        try job.write(toFile: fx.jobPath, atomically: true, encoding: .utf8)
        // The fixture's flood sits on a half-pixel (warped): shifted by 0.2 px more here.
        try fx.project.raster("layers/flood.tif", width: 340, height: 280, geoTransform: [Fixture.xmin - 309, 30, 0, Fixture.ymax + 609, 0, -30],
                              crs: "EPSG:4545", nodata: -9999, values: (0..<(340 * 280)).map { Float($0 % 340) * 0.01 })
        let plan = try fx.plan()
        let out = plan.outputDirectory
        let seen = LockedFiles()
        let options = RunOptions(threads: 2, progress: { progress in
            guard progress.stage == "compute" || progress.stage == "align" else { return }
            // Every file in the staging folder while aligning and computing, with its size.
            let files = FileManager.default.enumerator(atPath: out)?.compactMap { $0 as? String } ?? []
            for f in files {
                let size = (try? FileManager.default.attributesOfItem(atPath: "\(out)/\(f)")[.size] as? NSNumber)?.intValue ?? 0
                seen.add(f, size)
            }
        })
        let result = try Runner(plan: plan, options: options).run()
        let files = seen.all
        #expect(!files.isEmpty)
        // The only grid-size files while computing are the two outputs being written (and their
        // compressed tiles, which the streamed COG writer keeps beside them until it lays them out).
        let gridBytes = plan.grid.pixelCount
        let products = ["risk_index.tif", "risk_class.tif", "risk_index.tif.tiles", "risk_class.tif.tiles"]
        let big = files.filter { file in file.value >= gridBytes && !products.contains { file.key.hasSuffix($0) } }
        #expect(big.isEmpty, "full-size temporaries: \(big)")
        #expect(!files.keys.contains { $0.hasSuffix("seismic.tif") || $0.hasSuffix("mask.tif") || $0.hasSuffix("flood.vrt") })
        let alignment = Dictionary(uniqueKeysWithValues: result.manifest.inputs.compactMap { i in i.alignment.map { (i.key, $0) } })
        #expect(alignment == ["flood": "window", "fire": "warp-kernel", "seismic": "rasterise-per-block", "mask": "rasterise-per-block"])
    }

    static func floodValue(_ i: Int) -> Float {
        if i % 97 == 0 { return -9999 }
        let column = Float(i % 340), row = Float(i / 340)
        return column * 0.01 + row * 0.003
    }

    @Test func aRunThroughTheFastPathsEqualsOneThroughGDALsToolsWhateverTheThreads() throws {
        // Window (flood, nearest, shifted 0.2 px), warp (fire), burning per block (seismic, mask)
        // against every layer aligned by gdalwarp / gdal_rasterize into the staging folder.
        let fx = try Fixture(blockSize: 48)
        var job = try String(contentsOfFile: fx.jobPath, encoding: .utf8)
        job = job.replacingOccurrences(of: "    layer: flood-depth\n    resampling: bilinear", with: "    layer: flood-depth\n    resampling: near")
        try job.write(toFile: fx.jobPath, atomically: true, encoding: .utf8)
        try fx.project.raster("layers/flood.tif", width: 340, height: 280, geoTransform: [Fixture.xmin - 309, 30, 0, Fixture.ymax + 609, 0, -30],
                              crs: "EPSG:4545", nodata: -9999,
                              values: (0..<(340 * 280)).map(Self.floodValue))
        var runs: [(String, [String: String])] = []
        for (fast, threads) in [(false, 2), (true, 1), (true, 3)] {
            var options = RunOptions(threads: threads)
            options.alignFastPaths = fast
            let result = try Runner(plan: try fx.plan(output: fx.project.path("out-\(fast)-\(threads)")), options: options).run()
            runs.append((result.runDirectory, Dictionary(uniqueKeysWithValues: result.manifest.inputs.compactMap { i in i.alignment.map { (i.key, $0) } })))
        }
        #expect(runs[0].1 == ["flood": "warp", "fire": "warp", "seismic": "rasterise", "mask": "rasterise"])
        #expect(runs[1].1 == ["flood": "window", "fire": "warp-kernel", "seismic": "rasterise-per-block", "mask": "rasterise-per-block"])
        let index = try readFloat("\(runs[0].0)/risk_index.tif"), classes = try readBytes("\(runs[0].0)/risk_class.tif")
        #expect(Set(classes).count >= 4 && index.contains(-9999))
        for (dir, _) in runs.dropFirst() {
            #expect(differing(try readFloat("\(dir)/risk_index.tif"), index) == 0, "\(dir)")
            #expect(try readBytes("\(dir)/risk_class.tif") == classes, "\(dir)")
        }
    }

    @Test func aTruncatedWindowReadSourceIsBadInputNamingItsFile() throws {
        let c = Case(type: .float32, size: (170, 130), offset: (0.2, 0.2), nodata: -9999)
        let (p, plan) = try project(type: .float32, width: 170, height: 130, offset: c.offset, nodata: -9999, value: Self.value(c))
        let path = p.path("layers/src.tif")
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count / 3).write(to: URL(fileURLWithPath: path))
        do {
            _ = try Runner(plan: plan, options: RunOptions(threads: 2)).run()
            Issue.record("a truncated source was accepted")
        } catch let error as RunError {
            #expect(error.status == .dataError && error.message.contains("src.tif") && error.message.contains("layers.a"), "\(error.status) \(error.message)")
        }
        #expect(!FileManager.default.fileExists(atPath: "\(plan.outputDirectory)/latest"))
    }

    @Test func windowReadSourcesAreCountedWhileReadAndAnAllNodataOneIsRefused() throws {
        // 170 × 130 Float32 at offset (-10.3, -7.6): source columns 10..<160 and rows 8..<118 are
        // under the grid (centre of grid column i at source column i + 10.8, row j at j + 8.1).
        let c = Case(type: .float32, size: (170, 130), offset: (-10.3, -7.6), nodata: -9999)
        let f = Self.value(c)
        let (p, plan) = try project(type: .float32, width: 170, height: 130, offset: c.offset, nodata: -9999, value: f)
        let result = try Runner(plan: plan, options: RunOptions(threads: 2)).run()
        var valid = 0, nodata = 0, nan = 0, inf = 0
        for r in 8..<118 { for col in 10..<160 {
            let v = f(col, r)
            if v.isNaN { nan += 1 } else if v == -9999 || v == Float(-9999).nextUp || v == Float(-9999).nextDown { nodata += 1 }
            else if v.isInfinite { inf += 1 } else { valid += 1 }
        } }
        let st = try #require(result.manifest.inputs.first { $0.key == "a" }?.statistics)
        #expect(result.manifest.inputs.first { $0.key == "a" }?.alignment == "window")
        #expect(st.sourceValid == valid && st.sourceNodata == nodata && st.sourceNan == nan && st.sourceInfinite == inf,
                "\(st) vs valid \(valid) nodata \(nodata) nan \(nan) inf \(inf)")
        #expect(inf == 2 && nan > 0 && nodata > 0)
        _ = p

        let (q, empty) = try project(type: .float32, width: 170, height: 130, offset: (0.2, 0.2), nodata: -9999) { _, _ in -9999 }
        #expect(try Runner(plan: empty, options: RunOptions(threads: 2)).shiftedWindow(empty.sources[0]) != nil)
        do {
            _ = try Runner(plan: empty, options: RunOptions(threads: 2)).run()
            Issue.record("an all-nodata source was accepted")
        } catch let error as RunError {
            #expect(error.message.contains("src.tif") && error.message.contains("no valid pixels where it overlaps the grid"), "\(error.message)")
        }
        _ = q
    }
}

/// File sizes seen from the progress callback (another thread).
final class LockedFiles: @unchecked Sendable {
    private let lock = NSLock()
    private var files: [String: Int] = [:]
    func add(_ name: String, _ size: Int) { lock.lock(); files[name] = max(files[name] ?? 0, size); lock.unlock() }
    var all: [String: Int] { lock.lock(); defer { lock.unlock() }; return files }
}
