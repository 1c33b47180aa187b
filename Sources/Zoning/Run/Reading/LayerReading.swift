import Foundation
import GDALKit
import RasterKernel

/// One layer on the grid as every pass reads it (statistics passes, the main pass, sensitivity,
/// totals), and how it got there. Workers make a `BlockReader` of their own from it.
struct AlignedLayer: Sendable {
    /// How a layer reaches the grid; recorded in the manifest as `inputs[i].alignment`.
    enum Alignment: String, Sendable {
        /// A warped VRT (`gdalwarp`), warped block by block as workers read.
        case warp
        /// A warped VRT's blocks resampled by HazardZoning's own bilinear kernel with the VRT's own
        /// transformer, equal to GDAL's warper on every pixel (`WarpKernel`).
        case warpKernel = "warp-kernel"
        /// The source's own pixels read as a window shifted by whole pixels (`ShiftedWindow`).
        case window
        /// Features burnt into each block in memory (`BlockBurn`).
        case rasterisePerBlock = "rasterise-per-block"
        /// Features rasterised once into a tiled GeoTIFF of the grid (arguments the per-block
        /// rasteriser does not follow).
        case rasterise
        /// Distances to features (`Proximity.swift`).
        case proximity
        /// A raster of the grid made by the run itself (townships, the class raster).
        case grid
    }
    enum Reading: Sendable {
        case raster(String)
        case window(ShiftedWindow)
        case burn(BlockBurn)
        case warp(WarpKernel)
    }
    let reading: Reading
    let alignment: Alignment
    /// Applied to every value read (`LayerTransform`), set by the statistics stage.
    var transform: LayerTransform? = nil
    /// The values of the units already read, for the later passes (`LayerBlockCache`).
    var cache: LayerBlockCache? = nil
    /// A warp a total shares (`Plan.totalsSharingALayerWarp`): the VRT is Float64, read as
    /// Float32 by `static_cast` as GDAL's warper stores a Float32 pixel, and the Float64 values of
    /// the units read are kept here for the totals.
    var float64: LayerBlockCache? = nil

    /// Whether its reader gives a shared warp's Float64 values (`float64`): a warped VRT read by
    /// GDAL, or the own average and sum kernels (the bilinear one resamples to Float32).
    var readsFloat64: Bool {
        switch reading {
        case .raster: return alignment == .warp
        case .warp(let kernel): return kernel.method != .bilinear
        case .window, .burn: return false
        }
    }

    /// A raster of the grid on disk.
    static func file(_ path: String, alignment: Alignment = .grid) -> AlignedLayer {
        AlignedLayer(reading: .raster(path), alignment: alignment)
    }

    /// The source counts gathered while reading, for a window read (nil otherwise: the source is
    /// scanned before computing, `SourceScan.swift`).
    var tally: SourceTally? {
        if case .window(let w) = reading { return w.tally }
        return nil
    }

    /// A reader for one worker thread (its own datasets).
    func reader() throws -> BlockReader {
        let reader = try untransformedReader()
        reader.transform = transform
        reader.cache = cache
        reader.float64 = float64
        return reader
    }

    private func untransformedReader() throws -> BlockReader {
        switch reading {
        case .raster(let path):
            let ds = try Dataset(open: path, flags: [.raster])
            return BlockReader(kind: .raster(ds, try ds.band(1)))
        case .window(let w):
            let ds = try Dataset(open: w.path, flags: [.raster])
            return BlockReader(kind: .window(w, ds, try ds.band(w.band)))
        case .burn(let b):
            return BlockReader(kind: .burn(b))
        case .warp(let k):
            return BlockReader(kind: .warp(try WarpKernelReader(k)))
        }
    }
}

