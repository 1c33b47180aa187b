import Foundation
import Testing
@testable import GDALKit

@Suite struct GeometryTests {
    /// A GeoJSON (lon/lat, EPSG:4326) with a polygon with a hole, a line, a multipoint and a
    /// feature without the name field set.
    static let geojson = """
    {"type": "FeatureCollection",
     "features": [
      {"type": "Feature", "properties": {"name": "锡尼镇", "code": 1},
       "geometry": {"type": "Polygon", "coordinates": [
         [[108.60, 39.80], [108.90, 39.80], [108.90, 40.00], [108.60, 40.00], [108.60, 39.80]],
         [[108.70, 39.85], [108.75, 39.85], [108.75, 39.90], [108.70, 39.85]]]}},
      {"type": "Feature", "properties": {"name": "黄河 Yellow River", "code": 2},
       "geometry": {"type": "LineString", "coordinates": [[106.80, 40.70], [107.50, 40.85], [108.30, 40.80]]}},
      {"type": "Feature", "properties": {"code": 3},
       "geometry": {"type": "MultiPoint", "coordinates": [[108.735, 39.844], [107.0, 39.5]]}}
     ]}
    """

    static func withLayer<R>(_ body: (VectorLayer) throws -> R) throws -> R {
        let path = "/vsimem/geometry-\(UUID().uuidString).geojson"
        try VSI.write(Array(geojson.utf8), to: path)
        defer { VSI.unlink(path) }
        let ds = try Dataset(open: path, flags: [.vector])
        return try body(try ds.layer(0))
    }

    @Test func readsRingsLinesAndPointsInTheLayerCRS() throws {
        try Self.withLayer { layer in
            let features = try layer.features(attribute: "name")
            #expect(features.count == 3)
            let polygon = features[0].geometry
            #expect(polygon.polygons.count == 1 && polygon.polygons[0].count == 2)
            #expect(polygon.polygons[0][0].count == 5 && polygon.polygons[0][1].count == 4)
            #expect(polygon.polygons[0][0][1] == GeoPoint(x: 108.90, y: 39.80))
            #expect(polygon.lines.isEmpty && polygon.points.isEmpty)
            #expect(features[0].attribute == "锡尼镇")
            #expect(features[1].geometry.lines == [[GeoPoint(x: 106.80, y: 40.70), GeoPoint(x: 107.50, y: 40.85),
                                                   GeoPoint(x: 108.30, y: 40.80)]])
            #expect(features[1].attribute == "黄河 Yellow River")
            #expect(features[2].geometry.points == [GeoPoint(x: 108.735, y: 39.844), GeoPoint(x: 107.0, y: 39.5)])
            #expect(features[2].attribute == nil, "an unset field reads as nil")
        }
        #expect(!GDAL.hasPendingError)
    }

    @Test func reprojectionMatchesGdaltransform() throws {
        let target = try SpatialReference(definition: "EPSG:4545")
        let (ours, lonLat) = try Self.withLayer { layer in
            (try layer.features(in: target), try layer.features())
        }
        let input = lonLat.flatMap(\.geometry.allPoints)
        let projected = ours.flatMap(\.geometry.allPoints)
        #expect(input.count == 14 && projected.count == input.count)
        // The CLI oracle: gdaltransform reads "x y" (lon lat) lines.
        let text = input.map { "\($0.x) \($0.y)" }.joined(separator: "\n") + "\n"
        let out = try geometryTestRun("/usr/bin/gdaltransform",
                                      ["-s_srs", "EPSG:4326", "-t_srs", "EPSG:4545", "-output_xy"], input: text)
        let expected = out.split(separator: "\n").map { line -> GeoPoint in
            let v = line.split(separator: " ").compactMap { Double($0) }
            return GeoPoint(x: v[0], y: v[1])
        }
        #expect(expected.count == projected.count)
        for (i, (p, e)) in zip(projected, expected).enumerated() {
            #expect(abs(p.x - e.x) < 1e-6 && abs(p.y - e.y) < 1e-6, "point \(i): ours \(p), gdaltransform \(e)")
        }
        // Sanity: Xini town is about 63 km east of the 108°E central meridian, at about 4.41e6 m north.
        let xini = ours[2].geometry.points[0]
        #expect(abs(xini.x - 562_700) < 1_500 && abs(xini.y - 4_411_000) < 3_000, "\(xini)")
        // The same as the CoordinateTransformation API point by point.
        let ct = try CoordinateTransformation(from: try SpatialReference(definition: "EPSG:4326"), to: target)
        #expect(try ct.transform(input) == projected)
        #expect(!GDAL.hasPendingError)
    }

    @Test func spatialFilterInTheTargetCRSKeepsOnlyWhatMeetsTheBox() throws {
        let target = try SpatialReference(definition: "EPSG:4545")
        try Self.withLayer { layer in
            // A box around the river line's west end only (in EPSG:4545).
            let west = try CoordinateTransformation(from: try SpatialReference(definition: "EPSG:4326"), to: target)
                .transform(GeoPoint(x: 106.85, y: 40.72))
            let box = Bounds(minX: west.x - 10_000, minY: west.y - 10_000, maxX: west.x + 10_000, maxY: west.y + 10_000)
            let hits = try layer.features(in: target, attribute: "code", within: box)
            #expect(hits.map(\.attribute) == ["2"])
            // The filter is removed afterwards.
            #expect(try layer.features().count == 3)
        }
    }

    @Test func badRequestsThrowNamedErrors() throws {
        try Self.withLayer { layer in
            do {
                _ = try layer.features(attribute: "no_such_field")
                Issue.record("an unknown field must throw")
            } catch let error as GDALError {
                #expect(error.message.contains("no_such_field") && error.message.contains("name"))
            }
        }
        // A layer without CRS cannot be reprojected.
        let path = "/vsimem/geometry-nocrs-\(UUID().uuidString).csv"
        try VSI.write(Array("WKT,id\n\"POINT (1 2)\",1\n".utf8), to: path)
        defer { VSI.unlink(path) }
        let ds = try Dataset(open: path, flags: [.vector])
        let layer = try ds.layer(0)
        #expect(try layer.features().first?.geometry.points == [GeoPoint(x: 1, y: 2)])
        #expect(throws: GDALError.self) { try layer.features(in: try SpatialReference(definition: "EPSG:4545")) }
        // A point PROJ cannot transform throws with PROJ's error and leaves no error state.
        let ct = try CoordinateTransformation(from: try SpatialReference(definition: "EPSG:4326"),
                                              to: try SpatialReference(definition: "EPSG:4545"))
        #expect(throws: GDALError.self) { try ct.transform(GeoPoint(x: 108, y: 95)) }
        #expect(!GDAL.hasPendingError)
    }
}

/// Runs a program with `input` on stdin and returns its stdout.
private func geometryTestRun(_ program: String, _ arguments: [String], input: String) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: program)
    p.arguments = arguments
    // stdin from a file: no writer thread racing the child (EINTR on pipe writes).
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("geometry-\(UUID().uuidString).txt")
    try Data(input.utf8).write(to: file)
    defer { try? FileManager.default.removeItem(at: file) }
    let stdin = try FileHandle(forReadingFrom: file), stdout = Pipe()
    defer { try? stdin.close() }
    p.standardInput = stdin
    p.standardOutput = stdout
    p.standardError = FileHandle.nullDevice
    try p.run()
    let data = stdout.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}
