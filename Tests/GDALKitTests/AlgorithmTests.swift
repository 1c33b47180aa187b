import Foundation
import Testing
@testable import GDALKit

/// Sieve and polygonize against gdal_sieve.py and gdal_polygonize.py on the same raster.
@Suite struct AlgorithmTests {
    let dir: URL

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("gdalkit-alg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    /// A 157 × 131 class raster (1..4 in noisy patches, 0 = nodata border) in EPSG:4545 at 30 m.
    func classRaster(_ name: String) throws -> String {
        let w = 157, h = 131
        var state: UInt32 = 12345
        var v = [UInt8](repeating: 0, count: w * h)
        for r in 0..<h {
            for c in 0..<w {
                state = state &* 1664525 &+ 1013904223
                let base = UInt8(1 + ((r / 23 + c / 31) % 4))
                let noise = (state >> 24) % 9 == 0 ? UInt8(1 + (state >> 16) % 4) : base
                v[r * w + c] = (r < 3 || c < 2) ? 0 : noise
            }
        }
        let path = dir.appendingPathComponent(name).path
        let ds = try Dataset.create(driver: "GTiff", path: path, width: w, height: h, bands: 1, type: .byte)
        try ds.setGeoTransform([500000, 30, 0, 4400000, 0, -30])
        try ds.setSpatialReference(try SpatialReference(definition: "EPSG:4545"))
        try ds.band(1).setNoDataValue(0)
        try v.withUnsafeBufferPointer { try ds.band(1).write(PixelWindow(x: 0, y: 0, width: w, height: h), from: $0) }
        try ds.close()
        return path
    }

    @Test(arguments: [(5, false), (5, true), (12, false), (30, true)])
    func sieveEqualsGdalSieve(threshold: Int, eight: Bool) throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = try classRaster("in.tif")
        let ours = dir.appendingPathComponent("ours.tif").path
        do {
            let src = try Dataset(open: input)
            let out = try Dataset.create(driver: "GTiff", path: ours, width: src.width, height: src.height, bands: 1, type: .byte)
            try out.setGeoTransform(src.geoTransform!)
            // gdal_sieve.py uses the band's own mask (nodata) by default.
            try src.band(1).sieve(into: out.band(1), mask: src.band(1).maskBand(), threshold: threshold, eightConnected: eight)
            try out.close()
        }
        let theirs = dir.appendingPathComponent("theirs.tif").path
        _ = try run("/usr/bin/gdal_sieve.py", ["-q", "-st", "\(threshold)", eight ? "-8" : "-4", input, theirs])
        let a: [UInt8] = try Dataset(open: ours).band(1).read(PixelWindow(x: 0, y: 0, width: 157, height: 131))
        let b: [UInt8] = try Dataset(open: theirs).band(1).read(PixelWindow(x: 0, y: 0, width: 157, height: 131))
        let before: [UInt8] = try Dataset(open: input).band(1).read(PixelWindow(x: 0, y: 0, width: 157, height: 131))
        #expect(a == b)
        #expect(a != before, "the sieve must have changed something for the test to mean anything")
    }

    @Test(arguments: [false, true])
    func polygonizeEqualsGdalPolygonize(eight: Bool) throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = try classRaster("in.tif")
        let ours = dir.appendingPathComponent("ours.gpkg").path
        do {
            let src = try Dataset(open: input)
            let out = try Dataset.createVector(driver: "GPKG", path: ours)
            let layer = try out.createLayer("zones", srs: src.spatialReference, geometry: .polygon)
            try layer.createField("class", kind: .integer)
            try layer.inTransaction {
                try src.band(1).polygonize(into: layer, mask: src.band(1).maskBand(), field: 0, eightConnected: eight)
            }
            try out.close()
        }
        let theirs = dir.appendingPathComponent("theirs.gpkg").path
        _ = try run("/usr/bin/gdal_polygonize.py", ["-q"] + (eight ? ["-8"] : []) + [input, "-f", "GPKG", theirs, "zones", "class"])
        func summary(_ path: String) throws -> [Int: (count: Int, area: Double)] {
            let layer = try Dataset(open: path, flags: [.vector]).layer(named: "zones")
            let field = try #require(layer.fieldIndex("class"))
            var result: [Int: (Int, Double)] = [:]
            layer.readFeatures { f in
                let c = f.integer(field)
                let old = result[c] ?? (0, 0)
                result[c] = (old.0 + 1, old.1 + f.area)
            }
            return result
        }
        let a = try summary(ours), b = try summary(theirs)
        #expect(a.keys.sorted() == b.keys.sorted())
        #expect(a.keys.count == 4, "nodata is not polygonized")
        for key in a.keys {
            #expect(a[key]!.count == b[key]!.count, "class \(key)")
            #expect(abs(a[key]!.area - b[key]!.area) < 1e-6, "class \(key)")
        }
    }
}
