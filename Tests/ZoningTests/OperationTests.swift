import Foundation
import GDALKit
import Testing
@testable import Zoning

#if canImport(Glibc)
import Glibc
#endif

/// Nightly operation: incremental runs, locking, retention, batch, logs, faults.
@Suite(.serialized) struct OperationTests {
    var executable: String { BadInputTests.executable }

    func manifestIsIntact(_ outputDirectory: String) throws -> Manifest {
        let publisher = Publisher(outputDirectory: outputDirectory)
        let manifest = try #require(publisher.latestManifest(), "latest has no readable manifest")
        for product in manifest.products {
            #expect(try SHA256.hex(fileAt: "\(publisher.latestPath)/\(product.path)") == product.sha256, "\(product.path)")
        }
        return manifest
    }

    @Test func unchangedRunsAreSkippedAndChangesAreNot() throws {
        let fx = try Fixture()
        let plan = try fx.plan()
        let options = RunOptions(threads: 2, skipIfUpToDate: true)
        let first = try Runner(plan: plan, options: options).run()
        #expect(!first.upToDate)
        let second = try Runner(plan: plan, options: options).run()
        #expect(second.upToDate && second.runID == first.runID)

        // A new mtime with the same bytes: the hash decides, still up to date.
        let flood = fx.project.path("layers/flood.tif")
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(60)], ofItemAtPath: flood)
        #expect(try Runner(plan: plan, options: options).run().upToDate)

        // Changed bytes: a new run.
        try fx.project.raster("layers/flood.tif", width: 340, height: 280,
                              geoTransform: [Fixture.xmin - 315, 30, 0, Fixture.ymax + 615, 0, -30], crs: "EPSG:4545",
                              nodata: -9999, values: [Float](repeating: 1.25, count: 340 * 280))
        let third = try Runner(plan: plan, options: RunOptions(threads: 2, skipIfUpToDate: true, runID: "third")).run()
        #expect(!third.upToDate && third.runID == "third")

        // A changed job (same data): a new run; --force: a new run.
        var text = try String(contentsOfFile: fx.jobPath, encoding: .utf8)
        text = text.replacingOccurrences(of: "fire: 0.25, seismic: 0.30", with: "fire: 0.30, seismic: 0.25")
        try text.write(toFile: fx.jobPath, atomically: true, encoding: .utf8)
        let changed = try Runner(plan: try fx.plan(), options: RunOptions(threads: 2, skipIfUpToDate: true, runID: "fourth")).run()
        #expect(!changed.upToDate)
        let forced = try Runner(plan: try fx.plan(), options: RunOptions(threads: 2, skipIfUpToDate: false, runID: "fifth")).run()
        #expect(!forced.upToDate && forced.runID == "fifth")

        // Through the command line: one "up to date" line, exit 0, well under a second of work.
        let (status, out, err) = try runProcess(executable, ["run", fx.jobPath])
        #expect(status == 0, "\(err)")
        #expect(out == "fixture: up to date (run fifth)\n")
    }

    @Test func aSecondRunOfTheSameOutputsIsLockedOut() throws {
        let fx = try Fixture()
        let plan = try fx.plan()
        nonisolated(unsafe) let lock = try OutputLock(directory: plan.outputDirectory)
        let (status, _, err) = try runProcess(executable, ["run", fx.jobPath])
        #expect(status == 75, "\(err)")
        #expect(err.contains("is locked by another run (pid \(getpid()), started "), "\(err)")
        // --wait: the lock is released meanwhile, the run goes through.
        let releaser = Thread { usleep(400_000); lock.release() }
        releaser.start()
        let (waited, out, werr) = try runProcess(executable, ["run", fx.jobPath, "--wait", "20"])
        #expect(waited == 0, "\(werr)")
        #expect(out.contains("published"))
    }

    @Test func aLockLeftByAKilledRunIsTakenOver() throws {
        let fx = try Fixture()
        let plan = try fx.plan()
        // A holder that dies while holding the lock.
        let script = "exec 9>>'\(plan.outputDirectory)/.lock'; flock 9; echo 'pid 999999, started then' >&9; kill -9 $$"
        try FileManager.default.createDirectory(atPath: plan.outputDirectory, withIntermediateDirectories: true)
        _ = try runProcess("/bin/bash", ["-c", script])
        let (status, out, err) = try runProcess(executable, ["run", fx.jobPath])
        #expect(status == 0, "\(err)")
        #expect(out.contains("published"))
    }

    @Test func retentionKeepsTheLastRunsAndNeverLatest() throws {
        let fx = try Fixture(extraOutputs: "  keep: 2")
        let plan = try fx.plan()
        for i in 1...4 {
            _ = try Runner(plan: plan, options: RunOptions(threads: 2, runID: "r\(i)")).run()
        }
        let publisher = Publisher(outputDirectory: plan.outputDirectory)
        #expect(publisher.runs() == ["r3", "r4"])
        #expect(publisher.latestRun?.hasSuffix("/r4") == true)
        _ = try manifestIsIntact(plan.outputDirectory)
    }

    @Test func batchContinuesPastAFailingJobAndSaysSo() throws {
        let fx = try Fixture()
        let jobs = fx.project.path("jobs")
        let good = try String(contentsOfFile: fx.jobPath, encoding: .utf8)
        try good.replacingOccurrences(of: "name: fixture", with: "name: second")
            .replacingOccurrences(of: "out/fixture", with: "out/second")
            .write(toFile: "\(jobs)/b-second.yaml", atomically: true, encoding: .utf8)
        try good.replacingOccurrences(of: "layer: fire-danger", with: "layer: no-such-layer")
            .replacingOccurrences(of: "name: fixture", with: "name: broken")
            .write(toFile: "\(jobs)/a-broken.yaml", atomically: true, encoding: .utf8)
        let (status, out, err) = try runProcess(executable, ["batch", jobs])
        #expect(status == 65, "\(out)\(err)")
        let lines = out.split(separator: "\n").map(String.init)
        #expect(lines.count == 5, "\(out)")
        #expect(lines[1].hasPrefix("a-broken.yaml") && lines[1].contains("65") && lines[1].contains("no-such-layer"))
        #expect(lines[2].hasPrefix("b-second.yaml") && lines[2].contains("ok") && lines[2].contains("published"))
        #expect(lines[3].hasPrefix("fixture.yaml") && lines[3].contains("ok"))
        #expect(lines[4] == "3 jobs, 1 failed")
        #expect(Publisher(outputDirectory: fx.project.path("out/second")).latestRun != nil)
        #expect(Publisher(outputDirectory: fx.project.path("out/fixture")).latestRun != nil)
    }

    @Test func cronOutputIsOneLineAndJSONLogsAreJSON() throws {
        let fx = try Fixture()
        let (status, out, err) = try runProcess(executable, ["run", fx.jobPath])
        #expect(status == 0)
        #expect(out.split(separator: "\n").count == 1 && out.contains("published"))
        #expect(err.isEmpty, "not a terminal: no progress bar, no log noise; got \(err)")

        let (s2, out2, err2) = try runProcess(executable, ["run", fx.jobPath, "--force", "--log-format", "json", "--verbose"])
        #expect(s2 == 0)
        let events = try err2.split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(events.count >= 3 && events.allSatisfy { $0?["message"] != nil && $0?["level"] != nil })
        #expect(events.contains { $0?["stage"] as? String == "compute" })
        let summary = try JSONSerialization.jsonObject(with: Data(out2.utf8)) as? [String: Any]
        #expect(summary?["event"] as? String == "published")

        let (s3, _, err3) = try runProcess(executable, ["run", fx.project.path("jobs/none.yaml"), "--log-format", "json"])
        #expect(s3 == 66)
        let failure = try JSONSerialization.jsonObject(with: Data(err3.utf8)) as? [String: Any]
        #expect(failure?["status"] as? Int == 66 && failure?["level"] as? String == "error")
    }

    /// SIGKILL at random moments: latest stays complete and the next run succeeds.
    @Test func killedRunsNeverDamageLatest() throws {
        let fx = try Fixture(blockSize: 32, resolution: 10)
        let plan = try fx.plan()
        let started = Date()
        _ = try runProcess(executable, ["run", fx.jobPath, "--force"])
        let duration = Date().timeIntervalSince(started)
        let baseline = try manifestIsIntact(plan.outputDirectory)
        var rng = SplitMixTest(state: 20261129)
        var killedMidway = 0
        for trial in 0..<12 {
            let delay = rng.unit() * duration * 1.1
            let p = Process()
            p.executableURL = URL(fileURLWithPath: executable)
            p.arguments = ["run", fx.jobPath, "--force"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            usleep(UInt32(delay * 1_000_000))
            if p.isRunning { kill(p.processIdentifier, SIGKILL); killedMidway += 1 }
            p.waitUntilExit()
            let manifest = try manifestIsIntact(plan.outputDirectory)
            #expect(manifest.statistics.classes == baseline.statistics.classes, "trial \(trial)")
        }
        #expect(killedMidway >= 8, "most trials must kill a running process")
        let (status, out, err) = try runProcess(executable, ["run", fx.jobPath, "--force"])
        #expect(status == 0, "\(err)")
        #expect(out.contains("published"))
        // Staging folders of killed runs are cleaned up by the next run.
        let left = try FileManager.default.contentsOfDirectory(atPath: plan.outputDirectory).filter { $0.hasPrefix(".staging") }
        #expect(left.isEmpty, "\(left)")
    }

    /// A file-size limit (like a full disk) gives a clean error and publishes nothing partial.
    @Test func aFullDiskGivesACleanErrorAndPublishesNothing() throws {
        let fx = try Fixture(resolution: 10)
        let plan = try fx.plan()
        let good = try Runner(plan: plan, options: RunOptions(threads: 2, runID: "good")).run()
        let (status, _, err) = try runProcess("/bin/bash", ["-c", "ulimit -f 300; exec '\(executable)' run '\(fx.jobPath)' --force"])
        #expect(status == 74 || status == 73, "status \(status): \(err)")
        #expect(err.split(separator: "\n").count == 1 && err.contains("File too large"), "\(err)")
        #expect(Publisher(outputDirectory: plan.outputDirectory).latestRun == good.runDirectory)
        _ = try manifestIsIntact(plan.outputDirectory)
        let names = try FileManager.default.contentsOfDirectory(atPath: plan.outputDirectory).filter { !$0.hasPrefix(".lock") }
        #expect(names.sorted() == ["catalog.json", "good", "latest"])
    }
}

struct SplitMixTest {
    var state: UInt64
    mutating func unit() -> Double {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
    }
}
