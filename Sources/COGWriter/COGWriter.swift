import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A streamed Cloud-Optimized GeoTIFF writer (one band, DEFLATE through libdeflate).
///
/// Windows of the raster arrive in any order from any thread (`write`). Compressed tiles go to a
/// spill file; `finish()` lays the file out as GDAL's COG driver does: header, the
/// GDAL_STRUCTURAL_METADATA ghost area, the IFDs (full resolution, then overviews largest first)
/// with their values, the tile offset and size arrays, then the tiles (smallest overview first,
/// full resolution last, each row-major), every tile with its size as a 4-byte leader and its
/// last 4 bytes repeated as trailer.
///
/// Two ways to the same bytes:
/// - **Tile by tile** (`tileLocal`: no overview, or the first overview exactly halves an even
///   width and height, as GDAL's COG driver and `gdaladdo` size it then): a tile a window covers
///   whole is predicted and compressed at once by the thread that wrote it, straight from the
///   window; a tile a window covers in part (strips, windows not aligned with the tiles) is
///   collected in a tile-sized buffer until complete. Every level that exactly halves the one
///   above (the first `quadtreeLevels`) is made as a quadtree: a completed tile of level k gives
///   its quarter of the level-(k + 1) tile above it (each pixel of that level covers 2 × 2 pixels
///   of one tile), and that tile is compressed when its quarters are all in. Below the last such
///   level (odd sizes further down) its tiles are gathered into tile rows whose rows go in row
///   order down the rest of the pyramid (`OverviewLevel`, whose tiles are compressed as their
///   rows complete).
/// - **Row by row** (the fallback: odd sizes, or `gdaladdo` sizing whose first ratio is not 2):
///   every window is copied into the full-width tile row of the full resolution it belongs to;
///   when a tile row is complete its tiles are compressed and its rows go in order down the
///   whole pyramid.
/// Both compute every overview pixel with the same code (`OverviewLevel.makePixels`).
///
/// Memory (`bufferedBytes`) depends on the order of the windows. Tile by tile, in `TileOrder`
/// (the quadtree's order: what the compute stage hands out) the writer holds a few partial tiles
/// per level, whatever the width, plus, when a level below the quadtree is not a halving, the
/// tile rows of the last quadtree level (`width / 2^q` wide) and one tile row per level below;
/// in row-major order, the partial tiles of one tile row per quadtree level. Row by row: the
/// full-width tile rows being filled and one tile row per overview level. Besides: a tile and its
/// predicted bytes per writing thread, the tiles being compressed, a few rows per overview level.
public final class COGWriter<S: COGSample>: @unchecked Sendable {
    public struct Options: Sendable {
        public var width: Int
        public var height: Int
        public var tileSize: Int
        public var nodata: Double?
        public var resampling: OverviewResampling
        /// libdeflate's level; 6 is what GDAL uses for DEFLATE by default.
        public var deflateLevel: Int
        /// Descriptive tags (georeferencing, GeoKeys, nodata, colour map, metadata).
        public var template: TIFFTemplate
        /// Overview sizes: GDAL's COG driver's (default) or gdaladdo's.
        public var sizing: OverviewSizing = .cogDriver
        /// BigTIFF or classic TIFF; nil (default): classic unless the file passes 4 GiB.
        public var bigTIFF: Bool? = nil
        /// Tests: buffer full-width tile rows even where the writer could go tile by tile (the
        /// fallback's path on any raster, to compare the bytes of both).
        var rowByRow = false

        public init(width: Int, height: Int, tileSize: Int, nodata: Double?, resampling: OverviewResampling,
                    deflateLevel: Int = 6, template: TIFFTemplate) {
            self.width = width
            self.height = height
            self.tileSize = tileSize
            self.nodata = nodata
            self.resampling = resampling
            self.deflateLevel = deflateLevel
            self.template = template
        }
    }

    public let path: String
    public let options: Options
    /// Whether the full resolution is written tile by tile and level 1 made from its tiles (see above).
    let tileLocal: Bool
    private let spillPath: String
    private let spill: Int32
    private let pool: DeflatePool
    private let t: Int
    /// Tiles across and down the full resolution.
    private let across: Int, down: Int
    /// Per level (0 = full resolution): size, tiles across, and each tile's (spill offset, size).
    private var levelSizes: [(width: Int, height: Int)]
    private var tiles: [[(offset: Int, size: Int)]]

