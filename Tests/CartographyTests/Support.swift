import Foundation
import GDALKit
@testable import Cartography

/// A temporary folder removed when the value goes away.
final class TempDir {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("cartography-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}

/// Runs a program; returns stdout, throws when it exits non-zero.
@discardableResult
func run(_ program: String, _ arguments: [String]) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: program)
    p.arguments = arguments
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    let errors = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else {
        throw ProcessFailure(command: ([program] + arguments).joined(separator: " "),
                             status: p.terminationStatus, stderr: String(decoding: errors, as: UTF8.self))
    }
    return String(decoding: data, as: UTF8.self)
}

struct ProcessFailure: Error, CustomStringConvertible {
    let command: String, status: Int32, stderr: String
    var description: String { "\(command) exited \(status): \(stderr)" }
}

/// The class fixture: 200 × 150 px of 30 m in EPSG:4545 (about 107.2°E, 39.7°N, 70 km west of the
/// central meridian, so the Gauss-Krüger point scale factor is not exactly 1). Vertical stripes of
/// 40 columns: classes 1, 2, 3, 4, then nodata (0).
enum Fixture {
    static let width = 200, height = 150
    static let originX = 430_000.0, originY = 4_400_000.0, pixel = 30.0
    static let legend: [LegendEntry] = [
        LegendEntry(value: 1, label: "低 low", color: RGB(0, 112, 192)),
        LegendEntry(value: 2, label: "较低 moderate", color: RGB(255, 230, 0)),
        LegendEntry(value: 3, label: "较高 high", color: RGB(255, 140, 0)),
        LegendEntry(value: 4, label: "高 very high", color: RGB(230, 0, 0)),
    ]
    static let title = "杭锦旗自然灾害综合风险图"

    static func classAt(column: Int) -> Int { column < 160 ? column / 40 + 1 : 0 }

    /// Ground coordinates of a pixel centre.
    static func ground(column: Int, row: Int) -> (x: Double, y: Double) {
        (originX + (Double(column) + 0.5) * pixel, originY - (Double(row) + 0.5) * pixel)
    }

    static func makeRaster(at path: String) throws {
        let ds = try Dataset.create(driver: "GTiff", path: path, width: width, height: height, bands: 1, type: .byte)
        try ds.setGeoTransform([originX, pixel, 0, originY, 0, -pixel])
        try ds.setSpatialReference(try SpatialReference(definition: "EPSG:4545"))
        let band = try ds.band(1)
        try band.setNoDataValue(0)
        try band.setColorTable([(0, 0, 0, 0)] + legend.map { ($0.color.r, $0.color.g, $0.color.b, 255) })
        let values = (0..<(width * height)).map { UInt8(classAt(column: $0 % width)) }
        try values.withUnsafeBufferPointer { try band.write(PixelWindow(x: 0, y: 0, width: width, height: height), from: $0) }
        try ds.close()
    }

    /// Lon/lat of ground points of the fixture's CRS.
    static func lonLat(_ points: [(Double, Double)]) throws -> [GeoPoint] {
        let ct = try CoordinateTransformation(from: try SpatialReference(definition: "EPSG:4545"),
                                              to: try SpatialReference(definition: "EPSG:4326"))
        return try ct.transform(points.map { GeoPoint(x: $0.0, y: $0.1) })
    }

    static func coordinates(_ points: [GeoPoint]) -> String {
        "[" + points.map { "[\($0.x), \($0.y)]" }.joined(separator: ", ") + "]"
    }

    /// A river (lon/lat GeoJSON) running west–east along row 30, a township polygon (rows 100–140,
    /// name 锡尼镇) and a place in the nodata stripe.
    static func makeContext(in dir: TempDir) throws -> (river: String, township: String, places: String) {
        let y30 = ground(column: 0, row: 30).y
        let river = try lonLat([(originX - 2_000, y30), (originX + 3_000, y30), (originX + 8_000, y30)])
        let top = ground(column: 0, row: 100).y, bottom = ground(column: 0, row: 140).y
        let ring = try lonLat([(originX + 300, bottom), (originX + 5_700, bottom), (originX + 5_700, top),
                               (originX + 300, top), (originX + 300, bottom)])
        let place = try lonLat([(ground(column: 180, row: 120).x, ground(column: 180, row: 120).y)])
        let paths = (river: dir.path("river.geojson"), township: dir.path("township.geojson"),
                     places: dir.path("places.geojson"))
        try """
        {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "黄河"},
         "geometry": {"type": "LineString", "coordinates": \(coordinates(river))}}]}
        """.write(toFile: paths.river, atomically: true, encoding: .utf8)
        try """
        {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "锡尼镇"},
         "geometry": {"type": "Polygon", "coordinates": [\(coordinates(ring))]}}]}
        """.write(toFile: paths.township, atomically: true, encoding: .utf8)
        try """
        {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"label": "Xini 锡尼"},
         "geometry": {"type": "Point", "coordinates": [\(place[0].x), \(place[0].y)]}}]}
        """.write(toFile: paths.places, atomically: true, encoding: .utf8)
        return paths
    }

    static func spec(raster: String, context: (river: String, township: String, places: String),
                     page: PageSetup = .a3Landscape) -> MapSpec {
        MapSpec(
            title: title, subtitle: "Comprehensive natural-hazard risk · run 2026-01-02", page: page,
            legend: legend, classRaster: raster,
            context: [
                ContextLayer(kind: .river, source: context.river, labelField: "name", legendLabel: "黄河 Yellow River"),
                ContextLayer(kind: .boundary, source: context.township, labelField: "name"),
                ContextLayer(kind: .place, source: context.places, labelField: "label"),
            ],
            sources: ["Rivers: Natural Earth, public domain", "Active faults: GEM Global Active Faults, CC BY 4.0"],
            footer: "hazard-zoning 0.1.0 · run 20260102T000000Z")
    }
}

/// An RGB image read through GDAL (PNG from pdftoppm or from the renderer).
struct RGBImage {
    let width: Int, height: Int
    let bands: [[UInt8]]

    init(path: String) throws {
        let ds = try Dataset(open: path, flags: [.raster])
        width = ds.width
        height = ds.height
        let window = PixelWindow(x: 0, y: 0, width: ds.width, height: ds.height)
        bands = try (1...3).map { try ds.band($0).read(window) }
    }

    func pixel(_ x: Int, _ y: Int) -> RGB {
        let i = y * width + x
        return RGB(bands[0][i], bands[1][i], bands[2][i])
    }

    /// The pixel under a page point at `dpi`.
    func pixel(at p: PagePoint, dpi: Double) -> RGB {
        pixel(Int(p.x * dpi / 72), Int(p.y * dpi / 72))
    }
}

func close(_ a: RGB, _ b: RGB, tolerance: Int = 3) -> Bool {
    abs(Int(a.r) - Int(b.r)) <= tolerance && abs(Int(a.g) - Int(b.g)) <= tolerance && abs(Int(a.b) - Int(b.b)) <= tolerance
}
