import Foundation

/// Writes a PNG's physical pixel size (the `pHYs` chunk: pixels per metre), so image viewers,
/// word processors and print dialogs place the map at its page size. Cairo writes none.
enum PNGResolution {
    /// Inserts (or replaces) the `pHYs` chunk right after `IHDR`, for `dpi` in both directions.
    static func set(dpi: Double, file path: String) throws {
        let url = URL(fileURLWithPath: path)
        var data = try Data(contentsOf: url)
        let signature: [UInt8] = [137, 80, 78, 71, 13, 10, 26, 10]
        guard data.count > 33, Array(data.prefix(8)) == signature, String(decoding: data[12..<16], as: UTF8.self) == "IHDR" else {
            throw MapError.output(path: path, reason: "not a PNG file")
        }
        // Drop an existing pHYs chunk.
        var offset = 8
        while offset + 12 <= data.count {
            let length = Int(data[offset]) << 24 | Int(data[offset + 1]) << 16 | Int(data[offset + 2]) << 8 | Int(data[offset + 3])
            let type = String(decoding: data[(offset + 4)..<(offset + 8)], as: UTF8.self)
            if type == "pHYs" { data.removeSubrange(offset..<(offset + 12 + length)); break }
            if type == "IDAT" || type == "IEND" { break }
            offset += 12 + length
        }
        let ppm = UInt32((dpi / 0.0254).rounded())
        var chunk = Data("pHYs".utf8)
        for v in [ppm, ppm] { chunk.append(contentsOf: [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)]) }
        chunk.append(1)  // unit: metre
        let crc = crc32(chunk)
        var bytes = Data([0, 0, 0, 9])
        bytes.append(chunk)
        bytes.append(contentsOf: [UInt8(crc >> 24), UInt8(crc >> 16 & 0xff), UInt8(crc >> 8 & 0xff), UInt8(crc & 0xff)])
        data.insert(contentsOf: bytes, at: 33)  // 8 (signature) + 25 (IHDR chunk)
        try data.write(to: url)
    }

    /// CRC-32 (ISO 3309, as PNG uses) of the chunk type and data.
    static func crc32(_ data: Data) -> UInt32 {
        var crc: UInt32 = 0xffff_ffff
        for byte in data {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? 0xedb8_8320 ^ (crc >> 1) : crc >> 1 }
        }
        return crc ^ 0xffff_ffff
    }
}
