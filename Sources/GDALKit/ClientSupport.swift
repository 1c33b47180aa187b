import CGDAL

// What the products need so that the analyst's own tools read them fully: raster attribute tables,
// band units, valid polygon geometries and feature copies between layers.

extension RasterBand {
    /// Sets the band's unit (e.g. "1" for an index, "class" for categories). Stored in the TIFF's
    /// GDAL_METADATA tag by the GTiff driver. The corresponding C function is `GDALSetRasterUnitType`.
    public func setUnitType(_ unit: String) throws {
        try gdalCheck("GDALSetRasterUnitType") { GDALSetRasterUnitType(handle, unit) }
    }

    public var unitType: String { String(cString: GDALGetRasterUnitType(handle)) }

    public var bandDescription: String { String(cString: GDALGetDescription(handle)) }

    /// One column of a raster attribute table.
    public struct RATColumn: Sendable {
        public enum Usage: Sendable { case value, name, generic, red, green, blue, pixelCount }
        public enum Values: Sendable { case integers([Int]), strings([String]) }
        public let name: String
        public let usage: Usage
        public let values: Values
        public init(_ name: String, usage: Usage, integers: [Int]) { self.name = name; self.usage = usage; values = .integers(integers) }
        public init(_ name: String, usage: Usage, strings: [String]) { self.name = name; self.usage = usage; values = .strings(strings) }
        var count: Int { switch values { case .integers(let v): return v.count; case .strings(let v): return v.count } }
        var fieldUsage: GDALRATFieldUsage {
            switch usage {
            case .value: return GFU_MinMax
            case .name: return GFU_Name
            case .generic: return GFU_Generic
            case .red: return GFU_Red
            case .green: return GFU_Green
            case .blue: return GFU_Blue
            case .pixelCount: return GFU_PixelCount
            }
        }
    }

    /// Sets a thematic raster attribute table (one row per class). GTiff keeps it in the `.aux.xml`
    /// sidecar, where `gdalinfo`, QGIS and ArcGIS read it. The corresponding C function is
    /// `GDALSetDefaultRAT`.
    public func setAttributeTable(_ columns: [RATColumn]) throws {
        let rows = columns.first?.count ?? 0
        precondition(columns.allSatisfy { $0.count == rows }, "every RAT column needs the same row count")
        let rat = GDALCreateRasterAttributeTable()!
        defer { GDALDestroyRasterAttributeTable(rat) }
        _ = GDALRATSetTableType(rat, GRTT_THEMATIC)
        for column in columns {
            let type: GDALRATFieldType
            switch column.values { case .integers: type = GFT_Integer; case .strings: type = GFT_String }
            try gdalCheck("GDALRATCreateColumn") { GDALRATCreateColumn(rat, column.name, type, column.fieldUsage) }
        }
        GDALRATSetRowCount(rat, Int32(rows))
        for (c, column) in columns.enumerated() {
            switch column.values {
            case .integers(let values):
                for (r, v) in values.enumerated() { GDALRATSetValueAsInt(rat, Int32(r), Int32(c), Int32(v)) }
            case .strings(let values):
                for (r, v) in values.enumerated() { GDALRATSetValueAsString(rat, Int32(r), Int32(c), v) }
            }
        }
        try gdalCheck("GDALSetDefaultRAT") { GDALSetDefaultRAT(handle, rat) }
    }

    /// The raster attribute table's column names and rows as text, or nil without one.
    public var attributeTable: (columns: [String], rows: [[String]])? {
        guard let rat = GDALGetDefaultRAT(handle) else { return nil }
        let nc = GDALRATGetColumnCount(rat), nr = GDALRATGetRowCount(rat)
        let names = (0..<nc).map { String(cString: GDALRATGetNameOfCol(rat, $0)) }
        let rows = (0..<nr).map { r in (0..<nc).map { String(cString: GDALRATGetValueAsString(rat, r, $0)) } }
        return (names, rows)
    }
}

extension VectorLayer.FeatureUpdate {
    /// What `makeValidMultiPolygon()` did to a geometry.
    public struct Repair: Sendable {
        public let wasValid: Bool
        public let areaBefore: Double
        public let areaAfter: Double
    }

