import Foundation
import GDALKit
import RasterKernel
import Testing
@testable import Zoning

/// The whole pipeline against GDAL's own command-line tools on the same inputs.
@Suite(.serialized) struct PipelineTests {
    /// Runs gdalwarp, ogr2ogr + gdal_rasterize and gdal_calc.py exactly as a GIS analyst would, and
    /// returns (index, class) rasters computed by GDAL/numpy.
    func oracle(_ fx: Fixture, work: String) throws -> (index: [Float], classes: [UInt8]) {
        try fx.alignWithGDAL(into: work)
        let calc = """
            where(isfinite(A) & isfinite(B) & isfinite(C) & (D != 0), \
            0.45 * interp(A, [0, 0.5, 1.5, 3.0], [0, 0.3, 0.7, 1.0]) \
            + 0.25 * clip((B - 0.0) / 100.0, 0, 1) \
            + 0.30 * select([abs(C - 0.05) <= 1e-5, abs(C - 0.10) <= 1e-5, abs(C - 0.15) <= 1e-5, abs(C - 0.20) <= 1e-5], \
                            [0.25, 0.5, 0.75, 1.0], 0), -9999)
            """
        try shell("/usr/bin/gdal_calc.py", ["--quiet", "--hideNoData", "-A", "\(work)/flood.tif", "-B", "\(work)/fire.tif",
                                            "-C", "\(work)/seismic.tif", "-D", "\(work)/mask.tif", "--type=Float32",
                                            "--NoDataValue=-9999", "--calc=\(calc)", "--outfile=\(work)/index.tif"])
        try shell("/usr/bin/gdal_calc.py", ["--quiet", "--hideNoData", "-A", "\(work)/index.tif", "--type=Byte", "--NoDataValue=0",
                                            "--calc=where(A == -9999, 0, 1 + (A >= 0.25) + (A >= 0.5) + (A >= 0.75))",
                                            "--outfile=\(work)/class.tif"])
        return (try readFloat("\(work)/index.tif"), try readBytes("\(work)/class.tif"))
    }

    @Test func matchesTheGDALCommandLineChain() throws {
        let fx = try Fixture()
        let plan = try fx.plan()
        #expect(plan.grid.width == Fixture.width && plan.grid.height == Fixture.height)
        let result = try Runner(plan: plan, options: RunOptions(threads: 2)).run()
        let work = fx.project.path("oracle")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let expected = try oracle(fx, work: work)
        let index = try readFloat("\(result.runDirectory)/risk_index.tif")
        let classes = try readBytes("\(result.runDirectory)/risk_class.tif")
        #expect(index.count == expected.index.count)

        var maxDelta: Float = 0, maskDiff = 0, classDiff = 0, valid = 0
        for p in 0..<index.count {
            let a = index[p], b = expected.index[p]
            if (a == -9999) != (b == -9999) { maskDiff += 1; continue }
            if a == -9999 { continue }
            valid += 1
            maxDelta = max(maxDelta, abs(a - b))
            if classes[p] != expected.classes[p] && !Fixture.breaks.contains(where: { abs(Double(b) - $0) < 1e-5 }) {
                classDiff += 1
            }
        }
        #expect(maskDiff == 0, "nodata masks differ at \(maskDiff) pixels")
        #expect(maxDelta <= 1e-6, "max |Δindex| = \(maxDelta)")
        #expect(classDiff == 0, "\(classDiff) class pixels differ away from the breaks")
        // The fixture exercises every case: valid pixels of several classes, nodata inside and outside the mask.
        #expect(valid > 20_000)
        #expect(Set(classes).isSuperset(of: [0, 1, 2, 3]))
        let nodata = index.filter { $0 == -9999 }.count
        #expect(nodata > 10_000 && nodata < index.count - valid + 1)

        // Manifest statistics agree with the pixels.
        let counts = (0...4).map { c in classes.filter { Int($0) == c }.count }
        #expect(result.manifest.statistics.classes.map(\.pixels) == Array(counts[1...]))
        #expect(result.manifest.statistics.nodataPixels == counts[0])
    }