/// A raster source already on the grid's lattice: same CRS, same pixel size, north-up, offset by
/// a fraction of a pixel at most (plus whole pixels), resampled with nearest. The source pixel
/// under the centre of grid pixel (column, row) is (column + dx, row + dy) — the pixel `gdalwarp
/// -r near` takes — so the aligned block is a window of the source shifted by (dx, dy): pixels
/// outside the source are nodata (NaN), source nodata (by the warper's rule, `NoData`) becomes
/// NaN, and values are converted to Float32 as GDAL converts them (`GDALCopyWords`).
struct ShiftedWindow: Sendable {
    let path: String
    let band: Int
    let dx: Int, dy: Int
    /// The source's size in pixels.
    let width: Int, height: Int
    let nodata: NoData
    let tally: SourceTally
    /// The layer as an error names it (`layers.flood (layer flood-depth)`).
    let what: String

    /// The warper's source-nodata test (`GDALWarpNoDataMasker`), for the types the window path
    /// takes (Byte, Int16, UInt16 and Float32: their Float32 conversion is exact).
    enum NoData: Sendable, Equatable {
        case none
        /// NaN nodata: a NaN value is nodata.
        case nan
        /// Integer types: the value equals the (integral, in range) nodata.
        case exact(Float)
        /// Float32: GDAL's `ARE_REAL_EQUAL` (equal, or closer than 2 × FLT_EPSILON × |a + b|) on
        /// the warper's Float64 working values, as the warp kernel tests it (`NotNearly`): in
        /// Float32, a + b overflows near ±FLT_MAX and values up to 12 ulps from a -FLT_MAX
        /// nodata would count as nodata.
        case close(Float)

        @inline(__always) func isNoData(_ v: Float) -> Bool {
            switch self {
            case .none: return false
            case .nan: return v.isNaN
            case .exact(let n): return v == n
            case .close(let n): return !NotNearly(noData: Double(n)).valid(Double(v))
            }
        }
    }
}

/// Valid, nodata, NaN and ±inf counts of the source pixels a window read saw, per block (a pass
/// that reads every block sees every source pixel on the grid once; a later pass over the same
/// blocks records the same counts again, so the totals do not depend on how many passes ran).
final class SourceTally: @unchecked Sendable {
    struct Counts: Sendable, Equatable {
        var valid = 0, nodata = 0, nan = 0, infinite = 0

        mutating func add(_ c: Counts) {
            valid += c.valid; nodata += c.nodata; nan += c.nan; infinite += c.infinite
        }

        /// The manifest's source counts (the grid counts are filled in after the main pass).
        var statistics: Manifest.LayerStatistics {
            .init(sourceValid: valid, sourceNodata: nodata, sourceNan: nan, sourceInfinite: infinite, gridValid: 0, gridNodata: 0)
        }
    }
    // Guarded by `lock`.
    private let lock = NSLock()
    private var byBlock: [Int: Counts] = [:]
    /// Blocks of the grid (units of the memory plan): the counts are complete when all were read.
    let blocks: Int

    init(blocks: Int) { self.blocks = blocks }

    func record(block key: Int, _ counts: Counts) {
        lock.lock(); defer { lock.unlock() }
        byBlock[key] = counts
    }

    /// The key a block's window is recorded under.
    static func key(_ window: PixelWindow) -> Int { window.y * 1_000_003 + window.x }

    /// The counts over these blocks (keys of `key(_:)`), or nil when one of them has not been read
    /// (a shard's band: the merge adds the bands).
    func counts(keys: [Int]) -> Counts? {
        lock.lock(); defer { lock.unlock() }
        var t = Counts()
        for k in keys {
            guard let c = byBlock[k] else { return nil }
            t.add(c)
        }
        return t
    }

    /// The counts over every block, or nil while some block has not been read.
    var total: Counts? {
        lock.lock(); defer { lock.unlock() }
        guard byBlock.count == blocks else { return nil }
        return byBlock.keys.sorted().reduce(into: Counts()) { t, k in t.add(byBlock[k]!) }
    }
}

