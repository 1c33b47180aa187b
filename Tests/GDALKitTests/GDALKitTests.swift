import Foundation
import Testing
@testable import GDALKit

@Suite struct DatasetTests {
    @Test func vsimemRoundTrip() throws {
        let path = "/vsimem/gdalkit-roundtrip-\(UUID().uuidString).tif"
        defer { VSI.unlink(path) }
        let values: [Float] = (0..<(37 * 23)).map { Float($0) * 0.25 - 7 }
        do {
            let ds = try Dataset.create(driver: "GTiff", path: path, width: 37, height: 23, bands: 1, type: .float32,
                                        options: ["TILED=YES", "BLOCKXSIZE=16", "BLOCKYSIZE=16", "COMPRESS=DEFLATE"])
            try ds.setGeoTransform([500000, 30, 0, 4400000, 0, -30])
            try ds.setSpatialReference(try SpatialReference(definition: "EPSG:4545"))
            let band = try ds.band(1)
            try band.setNoDataValue(-9999)
            try values.withUnsafeBufferPointer { try band.write(PixelWindow(x: 0, y: 0, width: 37, height: 23), from: $0) }
            try ds.close()
        }
        let ds = try Dataset(open: path, flags: [.raster])
        #expect(ds.width == 37 && ds.height == 23 && ds.bandCount == 1)
        #expect(ds.geoTransform == [500000, 30, 0, 4400000, 0, -30])
        #expect(ds.spatialReference?.authorityCode == "EPSG:4545")
        let band = try ds.band(1)
        #expect(band.noDataValue == -9999)
        #expect(band.pixelType == .float32)
        #expect(band.blockSize == (16, 16))
        let back: [Float] = try band.read(PixelWindow(x: 0, y: 0, width: 37, height: 23))
        #expect(back == values)
        // A window in the middle reads the same values as the whole.
        let part: [Float] = try band.read(PixelWindow(x: 5, y: 3, width: 10, height: 4))
        #expect(part == (3..<7).flatMap { r in (5..<15).map { values[r * 37 + $0] } })
        #expect(!GDAL.hasPendingError)
    }

    @Test func checksumMatchesGdalinfo() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gdalkit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("c.tif").path
        do {
            let ds = try Dataset.create(driver: "GTiff", path: path, width: 50, height: 40, bands: 1, type: .byte)
            let v: [UInt8] = (0..<2000).map { UInt8(($0 * 37) % 251) }
            try v.withUnsafeBufferPointer { try ds.band(1).write(PixelWindow(x: 0, y: 0, width: 50, height: 40), from: $0) }
            try ds.close()
        }
        let ours = try Dataset(open: path).band(1).checksum()
        let out = try run("/usr/bin/gdalinfo", ["-checksum", path])
        let line = out.split(separator: "\n").first { $0.contains("Checksum=") }
        #expect(line.map { String($0.split(separator: "=").last!) } == "\(ours)")
    }

    @Test func openFailureCarriesClassNumberAndMessageAndLeavesNoState() throws {
        let missing = "/vsimem/does-not-exist-\(UUID().uuidString).tif"
        do {
            _ = try Dataset(open: missing)
            Issue.record("opening a missing file must throw")
        } catch let error as GDALError {
            #expect(error.number == CPLErrorNumber.openFailed)
            #expect(error.last?.errorClass == .failure)
            #expect(!error.message.isEmpty)
            #expect(error.description.contains("GDALOpenEx(\(missing))"))
        }
        #expect(!GDAL.hasPendingError)
    }

    @Test func notARasterIsAnError() throws {
        let path = "/vsimem/text-\(UUID().uuidString).tif"
        try VSI.write(Array("this is not a TIFF\n".utf8), to: path)
        defer { VSI.unlink(path) }
        #expect(throws: GDALError.self) { try Dataset(open: path, flags: [.raster]) }
        #expect(!GDAL.hasPendingError)
    }

    @Test func badBandIndexIsAnError() throws {
        let ds = try Dataset.create(driver: "MEM", path: "", width: 2, height: 2, bands: 1, type: .byte)
        #expect(throws: GDALError.self) { try ds.band(2) }
        #expect(throws: GDALError.self) { try ds.band(0) }
    }

    @Test func unknownCRSIsAnError() {
        #expect(throws: GDALError.self) { try SpatialReference(definition: "EPSG:999999") }
        #expect(!GDAL.hasPendingError)
    }

    @Test func transformBoundsAgreesWithPoints() throws {
        let geo = try SpatialReference(definition: "EPSG:4326")
        let gk = try SpatialReference(definition: "EPSG:4545")
        let b = try geo.transformBounds(Bounds(minX: 107.9, minY: 39.5, maxX: 108.1, maxY: 39.7), to: gk)
        // CM 108E with false easting 500000: the box straddles the central meridian.
        #expect(b.minX < 500000 && b.maxX > 500000)
        var x = [108.0], y = [39.5]
        try geo.transform(x: &x, y: &y, to: gk)
        #expect(abs(x[0] - 500000) < 1e-6)
        #expect(abs(y[0] - b.minY) < 1)
    }
}

@Suite struct OptionListTests {
    @Test func listKeepsItsStrings() {
        let list = CStringList(["A=1", "B=two"])
        list.append("C=3")
        #expect(list.count == 3)
        #expect(list.strings == ["A=1", "B=two", "C=3"])
    }

    /// The argument list given to GDALRasterizeOptionsNew is built in a scope that ends before
    /// the options are used: the wrapper must keep it alive through the call (a freed list there
    /// crashes). 200 extra no-op options make a freed list likely to be reused memory.
    @Test func rasterizeOptionsOutliveTheirArguments() throws {
        let vector = "/vsimem/opt-\(UUID().uuidString).geojson"
        try VSI.write(Array("""
            {"type":"FeatureCollection","features":[{"type":"Feature","properties":{"v":7.5},
            "geometry":{"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,10],[0,0]]]}}]}
            """.utf8), to: vector)
        defer { VSI.unlink(vector) }
        let src = try Dataset(open: vector, flags: [.vector])
        func arguments() -> [String] {
            var a = ["-a", "v", "-te", "0", "0", "20", "10", "-tr", "1", "1", "-ot", "Float32", "-of", "MEM", "-init", "-1"]
            for i in 0..<200 { a += ["-co", "IGNORED_\(i)=\(i)"] }
            return a
        }
        let out = try Utilities.rasterize(src, to: "", arguments: arguments())
        let values: [Float] = try out.band(1).read(PixelWindow(x: 0, y: 0, width: 20, height: 10))
        #expect(values.filter { $0 == 7.5 }.count == 100)
        #expect(values.filter { $0 == -1 }.count == 100)
    }

    @Test func configOptionsAreScopedAndRestored() {
        let key = "HAZARD_ZONING_TEST_OPTION"
        #expect(ConfigOptions.get(key) == nil)
        ConfigOptions.withOptions([key: "inner"]) {
            #expect(ConfigOptions.get(key) == "inner")
            ConfigOptions.withOptions([key: "innermost"]) { #expect(ConfigOptions.get(key) == "innermost") }
            #expect(ConfigOptions.get(key) == "inner")
        }
        #expect(ConfigOptions.get(key) == nil)
    }

    @Test func versionsAreReported() {
        #expect(GDAL.version.hasPrefix("3."))
        #expect(GDAL.projVersion.split(separator: ".").count == 3)
    }
}

@discardableResult
func run(_ program: String, _ arguments: [String]) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: program)
    p.arguments = arguments
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = FileHandle.nullDevice
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}
