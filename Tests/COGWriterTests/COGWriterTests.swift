import COGWriter
import Foundation
import GDALKit
import Testing

/// The COG writer against GDAL as oracle: the same pixels written by GDAL's COG driver and
/// overviews by `gdaladdo` on a GDAL-written copy, read back with GDAL's Python bindings; the
/// layout checked by GDAL's validate_cloud_optimized_geotiff.py (full check) and
/// `rio cogeo validate --strict`.
@Suite struct COGWriterTests {
    static let validator = "/usr/lib/python3/dist-packages/osgeo_utils/samples/validate_cloud_optimized_geotiff.py"

    /// Odd sizes (not multiples of the tile), deterministic values with nodata patches and NaN.
    static func floatValues(width: Int, height: Int, seed: UInt64) -> [Float] {
        var state = seed
        return (0..<(width * height)).map { i in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let x = i % width, y = i / width
            if (x / 37 + y / 29) % 5 == 0 { return -9999 }
            if i % 997 == 3 { return .nan }
            return Float(state >> 40) / Float(1 << 24)
        }
    }

    static func byteValues(width: Int, height: Int) -> [UInt8] {
        (0..<(width * height)).map { i in
            let x = i % width, y = i / width
            return (x / 13 + y / 7) % 9 == 0 ? 0 : UInt8(1 + (x * 7 + y * 3) / 50 % 5)
        }
    }

    static let palette: [(UInt8, UInt8, UInt8, UInt8)] = [(0, 0, 0, 0), (26, 150, 65, 255), (166, 217, 106, 255),
                                                           (255, 255, 191, 255), (253, 174, 97, 255), (215, 25, 28, 255)]

    /// A GDAL dataset with the product's metadata: the template (1 × 1) or the full reference.
    static func describe(_ ds: Dataset, byte: Bool) throws {
        try ds.setGeoTransform([106.5, 0.001, 0, 40.25, 0, -0.001])
        try ds.setSpatialReference(try SpatialReference(definition: "EPSG:4490"))
        try ds.setMetadataItem("TIFFTAG_SOFTWARE", "cog test · 1")
        try ds.setMetadataItem("TIFFTAG_DATETIME", "2024:05:08 10:00:00")
        let band = try ds.band(1)
        if byte {
            try band.setNoDataValue(0)
            try band.setColorTable(palette)
            band.setDescription("risk class")
        } else {
            try band.setNoDataValue(-9999)
            band.setDescription("risk index (0..1)")
        }
    }

    static func template(byte: Bool) throws -> TIFFTemplate {
        let path = "/vsimem/cog-template-\(UUID().uuidString).tif"
        let ds = try Dataset.create(driver: "GTiff", path: path, width: 1, height: 1, bands: 1, type: byte ? .byte : .float32)
        try describe(ds, byte: byte)
        try ds.close()
        defer { VSI.unlink(path) }
        return try TIFFTemplate(tiff: try VSI.read(path))
    }

    /// Writes `values` with the writer from `threads` threads in windows of `bw` × `bh`, in a
    /// scrambled order.
    static func writeCOG<S: COGSample>(_ values: [S], width: Int, height: Int, tile: Int, nodata: Double,
                                       resampling: OverviewResampling, byte: Bool, path: String,
                                       bw: Int, bh: Int, threads: Int, sizing: OverviewSizing = .cogDriver,
                                       bigTIFF: Bool? = nil) throws {
        var options = COGWriter<S>.Options(width: width, height: height, tileSize: tile, nodata: nodata,
                                           resampling: resampling, template: try template(byte: byte))
        options.sizing = sizing
        options.bigTIFF = bigTIFF
        try TileByTileTests.write(values, options: options, path: path, bw: bw, bh: bh, threads: threads, scrambled: true)
        #expect(!FileManager.default.fileExists(atPath: path + ".spill"))
    }

