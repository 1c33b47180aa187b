import CGDAL

/// GDAL raster data types used by HazardZoning, mapped to Swift scalars.
public protocol GDALPixel { static var gdalType: GDALDataType { get } }
extension UInt8: GDALPixel { public static var gdalType: GDALDataType { GDT_Byte } }
extension Int16: GDALPixel { public static var gdalType: GDALDataType { GDT_Int16 } }
extension UInt16: GDALPixel { public static var gdalType: GDALDataType { GDT_UInt16 } }
extension Int32: GDALPixel { public static var gdalType: GDALDataType { GDT_Int32 } }
extension Float: GDALPixel { public static var gdalType: GDALDataType { GDT_Float32 } }
extension Double: GDALPixel { public static var gdalType: GDALDataType { GDT_Float64 } }

public enum PixelType: String, Sendable {
    case byte = "Byte", int16 = "Int16", uint16 = "UInt16", int32 = "Int32", uint32 = "UInt32"
    case float32 = "Float32", float64 = "Float64", unknown = "Unknown"

    init(_ type: GDALDataType) {
        switch type {
        case GDT_Byte: self = .byte
        case GDT_Int16: self = .int16
        case GDT_UInt16: self = .uint16
        case GDT_Int32: self = .int32
        case GDT_UInt32: self = .uint32
        case GDT_Float32: self = .float32
        case GDT_Float64: self = .float64
        default: self = .unknown
        }
    }

    var gdal: GDALDataType {
        switch self {
        case .byte: return GDT_Byte
        case .int16: return GDT_Int16
        case .uint16: return GDT_UInt16
        case .int32: return GDT_Int32
        case .uint32: return GDT_UInt32
        case .float32: return GDT_Float32
        case .float64: return GDT_Float64
        case .unknown: return GDT_Unknown
        }
    }
}

/// A GDAL dataset (raster and/or vector). Not Sendable: open one per thread. Closed when released;
/// call `close()` to see errors that only surface when writing finishes.
public final class Dataset {
    private(set) var handle: GDALDatasetH?
    /// The path or connection string it was opened with.
    public let path: String

