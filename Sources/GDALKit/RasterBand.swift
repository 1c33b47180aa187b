import CGDAL

/// A window of a raster in pixel coordinates.
public struct PixelWindow: Sendable, Equatable {
    public var x: Int, y: Int, width: Int, height: Int
    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x; self.y = y; self.width = width; self.height = height
    }
    public var count: Int { width * height }
}

/// One band of a raster. It keeps its dataset alive.
public final class RasterBand {
    let handle: GDALRasterBandH
    let owner: Dataset

    init(handle: GDALRasterBandH, owner: Dataset) {
        self.handle = handle
        self.owner = owner
    }

    public var pixelType: PixelType { PixelType(GDALGetRasterDataType(handle)) }

    public var noDataValue: Double? {
        var has: Int32 = 0
        let value = GDALGetRasterNoDataValue(handle, &has)
        return has != 0 ? value : nil
    }

    public func setNoDataValue(_ value: Double) throws {
        try gdalCheck("GDALSetRasterNoDataValue") { GDALSetRasterNoDataValue(handle, value) }
    }

    public var blockSize: (width: Int, height: Int) {
        var w: Int32 = 0, h: Int32 = 0
        GDALGetBlockSize(handle, &w, &h)
        return (Int(w), Int(h))
    }

    /// Reads a window into `buffer` (row-major, `window.count` values) converting to `T`.
    public func read<T: GDALPixel>(_ window: PixelWindow, into buffer: UnsafeMutableBufferPointer<T>) throws {
        guard buffer.count >= window.count else {
            throw GDALError.invalidArgument("read buffer holds \(buffer.count) values, window needs \(window.count)")
        }
        let h = handle
        try gdalCheck("GDALRasterIO") {
            GDALRasterIO(h, GF_Read, Int32(window.x), Int32(window.y), Int32(window.width), Int32(window.height),
                         buffer.baseAddress, Int32(window.width), Int32(window.height), T.gdalType, 0, 0)
        }
    }

    /// Reads a window resampled (nearest) into a `width` × `height` buffer: GDAL takes an overview
    /// when one is fine enough, so a coarse look at a huge raster reads little.
    public func read<T: GDALPixel>(_ window: PixelWindow, into buffer: UnsafeMutableBufferPointer<T>, width: Int, height: Int) throws {
        guard buffer.count >= width * height else {
            throw GDALError.invalidArgument("read buffer holds \(buffer.count) values, \(width)×\(height) needed")
        }
        let h = handle
        try gdalCheck("GDALRasterIO") {
            GDALRasterIO(h, GF_Read, Int32(window.x), Int32(window.y), Int32(window.width), Int32(window.height),
                         buffer.baseAddress, Int32(width), Int32(height), T.gdalType, 0, 0)
        }
    }

    /// Reads a window into a new array (inlinable: specialised where it is called, so the array is
    /// filled without a generic copy a value).
    @inlinable
    public func read<T: GDALPixel & Numeric>(_ window: PixelWindow, as _: T.Type = T.self) throws -> [T] {
        var result = [T](repeating: 0, count: window.count)
        try result.withUnsafeMutableBufferPointer { try read(window, into: $0) }
        return result
    }

    /// Writes a window from `buffer` (row-major).
    public func write<T: GDALPixel>(_ window: PixelWindow, from buffer: UnsafeBufferPointer<T>) throws {
        guard buffer.count >= window.count else {
            throw GDALError.invalidArgument("write buffer holds \(buffer.count) values, window needs \(window.count)")
        }
        let h = handle
        let pointer = UnsafeMutableRawPointer(mutating: buffer.baseAddress)
        try gdalCheck("GDALRasterIO") {
            GDALRasterIO(h, GF_Write, Int32(window.x), Int32(window.y), Int32(window.width), Int32(window.height),
                         pointer, Int32(window.width), Int32(window.height), T.gdalType, 0, 0)
        }
    }

    /// GDAL's checksum of a window (the value `gdalinfo -checksum` prints for the whole band).
    public func checksum(_ window: PixelWindow? = nil) throws -> Int {
        let w = window ?? PixelWindow(x: 0, y: 0, width: owner.width, height: owner.height)
        let (value, records) = capturingErrors {
            GDALChecksumImage(handle, Int32(w.x), Int32(w.y), Int32(w.width), Int32(w.height))
        }
        if value < 0 { throw GDALError.cpl(function: "GDALChecksumImage", records: records) }
        return Int(value)
    }

    /// Sets a colour table of RGBA entries, index = pixel value.
    public func setColorTable(_ entries: [(UInt8, UInt8, UInt8, UInt8)]) throws {
        let table = GDALCreateColorTable(GPI_RGB)
        defer { GDALDestroyColorTable(table) }
        for (i, e) in entries.enumerated() {
            var entry = GDALColorEntry(c1: Int16(e.0), c2: Int16(e.1), c3: Int16(e.2), c4: Int16(e.3))
            GDALSetColorEntry(table, Int32(i), &entry)
        }
        try gdalCheck("GDALSetRasterColorTable") { GDALSetRasterColorTable(handle, table) }
    }

    /// The colour table as RGBA entries, or nil.
    public var colorTable: [(UInt8, UInt8, UInt8, UInt8)]? {
        guard let table = GDALGetRasterColorTable(handle) else { return nil }
        return (0..<GDALGetColorEntryCount(table)).map { i in
            let e = GDALGetColorEntry(table, i)!.pointee
            return (UInt8(e.c1), UInt8(e.c2), UInt8(e.c3), UInt8(e.c4))
        }
    }

    /// Sets category names, index = pixel value.
    public func setCategoryNames(_ names: [String]) throws {
        let list = CStringList(names)
        try list.withUnsafePointer { p in
            try gdalCheck("GDALSetRasterCategoryNames") { GDALSetRasterCategoryNames(handle, p) }
        }
    }

    public var categoryNames: [String] {
        guard let list = GDALGetRasterCategoryNames(handle) else { return [] }
        var result: [String] = []
        var i = 0
        while let item = list[i] { result.append(String(cString: item)); i += 1 }
        return result
    }

    public func setDescription(_ text: String) {
        GDALSetDescription(handle, text)
    }

    public func setMetadataItem(_ key: String, _ value: String, domain: String? = nil) throws {
        try gdalCheck("GDALSetMetadataItem") { GDALSetMetadataItem(handle, key, value, domain) }
    }

    public var overviewCount: Int { Int(GDALGetOverviewCount(handle)) }

    /// The band's mask (from nodata, an alpha band or a mask band; all-valid otherwise).
    /// The corresponding C function is `GDALGetMaskBand`.
    public func maskBand() throws -> RasterBand {
        RasterBand(handle: try gdalCall("GDALGetMaskBand") { GDALGetMaskBand(handle) }, owner: owner)
    }
}