    /// The same pixels and metadata through GDAL: a plain GeoTIFF, its COG (GDAL's driver) and
    /// a copy with `gdaladdo` overviews.
    static func reference<S: GDALPixel>(_ values: [S], width: Int, height: Int, tile: Int, byte: Bool, folder: String) throws {
        let plain = folder + "/plain.tif"
        let ds = try Dataset.create(driver: "GTiff", path: plain, width: width, height: height, bands: 1, type: byte ? .byte : .float32)
        try describe(ds, byte: byte)
        try values.withUnsafeBufferPointer { try ds.band(1).write(PixelWindow(x: 0, y: 0, width: width, height: height), from: $0) }
        try ds.close()
        let resampling = byte ? "NEAREST" : "AVERAGE"
        var args = ["-q", "-of", "COG", "-co", "COMPRESS=DEFLATE", "-co", "BLOCKSIZE=\(tile)", "-co", "OVERVIEW_RESAMPLING=\(resampling)"]
        if !byte { args += ["-co", "PREDICTOR=YES"] }
        _ = try shell("/usr/bin/gdal_translate", args + [plain, folder + "/gdal-cog.tif"])
        _ = try shell("/usr/bin/gdal_translate", ["-q", plain, folder + "/addo.tif"])
        let levels = cogOverviewSizes(width: width, height: height, tileSize: tile, sizing: .gdaladdo).indices.map { String(1 << ($0 + 1)) }
        _ = try shell("/usr/bin/gdaladdo", ["-q", "-r", resampling.lowercased(), folder + "/addo.tif"] + levels)
    }