/// Features to burn per block (`gdal_rasterize` arguments the plan built, followed exactly):
/// geometries read and reprojected once, shared read-only by the workers.
struct BlockBurn: Sendable {
    let geometries: BurnGeometries
    /// `-ot`
    let type: PixelType
    /// `-init`
    let initial: Double
    /// `-at`
    let allTouched: Bool
    let grid: GridGeometry
}

/// Reads blocks of one aligned layer as Float32 on one worker thread.
final class BlockReader {
    enum Kind {
        case raster(Dataset, RasterBand)
        case window(ShiftedWindow, Dataset, RasterBand)
        case burn(BlockBurn)
        case warp(WarpKernelReader)
    }
    let kind: Kind
    var transform: LayerTransform? = nil
    var cache: LayerBlockCache? = nil
    /// The Float64 values of a warp a total shares (`AlignedLayer.float64`).
    var float64: LayerBlockCache? = nil
    private var wide: UnsafeMutableBufferPointer<Double>? = nil

    init(kind: Kind) { self.kind = kind }

    deinit { wide?.deallocate() }

    /// The grid window's values into `buffer` (row-major, `window.count` values), transformed;
    /// from the layer's cache when an earlier pass read the window.
    func read(_ window: PixelWindow, into buffer: UnsafeMutableBufferPointer<Float>) throws {
        if let cache {
            try cache.readThrough(window, into: UnsafeMutableBufferPointer(rebasing: buffer[0..<window.count])) {
                try readValues(window, into: buffer)
            }
        } else {
            try readValues(window, into: buffer)
        }
        if let transform {
            for i in 0..<window.count { buffer[i] = transform.apply(buffer[i]) }
        }
    }

    private func readValues(_ window: PixelWindow, into buffer: UnsafeMutableBufferPointer<Float>) throws {
        switch kind {
        case .raster(_, let band):
            if let float64 {
                try readFloat64(window, cache: float64, into: buffer) { try band.read(window, into: $0) }
            } else {
                try band.read(window, into: buffer)
            }
        case .window(let w, _, let band):
            try readShifted(w, band: band, window, into: buffer)
        case .burn(let b):
            let g = b.grid
            let gt = [g.originX + Double(window.x) * g.pixelWidth, g.pixelWidth, 0,
                      g.originY - Double(window.y) * g.pixelHeight, 0, -g.pixelHeight]
            try b.geometries.rasterize(into: buffer, width: window.width, height: window.height, geoTransform: gt,
                                       type: b.type, initial: b.initial, allTouched: b.allTouched)
        case .warp(let w):
            if let float64 {
                try readFloat64(window, cache: float64, into: buffer) { try w.readDouble(window, into: $0) }
            } else {
                try w.read(window, into: buffer)
            }
        }
    }

    /// A shared warp's window: its Float64 values (kept for the totals), each stored as Float32 as
    /// GDAL's warper stores a Float32 pixel (`static_cast<float>` of its double result).
    private func readFloat64(_ window: PixelWindow, cache: LayerBlockCache, into buffer: UnsafeMutableBufferPointer<Float>,
                             _ read: (UnsafeMutableBufferPointer<Double>) throws -> Void) throws {
        let n = window.count
        if (wide?.count ?? 0) < n {
            wide?.deallocate()
            wide = .allocate(capacity: n)
        }
        let values = UnsafeMutableBufferPointer(rebasing: wide![0..<n])
        try cache.readThrough(window, into: values) { try read(values) }
        for i in 0..<n { buffer[i] = Float(values[i]) }
    }

