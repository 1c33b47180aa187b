import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The file layout of GDAL's COG driver, written from compressed tiles in a spill file.
enum COGLayout {
    /// GDAL's ghost area: what a reader may rely on (IFDs first, tiles row-major, each tile with
    /// a 4-byte size leader and its last 4 bytes repeated as trailer).
    static let ghost: [UInt8] = {
        let body = "LAYOUT=IFDS_BEFORE_DATA\nBLOCK_ORDER=ROW_MAJOR\nBLOCK_LEADER=SIZE_AS_UINT4\nBLOCK_TRAILER=LAST_4_BYTES_REPEATED\nKNOWN_INCOMPATIBLE_EDITION=NO\n "
        let head = "GDAL_STRUCTURAL_METADATA_SIZE=" + String(format: "%06d", body.utf8.count) + " bytes\n"
        return Array((head + body).utf8)
    }()

    private struct Entry {
        var tag: TIFFTag
        /// Where the value lives when it does not fit in the entry.
        var valueOffset = 0
    }

    static func write<S: COGSample>(path: String, spill: Int32, spillPath: String, levels: [(width: Int, height: Int)],
                                    tiles: [[(offset: Int, size: Int)]], tileSize t: Int, sample: S.Type,
                                    template: TIFFTemplate, bigTIFF: Bool?) throws {
        for big in bigTIFF.map({ [$0] }) ?? [false, true] {
            if let bytes = try layout(big: big, levels: levels, tiles: tiles, tileSize: t, sample: sample, template: template) {
                try emit(path: path, header: bytes.header, order: bytes.order, spill: spill, spillPath: spillPath)
                return
            }
        }
    }