    /// numpy over GDAL reads: pixels of every level (NaN equal to NaN), gdalinfo -json
    /// differences, both validators.
    static let oracle = #"""
import json, subprocess, sys
import numpy as np
from osgeo import gdal
gdal.UseExceptions()
ours, theirs, addo, validator, ours_addo = sys.argv[1:6]
def levels(path):
    ds = gdal.Open(path); b = ds.GetRasterBand(1)
    return [b.ReadAsArray()] + [b.GetOverview(i).ReadAsArray() for i in range(b.GetOverviewCount())]
def same(a, b):
    if a.shape != b.shape: return -1
    if a.dtype.kind == 'f':
        return int(np.count_nonzero(~((a.view(np.uint32) == b.view(np.uint32)) | (np.isnan(a) & np.isnan(b)))))
    return int(np.count_nonzero(a != b))
o, t, a, oa = levels(ours), levels(theirs), levels(addo), levels(ours_addo)
result = {
  "levels": [len(o), len(t), len(a)],
  "shapes": [list(x.shape) for x in o] == [list(x.shape) for x in t],
  "base_vs_gdal": same(o[0], t[0]),
  "overviews_vs_addo": [same(x, y) for x, y in zip(oa[1:], a[1:])] if len(oa) == len(a) else [-2],
  "overviews_vs_gdal_cog": [same(x, y) for x, y in zip(o[1:], t[1:])],
  "max_abs_vs_gdal_cog": [float(np.nanmax(np.abs(x.astype(float) - y.astype(float)))) if x.size and x.shape == y.shape else -1 for x, y in zip(o[1:], t[1:])],
}
def info(p):
    j = json.loads(subprocess.run(["gdalinfo", "-json", "-mdd", "all", p], capture_output=True, text=True, check=True).stdout)
    for k in ("description", "files"): j.pop(k, None)
    md = j.get("metadata", {})
    md.pop("TIFF", None); md.pop("DERIVED_SUBDATASETS", None)
    return j
io, it = info(ours), info(theirs)
diff = []
def walk(x, y, path):
    if isinstance(x, dict) and isinstance(y, dict):
        for k in sorted(set(x) | set(y)): walk(x.get(k), y.get(k), path + "/" + k)
    elif isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
        for i, (p, q) in enumerate(zip(x, y)): walk(p, q, path + "/%d" % i)
    elif x != y: diff.append([path, x, y])
walk(io, it, "")
result["gdalinfo_differences"] = diff
v = subprocess.run(["/usr/bin/python3", validator, "--full-check=yes", ours], capture_output=True, text=True)
result["validator"] = [v.returncode, v.stdout + v.stderr]
r = subprocess.run(["rio", "cogeo", "validate", "--strict", ours], capture_output=True, text=True)
result["rio"] = [r.returncode, r.stdout + r.stderr]
print(json.dumps(result))
"""#

    static func check(folder: String) throws -> [String: Any] {
        let script = folder + "/oracle.py"
        try oracle.write(toFile: script, atomically: true, encoding: .utf8)
        let out = try shell("/usr/bin/python3", [script, folder + "/ours.tif", folder + "/gdal-cog.tif", folder + "/addo.tif", validator, folder + "/ours-addo.tif"])
        return try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: Any]
    }

    static func folder() throws -> String {
        let f = FileManager.default.temporaryDirectory.appendingPathComponent("cogw-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: f, withIntermediateDirectories: true)
        return f
    }

    @Test(arguments: [(333, 271, 128, 100, 48, 1), (333, 271, 128, 64, 200, 3), (517, 130, 64, 517, 17, 2)])
    func float32AgainstGDAL(_ c: (Int, Int, Int, Int, Int, Int)) throws {
        let (width, height, tile, bw, bh, threads) = c
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let values = Self.floatValues(width: width, height: height, seed: 7)
        try Self.writeCOG(values, width: width, height: height, tile: tile, nodata: -9999, resampling: .average, byte: false,
                          path: "\(dir)/ours.tif", bw: bw, bh: bh, threads: threads)
        try Self.writeCOG(values, width: width, height: height, tile: tile, nodata: -9999, resampling: .average, byte: false,
                          path: "\(dir)/ours-addo.tif", bw: bw, bh: bh, threads: threads, sizing: .gdaladdo)
        try Self.reference(values, width: width, height: height, tile: tile, byte: false, folder: dir)
        let r = try Self.check(folder: dir)
        print("float32 \(c): \(r)")
        #expect((r["levels"] as! [Int]).allSatisfy { $0 == (r["levels"] as! [Int])[0] } && ((r["levels"] as! [Int])[0] > 1 || width <= tile))
        #expect(r["shapes"] as! Bool)
        #expect(r["base_vs_gdal"] as! Int == 0)
        #expect((r["overviews_vs_addo"] as! [Int]).allSatisfy { $0 == 0 })
        #expect((r["overviews_vs_gdal_cog"] as! [Int]).allSatisfy { $0 == 0 }, "\(r["max_abs_vs_gdal_cog"]!)")
        #expect((r["gdalinfo_differences"] as! [Any]).isEmpty, "\(r["gdalinfo_differences"]!)")
        #expect((r["validator"] as! [Any])[0] as! Int == 0, "\(r["validator"]!)")
        #expect((r["rio"] as! [Any])[0] as! Int == 0, "\(r["rio"]!)")
    }

    @Test(arguments: [(333, 271, 128, 128, 64, 2), (129, 700, 64, 50, 33, 3), (167, 100, 512, 167, 100, 1)])
    func bytePaletteAgainstGDAL(_ c: (Int, Int, Int, Int, Int, Int)) throws {
        let (width, height, tile, bw, bh, threads) = c
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let values = Self.byteValues(width: width, height: height)
        try Self.writeCOG(values, width: width, height: height, tile: tile, nodata: 0, resampling: .nearest, byte: true,
                          path: "\(dir)/ours.tif", bw: bw, bh: bh, threads: threads)
        try Self.writeCOG(values, width: width, height: height, tile: tile, nodata: 0, resampling: .nearest, byte: true,
                          path: "\(dir)/ours-addo.tif", bw: bw, bh: bh, threads: threads, sizing: .gdaladdo)
        try Self.reference(values, width: width, height: height, tile: tile, byte: true, folder: dir)
        let r = try Self.check(folder: dir)
        print("byte \(c): \(r)")
        #expect((r["levels"] as! [Int]).allSatisfy { $0 == (r["levels"] as! [Int])[0] } && ((r["levels"] as! [Int])[0] > 1 || width <= tile))
        #expect(r["shapes"] as! Bool)
        #expect(r["base_vs_gdal"] as! Int == 0)
        #expect((r["overviews_vs_addo"] as! [Int]).allSatisfy { $0 == 0 })
        #expect((r["overviews_vs_gdal_cog"] as! [Int]).allSatisfy { $0 == 0 })
        #expect((r["gdalinfo_differences"] as! [Any]).isEmpty, "\(r["gdalinfo_differences"]!)")
        #expect((r["validator"] as! [Any])[0] as! Int == 0, "\(r["validator"]!)")
        #expect((r["rio"] as! [Any])[0] as! Int == 0, "\(r["rio"]!)")
    }
}

extension COGWriterTests {
    /// BigTIFF (what a file past 4 GiB gets): GDAL reads the same pixels and overviews, both
    /// validators pass; the header says BigTIFF.
    @Test func bigTIFFLayout() throws {
        let (width, height, tile) = (300, 200, 64)
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let values = Self.floatValues(width: width, height: height, seed: 11)
        try Self.writeCOG(values, width: width, height: height, tile: tile, nodata: -9999, resampling: .average, byte: false,
                          path: "\(dir)/ours.tif", bw: 64, bh: 64, threads: 2, bigTIFF: true)
        try Self.writeCOG(values, width: width, height: height, tile: tile, nodata: -9999, resampling: .average, byte: false,
                          path: "\(dir)/ours-addo.tif", bw: 64, bh: 64, threads: 2, sizing: .gdaladdo, bigTIFF: true)
        try Self.reference(values, width: width, height: height, tile: tile, byte: false, folder: dir)
        let header = try FileHandle(forReadingFrom: URL(fileURLWithPath: "\(dir)/ours.tif")).read(upToCount: 4)
        #expect(header.map(Array.init) == [0x49, 0x49, 43, 0])
        let r = try Self.check(folder: dir)
        #expect(r["base_vs_gdal"] as! Int == 0)
        #expect((r["overviews_vs_gdal_cog"] as! [Int]).allSatisfy { $0 == 0 })
        #expect((r["overviews_vs_addo"] as! [Int]).allSatisfy { $0 == 0 })
        #expect((r["validator"] as! [Any])[0] as! Int == 0, "\(r["validator"]!)")
        #expect((r["rio"] as! [Any])[0] as! Int == 0, "\(r["rio"]!)")
    }

    /// The bytes do not depend on the threads or on the order and shape of the windows.
    @Test func sameBytesWhateverTheThreadsAndWindows() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let values = Self.floatValues(width: 333, height: 271, seed: 3)
        try Self.writeCOG(values, width: 333, height: 271, tile: 64, nodata: -9999, resampling: .average, byte: false,
                          path: "\(dir)/a.tif", bw: 333, bh: 16, threads: 1)
        try Self.writeCOG(values, width: 333, height: 271, tile: 64, nodata: -9999, resampling: .average, byte: false,
                          path: "\(dir)/b.tif", bw: 40, bh: 100, threads: 4)
        let a = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/a.tif"))
        let b = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/b.tif"))
        #expect(a == b && a.count > 1000)
    }

    /// The uncompressed tiled temporary: written window by window from threads, GDAL reads the
    /// same pixels and the same georeferencing and nodata as a GDAL-written copy.
    @Test func uncompressedTemporaryReadsBackThroughGDAL() throws {
        let (width, height) = (333, 271)
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let values = Self.floatValues(width: width, height: height, seed: 5)
        let writer = try TiledTIFFWriter<Float>(path: "\(dir)/raw.tif", width: width, height: height, tileSize: 64,
                                                template: try Self.template(byte: false))
        DispatchQueue.concurrentPerform(iterations: 12) { i in
            let y = i * 23, h = min(23, height - i * 23)
            guard h > 0 else { return }
            let part = Array(values[(y * width)..<((y + h) * width)])
            try! part.withUnsafeBufferPointer { try writer.write(x: 0, y: y, width: width, height: h, $0) }
        }
        let ds = try Dataset(open: "\(dir)/raw.tif", flags: [.raster])
        let back: [Float] = try ds.band(1).read(PixelWindow(x: 0, y: 0, width: width, height: height))
        #expect(zip(back, values).allSatisfy { $0.bitPattern == $1.bitPattern })
        #expect(ds.geoTransform == [106.5, 0.001, 0, 40.25, 0, -0.001])
        #expect(try ds.band(1).noDataValue == -9999)
        #expect(ds.spatialReference?.authorityCode == "EPSG:4490")
    }

    /// A window that never comes: `finish` refuses to write a file with holes, and leaves none.
    @Test func finishingEarlyIsAnError() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let writer = try COGWriter<UInt8>(path: "\(dir)/x.tif", spillPath: "\(dir)/x.spill",
                                          options: .init(width: 40, height: 40, tileSize: 16, nodata: 0, resampling: .nearest,
                                                         template: try Self.template(byte: true)))
        let part = [UInt8](repeating: 1, count: 40 * 20)
        try part.withUnsafeBufferPointer { try writer.write(x: 0, y: 0, width: 40, height: 20, $0) }
        #expect(throws: COGError.self) { try writer.finish() }
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/x.tif"))
    }
}

struct CommandFailure: Error, CustomStringConvertible { let description: String }

func shell(_ program: String, _ arguments: [String]) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: program)
    p.arguments = arguments
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    nonisolated(unsafe) var errData = Data()
    let reader = Thread { errData = err.fileHandleForReading.readDataToEndOfFile() }
    reader.start()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    while !reader.isFinished { usleep(1000) }
    guard p.terminationStatus == 0 else {
        throw CommandFailure(description: "\(program) \(arguments.joined(separator: " ")) exited \(p.terminationStatus): \(String(decoding: errData, as: UTF8.self))")
    }
    return String(decoding: outData, as: UTF8.self)
}