    private func readShifted(_ w: ShiftedWindow, band: RasterBand, _ window: PixelWindow,
                             into buffer: UnsafeMutableBufferPointer<Float>) throws {
        // The part of the grid window whose source pixels exist.
        let x0 = max(window.x, -w.dx), x1 = min(window.x + window.width, w.width - w.dx)
        let y0 = max(window.y, -w.dy), y1 = min(window.y + window.height, w.height - w.dy)
        var counts = SourceTally.Counts()
        guard x1 > x0, y1 > y0 else {
            for i in 0..<window.count { buffer[i] = .nan }
            w.tally.record(block: SourceTally.key(window), counts)
            return
        }
        let inner = PixelWindow(x: x0 - window.x, y: y0 - window.y, width: x1 - x0, height: y1 - y0)
        // Outside the source: nodata. Rows above and below, then the columns left and right.
        let stride = window.width
        for r in 0..<window.height where r < inner.y || r >= inner.y + inner.height {
            for c in 0..<stride { buffer[r * stride + c] = .nan }
        }
        let source = PixelWindow(x: x0 + w.dx, y: y0 + w.dy, width: inner.width, height: inner.height)
        do {
            try band.read(source, into: buffer, offset: inner.y * stride + inner.x, lineStride: stride)
        } catch let error as GDALError {
            // The source itself is read here: a read failure is bad input, named by its file.
            throw RunError(.dataError, "\(w.path): \(w.what): reading source pixels \(source.width)×\(source.height) at (\(source.x), \(source.y)): \(error.readingMessage)")
        }
        let nodata = w.nodata
        let nanIsNodata = nodata == .nan
        for r in inner.y..<(inner.y + inner.height) {
            let row = r * stride
            for c in 0..<inner.x { buffer[row + c] = .nan }
            for c in (inner.x + inner.width)..<stride { buffer[row + c] = .nan }
            for c in inner.x..<(inner.x + inner.width) {
                let v = buffer[row + c]
                if v.isNaN {
                    if nanIsNodata { counts.nodata += 1 } else { counts.nan += 1 }
                } else if nodata.isNoData(v) {
                    counts.nodata += 1
                    buffer[row + c] = .nan
                } else if v.isInfinite {
                    counts.infinite += 1
                } else {
                    counts.valid += 1
                }
            }
        }
        w.tally.record(block: SourceTally.key(window), counts)
    }
}

extension RasterBand {
    /// A band the fast paths read as the warper reads it: its Float32 conversion is exact (Byte,
    /// Int16, UInt16, Float32), and its nodata comes from the band or the layer — no mask or
    /// alpha band (mask flags all-valid or nodata), which the warper would use.
    var readsAsTheWarperDoes: Bool {
        [.byte, .int16, .uint16, .float32].contains(pixelType) && (maskFlags == 1 || maskFlags == 8)
    }
}

/// The window path's tolerances and kernels (`shiftedWindow`).
extension Runner {
    /// The tolerance of the window path: a grid pixel's centre closer than this (in source pixels)
    /// to a source pixel's edge leaves the source to the warper. There `gdalwarp -r near` picks a
    /// side by `floor(x + 1e-10)` of a coordinate its approximate transformer computed with
    /// rounding errors of ~1e-12 px; 1e-6 px is far above both and far below any real offset (a
    /// 30 µm shift of a 30 m pixel).
    static let windowEdgeTolerance = 1e-6

    /// Resampling kernels whose result is the source pixel itself when the grid's pixel centres
    /// fall on the source's pixel centres (same pixel size, whole-pixel offset): the kernel's
    /// weights are 1 for that pixel and 0 for its neighbours, the footprint of `average`/`mode`
    /// is that one pixel, and gdalwarp makes a pixel nodata when the source pixel under its
    /// centre is nodata. Checked against gdalwarp on every pixel (LayerReadingTests), including
    /// nodata neighbours and sources that end inside the grid.
    static let centredKernels: Set<Resampling> = [.bilinear, .cubic, .cubicspline, .lanczos, .average, .mode]

    /// How far (in source pixels) a grid centre may lie from a source centre for `centredKernels`
    /// to read a window: far below any real offset, far above the rounding of the coordinates.
    static let windowCentreTolerance = 1e-9
}

