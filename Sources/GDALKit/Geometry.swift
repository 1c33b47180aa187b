import CGDAL

/// A point of a feature geometry, in traditional GIS axis order (x = easting/longitude).
public struct GeoPoint: Sendable, Equatable, CustomStringConvertible {
    public var x: Double, y: Double
    public init(x: Double, y: Double) { self.x = x; self.y = y }
    public var description: String { "(\(x), \(y))" }
}

/// One feature's geometry flattened into plain Swift arrays: no C pointer leaves GDALKit.
/// Multi-geometries and geometry collections contribute every member; curves are linearised.
public struct FeatureGeometry: Sendable, Equatable {
    /// Points (from Point and MultiPoint members).
    public var points: [GeoPoint] = []
    /// Line strings (from LineString, MultiLineString and curve members).
    public var lines: [[GeoPoint]] = []
    /// Polygons, each as its rings: the exterior ring first, then the holes. Rings are closed
    /// (first point == last point) as OGR stores them.
    public var polygons: [[[GeoPoint]]] = []

    public init(points: [GeoPoint] = [], lines: [[GeoPoint]] = [], polygons: [[[GeoPoint]]] = []) {
        self.points = points; self.lines = lines; self.polygons = polygons
    }

    public var isEmpty: Bool { points.isEmpty && lines.isEmpty && polygons.isEmpty }

    /// Every coordinate, in order: points, then lines, then rings.
    public var allPoints: [GeoPoint] {
        points + lines.flatMap { $0 } + polygons.flatMap { $0.flatMap { $0 } }
    }

    /// The same geometry with every coordinate replaced, in `allPoints` order.
    func replacingPoints(with flat: [GeoPoint]) -> FeatureGeometry {
        var i = 0
        func take(_ n: Int) -> [GeoPoint] { defer { i += n }; return Array(flat[i..<(i + n)]) }
        var out = FeatureGeometry()
        out.points = take(points.count)
        out.lines = lines.map { take($0.count) }
        out.polygons = polygons.map { $0.map { take($0.count) } }
        return out
    }
}

/// A feature read from a layer: its id, its geometry and (optionally) one attribute as text.
public struct GeometryFeature: Sendable, Equatable {
    /// The feature id (`OGR_F_GetFID`).
    public let id: Int64
    public let geometry: FeatureGeometry
    /// The requested attribute as text (`OGR_F_GetFieldAsString`), nil when unset or null, or when
    /// no attribute was requested.
    public let attribute: String?

    public init(id: Int64, geometry: FeatureGeometry, attribute: String?) {
        self.id = id; self.geometry = geometry; self.attribute = attribute
    }
}

extension VectorLayer {
    /// Reads every feature's geometry as rings, lines and points, reprojected into `target`.
    ///
    /// - Parameters:
    ///   - target: the CRS to return coordinates in; nil keeps the layer's own CRS. A layer without
    ///     a CRS cannot be reprojected and throws `invalidArgument`.
    ///   - attribute: a field whose value (as text) is returned with each feature; a field the layer
    ///     lacks throws `invalidArgument` naming the fields it has.
    ///   - within: when given, only features whose envelope meets this box (in the `target` CRS, or
    ///     the layer CRS when `target` is nil) are read (`OGR_L_SetSpatialFilterRect` on the box
    ///     transformed into the layer CRS). The filter is removed afterwards.
    /// Features without geometry are skipped. A coordinate that cannot be transformed throws with
    /// PROJ's error (never a silently dropped vertex).
    /// The corresponding C functions are `OGR_L_GetNextFeature`, `OGR_G_GetPoints` and `OCTTransformEx`.
    public func features(in target: SpatialReference? = nil, attribute: String? = nil,
                         within: Bounds? = nil) throws -> [GeometryFeature] {
        let defn = OGR_L_GetLayerDefn(handle)
        var fieldIndex: Int32 = -1
        if let attribute {
            fieldIndex = OGR_FD_GetFieldIndex(defn, attribute)
            guard fieldIndex >= 0 else {
                throw GDALError.invalidArgument(
                    "layer \(name) has no field \"\(attribute)\" (fields: \(fields.map(\.name).joined(separator: ", ")))")
            }
        }
        let source = spatialReference
        var transformation: CoordinateTransformation?
        if let target {
            guard let source else {
                throw GDALError.invalidArgument("layer \(name) of \(owner.path) has no CRS; it cannot be reprojected")
            }
            if !source.isSame(as: target) {
                transformation = try CoordinateTransformation(from: source, to: target)
            }
        }

        if let within {
            var box = within
            if let target, let source, !source.isSame(as: target) {
                box = try target.transformBounds(within, to: source)
            }
            OGR_L_SetSpatialFilterRect(handle, box.minX, box.minY, box.maxX, box.maxY)
        }
        defer { if within != nil { OGR_L_SetSpatialFilter(handle, nil) } }

        OGR_L_ResetReading(handle)
        var result: [GeometryFeature] = []
        while true {
            let (next, records) = capturingErrors { OGR_L_GetNextFeature(handle) }
            guard let feature = next else {
                if records.contains(where: { $0.errorClass.rawValue >= CPLErrorRecord.Class.failure.rawValue }) {
                    throw GDALError.cpl(function: "OGR_L_GetNextFeature(\(name))", records: records)
                }
                break
            }
            defer { OGR_F_Destroy(feature) }
            guard let geometry = OGR_F_GetGeometryRef(feature) else { continue }
            var flat = FeatureGeometry()
            try Self.flatten(geometry, into: &flat)
            if flat.isEmpty { continue }
            if let transformation {
                flat = flat.replacingPoints(with: try transformation.transform(flat.allPoints))
            }
            var value: String?
            if fieldIndex >= 0, OGR_F_IsFieldSetAndNotNull(feature, fieldIndex) != 0 {
                value = String(cString: OGR_F_GetFieldAsString(feature, fieldIndex))
            }
            result.append(GeometryFeature(id: Int64(OGR_F_GetFID(feature)), geometry: flat, attribute: value))
        }
        return result
    }

