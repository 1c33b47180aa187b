import CGDAL

/// A coordinate reference system (an `OGRSpatialReferenceH`), always in traditional GIS axis order
/// (easting/longitude first), as GDAL's raster and vector APIs expect.
public final class SpatialReference {
    let handle: OGRSpatialReferenceH

    /// Any definition `OSRSetFromUserInput` accepts: "EPSG:4545", WKT, PROJJSON, a PROJ string.
    public init(definition: String) throws {
        GDAL.ensureRegistered()
        handle = OSRNewSpatialReference(nil)
        OSRSetAxisMappingStrategy(handle, OAMS_TRADITIONAL_GIS_ORDER)
        // On failure the instance is fully initialised, so deinit releases the handle.
        try ogrCheck("OSRSetFromUserInput(\(definition))") { OSRSetFromUserInput(handle, definition) }
    }

    /// Takes a clone of a borrowed handle (e.g. from a dataset or layer).
    init(cloning borrowed: OGRSpatialReferenceH) {
        handle = OSRClone(borrowed)
        OSRSetAxisMappingStrategy(handle, OAMS_TRADITIONAL_GIS_ORDER)
    }

    deinit { OSRDestroySpatialReference(handle) }

    /// WKT2 (2019) text.
    public var wkt: String {
        var out: UnsafeMutablePointer<CChar>?
        let options = CStringList(["FORMAT=WKT2_2019"])
        let err = options.withUnsafeConstPointer { OSRExportToWktEx(handle, &out, $0) }
        defer { VSIFree(out) }
        guard err == OGRERR_NONE, let out else { return "" }
        return String(cString: out)
    }

    /// "EPSG:4545" when the CRS is identified by an authority code, else nil.
    public var authorityCode: String? {
        guard let name = OSRGetAuthorityName(handle, nil), let code = OSRGetAuthorityCode(handle, nil) else {
            return nil
        }
        return "\(String(cString: name)):\(String(cString: code))"
    }

    public var name: String {
        OSRGetName(handle).map { String(cString: $0) } ?? "unnamed"
    }

    public var isGeographic: Bool { OSRIsGeographic(handle) != 0 }
    public var isProjected: Bool { OSRIsProjected(handle) != 0 }

    /// Linear units in metres per unit (projected CRSs), 1 otherwise.
    public var linearUnitsInMetres: Double { OSRGetLinearUnits(handle, nil) }

    public func isSame(as other: SpatialReference) -> Bool {
        OSRIsSame(handle, other.handle) != 0
    }

    /// Transforms a bounding box [xmin, ymin, xmax, ymax] into `target`, densifying the edges
    /// (the corresponding C function is `OCTTransformBounds`).
    public func transformBounds(_ bounds: Bounds, to target: SpatialReference, densify: Int32 = 21) throws -> Bounds {
        if isSame(as: target) { return bounds }
        let ct = try gdalCall("OCTNewCoordinateTransformation") { OCTNewCoordinateTransformation(handle, target.handle) }
        defer { OCTDestroyCoordinateTransformation(ct) }
        var xmin = 0.0, ymin = 0.0, xmax = 0.0, ymax = 0.0
        let (ok, records) = capturingErrors {
            OCTTransformBounds(ct, bounds.minX, bounds.minY, bounds.maxX, bounds.maxY,
                               &xmin, &ymin, &xmax, &ymax, densify)
        }
        guard ok != 0, xmin.isFinite, ymin.isFinite, xmax.isFinite, ymax.isFinite else {
            throw records.isEmpty ? GDALError.nullPointer(function: "OCTTransformBounds")
                : GDALError.cpl(function: "OCTTransformBounds", records: records)
        }
        return Bounds(minX: xmin, minY: ymin, maxX: xmax, maxY: ymax)
    }

    /// Transforms points in place (x/y arrays) into `target`.
    public func transform(x: inout [Double], y: inout [Double], to target: SpatialReference) throws {
        precondition(x.count == y.count)
        let ct = try gdalCall("OCTNewCoordinateTransformation") { OCTNewCoordinateTransformation(handle, target.handle) }
        defer { OCTDestroyCoordinateTransformation(ct) }
        var ok = [Int32](repeating: 0, count: x.count)
        let n = Int32(x.count)
        let (result, records) = capturingErrors {
            x.withUnsafeMutableBufferPointer { xs in
                y.withUnsafeMutableBufferPointer { ys in
                    ok.withUnsafeMutableBufferPointer { oks in
                        OCTTransformEx(ct, n, xs.baseAddress, ys.baseAddress, nil, oks.baseAddress)
                    }
                }
            }
        }
        if result == 0 || ok.contains(0) {
            throw records.isEmpty ? GDALError.nullPointer(function: "OCTTransformEx")
                : GDALError.cpl(function: "OCTTransformEx", records: records)
        }
    }
}

/// An axis-aligned box in some CRS.
public struct Bounds: Sendable, Equatable, CustomStringConvertible {
    public var minX: Double, minY: Double, maxX: Double, maxY: Double
    public init(minX: Double, minY: Double, maxX: Double, maxY: Double) {
        self.minX = minX; self.minY = minY; self.maxX = maxX; self.maxY = maxY
    }
    public var width: Double { maxX - minX }
    public var height: Double { maxY - minY }
    public func intersects(_ other: Bounds) -> Bool {
        minX < other.maxX && other.minX < maxX && minY < other.maxY && other.minY < maxY
    }
    public var description: String { "[\(minX), \(minY), \(maxX), \(maxY)]" }
}