extension RunScoped {
    /// Aligns a source for reading: the window path or burning per block where they give exactly
    /// what `gdalwarp` / `gdal_rasterize` with the plan's arguments give; otherwise `align`.
    func alignLayer(_ source: SourcePlan, work: String, float64: Bool = false) throws -> AlignedLayer {
        if !options.alignFastPaths {
            let kind: AlignedLayer.Alignment = source.kind == .raster ? .warp : source.kind == .vector ? .rasterise : .proximity
            return .file(try align(source, work: work), alignment: kind)
        }
        switch source.kind {
        case .raster:
            if let window = try shiftedWindow(source) { return AlignedLayer(reading: .window(window), alignment: .window) }
            let vrt = try align(source, work: work, float64: float64)
            if let kernel = try WarpKernel.make(vrt: vrt, what: "layers.\(source.key) (layer \(source.definition.name))") {
                return AlignedLayer(reading: .warp(kernel), alignment: .warpKernel)
            }
            return .file(vrt, alignment: .warp)
        case .vector:
            if let burn = try blockBurn(source) { return AlignedLayer(reading: .burn(burn), alignment: .rasterisePerBlock) }
            return .file(try align(source, work: work), alignment: .rasterise)
        case .proximity:
            return .file(try align(source, work: work), alignment: .proximity)
        }
    }

    /// The shifted window that equals `gdalwarp` with the plan's arguments, or nil when the
    /// source needs the warper (another CRS or pixel size, rotation, a resampling other than
    /// nearest unless the grid is whole pixels away from the source (`centredKernels`), a centre
    /// on a pixel edge, a data type or nodata whose Float32 conversion or test could differ, a
    /// mask or alpha band).
    func shiftedWindow(_ source: SourcePlan) throws -> ShiftedWindow? {
        let def = source.definition
        guard source.kind == .raster, let warp = source.warp,
              warp.resampling == .nearest || Runner.centredKernels.contains(warp.resampling),
              warp.outputType == .float32, warp.destinationNoData.isNaN
        else { return nil }
        let r = warp.resampling
        let what = "layers.\(source.key) (layer \(def.name))"
        let ds: Dataset
        do { ds = try Dataset(open: def.source, flags: [.raster]) } catch { throw inputError(error, file: def.source, what: what) }
        guard def.band >= 1, def.band <= ds.bandCount, let gt = ds.geoTransform, let srs = ds.spatialReference,
              let gridSRS = try? SpatialReference(definition: plan.job.grid.crs), srs.isSame(as: gridSRS) else { return nil }
        let band = try ds.band(def.band)
        let type = band.pixelType
        guard band.readsAsTheWarperDoes else { return nil }
        let nodata: ShiftedWindow.NoData
        switch (def.nodata ?? band.noDataValue, type) {
        case (nil, _): nodata = .none
        case (let n?, .float32):
            if n.isNaN { nodata = .nan } else {
                guard Double(Float(n)) == n else { return nil }
                nodata = .close(Float(n))
            }
        case (let n?, _):
            let range: ClosedRange<Double> = type == .byte ? 0...255 : type == .int16 ? -32768...32767 : 0...65535
            guard n.isFinite, n.rounded() == n, range.contains(n) else { return nil }
            nodata = .exact(Float(n))
        }
        let g = plan.grid
        guard gt[2] == 0, gt[4] == 0, gt[1] > 0, gt[5] < 0,
              abs(gt[1] - g.pixelWidth) <= 1e-9 * g.pixelWidth, abs(-gt[5] - g.pixelHeight) <= 1e-9 * g.pixelHeight
        else { return nil }
        // The source pixel under the first and last centres of the grid: the same shift, both
        // well inside a pixel (the coordinate is linear in the column, so every centre between is).
        func shift(_ first: Double, _ last: Double, count: Int) -> Int? {
            let tol = Runner.windowEdgeTolerance
            let a = first.rounded(.down), b = last.rounded(.down)
            guard first.isFinite, last.isFinite, first - a >= tol, a + 1 - first >= tol, last - b >= tol, b + 1 - last >= tol,
                  Int(b) - Int(a) == count - 1 else { return nil }
            if r != .nearest {
                // Other kernels: only where every grid centre is a source centre.
                let c = Runner.windowCentreTolerance
                guard abs(first - a - 0.5) <= c, abs(last - b - 0.5) <= c else { return nil }
            }
            return Int(a)
        }
        let col = { (i: Int) in (g.originX + (Double(i) + 0.5) * g.pixelWidth - gt[0]) / gt[1] }
        let row = { (j: Int) in (g.originY - (Double(j) + 0.5) * g.pixelHeight - gt[3]) / gt[5] }
        guard let dx = shift(col(0), col(g.width - 1), count: g.width),
              let dy = shift(row(0), row(g.height - 1), count: g.height) else { return nil }
        let memory = memoryPlan
        return ShiftedWindow(path: def.source, band: def.band, dx: dx, dy: dy, width: ds.width, height: ds.height,
                             nodata: nodata, tally: SourceTally(blocks: g.blocks(width: memory.width, height: memory.height).count),
                             what: what)
    }