    /// Appends a (borrowed) OGR geometry's points, lines and rings to `out`.
    static func flatten(_ geometry: OGRGeometryH, into out: inout FeatureGeometry) throws {
        if OGR_G_HasCurveGeometry(geometry, 1) != 0 {
            let linear = try gdalCall("OGR_G_GetLinearGeometry") { OGR_G_GetLinearGeometry(geometry, 0, nil) }
            defer { OGR_G_DestroyGeometry(linear) }
            try flatten(linear, into: &out)
            return
        }
        if OGR_G_IsEmpty(geometry) != 0 { return }
        switch OGR_GT_Flatten(OGR_G_GetGeometryType(geometry)) {
        case wkbPoint:
            out.points.append(contentsOf: points(of: geometry))
        case wkbLineString, wkbLinearRing:
            out.lines.append(points(of: geometry))
        case wkbPolygon, wkbTriangle:
            let rings = (0..<OGR_G_GetGeometryCount(geometry)).compactMap { OGR_G_GetGeometryRef(geometry, $0) }
            out.polygons.append(rings.map { points(of: $0) }.filter { !$0.isEmpty })
        case wkbMultiPoint, wkbMultiLineString, wkbMultiPolygon, wkbGeometryCollection,
             wkbPolyhedralSurface, wkbTIN:
            for i in 0..<OGR_G_GetGeometryCount(geometry) {
                if let part = OGR_G_GetGeometryRef(geometry, i) { try flatten(part, into: &out) }
            }
        default:
            let name = String(cString: OGRGeometryTypeToName(OGR_G_GetGeometryType(geometry)))
            throw GDALError.invalidArgument("unsupported geometry type \(name)")
        }
    }

    /// The vertices of a point, line string or ring (2D).
    static func points(of geometry: OGRGeometryH) -> [GeoPoint] {
        let n = Int(OGR_G_GetPointCount(geometry))
        guard n > 0 else { return [] }
        var xs = [Double](repeating: 0, count: n), ys = [Double](repeating: 0, count: n)
        let stride = Int32(MemoryLayout<Double>.stride)
        _ = xs.withUnsafeMutableBytes { x in
            ys.withUnsafeMutableBytes { y in
                OGR_G_GetPoints(geometry, x.baseAddress, stride, y.baseAddress, stride, nil, 0)
            }
        }
        return (0..<n).map { GeoPoint(x: xs[$0], y: ys[$0]) }
    }
}

/// A reusable coordinate transformation between two CRSs, in traditional GIS axis order.
/// The corresponding C functions are `OCTNewCoordinateTransformation` and `OCTTransformEx`.
public final class CoordinateTransformation {
    let handle: OGRCoordinateTransformationH

    public init(from source: SpatialReference, to target: SpatialReference) throws {
        handle = try gdalCall("OCTNewCoordinateTransformation") {
            OCTNewCoordinateTransformation(source.handle, target.handle)
        }
    }

    deinit { OCTDestroyCoordinateTransformation(handle) }

    /// Transforms points; throws with PROJ's error if any point fails.
    public func transform(_ points: [GeoPoint]) throws -> [GeoPoint] {
        guard !points.isEmpty else { return [] }
        var xs = points.map(\.x), ys = points.map(\.y)
        var ok = [Int32](repeating: 0, count: points.count)
        let n = Int32(points.count)
        let h = handle
        let (result, records) = capturingErrors {
            xs.withUnsafeMutableBufferPointer { x in
                ys.withUnsafeMutableBufferPointer { y in
                    ok.withUnsafeMutableBufferPointer { o in
                        OCTTransformEx(h, n, x.baseAddress, y.baseAddress, nil, o.baseAddress)
                    }
                }
            }
        }
        if result == 0 || ok.contains(0) || xs.contains(where: { !$0.isFinite }) || ys.contains(where: { !$0.isFinite }) {
            let bad = ok.firstIndex(of: 0).map { " (first failing point \(points[$0]))" } ?? ""
            if records.isEmpty {
                throw GDALError.cpl(function: "OCTTransformEx", records: [CPLErrorRecord(
                    errorClass: .failure, number: CPLErrorNumber.appDefined,
                    message: "coordinate transformation failed\(bad)")])
            }
            throw GDALError.cpl(function: "OCTTransformEx\(bad)", records: records)
        }
        return (0..<points.count).map { GeoPoint(x: xs[$0], y: ys[$0]) }
    }

    /// Transforms one point.
    public func transform(_ point: GeoPoint) throws -> GeoPoint {
        try transform([point])[0]
    }
}