    /// Pixels held for later: a tile, a tile row, or a tile row of the last quadtree level. Counted by `meter`.
    private final class Band {
        let width: Int
        let rows: Int
        let buffer: UnsafeMutableBufferPointer<S>
        private let meter: BufferMeter
        var filled = 0
        init(width: Int, rows: Int, zeroed: Bool = false, meter: BufferMeter) {
            self.width = width
            self.rows = rows
            self.meter = meter
            buffer = .allocate(capacity: width * rows)
            if zeroed { UnsafeMutableRawBufferPointer(buffer).initializeMemory(as: UInt8.self, repeating: 0) }
            meter.add(width * rows * MemoryLayout<S>.stride)
        }
        deinit {
            buffer.deallocate()
            meter.add(-width * rows * MemoryLayout<S>.stride)
        }
        func row(_ r: Int) -> UnsafePointer<S> { UnsafePointer(buffer.baseAddress! + r * width) }
    }
    private let meter = BufferMeter()

    /// Tile by tile: the overview levels made as a quadtree (each exactly halves the one above).
    let quadtreeLevels: Int

    // Guarded by `lock`. Row by row: the full-resolution tile rows being filled. Tile by tile:
    // the tiles partially filled (by tile index), per quadtree level its tiles whose quarters are
    // not all in (by tile index), and the tile rows of the last quadtree level being gathered
    // for the levels below it (by tile row).
    private let lock = NSLock()
    private var bands: [Int: Band] = [:]
    private var partialTiles: [Int: Band] = [:]
    private var quads: [[Int: Band]] = []
    private var gathered: [Int: Band] = [:]
    private var spillEnd = 0
    /// Full-resolution tile rows (row by row) or tiles (tile by tile) compressed.
    private var completed = 0
    private var failure: Error?

    // The overview pyramid, fed in row order (guarded by `pyramidLock`; one thread drains):
    // full-resolution tile rows (row by row) or tile rows of the last quadtree level (tile by tile).
    private let pyramidLock = NSLock()
    private var readyBands: [Int: Band] = [:]
    private var nextBand = 0
    private var draining = false
    private var levels: [OverviewLevel<S>] = []
    /// Per overview level: its tile row being filled (allocated when first needed) and the rows in it.
    private var levelRows: [Band?] = []
    private var levelRowCount: [Int] = []
    private var levelTileRow: [Int] = []

    /// `spillPath`: a temporary file for the compressed tiles (removed by `finish` or `abandon`).
    public init(path: String, spillPath: String, options: Options) throws {
        guard options.width > 0, options.height > 0, options.tileSize >= 16, options.tileSize % 16 == 0 else {
            throw COGError.usage("COG writer: bad size \(options.width)×\(options.height) or tile size \(options.tileSize) (a multiple of 16)")
        }
        self.path = path
        self.options = options
        self.spillPath = spillPath
        t = options.tileSize
        across = (options.width + t - 1) / t
        down = (options.height + t - 1) / t
        pool = DeflatePool(level: options.deflateLevel)
        let edge = options.tileSize
        let sizes = [(width: options.width, height: options.height)] + cogOverviewSizes(width: options.width, height: options.height, tileSize: edge, sizing: options.sizing)
        levelSizes = sizes
        tiles = sizes.map { [(offset: Int, size: Int)](repeating: (0, 0), count: ((($0.width + edge - 1) / edge) * (($0.height + edge - 1) / edge))) }
        for k in 1..<levelSizes.count {
            let src = levelSizes[k - 1], dst = levelSizes[k]
            levels.append(OverviewLevel(srcWidth: src.width, srcHeight: src.height, width: dst.width, height: dst.height,
                                        resampling: options.resampling, nodata: options.nodata))
            levelRows.append(nil)
            levelRowCount.append(0)
            levelTileRow.append(0)
        }
        // The tile size is even, so with a level of exactly half the size of the one above every
        // tile's pixels of that level come from that tile alone.
        quadtreeLevels = options.rowByRow ? 0 : TileOrder(width: options.width, height: options.height, tileSize: t,
                                                          sizing: options.sizing).quadtreeLevels
        assert(quadtreeLevels == 0 || levels.prefix(quadtreeLevels).allSatisfy(\.halvesExactly))
        tileLocal = !options.rowByRow && (levels.isEmpty || quadtreeLevels > 0)
        quads = [[Int: Band]](repeating: [:], count: quadtreeLevels + 1)
        let fd = open(spillPath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw COGError.io("\(spillPath): cannot create the tile spill file: \(String(cString: strerror(errno)))") }
        spill = fd
    }

