import Foundation

/// One TIFF tag: its number, field type and value bytes (little-endian, as they are in the file).
public struct TIFFTag: Sendable, Equatable {
    public let tag: UInt16
    /// The TIFF field type (1 BYTE, 2 ASCII, 3 SHORT, 4 LONG, 12 DOUBLE, 16 LONG8, …).
    public let type: UInt16
    public let count: Int
    public let bytes: [UInt8]

    public init(tag: UInt16, type: UInt16, count: Int, bytes: [UInt8]) {
        self.tag = tag
        self.type = type
        self.count = count
        self.bytes = bytes
    }

    static func short(_ tag: UInt16, _ value: UInt16) -> TIFFTag {
        TIFFTag(tag: tag, type: 3, count: 1, bytes: le(value))
    }

    static func long(_ tag: UInt16, _ value: UInt32) -> TIFFTag {
        TIFFTag(tag: tag, type: 4, count: 1, bytes: le(value))
    }

    /// Bytes of one value of a field type.
    static func typeSize(_ type: UInt16) -> Int? {
        switch type {
        case 1, 2, 6, 7: return 1
        case 3, 8: return 2
        case 4, 9, 11, 13: return 4
        case 5, 10, 12, 16, 17, 18: return 8
        default: return nil
        }
    }
}

/// Tags a COG writer sets itself (structure); every other tag of a template is descriptive.
enum StructuralTag {
    static let newSubfileType: UInt16 = 254
    static let width: UInt16 = 256
    static let height: UInt16 = 257
    static let bitsPerSample: UInt16 = 258
    static let compression: UInt16 = 259
    static let stripOffsets: UInt16 = 273
    static let samplesPerPixel: UInt16 = 277
    static let rowsPerStrip: UInt16 = 278
    static let stripByteCounts: UInt16 = 279
    static let planarConfiguration: UInt16 = 284
    static let predictor: UInt16 = 317
    static let tileWidth: UInt16 = 322
    static let tileLength: UInt16 = 323
    static let tileOffsets: UInt16 = 324
    static let tileByteCounts: UInt16 = 325
    static let all: Set<UInt16> = [254, 255, 256, 257, 258, 259, 273, 277, 278, 279, 284, 317, 322, 323, 324, 325]
    /// Descriptive tags GDAL's COG driver repeats on every overview IFD.
    static let onOverviews: Set<UInt16> = [262, 320, 339, 42113]
}

func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
    withUnsafeBytes(of: v.littleEndian) { Array($0) }
}

public enum COGError: Error, CustomStringConvertible, Sendable {
    case template(String)
    case io(String)
    case usage(String)
    case compression(String)

    public var description: String {
        switch self {
        case .template(let m): return "TIFF template: \(m)"
        case .io(let m): return m
        case .usage(let m): return m
        case .compression(let m): return "DEFLATE: \(m)"
        }
    }
}

/// The descriptive tags of a TIFF's first IFD (georeferencing, GeoKeys, nodata, colour map,
/// GDAL metadata, TIFF text tags): a small TIFF GDAL wrote with the same metadata is the
/// template, so these tags are byte for byte what GDAL writes.
public struct TIFFTemplate: Sendable {
    public let tags: [TIFFTag]

    public init(tags: [TIFFTag]) { self.tags = tags }

    /// Parses the first IFD of a little-endian classic TIFF or BigTIFF and keeps every tag that
    /// is not structural (size, compression, tiling, strips, predictor).
    public init(tiff d: [UInt8]) throws {
        func u16(_ o: Int) throws -> Int {
            guard o >= 0, o + 2 <= d.count else { throw COGError.template("truncated at byte \(o)") }
            return Int(d[o]) | Int(d[o + 1]) << 8
        }
        func u32(_ o: Int) throws -> Int { let a = try u16(o), b = try u16(o + 2); return a | b << 16 }
        func u64(_ o: Int) throws -> Int { let a = try u32(o), b = try u32(o + 4); return a | b << 32 }
        guard d.count >= 8, d[0] == 0x49, d[1] == 0x49 else { throw COGError.template("not a little-endian TIFF") }
        let magic = try u16(2)
        let big: Bool
        switch magic {
        case 42: big = false
        case 43: big = true
        default: throw COGError.template("bad TIFF magic \(magic)")
        }
        let ifd = big ? try u64(8) : try u32(4)
        let count = big ? try u64(ifd) : try u16(ifd)
        let entrySize = big ? 20 : 12
        let first = ifd + (big ? 8 : 2)
        var tags: [TIFFTag] = []
        for i in 0..<count {
            let e = first + i * entrySize
            let tag = UInt16(try u16(e)), type = UInt16(try u16(e + 2))
            let n = big ? try u64(e + 4) : try u32(e + 4)
            guard let size = TIFFTag.typeSize(type) else { throw COGError.template("tag \(tag) has unknown type \(type)") }
            let length = size * n
            let inline = big ? 8 : 4
            let at = length <= inline ? e + (big ? 12 : 8) : (big ? try u64(e + 12) : try u32(e + 8))
            guard at + length <= d.count else { throw COGError.template("tag \(tag) value past the end") }
            if StructuralTag.all.contains(tag) { continue }
            tags.append(TIFFTag(tag: tag, type: type, count: n, bytes: Array(d[at..<(at + length)])))
        }
        self.tags = tags
    }
}
