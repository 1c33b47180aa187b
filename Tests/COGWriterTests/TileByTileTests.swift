import Foundation
import GDALKit
import Testing

@testable import COGWriter

/// The writer's tile-by-tile path (even sizes: full-resolution tiles compressed from the windows,
/// level 1 made from each tile) against GDAL as oracle, against the row-by-row fallback byte for
/// byte, and what it holds in memory.
@Suite struct TileByTileTests {
    typealias Case = (width: Int, height: Int, tile: Int, bw: Int, bh: Int, threads: Int)

    static func options<S: COGSample>(_ s: S.Type, width: Int, height: Int, tile: Int, sizing: OverviewSizing = .cogDriver,
                                      rowByRow: Bool = false) throws -> COGWriter<S>.Options {
        let byte = S.self == UInt8.self
        var o = COGWriter<S>.Options(width: width, height: height, tileSize: tile, nodata: byte ? 0 : -9999,
                                     resampling: byte ? .nearest : .average, template: try COGWriterTests.template(byte: byte))
        o.sizing = sizing
        o.rowByRow = rowByRow
        return o
    }

    /// Whether a writer with these options goes tile by tile (it creates and removes a spill file).
    static func tileLocal<S: COGSample>(_ options: COGWriter<S>.Options, in dir: String) throws -> Bool {
        let writer = try COGWriter<S>(path: "\(dir)/probe.tif", spillPath: "\(dir)/probe.spill", options: options)
        defer { writer.abandon() }
        return writer.tileLocal
    }

    /// Writes `values` in windows of `bw` × `bh` from `threads` threads, in row-major order
    /// (`scrambled` false: each thread takes the next window), in `TileOrder` (`tileOrder`: as
    /// the compute stage hands out units) or scrambled; returns the writer's buffer figures.
    @discardableResult
    static func write<S: COGSample>(_ values: [S], options: COGWriter<S>.Options, path: String, bw: Int, bh: Int,
                                    threads: Int, scrambled: Bool, tileOrder: Bool = false) throws -> (tileLocal: Bool, now: Int, peak: Int, largest: Int) {
        let (width, height) = (options.width, options.height)
        let writer = try COGWriter<S>(path: path, spillPath: path + ".spill", options: options)
        var all: [(Int, Int, Int, Int)] = []
        for y in stride(from: 0, to: height, by: bh) {
            for x in stride(from: 0, to: width, by: bw) { all.append((x, y, min(bw, width - x), min(bh, height - y))) }
        }
        var ordered = scrambled ? all.enumerated().sorted { ($0.offset * 7919) % 101 < ($1.offset * 7919) % 101 }.map(\.element) : all
        if tileOrder {
            let order = TileOrder(width: width, height: height, tileSize: options.tileSize, sizing: options.sizing)
            let t = options.tileSize
            ordered.sort { a, b in
                let (ka, kb) = (order.key(column: a.0 / t, row: a.1 / t), order.key(column: b.0 / t, row: b.1 / t))
                return (ka.band, ka.position, a.1, a.0) < (kb.band, kb.position, b.1, b.0)
            }
        }
        let windows = ordered
        let lock = NSLock()
        nonisolated(unsafe) var next = 0
        nonisolated(unsafe) var failure: Error?
        let group = DispatchGroup()
        for _ in 0..<threads {
            group.enter()
            Thread {
                defer { group.leave() }
                while true {
                    lock.lock(); let i = next; next += 1; lock.unlock()
                    guard i < windows.count else { return }
                    let (x, y, w, h) = windows[i]
                    var part: [S] = []
                    part.reserveCapacity(w * h)
                    for r in y..<(y + h) { part += values[(r * width + x)..<(r * width + x + w)] }
                    do { try part.withUnsafeBufferPointer { try writer.write(x: x, y: y, width: w, height: h, $0) } } catch {
                        lock.lock(); failure = error; lock.unlock()
                    }
                }
            }.start()
        }
        group.wait()
        if let failure { throw failure }
        try writer.finish()
        let figures = writer.bufferedBytes
        return (writer.tileLocal, figures.now, figures.peak, figures.largest)
    }