    @Test func productsAreValidCOGsWithPaletteAndCategories() throws {
        let fx = try Fixture()
        let result = try Runner(plan: try fx.plan(), options: RunOptions(threads: 2)).run()
        let validator = "/usr/lib/python3/dist-packages/osgeo_utils/samples/validate_cloud_optimized_geotiff.py"
        for name in ["risk_index.tif", "risk_class.tif"] {
            let (status, out, err) = try runProcess("/usr/bin/python3", [validator, "\(result.runDirectory)/\(name)"])
            #expect(status == 0, "\(name): \(out) \(err)")
            #expect(out.contains("is a valid cloud optimized GeoTIFF"), "\(name): \(out)")
        }
        let cls = try Dataset(open: "\(result.runDirectory)/risk_class.tif")
        let band = try cls.band(1)
        #expect(band.pixelType == .byte)
        #expect(band.noDataValue == 0)
        let table = try #require(band.colorTable)
        #expect(table[1] == (0, 112, 192, 255) && table[4] == (230, 0, 0, 255))
        #expect(band.categoryNames.prefix(5).map { String($0.prefix(1)) } == ["n", "蓝", "黄", "橙", "红"])
        let idx = try Dataset(open: "\(result.runDirectory)/risk_index.tif")
        #expect(try idx.band(1).noDataValue == -9999)
        #expect(try idx.band(1).pixelType == .float32)
        #expect(idx.spatialReference?.authorityCode == "EPSG:4545")
        #expect(idx.geoTransform == [Fixture.xmin, 30, 0, Fixture.ymax, 0, -30])

        // Manifest: every product listed with the checksum of its bytes (checked with coreutils),
        // every input file with its size and SHA-256, versions, grid.
        let manifestData = try Data(contentsOf: URL(fileURLWithPath: "\(result.runDirectory)/manifest.json"))
        let manifest = try Manifest.decode(manifestData)
        for product in manifest.products {
            let sum = try shell("/usr/bin/sha256sum", ["\(result.runDirectory)/\(product.path)"])
            #expect(sum.hasPrefix(product.sha256), "\(product.path)")
        }
        #expect(manifest.products.map(\.path).contains("risk_index.tif"))
        let inputFiles = manifest.inputs.flatMap(\.files)
        for file in inputFiles {
            let sum = try shell("/usr/bin/sha256sum", [file.path])
            #expect(sum.hasPrefix(file.sha256), "\(file.path)")
        }
        #expect(Set(manifest.inputs.map(\.key)) == ["flood", "fire", "seismic", "mask"])
        #expect(manifest.tool.gdal == GDAL.version && manifest.tool.proj == GDAL.projVersion)
        #expect(manifest.grid.width == Fixture.width && manifest.grid.crs.hasPrefix("EPSG:4545"))
        #expect(manifest.job.fileSha256 == (try shell("/usr/bin/sha256sum", [fx.jobPath])).prefix(64).description)
    }

    @Test func outputsAreBitIdenticalWhateverTheThreadCount() throws {
        let fx = try Fixture(blockSize: 32)
        var digests: [[String]] = []
        for threads in [1, 2, 5] {
            let out = fx.project.path("out-\(threads)")
            let result = try Runner(plan: try fx.plan(output: out), options: RunOptions(threads: threads)).run()
            digests.append(try ["risk_index.tif", "risk_class.tif"].map { try SHA256.hex(fileAt: "\(result.runDirectory)/\($0)") })
        }
        #expect(digests[0] == digests[1])
        #expect(digests[0] == digests[2])
    }

