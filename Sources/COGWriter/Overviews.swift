import Foundation

/// How overview pixels are made from the level above.
public enum OverviewResampling: String, Sendable {
    /// The weighted mean of the valid (not nodata) pixels a pixel covers (GDAL's AVERAGE:
    /// fractional pixels at the edges of the footprint weigh by their covered fraction, sums
    /// in double; all nodata → nodata).
    case average = "AVERAGE"
    /// The pixel nearest to the footprint's origin (GDAL's NEAREST).
    case nearest = "NEAREST"
}

/// Overview sizes: while the previous level is larger than a tile on either axis, halve it.
public enum OverviewSizing: Sendable {
    /// GDAL's COG driver: each level is the previous one halved, rounding down.
    case cogDriver
    /// `gdaladdo` (and GDAL's GTiff overviews): the level of factor f is the base size / f, rounded up.
    case gdaladdo
}

/// The overview sizes for a raster and tile size (GDAL's COG driver's count: halve, truncating,
/// while larger than a tile on either axis).
public func cogOverviewSizes(width: Int, height: Int, tileSize: Int, sizing: OverviewSizing = .cogDriver) -> [(width: Int, height: Int)] {
    var sizes: [(Int, Int)] = []
    var w = width, h = height, factor = 1
    while w > tileSize || h > tileSize {
        factor *= 2
        w /= 2
        h /= 2
        switch sizing {
        case .cogDriver: sizes.append((max(1, w), max(1, h)))
        case .gdaladdo: sizes.append(((width + factor - 1) / factor, (height + factor - 1) / factor))
        }
    }
    return sizes
}

/// One overview level built row by row from the rows of the level above (in order), as GDAL
/// builds overviews in cascade: level k from level k − 1. Its pixels are computed by
/// `makePixels` only, whether from the rows `push` keeps or from one tile of the level above
/// (the COG writer's tile-local level 1).
final class OverviewLevel<S: COGSample> {
    let srcWidth: Int, srcHeight: Int
    let width: Int, height: Int
    let resampling: OverviewResampling
    let nodata: Double?
    private let ratioX: Double, ratioY: Double
    private struct Span { var left: Int; var right: Int; var leftWeight: Double; var rightWeight: Double }
    private let spans: [Span]
    private let nearestX: [Int]
    /// Source rows kept, from `firstRow` on.
    private var rows: [[S]] = []
    private var scratch: [S] = []
    private var firstRow = 0
    private var received = 0
    private(set) var nextRow = 0

    init(srcWidth: Int, srcHeight: Int, width: Int, height: Int, resampling: OverviewResampling, nodata: Double?) {
        self.srcWidth = srcWidth
        self.srcHeight = srcHeight
        self.width = width
        self.height = height
        self.resampling = resampling
        self.nodata = nodata
        let ratioX = Double(srcWidth) / Double(width)
        self.ratioX = ratioX
        ratioY = Double(srcHeight) / Double(height)
        switch resampling {
        case .nearest:
            nearestX = (0..<width).map { min(srcWidth - 1, Int(0.5 + Double($0) * ratioX)) }
            spans = []
        case .average:
            nearestX = []
            spans = (0..<width).map { x in
                let (l, r, lw, rw) = Self.footprint(x, ratio: ratioX, size: srcWidth)
                return Span(left: l, right: r, leftWeight: lw, rightWeight: rw)
            }
        }
    }

    /// Whether every pixel of this level covers exactly the 2 × 2 source pixels at twice its
    /// coordinates (the source is exactly twice the size: even width and height, halved), so
    /// that a tile of the source with even origin and even size holds the whole footprint of
    /// every overview pixel it contributes to.
    var halvesExactly: Bool {
        srcWidth % 2 == 0 && srcHeight % 2 == 0 && width * 2 == srcWidth && height * 2 == srcHeight
    }

    /// The source pixels [first, end) an overview pixel covers and the weights of the first and last.
    static func footprint(_ i: Int, ratio: Double, size: Int) -> (Int, Int, Double, Double) {
        let start = Double(i) * ratio
        let end = Double(i + 1) * ratio
        let first = Int(start + 1e-8)
        var last = Int((end - 1e-8).rounded(.up))
        if last == first { last += 1 }
        if last > size { last = size }
        let firstWeight = last == first + 1 ? 1.0 : 1 - (start - Double(first))
        let lastWeight = 1 - (Double(last) - end)
        return (first, last, firstWeight, lastWeight)
    }

    private func sourceRows(_ j: Int) -> Range<Int> {
        switch resampling {
        case .nearest:
            let y = min(srcHeight - 1, Int(0.5 + Double(j) * ratioY))
            return y..<(y + 1)
        case .average:
            let (a, b, _, _) = Self.footprint(j, ratio: ratioY, size: srcHeight)
            return a..<b
        }
    }

