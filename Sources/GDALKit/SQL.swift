import CGDAL

/// One attribute value as OGR stores it.
public enum FieldValue: Sendable, Equatable, CustomStringConvertible {
    case null
    case integer(Int)
    case real(Double)
    case string(String)

    public var int: Int? {
        switch self {
        case .integer(let v): return v
        case .real(let v): return v.isFinite ? Int(v) : nil
        case .string(let s): return Int(s)
        case .null: return nil
        }
    }

    public var double: Double? {
        switch self {
        case .integer(let v): return Double(v)
        case .real(let v): return v
        case .string(let s): return Double(s)
        case .null: return nil
        }
    }

    public var text: String? {
        switch self {
        case .integer(let v): return String(v)
        case .real(let v): return String(v)
        case .string(let s): return s
        case .null: return nil
        }
    }

    public var description: String { text ?? "NULL" }
}

/// One row of a query result: column names in result order and their values.
public struct Row: Sendable, Equatable {
    public let columns: [String]
    public let values: [FieldValue]

    public subscript(_ name: String) -> FieldValue {
        guard let i = columns.firstIndex(of: name) else { return .null }
        return values[i]
    }
}

extension Dataset {
    /// Runs an SQL statement in the dataset's dialect (SQLite for GeoPackage) and returns every row
    /// of its result set (none for statements without one). The corresponding C function is
    /// `GDALDatasetExecuteSQL`.
    public func query(_ sql: String) throws -> [Row] {
        let h = try live()
        let (result, records) = capturingErrors { GDALDatasetExecuteSQL(h, sql, nil, nil) }
        if records.contains(where: { $0.errorClass.rawValue >= CPLErrorRecord.Class.failure.rawValue }) {
            if let result { GDALDatasetReleaseResultSet(h, result) }
            throw GDALError.cpl(function: "GDALDatasetExecuteSQL", records: records)
        }
        guard let result else { return [] }
        defer { GDALDatasetReleaseResultSet(h, result) }
        let defn = OGR_L_GetLayerDefn(result)
        let count = OGR_FD_GetFieldCount(defn)
        let names = (0..<count).map { String(cString: OGR_Fld_GetNameRef(OGR_FD_GetFieldDefn(defn, $0))) }
        let types = (0..<count).map { OGR_Fld_GetType(OGR_FD_GetFieldDefn(defn, $0)) }
        var rows: [Row] = []
        OGR_L_ResetReading(result)
        while let feature = OGR_L_GetNextFeature(result) {
            defer { OGR_F_Destroy(feature) }
            rows.append(Row(columns: names, values: (0..<count).map { i in
                VectorLayer.value(of: feature, field: i, type: types[Int(i)])
            }))
        }
        return rows
    }

    /// Starts a dataset-wide transaction (one SQLite transaction on a GeoPackage).
    /// The corresponding C function is `GDALDatasetStartTransaction`.
    public func startTransaction() throws {
        let h = try live()
        try ogrCheck("GDALDatasetStartTransaction") { GDALDatasetStartTransaction(h, 0) }
    }

    public func commitTransaction() throws {
        let h = try live()
        try ogrCheck("GDALDatasetCommitTransaction") { GDALDatasetCommitTransaction(h) }
    }

    public func rollbackTransaction() throws {
        let h = try live()
        try ogrCheck("GDALDatasetRollbackTransaction") { GDALDatasetRollbackTransaction(h) }
    }

    /// Runs `body` in one transaction: committed when it returns, rolled back when it throws.
    public func inTransaction<R>(_ body: () throws -> R) throws -> R {
        try startTransaction()
        let value: R
        do { value = try body() } catch {
            try? rollbackTransaction()
            throw error
        }
        try commitTransaction()
        return value
    }

    /// The layer of that name, or nil.
    public func layerIfPresent(_ name: String) -> VectorLayer? {
        guard let handle, let layer = GDALDatasetGetLayerByName(handle, name) else { return nil }
        return VectorLayer(handle: layer, owner: self)
    }
}

extension VectorLayer {
    static func value(of feature: OGRFeatureH, field i: Int32, type: OGRFieldType) -> FieldValue {
        guard OGR_F_IsFieldSetAndNotNull(feature, i) != 0 else { return .null }
        switch type {
        case OFTInteger, OFTInteger64: return .integer(Int(OGR_F_GetFieldAsInteger64(feature, i)))
        case OFTReal: return .real(OGR_F_GetFieldAsDouble(feature, i))
        default: return .string(String(cString: OGR_F_GetFieldAsString(feature, i)))
        }
    }