    /// Makes the feature's polygonal geometry a valid MultiPolygon under OGC/GEOS rules:
    /// a valid geometry is only promoted to MultiPolygon; an invalid one (e.g. a ring touching
    /// itself at a vertex, as 8-connected polygonising makes) is repaired with GEOS `MakeValid`
    /// (`METHOD=STRUCTURE`, which keeps the area of rings that only touch), keeping its polygons.
    /// The corresponding C functions are `OGR_G_IsValid`, `OGR_G_MakeValidEx` and
    /// `OGR_G_ForceToMultiPolygon`.
    public func makeValidMultiPolygon() throws -> Repair {
        guard let g = OGR_F_StealGeometry(feature) else {
            return Repair(wasValid: true, areaBefore: 0, areaAfter: 0)
        }
        let before = OGR_G_Area(g)
        // GEOS reports why a geometry is invalid as a CPL warning: captured, not printed.
        let valid = capturingErrors { OGR_G_IsValid(g) }.0 != 0
        var result: OGRGeometryH = g
        if !valid {
            let options = CStringList(["METHOD=STRUCTURE"])
            let repaired = capturingErrors { options.withUnsafePointer { p in OGR_G_MakeValidEx(g, p) } }.0
            guard let repaired else {
                OGR_F_SetGeometryDirectly(feature, g)
                throw GDALError.invalidArgument("GEOS MakeValid failed on feature \(OGR_F_GetFID(feature))")
            }
            OGR_G_DestroyGeometry(g)
            result = Self.polygonalParts(repaired)
        }
        let multi = OGR_G_ForceToMultiPolygon(result)!
        let after = OGR_G_Area(multi)
        let valid2 = capturingErrors { OGR_G_IsValid(multi) }.0 != 0
        try ogrCheck("OGR_F_SetGeometryDirectly") { OGR_F_SetGeometryDirectly(feature, multi) }
        guard valid2 else { throw GDALError.invalidArgument("feature \(OGR_F_GetFID(feature)) is still invalid after MakeValid") }
        return Repair(wasValid: valid, areaBefore: before, areaAfter: after)
    }

    /// The polygons of a geometry (a collection from MakeValid may also hold lines or points of
    /// zero area, which are dropped); takes ownership of `g`.
    static func polygonalParts(_ g: OGRGeometryH) -> OGRGeometryH {
        let type = OGR_GT_Flatten(OGR_G_GetGeometryType(g))
        guard type == wkbGeometryCollection else { return g }
        let multi = OGR_G_CreateGeometry(wkbMultiPolygon)!
        for i in 0..<OGR_G_GetGeometryCount(g) {
            guard let part = OGR_G_GetGeometryRef(g, i) else { continue }
            switch OGR_GT_Flatten(OGR_G_GetGeometryType(part)) {
            case wkbPolygon:
                _ = OGR_G_AddGeometry(multi, part)
            case wkbMultiPolygon:
                for j in 0..<OGR_G_GetGeometryCount(part) {
                    if let p = OGR_G_GetGeometryRef(part, j) { _ = OGR_G_AddGeometry(multi, p) }
                }
            default: break
            }
        }
        OGR_G_DestroyGeometry(g)
        return multi
    }

    /// GEOS validity of the feature's geometry (the corresponding C function is `OGR_G_IsValid`).
    public var isValid: Bool { OGR_F_GetGeometryRef(feature).map { g in capturingErrors { OGR_G_IsValid(g) }.0 != 0 } ?? true }
}

extension VectorLayer {
    /// Appends one new feature to this layer per feature of `source`, in order, with a copy of its
    /// geometry; `body` sees the source feature and fills the new one (fields, geometry repairs)
    /// before it is written. The corresponding C functions are `OGR_F_Create`,
    /// `OGR_F_SetGeometry` and `OGR_L_CreateFeature`.
    public func appendFeatures(from source: VectorLayer,
                               _ body: (_ source: FeatureUpdate, _ target: FeatureUpdate) throws -> Void) throws {
        let defn = OGR_L_GetLayerDefn(handle)
        OGR_L_ResetReading(source.handle)
        while let f = OGR_L_GetNextFeature(source.handle) {
            defer { OGR_F_Destroy(f) }
            let out = OGR_F_Create(defn)!
            defer { OGR_F_Destroy(out) }
            if let g = OGR_F_GetGeometryRef(f) { _ = OGR_F_SetGeometry(out, g) }
            try body(FeatureUpdate(feature: f), FeatureUpdate(feature: out))
            try ogrCheck("OGR_L_CreateFeature") { OGR_L_CreateFeature(handle, out) }
        }
    }
}
