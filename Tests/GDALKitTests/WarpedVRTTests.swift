import Foundation
import Testing
@testable import GDALKit

/// A warped VRT made by `gdalwarp -of VRT`, read as its warper reads it, and its transformer
/// against `gdaltransform` on the same two files.
@Suite struct WarpedVRTTests {
    @Test func aWarpedVRTsOptionsAndTransformerAreGDALs() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gdalkit-vrt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let src = dir.appendingPathComponent("src.tif").path
        let ds = try Dataset.create(driver: "GTiff", path: src, width: 60, height: 40, bands: 1, type: .float32, options: [])
        try ds.setGeoTransform([107.9, 0.002, 0, 39.85, 0, -0.002])
        try ds.setSpatialReference(try SpatialReference(definition: "EPSG:4326"))
        try ds.band(1).setNoDataValue(-9999)
        try ds.close()
        let vrt = dir.appendingPathComponent("w.vrt").path
        try run("/usr/bin/gdalwarp", ["-q", "-t_srs", "EPSG:4545", "-tr", "30", "30", "-r", "bilinear", "-et", "0.125",
                                      "-ot", "Float32", "-dstnodata", "nan", "-of", "VRT", src, vrt])
        let d = try WarpedVRTDescription(path: vrt)
        let check = try Dataset(open: vrt)
        #expect(d.width == check.width && d.height == check.height)
        #expect(d.blockWidth == min(512, check.width) && d.blockHeight == min(128, check.height))
        #expect(d.resampling == "Bilinear" && d.workingType == "Float64")
        #expect(d.options["INIT_DEST"] == "NO_DATA" && d.options["ERROR_THRESHOLD"] == "0.125")
        #expect(d.sourcePath == src)
        #expect(d.bands.count == 1 && d.bands[0].source == 1 && d.bands[0].sourceNoData == -9999 && d.bands[0].destinationNoData?.isNaN == true)
        #expect(d.otherElements.isEmpty && d.reprojects)
        #expect(d.sourceGeoTransform == [107.9, 0.002, 0, 39.85, 0, -0.002])
        // Single points go through the approximate transformer's exact base (≤ 5 points): the same
        // as gdaltransform -i (destination pixel/line → source pixel/line).
        let t = try CoordinateTransformer(serialized: d.transformer)
        for (px, py) in [(0.5, 0.5), (17.25, 9.75), (Double(check.width) - 0.5, Double(check.height) - 0.5)] {
            var x = px, y = py, z = 0.0
            var ok: Int32 = 0
            t.transform(dstToSrc: true, count: 1, x: &x, y: &y, z: &z, success: &ok)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/gdaltransform")
            p.arguments = ["-i", "-output_xy", src, vrt]
            let input = Pipe(), output = Pipe()
            p.standardInput = input
            p.standardOutput = output
            try p.run()
            input.fileHandleForWriting.write(Data("\(px) \(py)\n".utf8))
            try input.fileHandleForWriting.close()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            let values = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Double($0) }
            #expect(ok != 0 && values.count == 2)
            if values.count == 2 {
                #expect(abs(values[0] - x) < 1e-6 && abs(values[1] - y) < 1e-6, "(\(px), \(py)): \(x), \(y) vs gdaltransform \(values)")
            }
        }
    }
}