    @Test func aFailureMidRunLeavesTheLatestProductsIntact() throws {
        let fx = try Fixture(blockSize: 32)
        let plan = try fx.plan()
        let first = try Runner(plan: plan, options: RunOptions(threads: 2, runID: "run-1")).run()
        let publisher = Publisher(outputDirectory: plan.outputDirectory)
        #expect(publisher.latestRun == first.runDirectory)
        // A real fault mid-run: after `limit` blocks of the main pass an input (its layer
        // definition) is rewritten, so the run must not publish what it computed.
        let definition = fx.project.path("layers/flood-depth.yaml")
        for limit in [1, 7, plan.blockCount - 1] {
            var options = RunOptions(threads: 2, runID: "run-fail-\(limit)")
            options.progress = { progress in
                guard progress.stage == "compute", progress.done == limit,
                      let handle = FileHandle(forWritingAtPath: definition) else { return }
                handle.seekToEndOfFile()
                handle.write(Data("# rewritten during the run\n".utf8))
                handle.closeFile()
            }
            let error = #expect(throws: RunError.self) { try Runner(plan: plan, options: options).run() }
            #expect(error?.status == .tempFail && error?.message.contains("input changed during the run") == true,
                    "\(String(describing: error))")
        }
        #expect(publisher.latestRun == first.runDirectory)
        let manifest = try Manifest.decode(try Data(contentsOf: URL(fileURLWithPath: "\(publisher.latestPath)/manifest.json")))
        for product in manifest.products {
            #expect(try SHA256.hex(fileAt: "\(publisher.latestPath)/\(product.path)") == product.sha256)
        }
        // Nothing of the failed runs is left: no run folder, no staging folder.
        let names = try FileManager.default.contentsOfDirectory(atPath: plan.outputDirectory).filter { $0 != ".lock" }.sorted()
        #expect(names == ["catalog.json", "latest", "run-1"])
        // And the next run succeeds and takes over latest.
        let next = try Runner(plan: plan, options: RunOptions(threads: 2, runID: "run-2")).run()
        #expect(publisher.latestRun == next.runDirectory)
    }

    /// Issue 21: a compressed source rewritten in place while the main pass reads it made the
    /// read fail ("ZIPDecode error", exit 65); that the input changed is what happened (75).
    @Test func aSourceRewrittenWhileReadIsAnInputChange() throws {
        let fx = try Fixture(blockSize: 32)
        let flood = fx.project.path("layers/flood.tif")
        // DEFLATE in 16-pixel tiles: each unit of the main pass decodes tiles of its own.
        _ = try shell("/usr/bin/gdal_translate", ["-q", "-co", "COMPRESS=DEFLATE", "-co", "TILED=YES", "-co", "BLOCKXSIZE=16",
                                                  "-co", "BLOCKYSIZE=16", flood, flood + ".z.tif"])
        try FileManager.default.removeItem(atPath: flood)
        try FileManager.default.moveItem(atPath: flood + ".z.tif", toPath: flood)
        let plan = try fx.plan()
        var options = RunOptions(threads: 2, runID: "run-rewritten")
        options.progress = { progress in
            // After the first unit: the tiles' bytes overwritten in place, the file's size kept.
            guard progress.stage == "compute", progress.done == 1, let handle = FileHandle(forWritingAtPath: flood) else { return }
            let size = Int(handle.seekToEndOfFile())
            handle.seek(toFileOffset: 8192)
            handle.write(Data(repeating: 0xA5, count: size - 8192))
            handle.closeFile()
        }
        let error = #expect(throws: RunError.self) { try Runner(plan: plan, options: options).run() }
        #expect(error?.status == .tempFail && error?.message == "\(flood): input changed during the run (it was rewritten); nothing was published, run again",
                "\(String(describing: error))")
        #expect(Publisher(outputDirectory: plan.outputDirectory).latestRun == nil)
    }

    /// Issue 21: a source far finer than the grid (31 000 × 24 500 px under a 9 × 7 px grid) is
    /// warped from a window of ~3 GB; under an address limit GDAL's refusal named its own source
    /// file ("./alg/gdalwarpoperation.cpp, 1847: cannot allocate …"). It is said in words.
    @Test func gdalRunningOutOfMemoryIsSaidInWords() throws {
        let fx = try Fixture(resolution: 1000)
        let flood = fx.project.path("layers/flood.tif")
        try FileManager.default.removeItem(atPath: flood)
        // Sparse: no tile is written, so the file is small and reads as zeros.
        _ = try shell("/usr/bin/gdal_create", ["-q", "-of", "GTiff", "-outsize", "31000", "24500", "-ot", "Float32", "-a_srs", "EPSG:4545",
                                               "-a_ullr", "\(Fixture.xmin)", "\(Fixture.ymax)", "\(Fixture.xmax)", "\(Fixture.ymin)",
                                               "-co", "SPARSE_OK=TRUE", "-co", "TILED=YES", flood])
        let (status, _, _, err) = try runProcessWithTimeout(
            "/bin/sh", ["-c", "ulimit -v 1000000 && exec \"$0\" run \"$1\" --threads 1", BadInputTests.executable, fx.jobPath], seconds: 60)
        #expect(status == 74 && err.hasPrefix("error: \(flood) (layer flood-depth): reading block (0, 0) ")
                && err.contains(": GDAL ran out of memory reading it (a source much finer than the grid is read over each block's extent at its own resolution); use a smaller grid.block-size")
                && !err.contains(".cpp") && err.split(separator: "\n").count == 1, "\(status) \(err)")
    }
}