    deinit {
        close(spill)
        unlink(spillPath)
    }

    /// Overview levels (not counting the full resolution).
    public var overviewCount: Int { levelSizes.count - 1 }

    /// Bytes of pixels the writer holds for later (tiles and tile rows being filled):
    /// now, the most at once so far, and the largest single buffer so far.
    var bufferedBytes: (now: Int, peak: Int, largest: Int) { meter.figures }

    /// Hands over a window of the full-resolution raster (row-major, `width` × `height` values).
    /// Windows may come in any order and from any thread, but must not overlap.
    @_specialize(where S == Float)
    @_specialize(where S == UInt8)
    public func write(x: Int, y: Int, width: Int, height: Int, _ values: UnsafeBufferPointer<S>) throws {
        precondition(values.count >= width * height && x >= 0 && y >= 0 && x + width <= options.width && y + height <= options.height)
        lock.lock()
        if let failure { lock.unlock(); throw failure }
        lock.unlock()
        do {
            if tileLocal {
                try writeTiles(x: x, y: y, width: width, height: height, values)
            } else {
                try writeRows(x: x, y: y, width: width, height: height, values)
            }
        } catch {
            lock.lock(); if failure == nil { failure = error }; lock.unlock()
            throw error
        }
    }

    /// Tile by tile: every tile the window covers whole is compressed from the window; the
    /// others collect the window's part until complete.
    @_specialize(where S == Float)
    @_specialize(where S == UInt8)
    private func writeTiles(x: Int, y: Int, width: Int, height: Int, _ values: UnsafeBufferPointer<S>) throws {
        guard width > 0, height > 0 else { return }
        let W = options.width, H = options.height
        let size = MemoryLayout<S>.stride
        var scratch: TileScratch?
        defer { scratch?.deallocate() }
        for tr in (y / t)...((y + height - 1) / t) {
            for tc in (x / t)...((x + width - 1) / t) {
                let tx = tc * t, ty = tr * t
                let tw = min(t, W - tx), th = min(t, H - ty)
                // The part of the tile in the window.
                let x0 = max(x, tx), x1 = min(x + width, tx + tw)
                let y0 = max(y, ty), y1 = min(y + height, ty + th)
                if scratch == nil { scratch = TileScratch(tileSize: t, sample: S.self) }
                if x0 == tx && x1 == tx + tw && y0 == ty && y1 == ty + th {
                    let tile = scratch!.tile.bindMemory(to: S.self)
                    // Edge tiles are filled with zero bytes past the raster, as GDAL's COG driver fills them.
                    if tw < t || th < t { scratch!.tile.initializeMemory(as: UInt8.self, repeating: 0) }
                    for r in 0..<th {
                        UnsafeMutableRawPointer(tile.baseAddress! + r * t)
                            .copyMemory(from: values.baseAddress! + (ty + r - y) * width + (tx - x), byteCount: tw * size)
                    }
                    try completeTile(level: 0, row: tr, column: tc, UnsafePointer(tile.baseAddress!), scratch!)
                    continue
                }
                let index = tr * across + tc
                let band = buffer(\.partialTiles, index) { Band(width: t, rows: t, zeroed: true, meter: meter) }
                for r in y0..<y1 {
                    UnsafeMutableRawPointer(band.buffer.baseAddress! + (r - ty) * t + (x0 - tx))
                        .copyMemory(from: values.baseAddress! + (r - y) * width + (x0 - x), byteCount: (x1 - x0) * size)
                }
                if filled((x1 - x0) * (y1 - y0), of: tw * th, band, \.partialTiles, index) {
                    try completeTile(level: 0, row: tr, column: tc, UnsafePointer(band.buffer.baseAddress!), scratch!)
                }
            }
        }
    }

