import Foundation
import GDALKit
import Testing
@testable import Zoning

/// The manifest names exactly the bytes the products were computed from (issue 11).
@Suite(.serialized) struct ProvenanceTests {
    /// An input replaced by rename while the run computes: the run fails with 75 naming it, and
    /// nothing is published (before: products from the new file, the old file's SHA-256).
    @Test func anInputRenamedMidRunFailsAndPublishesNothing() throws {
        let fx = try Fixture()
        let plan = try fx.plan()
        let good = try Runner(plan: plan, options: RunOptions(threads: 2, runID: "good")).run()
        // A different fire raster, ready to be renamed over the input once alignment has started.
        try FileManager.default.copyItem(atPath: fx.project.path("layers/fire.tif"), toPath: fx.project.path("layers/fire-new.tif"))
        let ds = try Dataset(open: fx.project.path("layers/fire-new.tif"), flags: [.raster, .update])
        try [Float](repeating: 99, count: 100).withUnsafeBufferPointer { try ds.band(1).write(PixelWindow(x: 0, y: 0, width: 10, height: 10), from: $0) }
        try ds.close()
        let from = fx.project.path("layers/fire-new.tif"), to = fx.project.path("layers/fire.tif")
        var options = RunOptions(threads: 2, runID: "swapped")
        options.progress = { p in
            if p.stage == "compute" && p.done == 1 { rename(from, to) }
        }
        #expect {
            _ = try Runner(plan: plan, options: options).run()
        } throws: { error in
            guard let e = error as? RunError else { return false }
            return e.status == .tempFail && e.message.contains("fire.tif") && e.message.contains("changed during the run")
        }
        let publisher = Publisher(outputDirectory: plan.outputDirectory)
        #expect(publisher.latestRun == good.runDirectory)
        #expect(publisher.runs() == ["good"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: plan.outputDirectory).filter { $0.hasPrefix(".staging") }.isEmpty)
    }

    /// An input rewritten with the same size and mtime (`cp -p`, `rsync -t`) is new content: the
    /// default (content hashes) reruns; `--trust-mtime` takes the shortcut and calls it up to date.
    @Test func sameSizeAndMtimeIsNotUpToDateUnlessTrusted() throws {
        let fx = try Fixture()
        let plan = try fx.plan()
        let first = try Runner(plan: plan, options: RunOptions(threads: 2, skipIfUpToDate: true, runID: "first")).run()
        #expect(!first.upToDate)
        let path = fx.project.path("layers/fire.tif")
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        let mtimeNs = try shell("/usr/bin/python3", ["-c", "import os,sys; print(os.stat(sys.argv[1]).st_mtime_ns)", path])
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let ds = try Dataset(open: path, flags: [.raster, .update])
        try [Float](repeating: 1, count: 4).withUnsafeBufferPointer { try ds.band(1).write(PixelWindow(x: 50, y: 30, width: 2, height: 2), from: $0) }
        try ds.close()
        // Size and mtime put back to the nanosecond, as `cp -p` / `rsync -t` do.
        try shell("/usr/bin/python3", ["-c", "import os,sys; n=int(sys.argv[2]); os.utime(sys.argv[1], ns=(n, n))", path, mtimeNs])
        let after = try FileManager.default.attributesOfItem(atPath: path)
        #expect((after[.size] as? NSNumber) == (attributes[.size] as? NSNumber))
        #expect(try SHA256.hex(fileAt: path) != first.manifest.inputs.first { $0.key == "fire" }!.files[0].sha256)

        var trusting = RunOptions(threads: 2, skipIfUpToDate: true)
        trusting.trustMtime = true
        #expect(try Runner(plan: plan, options: trusting).run().upToDate)
        let rerun = try Runner(plan: plan, options: RunOptions(threads: 2, skipIfUpToDate: true, runID: "second")).run()
        #expect(!rerun.upToDate)
        #expect(rerun.manifest.inputs.first { $0.key == "fire" }!.files[0].sha256 == (try SHA256.hex(fileAt: path)))
        // And once recorded, nothing changed: up to date by content.
        #expect(try Runner(plan: plan, options: RunOptions(threads: 2, skipIfUpToDate: true)).run().upToDate)
    }
}
