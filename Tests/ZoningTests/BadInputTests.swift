import Foundation
import GDALKit
import Testing
@testable import Zoning

/// Bad input through the command line: one clear line naming the file and the problem, a
/// non-zero exit status, and the previously published products untouched.
@Suite(.serialized) struct BadInputTests {
    static let executable: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        // `swift test` builds every product next to the test bundle.
        let bundle = Bundle.main.bundleURL
        for candidate in [bundle.appendingPathComponent("hazard-zoning").path,
                          bundle.deletingLastPathComponent().appendingPathComponent("hazard-zoning").path,
                          root.appendingPathComponent(".build/debug/hazard-zoning").path]
            where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        return root.appendingPathComponent(".build/debug/hazard-zoning").path
    }()

    /// Publishes a good run, breaks one input, runs the CLI, and checks the outcome.
    func expectFailure(status expected: Zoning.ExitStatus, containing fragments: [String],
                       breaking: (Fixture) throws -> Void) throws {
        let fx = try Fixture()
        let plan = try fx.plan()
        let good = try Runner(plan: plan, options: RunOptions(threads: 2, runID: "good")).run()
        try breaking(fx)
        let (status, out, err) = try runProcess(Self.executable, ["run", fx.jobPath, "--threads", "2"])
        #expect(status == expected.rawValue, "stdout: \(out) stderr: \(err)")
        let lines = err.split(separator: "\n")
        #expect(lines.count == 1, "expected one line, got: \(err)")
        for fragment in fragments { #expect(err.contains(fragment), "\(fragment) not in: \(err)") }
        // The previous products are intact: latest still points at the good run, checksums match.
        let publisher = Publisher(outputDirectory: plan.outputDirectory)
        #expect(publisher.latestRun == good.runDirectory)
        for product in good.manifest.products {
            #expect(try SHA256.hex(fileAt: "\(publisher.latestPath)/\(product.path)") == product.sha256)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: plan.outputDirectory).filter { !$0.hasPrefix(".") }.sorted() == ["catalog.json", "good", "latest"])
        // No staging folder is left behind either.
        #expect(try FileManager.default.contentsOfDirectory(atPath: plan.outputDirectory).filter { $0.hasPrefix(".staging") }.isEmpty)
    }

    /// Issue 21: `--wait nan` was accepted (and `Int(wait)` in the lock's message traps on it).
    @Test func waitIsAFiniteNumberOfSecondsUpToAYear() throws {
        let fx = try Fixture()
        for arguments in [["run", fx.jobPath, "--wait", "nan"], ["run", fx.jobPath, "--wait", "inf"], ["run", fx.jobPath, "--wait=-1"],
                          ["run", fx.jobPath, "--wait", "1e300"], ["render", fx.jobPath, "--wait", "nan"]] {
            let (status, _, err) = try runProcess(Self.executable, arguments)
            #expect(status == 64 && err.contains("--wait is a number of seconds from 0 to 31536000 (a year), got "), "\(arguments): \(status) \(err)")
        }
        #expect(!FileManager.default.fileExists(atPath: fx.project.path("out")))
    }

    @Test func aTextFileNamedTif() throws {
        try expectFailure(status: .dataError, containing: ["flood.tif", "not recognized as a supported file format"]) { fx in
            try "not a raster".write(toFile: fx.project.path("layers/flood.tif"), atomically: true, encoding: .utf8)
        }
    }

    @Test func aZeroByteFile() throws {
        try expectFailure(status: .dataError, containing: ["fire.tif", "layers.fire"]) { fx in
            FileManager.default.createFile(atPath: fx.project.path("layers/fire.tif"), contents: Data())
        }
    }

    @Test func aMissingFile() throws {
        try expectFailure(status: .noInput, containing: ["fire.tif", "does not exist"]) { fx in
            try FileManager.default.removeItem(atPath: fx.project.path("layers/fire.tif"))
        }
    }

    @Test func aRasterWithoutCRS() throws {
        try expectFailure(status: .dataError, containing: ["flood.tif", "no CRS"]) { fx in
            try fx.project.raster("layers/flood.tif", width: 10, height: 10, geoTransform: [495000, 30, 0, 4407360, 0, -30],
                                  crs: nil, nodata: nil, values: [Float](repeating: 1, count: 100))
        }
    }

    @Test func aRasterThatDoesNotOverlapTheGrid() throws {
        try expectFailure(status: .dataError, containing: ["fire.tif", "does not overlap the grid"]) { fx in
            try fx.project.raster("layers/fire.tif", width: 10, height: 10, geoTransform: [10, 0.01, 0, 50, 0, -0.01],
                                  crs: "EPSG:4326", nodata: nil, values: [Float](repeating: 1, count: 100))
        }
    }

    @Test func aVectorWithoutTheNamedAttribute() throws {
        try expectFailure(status: .dataError, containing: ["area.gpkg", "layers.seismic", "no attribute \"pga_g\""]) { fx in
            try fx.project.write("layers/seismic-pga.yaml", "source: area.gpkg\nlayer: area\nattribute: pga_g\n")
        }
    }

    @Test func aTruncatedGeoTIFF() throws {
        // A truncated file is bad data (65), found while its pixels are checked before computing.
        try expectFailure(status: .dataError, containing: ["flood.tif", "layers.flood"]) { fx in
            // Keep the header and directory (GDAL opens it) but cut the tile data.
            let path = fx.project.path("layers/flood.tif")
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            try data.prefix(data.count / 3).write(to: URL(fileURLWithPath: path))
        }
    }

    @Test func anAllNodataLayer() throws {
        try expectFailure(status: .dataError, containing: ["flood.tif", "no valid pixels"]) { fx in
            try fx.project.raster("layers/flood.tif", width: 40, height: 40, geoTransform: [495000, 30, 0, 4407360, 0, -30],
                                  crs: "EPSG:4545", nodata: -9999, values: [Float](repeating: -9999, count: 1600))
        }
    }

    @Test func aShapefileMissingItsShx() throws {
        try expectFailure(status: .dataError, containing: ["seismic.shp", ".shx"]) { fx in
            try shell("/usr/bin/ogr2ogr", ["-f", "ESRI Shapefile", fx.project.path("layers/seismic.shp"), fx.project.path("layers/seismic.gpkg")])
            try FileManager.default.removeItem(atPath: fx.project.path("layers/seismic.shx"))
            try fx.project.write("layers/seismic-pga.yaml", "source: seismic.shp\nattribute: pga_g\n")
        }
    }

    @Test func aCRSThatCannotBeTransformedToTheGrid() throws {
        try expectFailure(status: .dataError, containing: ["fire.tif", "cannot be transformed to the grid CRS"]) { fx in
            try fx.project.raster("layers/fire.tif", width: 10, height: 10, geoTransform: [0, 1, 0, 10, 0, -1],
                                  crs: #"LOCAL_CS["lab bench",UNIT["metre",1]]"#, nodata: nil, values: [Float](repeating: 1, count: 100))
        }
    }

    @Test func aGridLargerThanMaxPixelsIsRefusedBeforeAnyAllocation() throws {
        try expectFailure(status: .dataError, containing: ["fixture.yaml", "exceeds max-pixels 1000"]) { fx in
            let text = try String(contentsOfFile: fx.jobPath, encoding: .utf8)
            try text.replacingOccurrences(of: "block-size: 64", with: "block-size: 64\n  max-pixels: 1000")
                .write(toFile: fx.jobPath, atomically: true, encoding: .utf8)
        }
    }

    @Test func nanAndInfinityAreNodataAndCounted() throws {
        let fx = try Fixture()
        let result = try Runner(plan: try fx.plan(), options: RunOptions(threads: 2)).run()
        let flood = try #require(result.manifest.inputs.first { $0.key == "flood" }?.statistics)
        // The fixture's flood raster: 340 × 280 with nodata, NaN and one +inf (see Fixture), counted
        // where it overlaps the grid: the grid spans source columns 10.5…320.5 and rows 20.5…265.5,
        // so with the 2-pixel margin columns 8..<323 and rows 18..<268.
        var nan = 0, nodata = 0
        for r in 18..<268 { for c in 8..<323 {
            if r == 100 && c == 200 { continue }
            if (r * 13 + c * 7) % 211 == 0 { nan += 1 } else if (r * 31 + c * 17) % 97 == 0 { nodata += 1 }
        } }
        #expect(flood.sourceNan == nan)
        #expect(flood.sourceInfinite == 1)
        #expect(flood.sourceNodata == nodata)
        #expect(flood.sourceValid == 315 * 250 - nan - nodata - 1)
        #expect(flood.gridValid + flood.gridNodata == Fixture.width * Fixture.height)
        #expect(flood.gridNodata > 0)
    }

    @Test func versionNamesGDALAndPROJ() throws {
        let (status, out, _) = try runProcess(Self.executable, ["--version"])
        #expect(status == 0)
        #expect(out.contains("GDAL \(GDAL.version)") && out.contains("PROJ \(GDAL.projVersion)"))
    }

    @Test func validateExitsWithTheWorstStatus() throws {
        let p = try Project()
        try p.write("jobs/j.yaml", "version: 1\nname: j\nwhat: 3\n")
        let (status, _, err) = try runProcess(Self.executable, ["validate", p.path("jobs/j.yaml")])
        #expect(status == Zoning.ExitStatus.dataError.rawValue)
        #expect(err.contains("j.yaml:3:1: error: what: unknown key \"what\""))
        #expect(err.contains("j.yaml:1:1: error: missing required key \"grid\""))
    }
}

/// A source far larger than the grid is scanned over the part that overlaps the grid, at a step
/// that bounds what is read (issue 11: full-width strips of a 2147483647 × 10 px source aborted).
@Suite struct LargeSourceTests {
    @Test func aHugeSparseSourceIsScannedOnlyWhereItOverlaps() throws {
        let fx = try Fixture()
        // 2 000 000 × 40 000 px (80 Gpx) of 30 m pixels, sparse: only the blocks over the grid hold data.
        let path = fx.project.path("layers/huge.tif")
        let width = 2_000_000, height = 40_000
        let ds = try Dataset.create(driver: "GTiff", path: path, width: width, height: height, bands: 1, type: .float32,
                                    options: ["TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256", "SPARSE_OK=YES", "BIGTIFF=YES"])
        let x0 = Fixture.xmin - 30_000_000, y0 = Fixture.ymax + 600_000
        try ds.setGeoTransform([x0, 30, 0, y0, 0, -30])
        try ds.setSpatialReference(try SpatialReference(definition: "EPSG:4545"))
        let band = try ds.band(1)
        try band.setNoDataValue(-9999)
        // The grid's pixels in the source: columns from 1 000 000, rows from 20 000, 310 × 245.
        let values = [Float](repeating: 2.0, count: 310 * 245)
        try values.withUnsafeBufferPointer { try band.write(PixelWindow(x: 1_000_000, y: 20_000, width: 310, height: 245), from: $0) }
        try ds.close()
        try fx.project.write("layers/flood-depth.yaml", "source: huge.tif\nunits: m\n")
        let plan = try fx.plan()
        let runner = Runner(plan: plan, options: RunOptions(threads: 2))
        let scan = try runner.scanSource(try #require(plan.sources.first { $0.key == "flood" }))
        // Window: the grid ± 2 px = 314 × 249 values; all of the grid's pixels are valid, the margin nodata
        // (sparse blocks read as nodata).
        #expect(scan.valid == 310 * 245)
        #expect(scan.nodata == 314 * 249 - 310 * 245)
        #expect(scan.nan == 0 && scan.infinite == 0)
    }
}
