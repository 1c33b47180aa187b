import Foundation
import FilePaths
import GDALKit
import Testing
@testable import Zoning

/// A temporary project folder (jobs/, layers/, out/) removed when the test ends.
final class Project {
    let root: URL
    var layers: URL { root.appendingPathComponent("layers") }
    var jobs: URL { root.appendingPathComponent("jobs") }

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("hz-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("layers"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("jobs"), withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    @discardableResult
    func write(_ relative: String, _ text: String) throws -> String {
        let p = path(relative)
        try FileManager.default.createDirectory(atPath: p.parentPath, withIntermediateDirectories: true)
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    /// Writes a Float32 GeoTIFF with the given values (row-major).
    func raster(_ relative: String, width: Int, height: Int, geoTransform: [Double], crs: String?, nodata: Double?,
                values: [Float]) throws {
        let ds = try Dataset.create(driver: "GTiff", path: path(relative), width: width, height: height, bands: 1,
                                    type: .float32, options: ["TILED=YES", "BLOCKXSIZE=64", "BLOCKYSIZE=64"])
        try ds.setGeoTransform(geoTransform)
        if let crs { try ds.setSpatialReference(try SpatialReference(definition: crs)) }
        let band = try ds.band(1)
        if let nodata { try band.setNoDataValue(nodata) }
        try values.withUnsafeBufferPointer { try band.write(PixelWindow(x: 0, y: 0, width: width, height: height), from: $0) }
        try ds.close()
    }

    /// Writes a GeoPackage from GeoJSON text through ogr2ogr, assigning `crs`.
    func vector(_ relative: String, layer: String, crs: String, geojson: String) throws {
        let src = try write("\(relative).geojson", geojson)
        try shell("/usr/bin/ogr2ogr", ["-f", "GPKG", "-a_srs", crs, "-nln", layer, path(relative), src])
    }
}

struct CommandFailure: Error, CustomStringConvertible {
    let description: String
}

/// Runs a program; throws with its output when it fails.
@discardableResult
func shell(_ program: String, _ arguments: [String], environment: [String: String]? = nil) throws -> String {
    let (status, out, err) = try runProcess(program, arguments, environment: environment)
    guard status == 0 else {
        throw CommandFailure(description: "\(program) \(arguments.joined(separator: " ")) exited \(status): \(err)\(out)")
    }
    return out
}

func runProcess(_ program: String, _ arguments: [String], environment: [String: String]? = nil) throws -> (Int32, String, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: program)
    p.arguments = arguments
    if let environment { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    // Read both pipes concurrently so neither can fill up and block the child.
    nonisolated(unsafe) var errData = Data()
    let reader = Thread { errData = err.fileHandleForReading.readDataToEndOfFile() }
    reader.start()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    while !reader.isFinished { usleep(1000) }
    return (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}

func readFloat(_ path: String) throws -> [Float] {
    let ds = try Dataset(open: path, flags: [.raster])
    return try ds.band(1).read(PixelWindow(x: 0, y: 0, width: ds.width, height: ds.height))
}

/// A `width`×`height` Byte GeoTIFF of `values` (1-unit pixels, nodata 0), as `gdal_sieve.py` reads it.
func writeClassRaster(_ values: [UInt8], width w: Int, height h: Int, to path: String) throws {
    let ds = try Dataset.create(driver: "GTiff", path: path, width: w, height: h, bands: 1, type: .byte, options: [])
    try ds.setGeoTransform([0, 1, 0, Double(h), 0, -1])
    try ds.band(1).setNoDataValue(0)
    try values.withUnsafeBufferPointer { try ds.band(1).write(PixelWindow(x: 0, y: 0, width: w, height: h), from: $0) }
    try ds.close()
}

func readBytes(_ path: String) throws -> [UInt8] {
    let ds = try Dataset(open: path, flags: [.raster])
    return try ds.band(1).read(PixelWindow(x: 0, y: 0, width: ds.width, height: ds.height))
}

/// The small fixture used by the pipeline tests: a 310 × 245 px grid at 30 m in EPSG:4545 straddling
/// the 108°E central meridian, four layers (flood depth raster in the grid CRS with nodata, NaN
/// and +inf; fire danger raster in EPSG:4326 at 0.002°; seismic PGA polygons in EPSG:4490; a mask
/// polygon in EPSG:4545), and a job over them with 64 px blocks (so edge blocks are partial).
struct Fixture {
    static let xmin = 495_000.0, ymin = 4_400_010.0, width = 310, height = 245, res = 30.0
    static var xmax: Double { xmin + Double(width) * res }
    static var ymax: Double { ymin + Double(height) * res }
    static let breaks = [0.25, 0.5, 0.75]

    let project: Project
    var jobPath: String { project.path("jobs/fixture.yaml") }

    init(blockSize: Int = 64, errorThreshold: Double = 0, resolution: Double = 30, name: String = "fixture",
         extraJob: String = "", extraOutputs: String = "") throws {
        project = try Project()
        // Flood: 30 m in the grid CRS, larger than the grid and shifted by 15 m (so bilinear really
        // interpolates), depth rising towards the north-west, with nodata, NaN and +inf pixels.
        let fw = 340, fh = 280
        var flood = [Float](repeating: 0, count: fw * fh)
        for r in 0..<fh {
            for c in 0..<fw {
                var v = Float(max(0, 4.2 - Double(c) * 0.012 - Double(fh - r) * 0.006 + sin(Double(c * r) * 0.001)))
                if (r * 31 + c * 17) % 97 == 0 { v = -9999 }
                if (r * 13 + c * 7) % 211 == 0 { v = .nan }
                if r == 100 && c == 200 { v = .infinity }
                flood[r * fw + c] = v
            }
        }
        try project.raster("layers/flood.tif", width: fw, height: fh,
                           geoTransform: [Fixture.xmin - 315, 30, 0, Fixture.ymax + 615, 0, -30], crs: "EPSG:4545",
                           nodata: -9999, values: flood)
        // Fire: EPSG:4326, 0.002°, 0..100 with some nodata.
        let gw = 100, gh = 60
        var fire = [Float](repeating: 0, count: gw * gh)
        for r in 0..<gh {
            for c in 0..<gw {
                fire[r * gw + c] = (r * gw + c) % 53 == 0 ? -9999 : Float(50 + 45 * sin(Double(c) * 0.15) * cos(Double(r) * 0.11))
            }
        }
        try project.raster("layers/fire.tif", width: gw, height: gh, geoTransform: [107.88, 0.002, 0, 39.84, 0, -0.002],
                           crs: "EPSG:4326", nodata: -9999, values: fire)
        // Seismic PGA bands in EPSG:4490 (lon/lat), one stripe per class plus a hole with no polygon.
        func box(_ x0: Double, _ x1: Double, _ y0: Double, _ y1: Double, _ pga: Double) -> String {
            """
            {"type":"Feature","properties":{"pga_g":\(pga)},"geometry":{"type":"Polygon","coordinates":[[[\(x0),\(y0)],[\(x1),\(y0)],[\(x1),\(y1)],[\(x0),\(y1)],[\(x0),\(y0)]]]}}
            """
        }
        let bands = [box(107.8, 107.97, 39.6, 39.9, 0.05), box(107.97, 108.0, 39.6, 39.9, 0.10),
                     box(108.0, 108.03, 39.6, 39.76, 0.15), box(108.0, 108.03, 39.77, 39.9, 0.15),
                     box(108.03, 108.2, 39.6, 39.9, 0.20)]
        try project.vector("layers/seismic.gpkg", layer: "pga", crs: "EPSG:4490",
                           geojson: "{\"type\":\"FeatureCollection\",\"features\":[\(bands.joined(separator: ","))]}")
        // Mask: an irregular pentagon in the grid CRS.
        let (x0, y0) = (Fixture.xmin, Fixture.ymin)
        let ring = [(x0 + 400, y0 + 300), (x0 + 8900, y0 + 900), (x0 + 9100, y0 + 6800), (x0 + 4000, y0 + 7300),
                    (x0 + 200, y0 + 4100), (x0 + 400, y0 + 300)]
        let coords = ring.map { "[\($0.0),\($0.1)]" }.joined(separator: ",")
        try project.vector("layers/area.gpkg", layer: "area", crs: "EPSG:4545", geojson: """
            {"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"area"},
            "geometry":{"type":"Polygon","coordinates":[[\(coords)]]}}]}
            """)
        try project.write("layers/flood-depth.yaml", "source: flood.tif\nunits: m\nhazard: flood\n")
        try project.write("layers/fire-danger.yaml", "source: fire.tif\nunits: index\nhazard: fire\n")
        try project.write("layers/seismic-pga.yaml", "source: seismic.gpkg\nlayer: pga\nattribute: pga_g\nunits: g\nhazard: seismic\n")
        try project.write("layers/study-area.yaml", "source: area.gpkg\nlayer: area\nhazard: context\n")
        try project.write("jobs/fixture.yaml", """
            version: 1
            name: \(name)
            title: 测试
            grid:
              crs: EPSG:4545
              resolution: \(resolution)
              extent: [\(Fixture.xmin), \(Fixture.ymin), \(Fixture.xmax), \(Fixture.ymax)]
              mask: study-area
              block-size: \(blockSize)
            layers:
              flood:
                layer: flood-depth
                resampling: bilinear
                error-threshold: \(errorThreshold)
                normalize: { curve: [[0, 0], [0.5, 0.3], [1.5, 0.7], [3.0, 1.0]] }
              fire:
                layer: fire-danger
                resampling: bilinear
                error-threshold: \(errorThreshold)
                normalize: { linear: [0, 100] }
              seismic:
                layer: seismic-pga
                normalize: { table: { 0.05: 0.25, 0.10: 0.5, 0.15: 0.75, 0.20: 1.0 }, default: 0 }
            combine:
              weighted-sum: { flood: 0.45, fire: 0.25, seismic: 0.30 }
            classify:
              scheme: four-colour
              breaks: [0.25, 0.5, 0.75]
            outputs:
              directory: out/\(name)
              products: [risk-index, risk-class]
            \(extraOutputs)
            \(extraJob)
            """)
    }

    func plan(output: String? = nil) throws -> Plan {
        try Planner().resolve(try JobLoader().load(jobPath), outputDirectory: output)
    }

    /// Aligns the fixture's layers onto its grid with GDAL's own command-line tools, as an analyst
    /// would: `flood.tif`, `fire.tif` (gdalwarp -r bilinear -et 0), `seismic.tif` (ogr2ogr +
    /// gdal_rasterize by pga_g), `mask.tif` (burned 1) in `work`.
    func alignWithGDAL(into work: String) throws {
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let L = project.path("layers")
        let warp = ["-q", "-t_srs", "EPSG:4545"] + Fixture.targetExtent + ["-r", "bilinear", "-ot", "Float32", "-dstnodata", "nan", "-et", "0"]
        try shell("/usr/bin/gdalwarp", warp + ["\(L)/flood.tif", "\(work)/flood.tif"])
        try shell("/usr/bin/gdalwarp", warp + ["\(L)/fire.tif", "\(work)/fire.tif"])
        try shell("/usr/bin/ogr2ogr", ["-t_srs", "EPSG:4545", "\(work)/seismic_4545.gpkg", "\(L)/seismic.gpkg", "pga"])
        try shell("/usr/bin/gdal_rasterize", ["-q", "-a", "pga_g", "-l", "pga"] + Fixture.targetExtent
            + ["-ot", "Float32", "-init", "nan", "-a_nodata", "nan", "\(work)/seismic_4545.gpkg", "\(work)/seismic.tif"])
        try shell("/usr/bin/gdal_rasterize", ["-q", "-burn", "1", "-l", "area"] + Fixture.targetExtent
            + ["-ot", "Byte", "-init", "0", "\(L)/area.gpkg", "\(work)/mask.tif"])
    }

    /// `-te … -tr 30 30`: the fixture's grid for GDAL's tools.
    static let targetExtent = ["-te", "\(xmin)", "\(ymin)", "\(xmax)", "\(ymax)", "-tr", "30", "30"]
}

/// The zone polygons an independent chain makes when zones are cut by township: numpy combines the
/// zones raster with the townships rasterised by `gdal_rasterize` (pixel-centre rule, like the
/// statistics) into township × 256 + class, `gdal_polygonize.py -8` makes the polygons. Returns,
/// per class, the number of polygons and their area (m²), and per township value the area (m²).
func polygonsCutByTownshipOracle(zones: String, townships: String, layer: String, attribute: String, folder: String,
                                 eightConnected: Bool = true) throws -> (byClass: [Int: (Int, Double)], byTownship: [Int: Double]) {
    let ds = try Dataset(open: zones, flags: [.raster])
    let gt = try #require(ds.geoTransform)
    let te = ["-te", "\(gt[0])", "\(gt[3] + Double(ds.height) * gt[5])", "\(gt[0] + Double(ds.width) * gt[1])", "\(gt[3])",
              "-tr", "\(gt[1])", "\(-gt[5])"]
    let towns = folder.appendingComponent("oracle-towns-\(UUID().uuidString).tif")
    try shell("/usr/bin/gdal_rasterize", ["-q", "-a", attribute, "-l", layer] + te + ["-ot", "UInt16", "-init", "0", townships, towns])
    let composite = folder.appendingComponent("oracle-composite-\(UUID().uuidString).tif")
    try shell("/usr/bin/python3", ["-c", """
        import sys, numpy
        from osgeo import gdal
        z = gdal.Open(sys.argv[1]); a = z.ReadAsArray().astype('int32')
        t = gdal.Open(sys.argv[2]).ReadAsArray().astype('int32')
        d = gdal.GetDriverByName('GTiff').Create(sys.argv[3], z.RasterXSize, z.RasterYSize, 1, gdal.GDT_Int32)
        d.SetGeoTransform(z.GetGeoTransform()); d.SetProjection(z.GetProjection())
        b = d.GetRasterBand(1); b.SetNoDataValue(0); b.WriteArray(numpy.where(a > 0, t * 256 + a, 0).astype('int32')); d = None
        """, zones, towns, composite])
    let polygons = folder.appendingComponent("oracle-\(UUID().uuidString).gpkg")
    try shell("/usr/bin/gdal_polygonize.py", ["-q"] + (eightConnected ? ["-8"] : []) + [composite, "-f", "GPKG", polygons, "zones", "value"])
    let l = try Dataset(open: polygons, flags: [.vector]).layer(named: "zones")
    var byClass: [Int: (Int, Double)] = [:], byTownship: [Int: Double] = [:]
    l.readFeatures { f in
        let v = f.integer(0)
        let o = byClass[v % 256] ?? (0, 0)
        byClass[v % 256] = (o.0 + 1, o.1 + f.area)
        byTownship[v / 256, default: 0] += f.area
    }
    return (byClass, byTownship)
}

extension JSONDecoder {
    /// A decoder for the run's JSON files (snake_case keys).
    static var snake: JSONDecoder {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        return d
    }
}
