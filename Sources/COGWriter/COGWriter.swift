import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A streamed Cloud-Optimized GeoTIFF writer (one band, DEFLATE through libdeflate).
///
/// Windows of the raster arrive in any order from any thread (`write`); as soon as a tile row
/// of the full resolution is complete, the thread that completed it predicts and compresses its
/// tiles and, in row order, feeds the overview pyramid, whose tiles are compressed as their
/// rows complete. Compressed tiles go to a spill file. `finish()` lays the file out as GDAL's
/// COG driver does: header, the GDAL_STRUCTURAL_METADATA ghost area, the IFDs (full resolution,
/// then overviews largest first) with their values, the tile offset and size arrays, then the
/// tiles (smallest overview first, full resolution last, each row-major), every tile with its
/// size as a 4-byte leader and its last 4 bytes repeated as trailer.
///
/// Memory: the tile rows being filled (width × tile size each), a few rows per overview level
/// and one tile row per overview level, plus the tiles being compressed.
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
    private let spillPath: String
    private let spill: Int32
    private let pool: DeflatePool
    private let t: Int
    /// Per level (0 = full resolution): size, tiles across, and each tile's (spill offset, size).
    private var levelSizes: [(width: Int, height: Int)]
    private var tiles: [[(offset: Int, size: Int)]]

    // Tile rows of the full resolution being filled (guarded by `lock`).
    private final class Band {
        let rows: Int
        let buffer: UnsafeMutableBufferPointer<S>
        var filled = 0
        init(width: Int, rows: Int) {
            self.rows = rows
            buffer = .allocate(capacity: width * rows)
        }
        deinit { buffer.deallocate() }
    }
    private let lock = NSLock()
    private var bands: [Int: Band] = [:]
    private var spillEnd = 0
    private var completedBands = 0
    private var failure: Error?

    // The overview pyramid, fed in row order (guarded by `pyramidLock`; one thread drains).
    private let pyramidLock = NSLock()
    private var readyBands: [Int: Band] = [:]
    private var nextBand = 0
    private var draining = false
    private var levels: [OverviewLevel<S>] = []
    /// Per overview level: its tile row being filled and the rows in it.
    private var levelRows: [[S]] = []
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
        pool = DeflatePool(level: options.deflateLevel)
        let fd = open(spillPath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw COGError.io("\(spillPath): cannot create the tile spill file: \(String(cString: strerror(errno)))") }
        spill = fd
        let edge = options.tileSize
        let sizes = [(width: options.width, height: options.height)] + cogOverviewSizes(width: options.width, height: options.height, tileSize: edge, sizing: options.sizing)
        levelSizes = sizes
        tiles = sizes.map { [(offset: Int, size: Int)](repeating: (0, 0), count: ((($0.width + edge - 1) / edge) * (($0.height + edge - 1) / edge))) }
        for k in 1..<levelSizes.count {
            let src = levelSizes[k - 1], dst = levelSizes[k]
            levels.append(OverviewLevel(srcWidth: src.width, srcHeight: src.height, width: dst.width, height: dst.height,
                                        resampling: options.resampling, nodata: options.nodata))
            levelRows.append([])
            levelRowCount.append(0)
            levelTileRow.append(0)
        }
    }

    deinit {
        close(spill)
        unlink(spillPath)
    }

    /// Overview levels (not counting the full resolution).
    public var overviewCount: Int { levelSizes.count - 1 }


    /// Hands over a window of the full-resolution raster (row-major, `width` × `height` values).
    /// Windows may come in any order and from any thread, but must not overlap.
    @_specialize(where S == Float)
    @_specialize(where S == UInt8)
    public func write(x: Int, y: Int, width: Int, height: Int, _ values: UnsafeBufferPointer<S>) throws {
        precondition(values.count >= width * height && x >= 0 && y >= 0 && x + width <= options.width && y + height <= options.height)
        let W = options.width
        var row = y
        while row < y + height {
            let b = row / t
            let bandTop = b * t
            let bandRows = min(t, options.height - bandTop)
            let rowsHere = min(y + height, bandTop + bandRows) - row
            lock.lock()
            if let failure { lock.unlock(); throw failure }
            let band: Band
            if let existing = bands[b] { band = existing } else { band = Band(width: W, rows: bandRows); bands[b] = band }
            lock.unlock()
            for r in 0..<rowsHere {
                let src = values.baseAddress! + (row - y + r) * width
                let dst = band.buffer.baseAddress! + (row - bandTop + r) * W + x
                UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: width * MemoryLayout<S>.stride)
            }
            lock.lock()
            band.filled += rowsHere * width
            let complete = band.filled == bandRows * W
            if complete { bands[b] = nil; completedBands += 1 }
            lock.unlock()
            if complete {
                do {
                    try encodeTileRow(level: 0, tileRow: b, rows: bandRows, width: W, band.buffer)
                    try feedPyramid(b, band)
                } catch {
                    lock.lock(); if failure == nil { failure = error }; lock.unlock()
                    throw error
                }
            }
            row += rowsHere
        }
    }

    /// Predicts, compresses and spills the tiles of one tile row of a level.
    @_specialize(where S == Float)
    @_specialize(where S == UInt8)
    private func encodeTileRow(level: Int, tileRow: Int, rows: Int, width: Int, _ data: UnsafeMutableBufferPointer<S>) throws {
        let across = (width + t - 1) / t
        // Edge tiles are filled with zero bytes past the raster, as GDAL's COG driver fills them.
        let tile = UnsafeMutableBufferPointer<S>.allocate(capacity: t * t)
        defer { tile.deallocate() }
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: t * t * MemoryLayout<S>.size, alignment: 16)
        defer { raw.deallocate() }
        for c in 0..<across {
            let x0 = c * t
            let w = min(t, width - x0)
            UnsafeMutableRawBufferPointer(tile).initializeMemory(as: UInt8.self, repeating: 0)
            for r in 0..<rows {
                UnsafeMutableRawPointer(tile.baseAddress! + r * t).copyMemory(from: data.baseAddress! + r * width + x0,
                                                                              byteCount: w * MemoryLayout<S>.stride)
            }
            let compressed: [UInt8]
            if S.predictor == 3 {
                tile.withMemoryRebound(to: Float.self) { Predictor.floatingPoint(UnsafeBufferPointer($0), width: t, rows: t, into: raw) }
                compressed = try pool.compress(UnsafeRawBufferPointer(raw))
            } else {
                compressed = try pool.compress(UnsafeRawBufferPointer(tile))
            }
            try store(level: level, index: tileRow * across + c, compressed)
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

    /// Full-resolution tile rows go into the pyramid in row order; whichever thread finds the
    /// next one ready drains the queue.
    @_specialize(where S == Float)
    @_specialize(where S == UInt8)
    private func feedPyramid(_ b: Int, _ band: Band) throws {
        guard !levels.isEmpty else { return }
        pyramidLock.lock()
        readyBands[b] = band
        if draining { pyramidLock.unlock(); return }
        draining = true
        while let next = readyBands.removeValue(forKey: nextBand) {
            nextBand += 1
            pyramidLock.unlock()
            do {
                for r in 0..<next.rows {
                    let start = next.buffer.baseAddress! + r * options.width
                    try pushRow(level: 0, Array(UnsafeBufferPointer(start: start, count: options.width)))
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
    private func pushRow(level: Int, _ row: [S]) throws {
        guard level < levels.count else { return }
        for out in levels[level].push(row) {
            let k = level  // overview k + 1 lives at levels[k]
            let size = levelSizes[k + 1]
            levelRows[k].append(contentsOf: out)
            levelRowCount[k] += 1
            let top = levelTileRow[k] * t
            let rowsInTileRow = min(t, size.height - top)
            if levelRowCount[k] == rowsInTileRow {
                try levelRows[k].withUnsafeMutableBufferPointer {
                    try encodeTileRow(level: k + 1, tileRow: levelTileRow[k], rows: rowsInTileRow, width: size.width, $0)
                }
                levelRows[k].removeAll(keepingCapacity: true)
                levelRowCount[k] = 0
                levelTileRow[k] += 1
            }
            try pushRow(level: level + 1, out)
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
        let done = completedBands
        let err = failure
        lock.unlock()
        if let err { throw err }
        guard done == (options.height + t - 1) / t else {
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