    /// Takes the next source row; returns the overview rows it completes, in order.
    @_specialize(where S == Float)
    @_specialize(where S == UInt8)
    func push(_ row: [S]) -> [[S]] {
        rows.append(row)
        received += 1
        var out: [[S]] = []
        while nextRow < height {
            let need = sourceRows(nextRow)
            guard need.upperBound <= received else { break }
            out.append(makeRow(nextRow, from: need))
            nextRow += 1
            // Drop the rows no later overview row needs.
            let keepFrom = nextRow < height ? sourceRows(nextRow).lowerBound : received
            let drop = min(rows.count, max(0, keepFrom - firstRow))
            if drop > 0 {
                rows.removeFirst(drop)
                firstRow += drop
            }
        }
        return out
    }

    @_specialize(where S == Float)
    @_specialize(where S == UInt8)
    private func makeRow(_ j: Int, from src: Range<Int>) -> [S] {
        // The source rows side by side in one buffer (at most three rows).
        scratch.removeAll(keepingCapacity: true)
        for iy in src { scratch.append(contentsOf: rows[iy - firstRow]) }
        var out = [S](repeating: S.cogAverage(0), count: width)
        scratch.withUnsafeBufferPointer { buf in
            out.withUnsafeMutableBufferPointer { o in
                makePixels(columns: 0..<width, rows: j..<(j + 1), from: buf.baseAddress!, originX: 0, originY: src.lowerBound,
                           stride: srcWidth, into: o.baseAddress!, outStride: width)
            }
        }
        return out
    }

    /// The pixels of columns `columns` and rows `rows` of this level, from source pixels in
    /// memory: `src` holds source pixel (`originX`, `originY`) and the ones right of and below
    /// it, rows `stride` values apart, and must hold every source pixel those overview pixels
    /// cover. Writes them row by row at `out`, rows `outStride` values apart.
    ///
    /// NEAREST: the source pixel nearest to the footprint's origin. AVERAGE (GDAL's): the
    /// weighted mean of the valid pixels of the footprint, fractional edge pixels weighing by
    /// their covered fraction, summed in double row by row, left to right; all nodata → nodata;
    /// a mean equal to nodata → the replacement value.
    @_specialize(where S == Float)
    @_specialize(where S == UInt8)
    func makePixels(columns: Range<Int>, rows: Range<Int>, from src: UnsafePointer<S>, originX: Int, originY: Int,
                    stride: Int, into out: UnsafeMutablePointer<S>, outStride: Int) {
        switch resampling {
        case .nearest:
            for (n, j) in rows.enumerated() {
                let line = (sourceRows(j).lowerBound - originY) * stride - originX
                let o = n * outStride - columns.lowerBound
                for x in columns { out[o + x] = src[line + nearestX[x]] }
            }
        case .average:
            let nd = nodata
            let ndValue = nd.map { S.cogNodata($0) }
            let replacement = nd.map { S.replacement(forNodata: $0) }
            let empty = ndValue ?? S.cogAverage(0)
            for (n, j) in rows.enumerated() {
                let (lo, hi, bottomWeight, topWeight) = Self.footprint(j, ratio: ratioY, size: srcHeight)
                let o = n * outStride - columns.lowerBound
                for x in columns {
                    let s = spans[x]
                    var total = 0.0, totalWeight = 0.0
                    var count = 0
                    for iy in lo..<hi {
                        let base = (iy - originY) * stride - originX
                        var line = 0.0, lineWeight = 0.0
                        var v = src[base + s.left]
                        if ndValue == nil || v != ndValue! { count += 1; line += v.cogDouble * s.leftWeight; lineWeight += s.leftWeight }
                        if s.left + 1 < s.right {
                            var ix = s.left + 1
                            while ix + 1 < s.right {
                                v = src[base + ix]
                                if ndValue == nil || v != ndValue! { count += 1; line += v.cogDouble; lineWeight += 1 }
                                ix += 1
                            }
                            v = src[base + s.right - 1]
                            if ndValue == nil || v != ndValue! { count += 1; line += v.cogDouble * s.rightWeight; lineWeight += s.rightWeight }
                        }
                        let wy = iy == lo ? bottomWeight : (iy + 1 == hi ? topWeight : 1.0)
                        total += line * wy
                        totalWeight += lineWeight * wy
                    }
                    if count == 0 { out[o + x] = empty; continue }  // nodata
                    var r = S.cogAverage(total / totalWeight)
                    if let ndValue, let replacement, r == ndValue { r = replacement }
                    out[o + x] = r
                }
            }
        }
    }
}