    /// A complete tile of `level` (`t` × `t` values, zero past the level's edge): compressed;
    /// then its quarter of the tile above it in the quadtree, or, below the quadtree's last
    /// level, into that level's tile row.
    @_specialize(where S == Float)
    @_specialize(where S == UInt8)
    private func completeTile(level k: Int, row tr: Int, column tc: Int, _ tile: UnsafePointer<S>, _ scratch: TileScratch) throws {
        let size = levelSizes[k]
        let tilesAcross = (size.width + t - 1) / t
        try encodeTile(level: k, index: tr * tilesAcross + tc, tile, scratch)
        let tw = min(t, size.width - tc * t), th = min(t, size.height - tr * t)
        if k < quadtreeLevels {
            let above = levels[k], up = levelSizes[k + 1]
            let half = t / 2
            let (pr, pc) = (tr / 2, tc / 2)
            let index = pr * ((up.width + t - 1) / t) + pc
            let (pw, ph) = (min(t, up.width - pc * t), min(t, up.height - pr * t))
            // Edge tiles are zero past the level's edge, as GDAL's COG driver fills them.
            let band = buffer(\.quads[k + 1], index) { Band(width: t, rows: t, zeroed: pw < t || ph < t, meter: meter) }
            above.makePixels(columns: (tc * half)..<(tc * half + tw / 2), rows: (tr * half)..<(tr * half + th / 2), from: tile,
                             originX: tc * t, originY: tr * t, stride: t,
                             into: band.buffer.baseAddress! + (tr % 2) * half * t + (tc % 2) * half, outStride: t)
            if filled((tw / 2) * (th / 2), of: pw * ph, band, \.quads[k + 1], index) {
                try completeTile(level: k + 1, row: pr, column: pc, UnsafePointer(band.buffer.baseAddress!), scratch)
            }
        } else if k < levels.count {
            // The levels below the quadtree are made row by row from this level's tile rows.
            let band = buffer(\.gathered, tr) { Band(width: size.width, rows: th, meter: meter) }
            for r in 0..<th {
                UnsafeMutableRawPointer(band.buffer.baseAddress! + r * size.width + tc * t)
                    .copyMemory(from: tile + r * t, byteCount: tw * MemoryLayout<S>.stride)
            }
            if filled(tw * th, of: size.width * th, band, \.gathered, tr) { try feedPyramid(tr, band, level: k, scratch) }
        }
        if k == 0 { countCompleted() }
    }

    private func countCompleted() {
        lock.lock(); defer { lock.unlock() }
        completed += 1
    }