    /// Even sizes, so the writer goes tile by tile: whole aligned tiles, strips shorter than a
    /// tile, windows across tile edges, one window for everything, a partial last tile row; base
    /// pixels equal GDAL's COG driver's, overviews equal its overviews and `gdaladdo`'s (no
    /// tolerance), both validators pass.
    @Test(arguments: [(320, 192, 64, 64, 64, 2), (320, 192, 64, 128, 16, 3), (320, 200, 64, 100, 48, 2),
                      (336, 130, 64, 336, 130, 1), (256, 48, 16, 48, 48, 4)] as [Case])
    func float32TileByTileAgainstGDAL(_ c: Case) throws {
        let dir = try COGWriterTests.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try Self.tileLocal(try Self.options(Float.self, width: c.width, height: c.height, tile: c.tile), in: dir))
        #expect(try Self.tileLocal(try Self.options(Float.self, width: c.width, height: c.height, tile: c.tile, sizing: .gdaladdo), in: dir))
        let values = COGWriterTests.floatValues(width: c.width, height: c.height, seed: 17)
        try COGWriterTests.writeCOG(values, width: c.width, height: c.height, tile: c.tile, nodata: -9999, resampling: .average, byte: false,
                                    path: "\(dir)/ours.tif", bw: c.bw, bh: c.bh, threads: c.threads)
        try COGWriterTests.writeCOG(values, width: c.width, height: c.height, tile: c.tile, nodata: -9999, resampling: .average, byte: false,
                                    path: "\(dir)/ours-addo.tif", bw: c.bw, bh: c.bh, threads: c.threads, sizing: .gdaladdo)
        try COGWriterTests.reference(values, width: c.width, height: c.height, tile: c.tile, byte: false, folder: dir)
        try Self.expectEqualToGDAL(try COGWriterTests.check(folder: dir), c)
    }

    @Test(arguments: [(320, 192, 64, 64, 64, 2), (258, 700, 64, 50, 33, 3), (512, 64, 16, 512, 8, 1)] as [Case])
    func byteTileByTileAgainstGDAL(_ c: Case) throws {
        let dir = try COGWriterTests.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try Self.tileLocal(try Self.options(UInt8.self, width: c.width, height: c.height, tile: c.tile), in: dir))
        let values = COGWriterTests.byteValues(width: c.width, height: c.height)
        try COGWriterTests.writeCOG(values, width: c.width, height: c.height, tile: c.tile, nodata: 0, resampling: .nearest, byte: true,
                                    path: "\(dir)/ours.tif", bw: c.bw, bh: c.bh, threads: c.threads)
        try COGWriterTests.writeCOG(values, width: c.width, height: c.height, tile: c.tile, nodata: 0, resampling: .nearest, byte: true,
                                    path: "\(dir)/ours-addo.tif", bw: c.bw, bh: c.bh, threads: c.threads, sizing: .gdaladdo)
        try COGWriterTests.reference(values, width: c.width, height: c.height, tile: c.tile, byte: true, folder: dir)
        try Self.expectEqualToGDAL(try COGWriterTests.check(folder: dir), c)
    }

    /// Odd sizes take the fallback (full-width tile rows), and still equal GDAL: the existing
    /// oracle tests cover it on more shapes; here one Float32 and one Byte case, each checked
    /// to be row by row.
    @Test func oddSizesFallBackToRowsAndEqualGDAL() throws {
        for (width, height, byte) in [(321, 192, false), (320, 193, true)] {
            let dir = try COGWriterTests.folder()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            if byte {
                #expect(try !Self.tileLocal(try Self.options(UInt8.self, width: width, height: height, tile: 64), in: dir))
                let values = COGWriterTests.byteValues(width: width, height: height)
                for (path, sizing) in [("ours", OverviewSizing.cogDriver), ("ours-addo", .gdaladdo)] {
                    try COGWriterTests.writeCOG(values, width: width, height: height, tile: 64, nodata: 0, resampling: .nearest, byte: true,
                                                path: "\(dir)/\(path).tif", bw: 64, bh: 64, threads: 2, sizing: sizing)
                }
                try COGWriterTests.reference(values, width: width, height: height, tile: 64, byte: true, folder: dir)
            } else {
                #expect(try !Self.tileLocal(try Self.options(Float.self, width: width, height: height, tile: 64), in: dir))
                let values = COGWriterTests.floatValues(width: width, height: height, seed: 23)
                for (path, sizing) in [("ours", OverviewSizing.cogDriver), ("ours-addo", .gdaladdo)] {
                    try COGWriterTests.writeCOG(values, width: width, height: height, tile: 64, nodata: -9999, resampling: .average, byte: false,
                                                path: "\(dir)/\(path).tif", bw: 64, bh: 64, threads: 2, sizing: sizing)
                }
                try COGWriterTests.reference(values, width: width, height: height, tile: 64, byte: false, folder: dir)
            }
            try Self.expectEqualToGDAL(try COGWriterTests.check(folder: dir), (width, height, 64, 64, 64, 2))
        }
    }

    static func expectEqualToGDAL(_ r: [String: Any], _ c: Case) throws {
        let levels = r["levels"] as! [Int]
        #expect(levels.allSatisfy { $0 == levels[0] } && levels[0] > 1, "\(c): \(levels)")
        #expect(r["shapes"] as! Bool, "\(c)")
        #expect(r["base_vs_gdal"] as! Int == 0, "\(c)")
        #expect((r["overviews_vs_gdal_cog"] as! [Int]).allSatisfy { $0 == 0 }, "\(c): \(r["overviews_vs_gdal_cog"]!) \(r["max_abs_vs_gdal_cog"]!)")
        #expect((r["overviews_vs_addo"] as! [Int]).allSatisfy { $0 == 0 }, "\(c): \(r["overviews_vs_addo"]!)")
        #expect((r["gdalinfo_differences"] as! [Any]).isEmpty, "\(c): \(r["gdalinfo_differences"]!)")
        #expect((r["validator"] as! [Any])[0] as! Int == 0, "\(c): \(r["validator"]!)")
        #expect((r["rio"] as! [Any])[0] as! Int == 0, "\(c): \(r["rio"]!)")
    }

    /// Tile by tile and row by row write the same bytes (both sizings, both sample types, no
    /// overview / one / many, BigTIFF, 1–4 threads, windows in order or scrambled).
    @Test func tileByTileAndRowByRowWriteTheSameBytes() throws {
        let dir = try COGWriterTests.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // (width, height, tile, window, threads, scrambled)
        let cases: [(Int, Int, Int, (Int, Int), Int, Bool)] = [
            (320, 192, 64, (64, 64), 1, false), (320, 192, 64, (40, 100), 4, true), (320, 192, 64, (320, 16), 2, true),
            (128, 96, 64, (32, 32), 3, true), (64, 48, 64, (16, 16), 2, true), (1000, 34, 16, (48, 17), 4, true),
        ]
        for (width, height, tile, window, threads, scrambled) in cases {
            for sizing in [OverviewSizing.cogDriver, .gdaladdo] {
                let floats = COGWriterTests.floatValues(width: width, height: height, seed: 29)
                var a = try Self.options(Float.self, width: width, height: height, tile: tile, sizing: sizing)
                var b = try Self.options(Float.self, width: width, height: height, tile: tile, sizing: sizing, rowByRow: true)
                a.bigTIFF = width == 1000
                b.bigTIFF = a.bigTIFF
                let fa = try Self.write(floats, options: a, path: "\(dir)/a.tif", bw: window.0, bh: window.1, threads: threads, scrambled: scrambled)
                let fb = try Self.write(floats, options: b, path: "\(dir)/b.tif", bw: window.0, bh: window.1, threads: threads, scrambled: scrambled)
                let bytes = try Self.write(COGWriterTests.byteValues(width: width, height: height),
                                           options: try Self.options(UInt8.self, width: width, height: height, tile: tile, sizing: sizing),
                                           path: "\(dir)/c.tif", bw: window.0, bh: window.1, threads: threads, scrambled: scrambled)
                try Self.write(COGWriterTests.byteValues(width: width, height: height),
                               options: try Self.options(UInt8.self, width: width, height: height, tile: tile, sizing: sizing, rowByRow: true),
                               path: "\(dir)/d.tif", bw: window.0, bh: window.1, threads: threads, scrambled: scrambled)
                let label = "\(width)×\(height) tile \(tile) window \(window) threads \(threads) \(sizing)"
                #expect(fa.tileLocal && bytes.tileLocal && !fb.tileLocal, "\(label)")
                #expect(fa.now == 0 && fb.now == 0 && bytes.now == 0, "\(label): buffers left after finish")
                let files = try ["a", "b", "c", "d"].map { try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\($0).tif")) }
                #expect(files[0] == files[1] && files[0].count > 1000, "\(label): Float32")
                #expect(files[2] == files[3] && files[2].count > 500, "\(label): Byte")
            }
        }
    }

    /// A wide raster (4096 × 64, tile 16) written in row-major windows (not the compute stage's
    /// tile order: the quadtree's worst case): tile by tile, no buffer is larger than a tile and
    /// all together hold less than one full-width tile row; the row-by-row path on the same
    /// raster holds full-width tile rows (the meter sees them); both write the same bytes.
    @Test func aWideRasterHoldsNoFullWidthTileRow() throws {
        let (width, height, t) = (4096, 64, 16)
        let dir = try COGWriterTests.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let values = COGWriterTests.floatValues(width: width, height: height, seed: 31)
        let fullRow = width * t * 4
        let half = (width / 2) * (t / 2) * 4
        // Levels 2 and up: a tile row's worth each.
        let levels = cogOverviewSizes(width: width, height: height, tileSize: t).dropFirst().map { $0.width * min(t, $0.height) * 4 }.reduce(0, +)

        // Whole tiles: the partial tiles of one tile row per quadtree level, a tile each.
        let tiles = try Self.write(values, options: try Self.options(Float.self, width: width, height: height, tile: t),
                                   path: "\(dir)/tiles.tif", bw: 64, bh: 16, threads: 1, scrambled: false)
        #expect(tiles.tileLocal)
        #expect(tiles.largest <= t * t * 4, "largest \(tiles.largest) > a tile")
        #expect(tiles.peak <= 2 * half + levels, "peak \(tiles.peak) > \(2 * half + levels)")
        #expect(tiles.peak < fullRow, "peak \(tiles.peak) ≥ a full-width tile row \(fullRow)")

        // Strips of 8 rows: a tile row of tile buffers (each one tile), plus the same partial tiles.
        let strips = try Self.write(values, options: try Self.options(Float.self, width: width, height: height, tile: t),
                                    path: "\(dir)/strips.tif", bw: 512, bh: 8, threads: 1, scrambled: false)
        #expect(strips.tileLocal)
        #expect(strips.largest <= t * t * 4, "largest \(strips.largest)")
        #expect(strips.peak <= fullRow + 2 * half + levels, "peak \(strips.peak)")

        // Row by row: full-width tile rows.
        let rows = try Self.write(values, options: try Self.options(Float.self, width: width, height: height, tile: t, rowByRow: true),
                                  path: "\(dir)/rows.tif", bw: 64, bh: 16, threads: 1, scrambled: false)
        #expect(!rows.tileLocal)
        #expect(rows.largest == fullRow, "largest \(rows.largest)")
        #expect(rows.peak >= fullRow + width / 2 * t * 4, "peak \(rows.peak)")

        print("wide raster \(width)×\(height) tile \(t): tile by tile \(tiles), strips \(strips), row by row \(rows); full-width tile row \(fullRow), bound \(2 * half + levels)")
        let files = try ["tiles", "strips", "rows"].map { try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\($0).tif")) }
        #expect(files[0] == files[2] && files[1] == files[2])
    }

    /// In `TileOrder` (the compute stage's order) the writer holds a few tiles per level: the
    /// same whatever the width, within `TileOrder.heldPixels`, for whole tiles, 2 × 2 tiles and
    /// strips; row-major order on the same raster holds tile rows. The bytes equal the row-by-row
    /// path's at 1 to 4 threads.
    @Test func inTileOrderTheBuffersDoNotGrowWithTheWidth() throws {
        let t = 16
        let dir = try COGWriterTests.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var peaks: [Int: Int] = [:]
        for side in [512, 1024] {
            let values = COGWriterTests.floatValues(width: side, height: side, seed: 37)
            let order = TileOrder(width: side, height: side, tileSize: t)
            #expect(order.quadtreeLevels == cogOverviewSizes(width: side, height: side, tileSize: t).count)
            try Self.write(values, options: try Self.options(Float.self, width: side, height: side, tile: t, rowByRow: true),
                           path: "\(dir)/rows-\(side).tif", bw: 16, bh: 16, threads: 1, scrambled: false)
            let rows = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/rows-\(side).tif"))
            // The bound holds for one thread (the helper's threads may run apart without limit;
            // the compute stage bounds the units in flight); more threads: the same bytes.
            for (bw, bh, threads) in [(16, 16, 1), (32, 32, 1), (16, 4, 1), (16, 16, 4), (32, 32, 3), (16, 4, 4)] {
                let label = "\(side)² units \(bw)×\(bh) threads \(threads)"
                let f = try Self.write(values, options: try Self.options(Float.self, width: side, height: side, tile: t),
                                       path: "\(dir)/z.tif", bw: bw, bh: bh, threads: threads, scrambled: false, tileOrder: true)
                let bound = order.heldPixels(width: side, height: side, tileSize: t, unitWidth: bw, unitHeight: bh, inFlight: threads) * 4
                #expect(f.tileLocal && f.now == 0, "\(label)")
                #expect(threads > 1 || f.peak <= bound, "\(label): peak \(f.peak) > bound \(bound)")
                #expect(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/z.tif")) == rows, "\(label): bytes")
                if threads == 1 && bw == 16 && bh == 16 { peaks[side] = f.peak }
            }
            // Row-major: the partial tiles of a tile row per level, more than a tile row of level 1.
            let r = try Self.write(values, options: try Self.options(Float.self, width: side, height: side, tile: t),
                                   path: "\(dir)/r.tif", bw: 16, bh: 16, threads: 1, scrambled: false)
            #expect(r.peak >= side / 2 * t * 4, "\(side)²: row-major peak \(r.peak)")
        }
        print("tile order, 16 px tiles, whole tiles, 1 thread: peak buffered bytes \(peaks)")
        // One more level, one more tile and its feeding: not twice the width's worth.
        #expect(peaks[1024]! <= peaks[512]! + 2 * t * t * 4, "\(peaks)")
    }
}