    /// Adds a field unless the layer has one of that name already (64-bit integers for `.integer`).
    public func ensureField(_ name: String, kind: FieldKind) throws {
        if fieldIndex(name) != nil { return }
        let type: OGRFieldType
        switch kind {
        case .integer: type = OFTInteger64
        case .real: type = OFTReal
        case .string, .other: type = OFTString
        }
        let defn = OGR_Fld_Create(name, type)
        defer { OGR_Fld_Destroy(defn) }
        try ogrCheck("OGR_L_CreateField(\(name))") { OGR_L_CreateField(handle, defn, 1) }
    }

    /// Writes one new feature without geometry (attribute tables). Fields the layer lacks throw.
    /// The corresponding C function is `OGR_L_CreateFeature`.
    public func insert(_ values: [(String, FieldValue)]) throws {
        let feature = try gdalCall("OGR_F_Create") { OGR_F_Create(OGR_L_GetLayerDefn(handle)) }
        defer { OGR_F_Destroy(feature) }
        try set(values, on: feature)
        try ogrCheck("OGR_L_CreateFeature(\(name))") { OGR_L_CreateFeature(handle, feature) }
    }

    func set(_ values: [(String, FieldValue)], on feature: OGRFeatureH) throws {
        let defn = OGR_L_GetLayerDefn(handle)
        for (name, value) in values {
            let i = OGR_FD_GetFieldIndex(defn, name)
            guard i >= 0 else { throw GDALError.invalidArgument("layer \(self.name) has no field \"\(name)\"") }
            switch value {
            case .null: OGR_F_SetFieldNull(feature, i)
            case .integer(let v): OGR_F_SetFieldInteger64(feature, i, GIntBig(v))
            case .real(let v): OGR_F_SetFieldDouble(feature, i, v)
            case .string(let s): OGR_F_SetFieldString(feature, i, s)
            }
        }
    }

    /// Copies every feature of `source` into this layer: fields matched by name (fields this layer
    /// lacks are skipped), `values` set on every copy, geometries reprojected into this layer's CRS
    /// when the two differ. Returns the number of features written. The corresponding C functions
    /// are `OGR_F_SetFromWithMap`, `OGR_G_TransformTo` and `OGR_L_CreateFeature`.
    @discardableResult
    public func append(from source: VectorLayer, setting values: [(String, FieldValue)] = []) throws -> Int {
        let sourceDefn = OGR_L_GetLayerDefn(source.handle)
        let targetDefn = OGR_L_GetLayerDefn(handle)
        var map = (0..<OGR_FD_GetFieldCount(sourceDefn)).map { i in
            OGR_FD_GetFieldIndex(targetDefn, OGR_Fld_GetNameRef(OGR_FD_GetFieldDefn(sourceDefn, i)))
        }
        var transformation: CoordinateTransformation?
        if let from = source.spatialReference, let to = spatialReference, !from.isSame(as: to) {
            transformation = try CoordinateTransformation(from: from, to: to)
        }
        OGR_L_ResetReading(source.handle)
        var count = 0
        while let input = OGR_L_GetNextFeature(source.handle) {
            defer { OGR_F_Destroy(input) }
            let output = try gdalCall("OGR_F_Create") { OGR_F_Create(targetDefn) }
            defer { OGR_F_Destroy(output) }
            try ogrCheck("OGR_F_SetFromWithMap") {
                map.withUnsafeMutableBufferPointer { OGR_F_SetFromWithMap(output, input, 1, $0.baseAddress) }
            }
            OGR_F_SetFID(output, Int64(OGRNullFID))
            if let transformation, let geometry = OGR_F_GetGeometryRef(output) {
                try ogrCheck("OGR_G_Transform") { OGR_G_Transform(geometry, transformation.handle) }
            }
            try set(values, on: output)
            try ogrCheck("OGR_L_CreateFeature(\(name))") { OGR_L_CreateFeature(handle, output) }
            count += 1
        }
        return count
    }
}

extension VectorLayer {
    /// Writes pending changes (and a GeoPackage layer's deferred table creation) to disk.
    /// The corresponding C function is `OGR_L_SyncToDisk`.
    public func syncToDisk() throws {
        try ogrCheck("OGR_L_SyncToDisk(\(name))") { OGR_L_SyncToDisk(handle) }
    }
}
