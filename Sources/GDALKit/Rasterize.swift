import CGDAL

/// The features of a vector layer kept in memory as OGR geometries with their burn values, to be
/// rasterised window by window (`gdal_rasterize` without a raster of the whole extent).
///
/// Read once, then shared **read-only** by worker threads: `rasterize` only reads the geometries
/// (`GDALRasterizeGeometries` copies their vertices into its own arrays, transforms the copies
/// and never modifies or caches anything in the geometry objects), and each call works on a MEM
/// dataset of its own. Nothing here mutates a geometry after `init`; that is why the class may be
/// `@unchecked Sendable`. Geometries are destroyed when the last reference goes.
public final class BurnGeometries: @unchecked Sendable {
    private let geometries: [OGRGeometryH]
    /// Per geometry: the value burnt (`-burn` or the `-a` attribute, as `gdal_rasterize` reads it).
    public let values: [Double]
    /// Per geometry: its envelope (minX, minY, maxX, maxY), to skip geometries far from a window.
    private let envelopes: [(Double, Double, Double, Double)]

    /// Every feature of `layer` that has a geometry, in the layer's order, as `gdal_rasterize`
    /// collects them: the burn value is `burn` or, with `attribute`, the field read with
    /// `OGR_F_GetFieldAsDouble` (0 when the field is null, like `gdal_rasterize -a`).
    /// The corresponding C functions are `OGR_L_GetNextFeature` and `OGR_F_StealGeometry`.
    public init(layer: VectorLayer, attribute: String?, burn: Double = 1) throws {
        var field: Int32 = -1
        if let attribute {
            field = OGR_FD_GetFieldIndex(OGR_L_GetLayerDefn(layer.handle), attribute)
            guard field >= 0 else {
                throw GDALError.invalidArgument("layer \(layer.name) has no field \"\(attribute)\" (fields: \(layer.fields.map(\.name).joined(separator: ", ")))")
            }
        }
        var geometries: [OGRGeometryH] = [], values: [Double] = [], envelopes: [(Double, Double, Double, Double)] = []
        OGR_L_ResetReading(layer.handle)
        while true {
            let (next, records) = capturingErrors { OGR_L_GetNextFeature(layer.handle) }
            guard let feature = next else {
                if records.contains(where: { $0.errorClass.rawValue >= CPLErrorRecord.Class.failure.rawValue }) {
                    geometries.forEach { OGR_G_DestroyGeometry($0) }
                    throw GDALError.cpl(function: "OGR_L_GetNextFeature(\(layer.name))", records: records)
                }
                break
            }
            defer { OGR_F_Destroy(feature) }
            guard let geometry = OGR_F_StealGeometry(feature) else { continue }
            var env = OGREnvelope()
            OGR_G_GetEnvelope(geometry, &env)
            geometries.append(geometry)
            values.append(field >= 0 ? OGR_F_GetFieldAsDouble(feature, field) : burn)
            envelopes.append((env.MinX, env.MinY, env.MaxX, env.MaxY))
        }
        self.geometries = geometries
        self.values = values
        self.envelopes = envelopes
    }

    deinit { geometries.forEach { OGR_G_DestroyGeometry($0) } }

    public var count: Int { geometries.count }