    /// The header, IFDs and arrays; nil when a classic TIFF cannot address the file.
    /// Long on purpose: every IFD entry's offset depends on the sizes laid out before it, in tag
    /// order; one function keeps that arithmetic in one reading order.
    private static func layout<S: COGSample>(big: Bool, levels: [(width: Int, height: Int)], tiles: [[(offset: Int, size: Int)]],
                                             tileSize t: Int, sample: S.Type, template: TIFFTemplate)
        throws -> (header: [UInt8], order: [(offset: Int, size: Int)])? {
        let inline = big ? 8 : 4
        let offsetType: UInt16 = big ? 16 : 4
        let offsetSize = big ? 8 : 4
        // Tags per level, sorted; tile offsets and sizes get their values once the data is placed.
        var ifds: [[Entry]] = []
        for (k, size) in levels.enumerated() {
            var tags: [TIFFTag] = [
                .short(StructuralTag.width, UInt16(clamping: size.width)),
                .short(StructuralTag.height, UInt16(clamping: size.height)),
                .short(StructuralTag.bitsPerSample, S.bitsPerSample),
                .short(StructuralTag.compression, 8),
                .short(StructuralTag.samplesPerPixel, 1),
                .short(StructuralTag.planarConfiguration, 1),
                .short(StructuralTag.predictor, S.predictor),
                .short(StructuralTag.tileWidth, UInt16(t)),
                .short(StructuralTag.tileLength, UInt16(t)),
            ]
            if size.width > 65535 { tags[0] = .long(StructuralTag.width, UInt32(size.width)) }
            if size.height > 65535 { tags[1] = .long(StructuralTag.height, UInt32(size.height)) }
            if k > 0 { tags.append(.long(StructuralTag.newSubfileType, 1)) }
            let n = tiles[k].count
            tags.append(TIFFTag(tag: StructuralTag.tileOffsets, type: offsetType, count: n, bytes: [UInt8](repeating: 0, count: n * offsetSize)))
            tags.append(TIFFTag(tag: StructuralTag.tileByteCounts, type: offsetType, count: n, bytes: [UInt8](repeating: 0, count: n * offsetSize)))
            for tag in template.tags where k == 0 || StructuralTag.onOverviews.contains(tag.tag) { tags.append(tag) }
            // A template without SampleFormat or Photometric (never from GDAL) still gives a readable file.
            if !tags.contains(where: { $0.tag == 339 }) { tags.append(.short(339, S.sampleFormat)) }
            if !tags.contains(where: { $0.tag == 262 }) { tags.append(.short(262, 1)) }
            ifds.append(tags.sorted { $0.tag < $1.tag }.map { Entry(tag: $0) })
        }

        // Positions: header, ghost, then each IFD followed by its values (the tile arrays after all IFDs).
        var pos = (big ? 16 : 8) + ghost.count
        pos += pos % 2
        var ifdOffsets: [Int] = []
        func isArray(_ e: Entry) -> Bool { e.tag.tag == StructuralTag.tileOffsets || e.tag.tag == StructuralTag.tileByteCounts }
        for k in ifds.indices {
            ifdOffsets.append(pos)
            pos += (big ? 8 : 2) + ifds[k].count * (big ? 20 : 12) + (big ? 8 : 4)
            for i in ifds[k].indices where ifds[k][i].tag.bytes.count > inline && !isArray(ifds[k][i]) {
                ifds[k][i].valueOffset = pos
                pos += ifds[k][i].tag.bytes.count
                pos += pos % 2
            }
        }
        for k in ifds.indices {
            for i in ifds[k].indices where ifds[k][i].tag.bytes.count > inline && isArray(ifds[k][i]) {
                ifds[k][i].valueOffset = pos
                pos += ifds[k][i].tag.bytes.count
            }
        }
        // Tiles: smallest overview first, full resolution last, each level row-major.
        let dataStart = pos
        var order: [(offset: Int, size: Int)] = []
        var dataOffsets: [[Int]] = tiles.map { [Int](repeating: 0, count: $0.count) }
        for k in tiles.indices.reversed() {
            for (i, tile) in tiles[k].enumerated() {
                pos += 4
                dataOffsets[k][i] = pos
                pos += tile.size + 4
                order.append(tile)
            }
        }
        if !big && pos > Int(UInt32.max) { return nil }
        func encode(_ v: Int) -> [UInt8] { big ? le(UInt64(v)) : le(UInt32(v)) }
        for k in ifds.indices {
            for i in ifds[k].indices {
                let tag = ifds[k][i].tag
                if tag.tag == StructuralTag.tileOffsets {
                    ifds[k][i].tag = TIFFTag(tag: tag.tag, type: tag.type, count: tag.count, bytes: dataOffsets[k].flatMap(encode))
                } else if tag.tag == StructuralTag.tileByteCounts {
                    ifds[k][i].tag = TIFFTag(tag: tag.tag, type: tag.type, count: tag.count, bytes: tiles[k].flatMap { encode($0.size) })
                }
            }
        }

        var out: [UInt8] = big ? [0x49, 0x49, 43, 0, 8, 0, 0, 0] + le(UInt64(ifdOffsets[0])) : [0x49, 0x49, 42, 0] + le(UInt32(ifdOffsets[0]))
        out += ghost
        if out.count % 2 == 1 { out.append(0) }
        func pad(to p: Int) { if out.count < p { out += [UInt8](repeating: 0, count: p - out.count) } }
        for k in ifds.indices {
            pad(to: ifdOffsets[k])
            precondition(out.count == ifdOffsets[k])
            out += big ? le(UInt64(ifds[k].count)) : le(UInt16(ifds[k].count))
            for e in ifds[k] {
                out += le(e.tag.tag) + le(e.tag.type)
                out += big ? le(UInt64(e.tag.count)) : le(UInt32(e.tag.count))
                if e.tag.bytes.count <= inline {
                    out += e.tag.bytes + [UInt8](repeating: 0, count: inline - e.tag.bytes.count)
                } else {
                    out += encode(e.valueOffset)
                }
            }
            out += encode(k + 1 < ifds.count ? ifdOffsets[k + 1] : 0)
            for e in ifds[k] where e.tag.bytes.count > inline && !isArray(e) {
                pad(to: e.valueOffset)
                out += e.tag.bytes
            }
        }
        for k in ifds.indices {
            for e in ifds[k] where e.tag.bytes.count > inline && isArray(e) {
                pad(to: e.valueOffset)
                out += e.tag.bytes
            }
        }
        // The padding after the last value (the tile offsets were computed from it).
        pad(to: dataStart)
        precondition(out.count == dataStart)
        return (out, order)
    }

    /// Writes the header, then every tile from the spill file with its leader and trailer.
    private static func emit(path: String, header: [UInt8], order: [(offset: Int, size: Int)], spill: Int32, spillPath: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw COGError.io("\(path): cannot create: \(String(cString: strerror(errno)))") }
        var closed = false
        defer { if !closed { close(fd) } }
        let capacity = 4 << 20
        var buffer = [UInt8]()
        buffer.reserveCapacity(capacity)
        var written = 0
        func flush() throws {
            try buffer.withUnsafeBytes { try pwriteAll(fd, $0, written, path) }
            written += buffer.count
            buffer.removeAll(keepingCapacity: true)
        }
        buffer += header
        var tile = [UInt8](repeating: 0, count: 1 << 16)
        for (offset, size) in order {
            if tile.count < size { tile = [UInt8](repeating: 0, count: size) }
            var got = 0
            while got < size {
                let n = tile.withUnsafeMutableBytes { pread(spill, $0.baseAddress! + got, size - got, off_t(offset + got)) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw COGError.io("\(spillPath): cannot read back a tile: \(n < 0 ? String(cString: strerror(errno)) : "short file")") }
                got += n
            }
            if buffer.count + size + 8 > capacity { try flush() }
            buffer += le(UInt32(size))
            buffer += tile[0..<size]
            buffer += tile[(size - 4)..<size]
        }
        try flush()
        closed = true
        guard close(fd) == 0 else { throw COGError.io("\(path): cannot write: \(String(cString: strerror(errno)))") }
    }
}
