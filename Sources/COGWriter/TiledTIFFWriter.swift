import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// An uncompressed tiled GeoTIFF whose every tile has a fixed place in the file, so that
/// windows are written straight to their bytes from any thread, in any order, without
/// buffering: the temporary index a later stage reads (reading it costs a tenth of decoding
/// the DEFLATE-compressed, predicted COG through GDAL).
public final class TiledTIFFWriter<S: COGSample>: @unchecked Sendable {
    public let path: String
    public let width: Int, height: Int
    private let t: Int
    private let fd: Int32
    private let dataStart: Int
    private let across: Int

    /// Creates the file: header, one IFD (the template's descriptive tags), then the tiles.
    public init(path: String, width: Int, height: Int, tileSize: Int, template: TIFFTemplate) throws {
        guard width > 0, height > 0, tileSize >= 16, tileSize % 16 == 0 else {
            throw COGError.usage("tiled TIFF writer: bad size \(width)×\(height) or tile size \(tileSize)")
        }
        self.path = path
        self.width = width
        self.height = height
        t = tileSize
        across = (width + tileSize - 1) / tileSize
        let count = across * ((height + tileSize - 1) / tileSize)
        let tileBytes = tileSize * tileSize * MemoryLayout<S>.size
        let big = count * tileBytes + 64 << 10 > Int(UInt32.max)
        let offsetType: UInt16 = big ? 16 : 4
        let size = big ? 8 : 4
        var tags: [TIFFTag] = [
            width > 65535 ? .long(StructuralTag.width, UInt32(width)) : .short(StructuralTag.width, UInt16(width)),
            height > 65535 ? .long(StructuralTag.height, UInt32(height)) : .short(StructuralTag.height, UInt16(height)),
            .short(StructuralTag.bitsPerSample, S.bitsPerSample),
            .short(StructuralTag.compression, 1),
            .short(StructuralTag.samplesPerPixel, 1),
            .short(StructuralTag.planarConfiguration, 1),
            .short(StructuralTag.tileWidth, UInt16(tileSize)),
            .short(StructuralTag.tileLength, UInt16(tileSize)),
            TIFFTag(tag: StructuralTag.tileOffsets, type: offsetType, count: count, bytes: [UInt8](repeating: 0, count: count * size)),
            TIFFTag(tag: StructuralTag.tileByteCounts, type: offsetType, count: count,
                    bytes: (0..<count).flatMap { _ in big ? le(UInt64(tileBytes)) : le(UInt32(tileBytes)) }),
        ]
        tags += template.tags
        if !tags.contains(where: { $0.tag == 339 }) { tags.append(.short(339, S.sampleFormat)) }
        if !tags.contains(where: { $0.tag == 262 }) { tags.append(.short(262, 1)) }
        tags.sort { $0.tag < $1.tag }
        let inline = big ? 8 : 4
        // Header, IFD, out-of-line values, then the tiles (aligned to 16 bytes).
        let ifd = big ? 16 : 8
        var pos = ifd + (big ? 8 : 2) + tags.count * (big ? 20 : 12) + (big ? 8 : 4)
        var valueOffsets: [Int] = []
        for tag in tags {
            valueOffsets.append(pos)
            if tag.bytes.count > inline { pos += tag.bytes.count + tag.bytes.count % 2 }
        }
        pos = (pos + 15) / 16 * 16
        dataStart = pos
        let offsetsIndex = tags.firstIndex { $0.tag == StructuralTag.tileOffsets }!
        tags[offsetsIndex] = TIFFTag(tag: StructuralTag.tileOffsets, type: offsetType, count: count,
                                     bytes: (0..<count).flatMap { i in big ? le(UInt64(pos + i * tileBytes)) : le(UInt32(pos + i * tileBytes)) })
        func encode(_ v: Int) -> [UInt8] { big ? le(UInt64(v)) : le(UInt32(v)) }
        var out: [UInt8] = big ? [0x49, 0x49, 43, 0, 8, 0, 0, 0] + le(UInt64(ifd)) : [0x49, 0x49, 42, 0] + le(UInt32(ifd))
        out += big ? le(UInt64(tags.count)) : le(UInt16(tags.count))
        for (tag, at) in zip(tags, valueOffsets) {
            out += le(tag.tag) + le(tag.type) + (big ? le(UInt64(tag.count)) : le(UInt32(tag.count)))
            out += tag.bytes.count <= inline ? tag.bytes + [UInt8](repeating: 0, count: inline - tag.bytes.count) : encode(at)
        }
        out += encode(0)
        for (tag, at) in zip(tags, valueOffsets) where tag.bytes.count > inline {
            out += [UInt8](repeating: 0, count: at - out.count)
            out += tag.bytes
        }
        out += [UInt8](repeating: 0, count: dataStart - out.count)
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw COGError.io("\(path): cannot create: \(String(cString: strerror(errno)))") }
        self.fd = fd
        try out.withUnsafeBytes { try pwriteAll(fd, $0, 0, path) }
        guard ftruncate(fd, off_t(dataStart + count * tileBytes)) == 0 else {
            throw COGError.io("\(path): cannot size the file: \(String(cString: strerror(errno)))")
        }
    }

    deinit { close(fd) }

    /// Writes a window (row-major, `width` × `height` values) straight into its tiles.
    public func write(x: Int, y: Int, width w: Int, height h: Int, _ values: UnsafeBufferPointer<S>) throws {
        precondition(values.count >= w * h && x >= 0 && y >= 0 && x + w <= width && y + h <= height)
        let bytes = MemoryLayout<S>.size
        let tileBytes = t * t * bytes
        for r in 0..<h {
            let gy = y + r
            var gx = x
            while gx < x + w {
                let c = gx / t
                let run = min(x + w, (c + 1) * t) - gx
                let offset = dataStart + ((gy / t) * across + c) * tileBytes + ((gy % t) * t + gx % t) * bytes
                try pwriteAll(fd, UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(values)[((r * w + gx - x) * bytes)..<((r * w + gx - x + run) * bytes)]), offset, path)
                gx += run
            }
        }
    }
}
