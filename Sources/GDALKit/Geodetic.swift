import CGDAL

// What geodetic measures on a geographic grid need from GDAL: the CRS's ellipsoid and the rings
// of a feature's polygons.

extension SpatialReference {
    /// The semi-major axis (metres) and flattening of the CRS's ellipsoid (0 for a sphere).
    /// The corresponding C functions are `OSRGetSemiMajor` and `OSRGetInvFlattening`.
    public var ellipsoidAxes: (semiMajor: Double, flattening: Double)? {
        var err: OGRErr = OGRERR_NONE
        let a = OSRGetSemiMajor(handle, &err)
        guard err == OGRERR_NONE, a > 0 else { return nil }
        let inverse = OSRGetInvFlattening(handle, &err)
        guard err == OGRERR_NONE else { return nil }
        return (a, inverse > 0 ? 1 / inverse : 0)
    }
}

extension VectorLayer.FeatureUpdate {
    /// The feature's polygons as rings of (x, y) vertices, the first ring of each polygon its
    /// exterior; empty for a feature without polygons.
    public func polygonRings() throws -> [[[(x: Double, y: Double)]]] {
        guard let g = OGR_F_GetGeometryRef(feature) else { return [] }
        var flat = FeatureGeometry()
        try VectorLayer.flatten(g, into: &flat)
        return flat.polygons.map { $0.map { $0.map { (x: $0.x, y: $0.y) } } }
    }
}