    /// Row by row: the window into the full-width tile rows it covers; a complete tile row is
    /// compressed and goes down the pyramid.
    @_specialize(where S == Float)
    @_specialize(where S == UInt8)
    private func writeRows(x: Int, y: Int, width: Int, height: Int, _ values: UnsafeBufferPointer<S>) throws {
        let W = options.width
        var row = y
        while row < y + height {
            let b = row / t
            let bandTop = b * t
            let bandRows = min(t, options.height - bandTop)
            let rowsHere = min(y + height, bandTop + bandRows) - row
            let band = buffer(\.bands, b) { Band(width: W, rows: bandRows, meter: meter) }
            for r in 0..<rowsHere {
                let src = values.baseAddress! + (row - y + r) * width
                let dst = band.buffer.baseAddress! + (row - bandTop + r) * W + x
                UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: width * MemoryLayout<S>.stride)
            }
            if filled(rowsHere * width, of: bandRows * W, band, \.bands, b) {
                let scratch = TileScratch(tileSize: t, sample: S.self)
                defer { scratch.deallocate() }
                try encodeTileRow(level: 0, tileRow: b, rows: bandRows, width: W, scratch) { band.row($0) }
                countCompleted()
                try feedPyramid(b, band, level: 0, scratch)
            }
            row += rowsHere
        }
    }

    /// Predicts, compresses and spills one tile (`t` × `t` values, zero past the raster; it may be `scratch.tile`).
    @_specialize(where S == Float)
    @_specialize(where S == UInt8)
    private func encodeTile(level: Int, index: Int, _ tile: UnsafePointer<S>, _ scratch: TileScratch) throws {
        let compressed: [UInt8]
        if S.predictor == 3 {
            UnsafeRawPointer(tile).withMemoryRebound(to: Float.self, capacity: t * t) {
                Predictor.floatingPoint(UnsafeBufferPointer(start: $0, count: t * t), width: t, rows: t, into: scratch.predicted)
            }
            compressed = try pool.compress(UnsafeRawBufferPointer(scratch.predicted))
        } else {
            compressed = try pool.compress(UnsafeRawBufferPointer(start: tile, count: t * t * MemoryLayout<S>.stride))
        }
        try store(level: level, index: index, compressed)
    }

    /// Predicts, compresses and spills the tiles of one tile row of a level (`row(r)`: its row `r`).
    @_specialize(where S == Float)
    @_specialize(where S == UInt8)
    private func encodeTileRow(level: Int, tileRow: Int, rows: Int, width: Int, _ scratch: TileScratch,
                               row: (Int) -> UnsafePointer<S>) throws {
        let tilesAcross = (width + t - 1) / t
        let tile = scratch.tile.bindMemory(to: S.self)
        for c in 0..<tilesAcross {
            let x0 = c * t
            let w = min(t, width - x0)
            // Edge tiles are filled with zero bytes past the raster, as GDAL's COG driver fills them.
            if w < t || rows < t { scratch.tile.initializeMemory(as: UInt8.self, repeating: 0) }
            for r in 0..<rows {
                UnsafeMutableRawPointer(tile.baseAddress! + r * t).copyMemory(from: row(r) + x0, byteCount: w * MemoryLayout<S>.stride)
            }
            try encodeTile(level: level, index: tileRow * tilesAcross + c, UnsafePointer(tile.baseAddress!), scratch)
        }
    }

    private func store(level: Int, index: Int, _ bytes: [UInt8]) throws {
        lock.lock()
        let at = spillEnd
        spillEnd += bytes.count
        tiles[level][index] = (at, bytes.count)
        lock.unlock()
        try bytes.withUnsafeBytes { try pwriteAll(spill, $0, at, spillPath) }
    }

    /// The buffer being filled under `key` in `pending` (one of the dictionaries guarded by
    /// `lock`), made by `make` if there is none yet.
    private func buffer(_ pending: ReferenceWritableKeyPath<COGWriter, [Int: Band]>, _ key: Int, _ make: () -> Band) -> Band {
        lock.lock(); defer { lock.unlock() }
        if let existing = self[keyPath: pending][key] { return existing }
        let band = make()
        self[keyPath: pending][key] = band
        return band
    }

    /// Counts `pixels` more put into `band` (by this thread, outside the lock); true once it holds
    /// `total`, and then it is no longer pending: the caller alone goes on with it.
    private func filled(_ pixels: Int, of total: Int, _ band: Band, _ pending: ReferenceWritableKeyPath<COGWriter, [Int: Band]>,
                        _ key: Int) -> Bool {
        lock.lock(); defer { lock.unlock() }
        band.filled += pixels
        guard band.filled == total else { return false }
        self[keyPath: pending][key] = nil
        return true
    }

    /// Tile rows of level `level` (full-resolution tile rows, or the last quadtree level's) go
    /// into the pyramid in row order; whichever thread finds the next one ready drains the queue.
    @_specialize(where S == Float)
    @_specialize(where S == UInt8)
    private func feedPyramid(_ b: Int, _ band: Band, level: Int, _ scratch: TileScratch) throws {
        guard level < levels.count else { return }
        pyramidLock.lock()
        readyBands[b] = band
        if draining { pyramidLock.unlock(); return }
        draining = true
        while let next = readyBands.removeValue(forKey: nextBand) {
            nextBand += 1
            pyramidLock.unlock()
            do {
                for r in 0..<next.rows {
                    try pushRow(level: level, Array(UnsafeBufferPointer(start: next.row(r), count: next.width)), scratch)
                }
            } catch {
                pyramidLock.lock(); draining = false; pyramidLock.unlock()
                throw error
            }
            pyramidLock.lock()
        }
        draining = false
        pyramidLock.unlock()
    }

    /// A row of level `level` into the overview below it (index `level` in `levels`).
    @_specialize(where S == Float)
    @_specialize(where S == UInt8)
    private func pushRow(level: Int, _ row: [S], _ scratch: TileScratch) throws {
        guard level < levels.count else { return }
        for out in levels[level].push(row) {
            let k = level  // overview k + 1 lives at levels[k]
            let size = levelSizes[k + 1]
            let band: Band
            if let existing = levelRows[k] { band = existing } else {
                band = Band(width: size.width, rows: min(t, size.height), meter: meter)
                levelRows[k] = band
            }
            out.withUnsafeBufferPointer {
                UnsafeMutableRawPointer(band.buffer.baseAddress! + levelRowCount[k] * size.width)
                    .copyMemory(from: $0.baseAddress!, byteCount: size.width * MemoryLayout<S>.stride)
            }
            levelRowCount[k] += 1
            let top = levelTileRow[k] * t
            let rowsInTileRow = min(t, size.height - top)
            if levelRowCount[k] == rowsInTileRow {
                try encodeTileRow(level: k + 1, tileRow: levelTileRow[k], rows: rowsInTileRow, width: size.width, scratch) { band.row($0) }
                levelRowCount[k] = 0
                levelTileRow[k] += 1
                if levelTileRow[k] * t >= size.height { levelRows[k] = nil }
            }
            try pushRow(level: level + 1, out, scratch)
        }
    }

    /// Removes the spill file; the COG is not written.
    public func abandon() {
        ftruncate(spill, 0)
        unlink(spillPath)
    }

    /// Lays out and writes the COG at `path`. Every pixel must have been written.
    public func finish() throws {
        lock.lock()
        let done = completed
        let err = failure
        lock.unlock()
        if let err { throw err }
        guard done == (tileLocal ? across * down : down) else {
            throw COGError.usage("\(path): the COG writer was finished before every pixel was written")
        }
        for (k, level) in tiles.enumerated() where level.contains(where: { $0.size == 0 }) {
            throw COGError.usage("\(path): internal error: overview level \(k) is missing tiles")
        }
        try COGLayout.write(path: path, spill: spill, spillPath: spillPath, levels: levelSizes, tiles: tiles,
                            tileSize: t, sample: S.self, template: options.template, bigTIFF: options.bigTIFF)
        abandon()
    }
}

