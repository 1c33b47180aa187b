import CGDAL

/// One vector layer of a dataset. It keeps its dataset alive.
public final class VectorLayer {
    let handle: OGRLayerH
    let owner: Dataset

    init(handle: OGRLayerH, owner: Dataset) {
        self.handle = handle
        self.owner = owner
    }

    public var name: String { String(cString: OGR_L_GetName(handle)) }

    public var featureCount: Int { Int(OGR_L_GetFeatureCount(handle, 1)) }

    public var spatialReference: SpatialReference? {
        guard let srs = OGR_L_GetSpatialRef(handle) else { return nil }
        return SpatialReference(cloning: srs)
    }

    /// The layer extent in its own CRS.
    public func extent() throws -> Bounds {
        var env = OGREnvelope()
        try ogrCheck("OGR_L_GetExtent") { OGR_L_GetExtent(handle, &env, 1) }
        return Bounds(minX: env.MinX, minY: env.MinY, maxX: env.MaxX, maxY: env.MaxY)
    }

    public enum FieldKind: Sendable { case integer, real, string, other }

    public struct Field: Sendable { public let name: String; public let kind: FieldKind }

    public var fields: [Field] {
        let defn = OGR_L_GetLayerDefn(handle)
        return (0..<OGR_FD_GetFieldCount(defn)).map { i in
            let f = OGR_FD_GetFieldDefn(defn, i)
            let kind: FieldKind
            switch OGR_Fld_GetType(f) {
            case OFTInteger, OFTInteger64: kind = .integer
            case OFTReal: kind = .real
            case OFTString: kind = .string
            default: kind = .other
            }
            return Field(name: String(cString: OGR_Fld_GetNameRef(f)), kind: kind)
        }
    }

    /// The geometry type name (e.g. "Polygon", "Multi Line String").
    public var geometryTypeName: String {
        String(cString: OGRGeometryTypeToName(OGR_L_GetGeomType(handle)))
    }

    /// Values of a numeric field for every feature (nil where unset), in read order.
    public func numericValues(field: String) throws -> [Double?] {
        let defn = OGR_L_GetLayerDefn(handle)
        let index = OGR_FD_GetFieldIndex(defn, field)
        guard index >= 0 else { throw GDALError.invalidArgument("layer \(name) has no field \"\(field)\"") }
        OGR_L_ResetReading(handle)
        var values: [Double?] = []
        while let feature = OGR_L_GetNextFeature(handle) {
            values.append(OGR_F_IsFieldSetAndNotNull(feature, index) != 0 ? OGR_F_GetFieldAsDouble(feature, index) : nil)
            OGR_F_Destroy(feature)
        }
        return values
    }
}
