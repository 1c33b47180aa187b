import CGDAL

/// GDAL's raster algorithms (gdal_alg.h): sieve, polygonize, proximity.
extension RasterBand {
    /// Removes raster polygons smaller than `threshold` pixels, merging them into their largest
    /// neighbour, writing into `destination` (may be this band). Same as `gdal_sieve.py -st N [-4|-8]`.
    /// The corresponding C function is `GDALSieveFilter`.
    public func sieve(into destination: RasterBand, mask: RasterBand? = nil, threshold: Int, eightConnected: Bool) throws {
        try gdalCheck("GDALSieveFilter") {
            GDALSieveFilter(handle, mask?.handle, destination.handle, Int32(threshold), eightConnected ? 8 : 4, nil, nil, nil)
        }
    }

    /// Writes one polygon per connected region of equal value into `layer`, the value going to
    /// field `field` (index). Same as `gdal_polygonize.py [-8]`. Pixels where `mask` is 0 are skipped.
    /// The corresponding C function is `GDALPolygonize`.
    public func polygonize(into layer: VectorLayer, mask: RasterBand? = nil, field: Int, eightConnected: Bool) throws {
        let options = CStringList(eightConnected ? ["8CONNECTED=8"] : [])
        try options.withUnsafePointer { p in
            try gdalCheck("GDALPolygonize") { GDALPolygonize(handle, mask?.handle, layer.handle, Int32(field), p, nil, nil) }
        }
    }

    /// Distance from every pixel to the nearest pixel whose value is in `targetValues` (all non-zero
    /// pixels when empty), in georeferenced units, written into `destination`. Same as
    /// `gdal_proximity.py -distunits GEO [-values …]`. The corresponding C function is `GDALComputeProximity`.
    public func proximity(into destination: RasterBand, targetValues: [Double] = [], maxDistance: Double? = nil,
                          noDataValue: Double? = nil) throws {
        var items = ["DISTUNITS=GEO"]
        if !targetValues.isEmpty { items.append("VALUES=" + targetValues.map { "\($0)" }.joined(separator: ",")) }
        if let maxDistance { items.append("MAXDIST=\(maxDistance)") }
        if let noDataValue { items.append("NODATA=\(noDataValue)") }
        let options = CStringList(items)
        try options.withUnsafePointer { p in
            try gdalCheck("GDALComputeProximity") { GDALComputeProximity(handle, destination.handle, p, nil, nil) }
        }
    }
}

extension Dataset {
    public enum GeometryKind: Sendable { case polygon, multiPolygon, lineString, point, unknown
        /// No geometry: an attribute table.
        case none
        var ogr: OGRwkbGeometryType {
            switch self {
            case .polygon: return wkbPolygon
            case .multiPolygon: return wkbMultiPolygon
            case .lineString: return wkbLineString
            case .point: return wkbPoint
            case .unknown: return wkbUnknown
            case .none: return wkbNone
            }
        }
    }

    /// Creates a vector layer (the corresponding C function is `GDALDatasetCreateLayer`).
    public func createLayer(_ name: String, srs: SpatialReference?, geometry: GeometryKind, options: [String] = []) throws -> VectorLayer {
        let h = try live()
        let list = CStringList(options)
        let layer = try list.withUnsafePointer { p in
            try gdalCall("GDALDatasetCreateLayer") { GDALDatasetCreateLayer(h, name, srs?.handle, geometry.ogr, p) }
        }
        return VectorLayer(handle: layer, owner: self)
    }
}

extension VectorLayer {
    /// Adds a field (the corresponding C function is `OGR_L_CreateField`).
    public func createField(_ name: String, kind: FieldKind, width: Int = 0) throws {
        let type: OGRFieldType
        switch kind {
        case .integer: type = OFTInteger
        case .real: type = OFTReal
        case .string, .other: type = OFTString
        }
        let defn = OGR_Fld_Create(name, type)
        defer { OGR_Fld_Destroy(defn) }
        if width > 0 { OGR_Fld_SetWidth(defn, Int32(width)) }
        try ogrCheck("OGR_L_CreateField") { OGR_L_CreateField(handle, defn, 1) }
    }

    public func fieldIndex(_ name: String) -> Int? {
        let i = OGR_FD_GetFieldIndex(OGR_L_GetLayerDefn(handle), name)
        return i >= 0 ? Int(i) : nil
    }

    /// One feature's values as the caller sees them while updating.
    public struct FeatureUpdate {
        let feature: OGRFeatureH
        /// The feature's geometry area in layer units (0 for non-areal geometries).
        public var area: Double { OGR_F_GetGeometryRef(feature).map { OGR_G_Area($0) } ?? 0 }
        /// A point guaranteed to lie on the feature's surface (x, y), if it has a geometry.
        public var pointOnSurface: (Double, Double)? {
            guard let g = OGR_F_GetGeometryRef(feature), let p = OGR_G_PointOnSurface(g) else { return nil }
            defer { OGR_G_DestroyGeometry(p) }
            return (OGR_G_GetX(p, 0), OGR_G_GetY(p, 0))
        }
        public func integer(_ field: Int) -> Int { Int(OGR_F_GetFieldAsInteger64(feature, Int32(field))) }
        public func real(_ field: Int) -> Double { OGR_F_GetFieldAsDouble(feature, Int32(field)) }
        public func string(_ field: Int) -> String { String(cString: OGR_F_GetFieldAsString(feature, Int32(field))) }
        public func set(_ field: Int, _ value: Double) { OGR_F_SetFieldDouble(feature, Int32(field), value) }
        public func set(_ field: Int, _ value: Int) { OGR_F_SetFieldInteger64(feature, Int32(field), GIntBig(value)) }
        public func set(_ field: Int, _ value: String) { OGR_F_SetFieldString(feature, Int32(field), value) }
    }

    /// Visits every feature in order and writes back what `body` changed
    /// (the corresponding C functions are `OGR_L_GetNextFeature` and `OGR_L_SetFeature`).
    public func updateFeatures(_ body: (FeatureUpdate) throws -> Void) throws {
        OGR_L_ResetReading(handle)
        var features: [OGRFeatureH] = []
        while let f = OGR_L_GetNextFeature(handle) { features.append(f) }
        defer { features.forEach { OGR_F_Destroy($0) } }
        for f in features {
            try body(FeatureUpdate(feature: f))
            try ogrCheck("OGR_L_SetFeature") { OGR_L_SetFeature(handle, f) }
        }
    }

    /// Visits every feature in order, read-only.
    public func readFeatures(_ body: (FeatureUpdate) throws -> Void) rethrows {
        OGR_L_ResetReading(handle)
        while let f = OGR_L_GetNextFeature(handle) {
            defer { OGR_F_Destroy(f) }
            try body(FeatureUpdate(feature: f))
        }
    }

    /// Wraps many feature writes in one transaction (fast on GeoPackage).
    public func inTransaction(_ body: () throws -> Void) throws {
        try ogrCheck("OGR_L_StartTransaction") { OGR_L_StartTransaction(handle) }
        do { try body() } catch {
            _ = OGR_L_RollbackTransaction(handle)
            throw error
        }
        try ogrCheck("OGR_L_CommitTransaction") { OGR_L_CommitTransaction(handle) }
    }
}