/// A tile and its predicted bytes: what one thread needs to compress a tile.
struct TileScratch {
    let tile: UnsafeMutableRawBufferPointer
    let predicted: UnsafeMutableRawBufferPointer

    init<S>(tileSize t: Int, sample: S.Type) {
        tile = .allocate(byteCount: t * t * MemoryLayout<S>.stride, alignment: 16)
        predicted = .allocate(byteCount: t * t * MemoryLayout<S>.stride, alignment: 16)
    }

    func deallocate() {
        tile.deallocate()
        predicted.deallocate()
    }
}

/// Bytes of pixels held by a writer: now, the most at once, and the largest single buffer.
final class BufferMeter: @unchecked Sendable {
    private let lock = NSLock()
    private var now = 0, peak = 0, largest = 0

    func add(_ bytes: Int) {
        lock.lock()
        now += bytes
        peak = max(peak, now)
        largest = max(largest, bytes)
        lock.unlock()
    }

    var figures: (now: Int, peak: Int, largest: Int) {
        lock.lock(); defer { lock.unlock() }
        return (now, peak, largest)
    }
}

func pwriteAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ offset: Int, _ path: String) throws {
    var done = 0
    while done < bytes.count {
        let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
        if n < 0 {
            if errno == EINTR { continue }
            throw COGError.io("\(path): cannot write: \(String(cString: strerror(errno)))")
        }
        done += n
    }
}