    public struct OpenFlags: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let raster = OpenFlags(rawValue: UInt32(GDAL_OF_RASTER))
        public static let vector = OpenFlags(rawValue: UInt32(GDAL_OF_VECTOR))
        public static let update = OpenFlags(rawValue: UInt32(GDAL_OF_UPDATE))
    }

    init(takingOwnershipOf handle: GDALDatasetH, path: String) {
        self.handle = handle
        self.path = path
    }

    /// Opens a dataset. Shared opening (`GDAL_OF_SHARED`) is never used: one handle, one owner.
    public convenience init(open path: String, flags: OpenFlags = [.raster, .vector],
                            allowedDrivers: [String] = [], openOptions: [String] = []) throws {
        GDAL.ensureRegistered()
        if NetworkPolicy.isOffline, let reason = NetworkPolicy.networkReference(in: path) {
            throw GDALError.cpl(function: "GDALOpenEx(\(path))", records: [CPLErrorRecord(
                errorClass: .failure, number: CPLErrorNumber.openFailed,
                message: "network access is disabled (\(reason))")])
        }
        let drivers = CStringList(allowedDrivers)
        let options = CStringList(openOptions)
        let cflags = flags.rawValue | UInt32(GDAL_OF_VERBOSE_ERROR)
        let handle: GDALDatasetH = try drivers.withUnsafeConstPointer { d in
            try options.withUnsafeConstPointer { o in
                let driverList = allowedDrivers.isEmpty ? nil : d
                let optionList = openOptions.isEmpty ? nil : o
                return try gdalCall("GDALOpenEx(\(path))") { GDALOpenEx(path, cflags, driverList, optionList, nil) }
            }
        }
        self.init(takingOwnershipOf: handle, path: path)
    }

    /// Creates a raster dataset with a driver (GTiff, MEM, ...).
    public static func create(driver name: String, path: String, width: Int, height: Int, bands: Int,
                              type: PixelType, options: [String] = []) throws -> Dataset {
        GDAL.ensureRegistered()
        let driver = try gdalCall("GDALGetDriverByName") { GDALGetDriverByName(name) }
        let list = CStringList(options)
        let handle = try gdalCall("GDALCreate") {
            list.withUnsafePointer { GDALCreate(driver, path, Int32(width), Int32(height), Int32(bands), type.gdal, $0) }
        }
        return Dataset(takingOwnershipOf: handle, path: path)
    }

    /// Creates a vector-only dataset (GPKG, Memory, ...).
    public static func createVector(driver name: String, path: String, options: [String] = []) throws -> Dataset {
        GDAL.ensureRegistered()
        let driver = try gdalCall("GDALGetDriverByName") { GDALGetDriverByName(name) }
        let list = CStringList(options)
        let handle = try gdalCall("GDALCreate") {
            list.withUnsafePointer { GDALCreate(driver, path, 0, 0, 0, GDT_Unknown, $0) }
        }
        return Dataset(takingOwnershipOf: handle, path: path)
    }

    /// Copies a dataset with a driver's CreateCopy (e.g. COG).
    public func createCopy(driver name: String, path: String, options: [String] = []) throws -> Dataset {
        let driver = try gdalCall("GDALGetDriverByName") { GDALGetDriverByName(name) }
        let list = CStringList(options)
        let source = try live()
        let out = try gdalCall("GDALCreateCopy") {
            list.withUnsafePointer { GDALCreateCopy(driver, path, source, 0, $0, nil, nil) }
        }
        return Dataset(takingOwnershipOf: out, path: path)
    }

    deinit {
        if let handle { GDALClose(handle) }
    }

    func live(_ function: String = #function) throws -> GDALDatasetH {
        guard let handle else { throw GDALError.invalidArgument("\(function): dataset \(path) is already closed") }
        return handle
    }

    /// Flushes and closes, surfacing write errors (the deinit cannot throw).
    public func close() throws {
        guard let handle else { return }
        self.handle = nil
        try gdalVoid("GDALClose") {
            GDALFlushCache(handle)
            GDALClose(handle)
        }
    }

    public func flush() throws {
        let h = try live()
        try gdalVoid("GDALFlushCache") { GDALFlushCache(h) }
    }

    public var driverName: String {
        guard let handle, let driver = GDALGetDatasetDriver(handle) else { return "" }
        return String(cString: GDALGetDriverShortName(driver))
    }

    public var width: Int { handle.map { Int(GDALGetRasterXSize($0)) } ?? 0 }
    public var height: Int { handle.map { Int(GDALGetRasterYSize($0)) } ?? 0 }
    public var bandCount: Int { handle.map { Int(GDALGetRasterCount($0)) } ?? 0 }
    public var layerCount: Int { handle.map { Int(GDALDatasetGetLayerCount($0)) } ?? 0 }

    /// The affine geotransform, or nil when the dataset has none.
    public var geoTransform: [Double]? {
        guard let handle else { return nil }
        var gt = [Double](repeating: 0, count: 6)
        let (err, _) = capturingErrors { gt.withUnsafeMutableBufferPointer { GDALGetGeoTransform(handle, $0.baseAddress) } }
        return err == CE_None ? gt : nil
    }

    /// The raster's footprint in its own CRS (the corners of the geotransform), or nil without one.
    public var extent: Bounds? {
        guard let gt = geoTransform else { return nil }
        let w = Double(width), h = Double(height)
        let xs = [gt[0], gt[0] + gt[1] * w, gt[0] + gt[2] * h, gt[0] + gt[1] * w + gt[2] * h]
        let ys = [gt[3], gt[3] + gt[4] * w, gt[3] + gt[5] * h, gt[3] + gt[4] * w + gt[5] * h]
        return Bounds(minX: xs.min()!, minY: ys.min()!, maxX: xs.max()!, maxY: ys.max()!)
    }

    public func setGeoTransform(_ gt: [Double]) throws {
        precondition(gt.count == 6)
        let h = try live()
        var copy = gt
        try gdalCheck("GDALSetGeoTransform") { copy.withUnsafeMutableBufferPointer { GDALSetGeoTransform(h, $0.baseAddress) } }
    }

    /// The raster CRS, or nil when the dataset has none.
    public var spatialReference: SpatialReference? {
        guard let handle, let srs = GDALGetSpatialRef(handle) else { return nil }
        return SpatialReference(cloning: srs)
    }

    public func setSpatialReference(_ srs: SpatialReference) throws {
        let h = try live()
        try gdalCheck("GDALSetSpatialRef") { GDALSetSpatialRef(h, srs.handle) }
    }

    public func band(_ index: Int) throws -> RasterBand {
        let h = try live()
        guard index >= 1, index <= bandCount else {
            throw GDALError.invalidArgument("\(path) has \(bandCount) band(s); band \(index) does not exist")
        }
        let band = try gdalCall("GDALGetRasterBand") { GDALGetRasterBand(h, Int32(index)) }
        return RasterBand(handle: band, owner: self)
    }

    public func layer(_ index: Int) throws -> VectorLayer {
        let h = try live()
        let layer = try gdalCall("GDALDatasetGetLayer") { GDALDatasetGetLayer(h, Int32(index)) }
        return VectorLayer(handle: layer, owner: self)
    }

    public func layer(named name: String) throws -> VectorLayer {
        let h = try live()
        guard let layer = GDALDatasetGetLayerByName(h, name) else {
            let names = (0..<layerCount).compactMap { try? self.layer($0).name }
            throw GDALError.invalidArgument("\(path) has no layer \"\(name)\" (layers: \(names.joined(separator: ", ")))")
        }
        return VectorLayer(handle: layer, owner: self)
    }

    /// Every file the dataset consists of (main file and side-cars), as GDAL lists them.
    public var fileList: [String] {
        guard let handle, let list = GDALGetFileList(handle) else { return [] }
        defer { CSLDestroy(list) }
        var result: [String] = []
        var i = 0
        while let item = list[i] { result.append(String(cString: item)); i += 1 }
        return result
    }

    /// Sets a metadata item on the dataset.
    public func setMetadataItem(_ key: String, _ value: String, domain: String? = nil) throws {
        let h = try live()
        try gdalCheck("GDALSetMetadataItem") { GDALSetMetadataItem(h, key, value, domain) }
    }

    public func metadataItem(_ key: String, domain: String? = nil) -> String? {
        guard let handle else { return nil }
        return GDALGetMetadataItem(handle, key, domain).map { String(cString: $0) }
    }

    /// Builds overviews (the corresponding C function is `GDALBuildOverviews`).
    public func buildOverviews(resampling: String, levels: [Int32]) throws {
        let h = try live()
        var lv = levels
        try gdalCheck("GDALBuildOverviews") {
            lv.withUnsafeMutableBufferPointer {
                GDALBuildOverviews(h, resampling, Int32($0.count), $0.baseAddress, 0, nil, nil, nil)
            }
        }
    }

    /// Executes an SQL statement (e.g. on a GeoPackage) and releases any result set.
    public func executeSQL(_ sql: String) throws {
        let h = try live()
        let (result, records) = capturingErrors { GDALDatasetExecuteSQL(h, sql, nil, nil) }
        if let result { GDALDatasetReleaseResultSet(h, result) }
        if records.contains(where: { $0.errorClass.rawValue >= CPLErrorRecord.Class.failure.rawValue }) {
            throw GDALError.cpl(function: "GDALDatasetExecuteSQL", records: records)
        }
    }
}
