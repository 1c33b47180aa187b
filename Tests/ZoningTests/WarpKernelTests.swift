import Foundation
import GDALKit
import RasterKernel
import Testing
@testable import Zoning

/// The own bilinear warp kernel against GDAL's warper on every pixel: the same warped VRT read
/// block by block through GDAL (the warper HazardZoning used before, and uses for the chunks the
/// kernel leaves to it), compared bit for bit (NaN equals NaN).
@Suite(.serialized) struct WarpKernelTests {
    let support = LayerReadingTests()
    static let x0 = 495_000.0, y1 = 4_407_360.0

    struct Source {
        var crs = "EPSG:4326"
        /// Geotransform origin and pixel size.
        var originX = 107.935, originY = 39.815, pixelX = 0.0005, pixelY = -0.0005
        var width = 90, height = 70
        var type: PixelType = .float32
        var nodata: Double? = -9999
        var layerNodata: Double? = nil
    }

    /// A project whose layer `src` is `source` (values with nodata, NaN, ±inf and nodata's ulp
    /// neighbours for Float32) on a `gridWidth` × `gridHeight` grid of 30 m pixels, bilinear.
    func project(_ s: Source, gridWidth: Int = 150, gridHeight: Int = 110, blockSize: Int = 64,
                 resampling: String = "bilinear") throws -> (Project, Plan) {
        let p = try Project()
        let ds = try Dataset.create(driver: "GTiff", path: p.path("layers/src.tif"), width: s.width, height: s.height, bands: 1,
                                    type: s.type, options: ["TILED=YES", "BLOCKXSIZE=32", "BLOCKYSIZE=32"])
        try ds.setGeoTransform([s.originX, s.pixelX, 0, s.originY, 0, s.pixelY])
        try ds.setSpatialReference(try SpatialReference(definition: s.crs))
        let band = try ds.band(1)
        if let n = s.nodata { try band.setNoDataValue(n) }
        let c = LayerReadingTests.Case(type: s.type, size: (s.width, s.height), offset: (0, 0), nodata: s.nodata, layerNodata: s.layerNodata)
        let f = LayerReadingTests.value(c)
        var values = [Float](repeating: 0, count: s.width * s.height)
        for r in 0..<s.height { for col in 0..<s.width { values[r * s.width + col] = f(col, r) } }
        try values.withUnsafeBufferPointer { try band.write(PixelWindow(x: 0, y: 0, width: s.width, height: s.height), from: $0) }
        try ds.close()
        _ = try p.write("layers/src.yaml", "source: src.tif\n" + (s.layerNodata.map { "nodata: \($0)\n" } ?? ""))
        let x1 = Self.x0 + Double(gridWidth) * 30, y0 = Self.y1 - Double(gridHeight) * 30
        _ = try p.write("jobs/t.yaml", """
            version: 1
            name: t
            grid: { crs: EPSG:4545, resolution: 30, extent: [\(Self.x0), \(y0), \(x1), \(Self.y1)], block-size: \(blockSize) }
            layers:
              a: { layer: src, resampling: \(resampling), normalize: { linear: [0, 100] } }
            combine: { weighted-sum: { a: 1 } }
            classify: { scheme: four-colour, breaks: [0.25, 0.5, 0.75] }
            outputs: { directory: out/t, products: [risk-index, risk-class] }
            """)
        return (p, try Planner().resolve(try JobLoader().load(p.path("jobs/t.yaml"))))
    }