    /// Burns the geometries into a `width` × `height` window whose geotransform is `geoTransform`
    /// (north-up), as `gdal_rasterize` burns them into a raster of type `type` initialised to
    /// `initial`, and returns the window's values as Float32 in `buffer` (row-major). Geometries
    /// whose envelope lies more than one pixel away from the window cannot touch it and are skipped;
    /// the others burn in the layer's order (a later feature overwrites an earlier one).
    /// The corresponding C function is `GDALRasterizeGeometries`.
    public func rasterize(into buffer: UnsafeMutableBufferPointer<Float>, width: Int, height: Int, geoTransform: [Double],
                          type: PixelType, initial: Double, allTouched: Bool) throws {
        guard buffer.count >= width * height, geoTransform.count == 6 else {
            throw GDALError.invalidArgument("rasterize: buffer of \(buffer.count) values for \(width)×\(height), geotransform \(geoTransform)")
        }
        let driver = try gdalCall("GDALGetDriverByName") { GDALGetDriverByName("MEM") }
        let handle = try gdalCall("GDALCreate") { GDALCreate(driver, "", Int32(width), Int32(height), 1, type.gdal, nil) }
        defer { GDALClose(handle) }
        var gt = geoTransform
        try gdalCheck("GDALSetGeoTransform") { GDALSetGeoTransform(handle, &gt) }
        let band = try gdalCall("GDALGetRasterBand") { GDALGetRasterBand(handle, 1) }
        try gdalCheck("GDALFillRaster") { GDALFillRaster(band, initial, 0) }

        // The window in georeferenced units, one pixel wider on every side.
        let x0 = gt[0] - abs(gt[1]), x1 = gt[0] + Double(width + 1) * abs(gt[1])
        let yTop = gt[3] + abs(gt[5]), yBottom = gt[3] - Double(height + 1) * abs(gt[5])
        var chosen: [OGRGeometryH?] = [], burn: [Double] = []
        for (i, e) in envelopes.enumerated() where e.2 >= x0 && e.0 <= x1 && e.3 >= yBottom && e.1 <= yTop {
            chosen.append(geometries[i])
            burn.append(values[i])
        }
        if !chosen.isEmpty {
            var bands: [Int32] = [1]
            let options = CStringList(allTouched ? ["ALL_TOUCHED=TRUE"] : [])
            try options.withUnsafePointer { p in
                try gdalCheck("GDALRasterizeGeometries") {
                    GDALRasterizeGeometries(handle, 1, &bands, Int32(chosen.count), &chosen, nil, nil, &burn, p, nil, nil)
                }
            }
        }
        try gdalCheck("GDALRasterIO") {
            GDALRasterIO(band, GF_Read, 0, 0, Int32(width), Int32(height), buffer.baseAddress, Int32(width), Int32(height),
                         GDT_Float32, 0, 0)
        }
    }
}

extension PixelType {
    /// The type named as `gdal_translate -ot` names it (`Byte`, `Float32`, …).
    public init?(name: String) {
        guard let t = PixelType(rawValue: name), t != .unknown else { return nil }
        self = t
    }
}

extension RasterBand {
    /// `GMF_*` flags of the band's mask: `GMF_ALL_VALID` (1), `GMF_PER_DATASET` (2), `GMF_ALPHA` (4),
    /// `GMF_NODATA` (8). The corresponding C function is `GDALGetMaskFlags`.
    public var maskFlags: Int { Int(GDALGetMaskFlags(handle)) }

    /// Reads a window as `T` into `buffer` starting at `offset`, consecutive rows `lineStride`
    /// values apart (a window placed inside a larger block buffer).
    /// The corresponding C function is `GDALRasterIO` (with a line spacing).
    public func read<T: GDALPixel>(_ window: PixelWindow, into buffer: UnsafeMutableBufferPointer<T>, offset: Int, lineStride: Int) throws {
        guard window.width <= lineStride, window.count > 0,
              offset + (window.height - 1) * lineStride + window.width <= buffer.count else {
            throw GDALError.invalidArgument("read of \(window.width)×\(window.height) at \(offset) (stride \(lineStride)) into \(buffer.count) values")
        }
        let h = handle
        try gdalCheck("GDALRasterIO") {
            GDALRasterIO(h, GF_Read, Int32(window.x), Int32(window.y), Int32(window.width), Int32(window.height),
                         buffer.baseAddress! + offset, Int32(window.width), Int32(window.height), T.gdalType,
                         Int32(MemoryLayout<T>.stride), Int32(lineStride * MemoryLayout<T>.stride))
        }
    }
}