    /// Per-block burning that equals `gdal_rasterize` with the plan's arguments, or nil when the
    /// arguments ask for something it does not follow.
    func blockBurn(_ source: SourcePlan) throws -> BlockBurn? {
        guard source.kind == .vector, let spec = source.rasterize else { return nil }
        let type = spec.outputType, initial = spec.initialValue
        let attribute: String?, burn: Double?
        switch spec.value {
        case .attribute(let name): (attribute, burn) = (name, nil)
        case .burn(let value): (attribute, burn) = (nil, value)
        }
        let def = source.definition
        let what = source.key == "mask" ? "grid.mask (layer \(def.name))" : "layers.\(source.key) (layer \(def.name))"
        let ds: Dataset
        do { ds = try Dataset(open: def.source) } catch { throw inputError(error, file: def.source, what: what) }
        do {
            var vector = ds
            if let reproject = source.reprojectArguments {
                // Reprojected once, in memory, exactly as before gdal_rasterize.
                vector = try Utilities.vectorTranslate(ds, to: "", arguments: ["-f", "Memory"] + reproject + [source.layerName ?? ""])
            }
            let layer = try source.layerName.map { try vector.layer(named: $0) } ?? vector.layer(0)
            let geometries = try BurnGeometries(layer: layer, attribute: attribute, burn: burn ?? 1)
            return BlockBurn(geometries: geometries, type: type, initial: initial, allTouched: spec.allTouched, grid: plan.grid)
        } catch let error as GDALError {
            throw RunError(.dataError, "\(def.source): \(what): reading the features: \(error.message)")
        }
    }

    /// Runs a pass; when it fails (or succeeds) after reading every block of a window-read source
    /// with no valid pixel, that source's clear error is what the run reports.
    func checkingSources<T>(_ aligned: [AlignedLayer], _ pass: () throws -> T) throws -> T {
        let result: T
        do { result = try pass() } catch {
            if let refused = allNodataSource(aligned) { throw refused }
            throw error
        }
        if let refused = allNodataSource(aligned) { throw refused }
        return result
    }

    /// The error for a raster source with no valid pixel where it overlaps the grid (the scan of
    /// a warped source, a window-read source after a pass, the merge of a sharded run).
    func noValidPixels(_ source: SourcePlan, _ t: SourceTally.Counts) -> RunError {
        RunError(.dataError, "\(source.definition.source): layers.\(source.key) (layer \(source.definition.name)) has no valid pixels where it overlaps the grid (all \(t.nodata) nodata, \(t.nan) NaN, \(t.infinite) ±inf)")
    }

    /// The clear error for a window-read source with no valid pixel on the grid, once a pass has
    /// read all its blocks (the scan refuses other rasters before computing).
    func allNodataSource(_ aligned: [AlignedLayer]) -> RunError? {
        for (layer, source) in zip(aligned, plan.sources) {
            guard let t = layer.tally?.total, t.valid == 0 else { continue }
            return noValidPixels(source, t)
        }
        return nil
    }
}