    /// The layer aligned by the run (kernel or not), every pixel read in the run's units, and the
    /// same VRT read through GDAL's warper in the same blocks.
    func compare(_ s: Source, gridWidth: Int = 150, gridHeight: Int = 110, blockSize: Int = 64, resampling: String = "bilinear",
                 expectKernel: Bool = true, _ note: String) throws -> (kernel: [Float], gdal: [Float], reader: WarpKernelReader?) {
        let (p, plan) = try project(s, gridWidth: gridWidth, gridHeight: gridHeight, blockSize: blockSize, resampling: resampling)
        try FileManager.default.createDirectory(atPath: p.path("work"), withIntermediateDirectories: true)
        let runner = Runner(plan: plan, options: RunOptions(threads: 1))
        let layer = try runner.alignLayer(plan.sources[0], work: p.path("work"))
        let vrt = p.path("work/a.vrt")
        #expect(FileManager.default.fileExists(atPath: vrt), "\(note)")
        guard case .warp(let kernel) = layer.reading else {
            Issue.record("\(note): the kernel was not taken (\(layer.alignment))")
            return ([], [], nil)
        }
        #expect(layer.alignment == .warpKernel)
        let reader = try WarpKernelReader(kernel)
        let memory = runner.memoryPlan
        let grid = plan.grid
        var got = [Float](repeating: 0, count: grid.pixelCount), expected = got
        let ds = try Dataset(open: vrt, flags: [.raster])
        let band = try ds.band(1)
        var buffer = [Float](repeating: 0, count: memory.width * memory.height)
        for b in grid.blocks(width: memory.width, height: memory.height) {
            let w = PixelWindow(x: b.window.x, y: b.window.y, width: b.window.width, height: b.window.height)
            for (target, read) in [(0, { (out: UnsafeMutableBufferPointer<Float>) in try reader.read(w, into: out) }),
                                   (1, { (out: UnsafeMutableBufferPointer<Float>) in try band.read(w, into: out) })] {
                try buffer.withUnsafeMutableBufferPointer { try read(UnsafeMutableBufferPointer(rebasing: $0[0..<w.count])) }
                for r in 0..<w.height {
                    for c in 0..<w.width {
                        let v = buffer[r * w.width + c]
                        if target == 0 { got[(w.y + r) * grid.width + w.x + c] = v } else { expected[(w.y + r) * grid.width + w.x + c] = v }
                    }
                }
            }
        }
        let diff = support.differing(got, expected)
        #expect(diff == 0, "\(note): \(diff) pixels differ from GDAL's warper")
        if expectKernel { #expect(reader.chunks > 0 && reader.delegated == 0, "\(note): \(reader.delegated) chunk parts left to the warper") }
        // The case exercises values and nodata.
        #expect(expected.contains { !$0.isNaN } && expected.contains { $0.isNaN }, "\(note)")
        return (got, expected, reader)
    }

    @Test func reprojectedBilinearEqualsTheWarperOnEveryPixel() throws {
        // EPSG:4326 → EPSG:4545, about 1.5 × upsampled, the source ending inside the grid on every
        // side, nodata holes, NaN, ±inf and nodata's ulp neighbours.
        let (_, _, reader) = try compare(Source(), "Float32 4326 0.0005°")
        #expect((reader?.chunks ?? 0) > 0 && reader?.delegated == 0, "every chunk resampled by the kernel")
        // Coarse (about 6 × upsampled, like the bench's fire layer), NaN nodata, odd block size.
        _ = try compare(Source(originX: 107.93, originY: 39.82, pixelX: 0.002, pixelY: -0.002, width: 30, height: 25, nodata: .nan),
                        gridWidth: 173, gridHeight: 131, blockSize: 48, "Float32 coarse NaN nodata")
        // Integer types with nodata, and a layer nodata overriding the band's.
        _ = try compare(Source(type: .int16, nodata: -3), "Int16 nodata -3")
        _ = try compare(Source(type: .byte, nodata: 17), "Byte nodata 17")
        _ = try compare(Source(type: .uint16, nodata: nil, layerNodata: 17), "UInt16 layer nodata 17")
        // No nodata at all.
        _ = try compare(Source(type: .byte, nodata: nil), "Byte no nodata")
    }

    @Test func sameCRSOtherPixelSizeAndSubPixelOffsetsToo() throws {
        // EPSG:4545 at 45 m with a 0.3 px offset (bilinear: not a window), and at 30 m offset 0.3 px.
        _ = try compare(Source(crs: "EPSG:4545", originX: Self.x0 - 200.3, originY: Self.y1 + 100.7, pixelX: 45, pixelY: -45,
                               width: 90, height: 70), "4545 45 m")
        _ = try compare(Source(crs: "EPSG:4545", originX: Self.x0 + 9, originY: Self.y1 - 9, pixelX: 30, pixelY: -30,
                               width: 140, height: 100), "4545 30 m offset 0.3 px")
    }

    @Test func chunksTheWarperResamplesOtherwiseAreLeftToIt() throws {
        // A source finer than the grid (10 m → 30 m): the warper's scale is below 0.95 and it uses
        // its general kernel, so the reader hands every chunk to the VRT — still equal.
        let (_, _, reader) = try compare(Source(crs: "EPSG:4545", originX: Self.x0 - 95, originY: Self.y1 + 55, pixelX: 10, pixelY: -10,
                                                width: 400, height: 300), expectKernel: false, "4545 10 m")
        #expect(reader?.chunks == 0 && (reader?.delegated ?? 0) > 0)
    }

    @Test func nearestAndOtherOptionsKeepTheWarper() throws {
        var (p, plan) = try project(Source())
        try FileManager.default.createDirectory(atPath: p.path("work"), withIntermediateDirectories: true)
        // The plan's own arguments with nearest: the VRT says NearestNeighbour.
        (p, plan) = try project(Source())
        let text = try String(contentsOfFile: p.path("jobs/t.yaml"), encoding: .utf8).replacingOccurrences(of: "bilinear", with: "cubic")
        _ = try p.write("jobs/t.yaml", text)
        plan = try Planner().resolve(try JobLoader().load(p.path("jobs/t.yaml")))
        try FileManager.default.createDirectory(atPath: p.path("work"), withIntermediateDirectories: true)
        let layer = try Runner(plan: plan, options: RunOptions(threads: 1)).alignLayer(plan.sources[0], work: p.path("work"))
        #expect(layer.alignment == .warp)
        // --align-with-gdal: the VRT, read by GDAL.
        (p, plan) = try project(Source())
        try FileManager.default.createDirectory(atPath: p.path("work"), withIntermediateDirectories: true)
        var options = RunOptions(threads: 1)
        options.alignFastPaths = false
        #expect(try Runner(plan: plan, options: options).alignLayer(plan.sources[0], work: p.path("work")).alignment == .warp)
    }

    // MARK: - average

    @Test func sameCRSAverageEqualsTheWarperOnEveryPixel() throws {
        // The demo's case: a 250 m source averaged onto 30 m (8⅓ × upsampled, a pixel's corners
        // within one or two source pixels), the origin off the source's pixel edges.
        let (_, _, reader) = try compare(Source(crs: "EPSG:4545", originX: Self.x0 - 1007.3, originY: Self.y1 + 993.1, pixelX: 250, pixelY: -250,
                                                width: 30, height: 22), resampling: "average", "4545 250 m average")
        #expect(reader?.kernel.method == .average)
        // 45 m, 1.5 × upsampled, nodata holes, NaN, ±inf and nodata's ulp neighbours.
        _ = try compare(Source(crs: "EPSG:4545", originX: Self.x0 - 200.3, originY: Self.y1 + 100.7, pixelX: 45, pixelY: -45,
                               width: 130, height: 100), resampling: "average", "4545 45 m average")
        // The grid's own pixel size, 0.3 px off: every pixel straddles two source pixels each way.
        _ = try compare(Source(crs: "EPSG:4545", originX: Self.x0 - 21, originY: Self.y1 + 21, pixelX: 30, pixelY: -30,
                               width: 160, height: 120), resampling: "average", "4545 30 m offset 0.3 px average")
        // Downsampled 10 m → 30 m: three or four source pixels a side, partial weights at the edges.
        _ = try compare(Source(crs: "EPSG:4545", originX: Self.x0 - 95.5, originY: Self.y1 + 55.25, pixelX: 10, pixelY: -10,
                               width: 500, height: 400), resampling: "average", "4545 10 m average")
        // Integer types, a layer nodata overriding the band's, NaN nodata, no nodata, an odd block size.
        _ = try compare(Source(crs: "EPSG:4545", originX: Self.x0 - 200.3, originY: Self.y1 + 100.7, pixelX: 45, pixelY: -45,
                               width: 130, height: 100, type: .int16, nodata: -3), blockSize: 48, resampling: "average", "Int16 average")
        _ = try compare(Source(crs: "EPSG:4545", originX: Self.x0 - 200.3, originY: Self.y1 + 100.7, pixelX: 45, pixelY: -45,
                               width: 130, height: 100, type: .uint16, nodata: nil, layerNodata: 17), resampling: "average", "UInt16 layer nodata average")
        _ = try compare(Source(crs: "EPSG:4545", originX: Self.x0 - 1007.3, originY: Self.y1 + 993.1, pixelX: 250, pixelY: -250,
                               width: 30, height: 22, nodata: .nan), gridWidth: 173, gridHeight: 131, blockSize: 48,
                        resampling: "average", "NaN nodata average")
    }

    @Test func averagePartsOffTheSourceAreLeftToTheWarper() throws {
        // The source ends inside the grid on every side: the chunks over its edges go to the VRT,
        // the others to the kernel, all equal to GDAL.
        let (_, _, reader) = try compare(Source(crs: "EPSG:4545", originX: Self.x0 + 400.3, originY: Self.y1 - 300.7, pixelX: 45, pixelY: -45,
                                                width: 150, height: 110), gridWidth: 300, gridHeight: 220,
                                         resampling: "average", expectKernel: false, "4545 45 m inside the grid")
        #expect((reader?.chunks ?? 0) > 0 && (reader?.delegated ?? 0) > 0, "some parts resampled here, some by the warper")
        // A reprojection: the warper's window is not bounded by the chunk's edges; the VRT reads it.
        let (p, plan) = try project(Source(), resampling: "average")
        try FileManager.default.createDirectory(atPath: p.path("work"), withIntermediateDirectories: true)
        #expect(try Runner(plan: plan, options: RunOptions(threads: 1)).alignLayer(plan.sources[0], work: p.path("work")).alignment == .warp)
    }

    @Test func averageFloat64ValuesAreTheWarpedVRTs() throws {
        // A warp a total shares is Float64: the kernel's doubles against the VRT's, every pixel,
        // in windows that cut chunks (the totals' blocks need not be the VRT's).
        let (p, plan) = try project(Source(crs: "EPSG:4545", originX: Self.x0 - 1007.3, originY: Self.y1 + 993.1, pixelX: 250, pixelY: -250,
                                           width: 30, height: 22), resampling: "average")
        try FileManager.default.createDirectory(atPath: p.path("work"), withIntermediateDirectories: true)
        let layer = try Runner(plan: plan, options: RunOptions(threads: 1)).alignLayer(plan.sources[0], work: p.path("work"), float64: true)
        guard case .warp(let kernel) = layer.reading else { Issue.record("the kernel was not taken (\(layer.alignment))"); return }
        let reader = try WarpKernelReader(kernel)
        let band = try Dataset(open: p.path("work/a.vrt"), flags: [.raster]).band(1)
        #expect(band.pixelType == .float64)
        var differ = 0, valid = 0
        for w in [PixelWindow(x: 0, y: 0, width: 150, height: 110), PixelWindow(x: 37, y: 21, width: 71, height: 50)] {
            var got = [Double](repeating: 0, count: w.count), expected = got
            try got.withUnsafeMutableBufferPointer { try reader.readAverage(w, into: $0) }
            try expected.withUnsafeMutableBufferPointer { try band.read(w, into: $0) }
            for i in 0..<w.count {
                if got[i].bitPattern != expected[i].bitPattern && !(got[i].isNaN && expected[i].isNaN) { differ += 1 }
                if !expected[i].isNaN { valid += 1 }
            }
        }
        #expect(differ == 0, "\(differ) Float64 pixels differ from the VRT's")
        #expect(valid > 0 && reader.chunks > 0 && reader.delegated == 0)
    }

    // MARK: - sum

    /// The layer warped with `resampling` to Float64 (as a total's warp is), the kernel's doubles
    /// against the VRT's in `windows` (every pixel of each), NaN equal to NaN.
    func compareFloat64(_ s: Source, gridWidth: Int = 150, gridHeight: Int = 110, blockSize: Int = 64, resampling: String,
                        windows: [PixelWindow], _ note: String) throws -> WarpKernelReader? {
        let (p, plan) = try project(s, gridWidth: gridWidth, gridHeight: gridHeight, blockSize: blockSize, resampling: resampling)
        try FileManager.default.createDirectory(atPath: p.path("work"), withIntermediateDirectories: true)
        let layer = try Runner(plan: plan, options: RunOptions(threads: 1)).alignLayer(plan.sources[0], work: p.path("work"), float64: true)
        guard case .warp(let kernel) = layer.reading else { Issue.record("\(note): the kernel was not taken (\(layer.alignment))"); return nil }
        let reader = try WarpKernelReader(kernel)
        let band = try Dataset(open: p.path("work/a.vrt"), flags: [.raster]).band(1)
        #expect(band.pixelType == .float64)
        var differ = 0, valid = 0, invalid = 0
        for w in windows {
            var got = [Double](repeating: 0, count: w.count), expected = got
            try got.withUnsafeMutableBufferPointer { try reader.readDouble(w, into: $0) }
            try expected.withUnsafeMutableBufferPointer { try band.read(w, into: $0) }
            for i in 0..<w.count {
                if got[i].bitPattern != expected[i].bitPattern && !(got[i].isNaN && expected[i].isNaN) { differ += 1 }
                if expected[i].isNaN { invalid += 1 } else { valid += 1 }
            }
        }
        #expect(differ == 0, "\(note): \(differ) Float64 pixels differ from the VRT's")
        #expect(valid > 0 && invalid > 0, "\(note): values and nodata")
        return reader
    }

    @Test func sumEqualsTheWarperOnEveryPixel() throws {
        let whole = [PixelWindow(x: 0, y: 0, width: 150, height: 110), PixelWindow(x: 37, y: 21, width: 71, height: 50)]
        // The demo's floor area: 250 m summed onto 30 m. The chunks at x 64 and 128 have source
        // pixels the warper's antimeridian repair moves (two scales left of the chunk's offset).
        let coarse = Source(crs: "EPSG:4545", originX: Self.x0 - 1007.3, originY: Self.y1 + 993.1, pixelX: 250, pixelY: -250, width: 30, height: 22)
        var reader = try compareFloat64(coarse, resampling: "sum", windows: whole, "4545 250 m sum")
        #expect((reader?.chunks ?? 0) > 0 && reader?.delegated == 0 && reader?.kernel.method == .sum)
        // Through the model's Float32 reading too, in the run's units.
        _ = try compare(coarse, resampling: "sum", "4545 250 m sum, Float32")
        // 45 m (1.5 × upsampled) and 10 m (a destination pixel sums about nine source pixels: a deeper tree).
        reader = try compareFloat64(Source(crs: "EPSG:4545", originX: Self.x0 - 200.3, originY: Self.y1 + 100.7, pixelX: 45, pixelY: -45,
                                           width: 130, height: 100), resampling: "sum", windows: whole, "4545 45 m sum")
        #expect(reader?.delegated == 0)
        reader = try compareFloat64(Source(crs: "EPSG:4545", originX: Self.x0 - 95.5, originY: Self.y1 + 55.25, pixelX: 10, pixelY: -10,
                                           width: 500, height: 400), blockSize: 48, resampling: "sum", windows: whole, "4545 10 m sum")
        #expect(reader?.delegated == 0)
        // Integer source with nodata; the source ending inside the grid (chunks off it go to the VRT).
        _ = try compareFloat64(Source(crs: "EPSG:4545", originX: Self.x0 - 200.3, originY: Self.y1 + 100.7, pixelX: 45, pixelY: -45,
                                      width: 130, height: 100, type: .int16, nodata: -3), resampling: "sum", windows: whole, "Int16 sum")
        reader = try compareFloat64(Source(crs: "EPSG:4545", originX: Self.x0 + 400.3, originY: Self.y1 - 300.7, pixelX: 45, pixelY: -45,
                                           width: 150, height: 110), gridWidth: 300, gridHeight: 220, resampling: "sum",
                                    windows: [PixelWindow(x: 0, y: 0, width: 300, height: 220)], "4545 45 m sum inside the grid")
        #expect((reader?.chunks ?? 0) > 0)
    }

    @Test func sumWithWarperThreadsIsLeftToTheWarper() throws {
        // GDAL_NUM_THREADS splits a chunk's rows between threads, each with a tree of its own.
        let reader = try ConfigOptions.withThreadLocalOptions(["GDAL_NUM_THREADS": "2"]) {
            try compareFloat64(Source(crs: "EPSG:4545", originX: Self.x0 - 1007.3, originY: Self.y1 + 993.1, pixelX: 250, pixelY: -250,
                                      width: 30, height: 22), resampling: "sum",
                               windows: [PixelWindow(x: 0, y: 0, width: 150, height: 110)], "sum, 2 warper threads")
        }
        #expect(reader?.chunks == 0 && (reader?.delegated ?? 0) > 0)
    }

    @Test func quadTreeOrderIsDepthFirstWithSplitsAsCPL() {
        // Ten rectangles in a 100 × 100 tree. The ninth insertion splits the root (square: along y
        // first, then each half along x, ratio 0.55): quads [0,55]², [45,100]×[0,55], [0,55]×[45,100],
        // [45,100]². The rectangle [40,60]² fits none and stays in the root; the others go to
        // their quads in insertion order; a search lists the root's, then each quad's.
        typealias R = WarpKernelReader.Rect
        let at = { (x: Double, y: Double) in R(minX: x, minY: y, maxX: x + 1, maxY: y + 1) }
        let rects = [at(80, 80), at(10, 10), R(minX: 40, minY: 40, maxX: 60, maxY: 60), at(10, 80), at(80, 10), at(20, 20), at(90, 90),
                     at(20, 70), at(30, 30), at(85, 5)]
        let order = QuadTreeOrder(bounds: R(minX: 0, minY: 0, maxX: 100, maxY: 100), rects: rects).order
        #expect(order == [2, 1, 5, 8, 4, 9, 3, 7, 0, 6], "\(order)")
        // Eight rectangles: no split, insertion order.
        #expect(QuadTreeOrder(bounds: R(minX: 0, minY: 0, maxX: 100, maxY: 100), rects: Array(rects.prefix(8))).order == Array(0..<8))
    }
}
