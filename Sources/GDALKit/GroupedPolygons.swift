import CGDAL

extension VectorLayer {
    /// Appends one MultiPolygon feature per value of `values`, in that order, whose parts are every
    /// polygon of `source` with that value in integer field `field` (as `GDALPolygonize` makes them:
    /// one polygon per 4-connected region, so parts of one value never share an edge). `body` fills
    /// the new feature's fields. A value no polygon has is an error naming it.
    public func appendGroupedPolygons(from source: VectorLayer, field: Int, values: [Int],
                                      _ body: (_ value: Int, _ target: FeatureUpdate) throws -> Void) throws {
        var groups: [Int: OGRGeometryH] = [:]
        defer { for g in groups.values { OGR_G_DestroyGeometry(g) } }
        let wanted = Set(values)
        OGR_L_ResetReading(source.handle)
        while let f = OGR_L_GetNextFeature(source.handle) {
            defer { OGR_F_Destroy(f) }
            let value = Int(OGR_F_GetFieldAsInteger64(f, Int32(field)))
            guard wanted.contains(value), let g = OGR_F_GetGeometryRef(f) else { continue }
            let multi = groups[value] ?? OGR_G_CreateGeometry(wkbMultiPolygon)!
            groups[value] = multi
            if OGR_GT_Flatten(OGR_G_GetGeometryType(g)) == wkbMultiPolygon {
                for i in 0..<OGR_G_GetGeometryCount(g) { if let p = OGR_G_GetGeometryRef(g, i) { _ = OGR_G_AddGeometry(multi, p) } }
            } else {
                _ = OGR_G_AddGeometry(multi, g)
            }
        }
        let defn = OGR_L_GetLayerDefn(handle)
        for value in values {
            guard let multi = groups[value] else {
                throw GDALError.invalidArgument("layer \(source.name) has no polygon of value \(value)")
            }
            let out = OGR_F_Create(defn)!
            defer { OGR_F_Destroy(out) }
            _ = OGR_F_SetGeometry(out, multi)
            try body(value, FeatureUpdate(feature: out))
            try ogrCheck("OGR_L_CreateFeature") { OGR_L_CreateFeature(handle, out) }
        }
    }
}
