import CDeflate
import Foundation

/// The sample types the writer stores: Float32 (floating-point predictor) and Byte (no predictor).
public protocol COGSample: BitwiseCopyable, Sendable, Equatable {
    static var bitsPerSample: UInt16 { get }
    /// TIFF SampleFormat: 1 unsigned integer, 3 IEEE float.
    static var sampleFormat: UInt16 { get }
    /// TIFF Predictor: 1 none, 3 floating point.
    static var predictor: UInt16 { get }
    static func cogNodata(_ value: Double) -> Self
    var cogDouble: Double { get }
    /// The value an average of `value` gives (Float: rounded to Float; Byte: + 0.5, truncated),
    /// as GDAL's AVERAGE overview resampling does.
    static func cogAverage(_ value: Double) -> Self
    /// What an average that equals the nodata value is replaced by (GDAL's replacement value).
    static func replacement(forNodata nodata: Double) -> Self
}

extension Float: COGSample {
    public static var bitsPerSample: UInt16 { 32 }
    public static var sampleFormat: UInt16 { 3 }
    public static var predictor: UInt16 { 3 }
    public static func cogNodata(_ value: Double) -> Float { Float(value) }
    public var cogDouble: Double { Double(self) }
    public static func cogAverage(_ value: Double) -> Float { Float(value) }
    public static func replacement(forNodata nodata: Double) -> Float {
        let f = Float(nodata)
        return f == 0 ? Float.leastNormalMagnitude : Float(Double(f) + 1e-7 * Double(f))
    }
}

extension UInt8: COGSample {
    public static var bitsPerSample: UInt16 { 8 }
    public static var sampleFormat: UInt16 { 1 }
    public static var predictor: UInt16 { 1 }
    public static func cogNodata(_ value: Double) -> UInt8 { UInt8(clamping: Int(value)) }
    public var cogDouble: Double { Double(self) }
    public static func cogAverage(_ value: Double) -> UInt8 { UInt8(clamping: Int(value + 0.5)) }
    public static func replacement(forNodata nodata: Double) -> UInt8 {
        let v = UInt8(clamping: Int(nodata))
        return v == 255 ? 254 : v + 1
    }
}

/// libdeflate compressors, one per thread at a time (a compressor is not thread-safe).
final class DeflatePool: @unchecked Sendable {
    private let lock = NSLock()
    private var free: [OpaquePointer] = []
    private let level: Int32

    init(level: Int) { self.level = Int32(level) }

    deinit { for c in free { libdeflate_free_compressor(c) } }

    /// zlib-wrapped DEFLATE (TIFF compression 8) of `input`.
    func compress(_ input: UnsafeRawBufferPointer) throws -> [UInt8] {
        lock.lock()
        var compressor = free.popLast()
        lock.unlock()
        if compressor == nil { compressor = libdeflate_alloc_compressor(level) }
        guard let c = compressor else { throw COGError.compression("cannot allocate a level-\(level) compressor") }
        defer { lock.lock(); free.append(c); lock.unlock() }
        let bound = libdeflate_zlib_compress_bound(c, input.count)
        var out = [UInt8](repeating: 0, count: bound)
        let n = out.withUnsafeMutableBytes { o in
            libdeflate_zlib_compress(c, input.baseAddress, input.count, o.baseAddress, bound)
        }
        guard n > 0 else { throw COGError.compression("compression of \(input.count) bytes failed") }
        out.removeLast(bound - n)
        return out
    }
}

enum Predictor {
    /// TIFF's floating-point predictor (Predictor = 3) on one tile of `width` × `rows` Float32,
    /// in place into `out` (4 × width × rows bytes): each row's bytes are regrouped by
    /// significance (most significant byte plane first, as big-endian values would be), then
    /// every byte after the first of the row becomes its difference to the byte before it.
    static func floatingPoint(_ tile: UnsafeBufferPointer<Float>, width: Int, rows: Int, into out: UnsafeMutableRawBufferPointer) {
        let o = out.bindMemory(to: UInt8.self)
        tile.withMemoryRebound(to: UInt32.self) { bits in
            for r in 0..<rows {
                let row = r * width
                let base = 4 * row
                for x in 0..<width {
                    let v = bits[row + x]
                    o[base + x] = UInt8(truncatingIfNeeded: v >> 24)
                    o[base + width + x] = UInt8(truncatingIfNeeded: v >> 16)
                    o[base + 2 * width + x] = UInt8(truncatingIfNeeded: v >> 8)
                    o[base + 3 * width + x] = UInt8(truncatingIfNeeded: v)
                }
                var i = base + 4 * width - 1
                while i > base {
                    o[i] = o[i] &- o[i - 1]
                    i -= 1
                }
            }
        }
    }
}
