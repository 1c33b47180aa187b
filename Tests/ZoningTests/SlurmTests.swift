import Cluster
import Foundation
import FilePaths
import GDALKit
import RiskDatabase
import Testing
@testable import Zoning

#if canImport(Glibc)
import Glibc
#endif

/// Files of two run folders compared byte for byte. `manifest.json` and `item.json` carry the
/// run's own times (started, finished, timings; the STAC Item's datetime and the manifest's
/// checksum) and are compared separately, field by field without those.
struct RunComparison {
    var identical: [String] = []
    var different: [String] = []
    var onlyInFirst: [String] = []
    var onlyInSecond: [String] = []

    static let timeCarrying: Set<String> = ["manifest.json", "item.json"]

    init(_ first: String, _ second: String) throws {
        // `latest` is a link: compare the run folders it points at.
        let a = URL(fileURLWithPath: first).resolvingSymlinksInPath().path, b = URL(fileURLWithPath: second).resolvingSymlinksInPath().path
        func files(_ root: String) -> Set<String> {
            var out: Set<String> = []
            let e = FileManager.default.enumerator(atPath: root)
            while let name = e?.nextObject() as? String {
                var isDir: ObjCBool = false
                if FileManager.default.fileExists(atPath: root.appendingComponent(name), isDirectory: &isDir), !isDir.boolValue {
                    out.insert(name)
                }
            }
            return out
        }
        let fa = files(a), fb = files(b)
        onlyInFirst = fa.subtracting(fb).sorted()
        onlyInSecond = fb.subtracting(fa).sorted()
        for name in fa.intersection(fb).sorted() where !Self.timeCarrying.contains(name) {
            let da = FileManager.default.contents(atPath: a.appendingComponent(name))
            let db = FileManager.default.contents(atPath: b.appendingComponent(name))
            if da == db { identical.append(name) } else { different.append(name) }
        }
    }

    var equal: Bool { different.isEmpty && onlyInFirst.isEmpty && onlyInSecond.isEmpty }

    /// The top-level manifest fields that differ (after `manifestWithoutTimes`), with both values.
    static func manifestDifferences(_ a: String, _ b: String) throws -> [String] {
        let ma = try manifestWithoutTimes(a), mb = try manifestWithoutTimes(b)
        let keys = Set(ma.allKeys.map { "\($0)" }).union(mb.allKeys.map { "\($0)" }).sorted()
        return keys.filter { !((ma[$0] as? NSObject)?.isEqual(mb[$0]) ?? (mb[$0] == nil)) }
            .map { "\($0): \(ma[$0].map { "\($0)" } ?? "nil") ≠ \(mb[$0].map { "\($0)" } ?? "nil")" }
    }

    /// The manifests without the fields that carry time or the process: started, finished,
    /// timings, threads, the products' mtimes, and the entry of item.json (it holds the time).
    static func manifestWithoutTimes(_ folder: String) throws -> NSDictionary {
        let data = try Data(contentsOf: URL(fileURLWithPath: folder.appendingComponent("manifest.json")))
        var object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        for key in ["started", "finished", "timings", "threads"] { object.removeValue(forKey: key) }
        if let products = object["products"] as? [[String: Any]] {
            // Each product's mtime is the time it was written.
            object["products"] = products.filter { ($0["path"] as? String) != "item.json" }.map { $0.filter { $0.key != "mtime" } }
        }
        return object as NSDictionary
    }
}

/// The zoning fixture (two townships, zones, statistics, maps) classified by natural breaks
/// (data-driven: a histogram over every valid pixel and a second pass) with 32-px blocks: 8 block
/// rows, so up to 8 bands.
/// `light`: the index and classes only (no zones, statistics or maps), for the failure tests.
func shardFixture(light: Bool = false) throws -> (Fixture, String) {
    let (fx, job) = try ZoningPipelineTests().zoningFixture(
        classify: "  scheme: five-level\n  method: natural-breaks\n",
        zoning: "zoning:\n  majority: 3\n  min-area-ha: 2\n  townships: { layer: towns, name: name, code: code, english: name_en }\n")
    var text = try String(contentsOfFile: job, encoding: .utf8).replacingOccurrences(of: "block-size: 64", with: "block-size: 32")
    if light {
        text = text.replacingOccurrences(of: "  directory: out/zoning\n", with: "  directory: out/zoning\n  products: [risk-index, risk-class]\n")
    }
    try text.write(toFile: job, atomically: true, encoding: .utf8)
    return (fx, job)
}

/// `run --shard I/N` and `merge` as plain processes (no Slurm): the products equal a single
/// process run's byte for byte; a failed shard publishes nothing and the next run cleans up.
@Suite(.serialized) struct ShardTests {
    var exe: String { BadInputTests.executable }

    @Test func shardsAndMergeEqualOneProcessByteForByte() throws {
        let (fx, job) = try shardFixture()
        let single = fx.project.path("single/zoning"), sharded = fx.project.path("sharded/zoning")
        try shell(exe, ["run", job, "--run-id", "r1", "--output", single, "--threads", "2"])
        // Five uneven bands of the 8 block rows, each shard in its own process, out of order.
        for i in [3, 0, 4, 1, 2] {
            let out = try shell(exe, ["run", job, "--shard", "\(i)/5", "--run-id", "r1", "--output", sharded, "--threads", "1"])
            #expect(out.contains("shard \(i)/5 of run r1 computed"))
        }
        #expect(!FileManager.default.fileExists(atPath: "\(sharded)/latest"), "a shard publishes nothing")
        let merged = try shell(exe, ["merge", job, "--run-id", "r1", "--output", sharded, "--threads", "2"])
        #expect(merged.contains("run r1 published"))

        let comparison = try RunComparison("\(single)/r1", "\(sharded)/r1")
        #expect(comparison.equal, "differ: \(comparison.different), only single: \(comparison.onlyInFirst), only sharded: \(comparison.onlyInSecond)")
        for product in ["risk_index.tif", "risk_class.tif", "risk_zones.tif", "zones.gpkg", "stats.csv", "stats.json", "risk_map.png", "zoning_map.pdf"] {
            #expect(comparison.identical.contains(product), "\(product) not compared identical")
        }
        let manifestDifferences = try RunComparison.manifestDifferences("\(single)/r1", "\(sharded)/r1")
        #expect(manifestDifferences.isEmpty, "\(manifestDifferences)")
        // The breaks are data-driven (natural breaks over the merged histogram).
        let manifest = try Manifest.decode(Data(contentsOf: URL(fileURLWithPath: "\(sharded)/r1/manifest.json")))
        #expect(manifest.classification.method == "natural-breaks")
        #expect(manifest.classification.breaks.count == 4)
        // The shards' folder is gone once the run is published; the run is in the database.
        let left = try FileManager.default.contentsOfDirectory(atPath: sharded).filter { $0.hasPrefix(".staging") }
        #expect(left.isEmpty, "left: \(left)")
        let history = try RiskDatabase(path: fx.project.path("sharded/risk-database.gpkg")).history(job: "zoning")
        #expect(history.map(\.runID) == ["r1"])
    }

    @Test func aMergeWithAnotherMemoryPlanThanItsShardsStillEqualsOneProcess() throws {
        // Shards cut into 16-row strips by a tight budget, merged with the default one (whole
        // blocks, two workers): the merge reads the shards' rasters through a mosaic in its own
        // units, and the COGs' bytes depend on the pixels only.
        let (fx, job) = try shardFixture(light: true)
        let single = fx.project.path("single/zoning"), sharded = fx.project.path("sharded/zoning")
        try shell(exe, ["run", job, "--run-id", "r2", "--output", single, "--threads", "1"])
        for i in [1, 0, 2] {
            try shell(exe, ["run", job, "--shard", "\(i)/3", "--run-id", "r2", "--output", sharded, "--threads", "1", "--max-memory", "80"])
        }
        let record = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath:
            try FileManager.default.contentsOfDirectory(atPath: sharded).filter { $0.hasPrefix(".staging") || $0.hasPrefix(".shards") }
                .map { "\(sharded)/\($0)" }.flatMap { dir in try FileManager.default.subpathsOfDirectory(atPath: dir).map { "\(dir)/\($0)" } }
                .first { $0.hasSuffix("shard.json") } ?? ""))) as? [String: Any]
        #expect((record?["unit"] as? [Int])?.last == 16, "the shards ran in strips: \(String(describing: record?["unit"]))")
        try shell(exe, ["merge", job, "--run-id", "r2", "--output", sharded, "--threads", "2"])
        let comparison = try RunComparison("\(single)/r2", "\(sharded)/r2")
        #expect(comparison.equal, "differ: \(comparison.different)")
        for product in ["risk_index.tif", "risk_class.tif"] {
            #expect(comparison.identical.contains(product), "\(product) not compared identical")
        }
    }

    /// A model with data-driven parts (min-max over the data, entropy weights: 2 statistics passes
    /// over the whole grid): `--shard-statistics` computes them once, every shard reads them
    /// (runs no pass itself), and the merged run equals one process's byte for byte.
    @Test func statisticsRunOnceForEveryShard() throws {
        let fx = try Fixture()
        let job = try fx.project.write("jobs/model.yaml", ModelTests.job.replacingOccurrences(of: "block-size: 64", with: "block-size: 32"))
        let single = fx.project.path("single/model"), sharded = fx.project.path("sharded/model")
        try shell(exe, ["run", job, "--run-id", "r1", "--output", single, "--threads", "2"])
        let computed = try shell(exe, ["run", job, "--shard-statistics", "--run-id", "r1", "--output", sharded, "--threads", "2"])
        #expect(computed.contains("statistics of run r1 computed"), "\(computed)")
        for i in [2, 0, 1] {
            try shell(exe, ["run", job, "--shard", "\(i)/3", "--run-id", "r1", "--output", sharded, "--threads", "1"])
        }
        func passesRun(_ run: String, _ i: Int, of n: Int) throws -> Int? {
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(sharded)/.staging-\(run)-shards/shard-\(i)-of-\(n)/shard.json"))
            return (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["statisticsPassesRun"] as? Int
        }
        for i in 0..<3 { #expect(try passesRun("r1", i, of: 3) == 0, "shard \(i) ran statistics passes itself") }
        try shell(exe, ["merge", job, "--run-id", "r1", "--output", sharded, "--threads", "2"])
        let comparison = try RunComparison("\(single)/r1", "\(sharded)/r1")
        #expect(comparison.equal, "differ: \(comparison.different), only single: \(comparison.onlyInFirst), only sharded: \(comparison.onlyInSecond)")
        #expect(comparison.identical.contains("risk_index.tif") && comparison.identical.contains("risk_class.tif"))
        #expect(try RunComparison.manifestDifferences("\(single)/r1", "\(sharded)/r1").isEmpty)
        let manifest = try Manifest.decode(Data(contentsOf: URL(fileURLWithPath: "\(sharded)/r1/manifest.json")))
        #expect(manifest.model?.statisticsPasses == 2)

        // Without the statistics step a shard runs the passes itself.
        try shell(exe, ["run", job, "--shard", "0/3", "--run-id", "r2", "--output", sharded, "--threads", "1"])
        #expect(try passesRun("r2", 0, of: 3) == 2)
        // Statistics that are not this run's are refused, not used.
        let stale = "\(sharded)/.staging-r2-shards/statistics.json"
        try Data("{}".utf8).write(to: URL(fileURLWithPath: stale))
        let (status, _, err) = try runProcess(exe, ["run", job, "--shard", "1/3", "--run-id", "r2", "--output", sharded, "--threads", "1"])
        #expect(status == ExitStatus.dataError.rawValue && err.contains("not the statistics of a sharded run"), "\(err)")
    }

    @Test func aFailedShardPublishesNothingAndTheNextRunCleansUp() throws {
        let (fx, job) = try shardFixture(light: true)
        let out = fx.project.path("out/zoning")
        for i in 0..<4 {
            // A real fault in shard 2 once its staging folder exists: GDAL without its GeoTIFF driver.
            let (status, _, err) = try runProcess(exe, ["run", job, "--shard", "\(i)/4", "--run-id", "bad", "--output", out, "--threads", "1"],
                                                  environment: i == 2 ? ["GDAL_SKIP": "GTiff"] : [:])
            if i == 2 {
                #expect(status == ExitStatus.dataError.rawValue, "\(err)")
                #expect(err.contains("not recognized as a supported file format"), "\(err)")
            } else {
                #expect(status == 0, "\(err)")
            }
        }
        let (status, _, err) = try runProcess(exe, ["merge", job, "--run-id", "bad", "--output", out])
        #expect(status == ExitStatus.noInput.rawValue, "\(err)")
        #expect(err.contains("shard 2/4 of run bad did not finish"), "\(err)")
        #expect(!FileManager.default.fileExists(atPath: "\(out)/latest"))
        #expect(!FileManager.default.fileExists(atPath: "\(out)/bad"))
        #expect(FileManager.default.fileExists(atPath: "\(out)/.staging-bad-shards/shard-3-of-4/shard.json"))
        #expect(!FileManager.default.fileExists(atPath: "\(out)/.staging-bad-shards/shard-2-of-4"))

        // The next run (here a plain one) removes the failed run's staging folder.
        let published = try shell(exe, ["run", job, "--run-id", "good", "--output", out, "--threads", "2"])
        #expect(published.contains("run good published"))
        let staging = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasPrefix(".staging") }
        #expect(staging.isEmpty, "left: \(staging)")
    }

    @Test func shardsRefuseWhileARunPublishesAndBadArguments() throws {
        let (fx, job) = try shardFixture()
        let out = fx.project.path("out/zoning")
        do {
            let lock = try OutputLock(directory: out)
            defer { lock.release() }
            let (status, _, err) = try runProcess(exe, ["run", job, "--shard", "0/2", "--run-id", "x", "--output", out])
            #expect(status == ExitStatus.tempFail.rawValue, "\(err)")
            #expect(err.contains("a shard does not start while another run of the same outputs publishes"), "\(err)")
        }
        #expect(!FileManager.default.fileExists(atPath: "\(out)/.staging-x-shards"))
        // More bands than block rows; no run id; a bad shard.
        let (s1, _, e1) = try runProcess(exe, ["run", job, "--shard", "0/9", "--run-id", "x", "--output", out])
        #expect(s1 == ExitStatus.usage.rawValue && e1.contains("has 8 block rows of 32 px; use at most 8 shards"), "\(e1)")
        let (s2, _, e2) = try runProcess(exe, ["run", job, "--shard", "0/2", "--output", out])
        #expect(s2 == ExitStatus.usage.rawValue && e2.contains("--shard needs --run-id"), "\(e2)")
        let (s3, _, e3) = try runProcess(exe, ["run", job, "--shard", "2/2", "--run-id", "x", "--output", out])
        #expect(s3 == ExitStatus.usage.rawValue && e3.contains("0 ≤ I < N"), "\(e3)")
        // While the shards compute (they hold the lock shared), a plain run cannot take it.
        let shared = try OutputLock(directory: out, shared: true)
        let (s4, _, e4) = try runProcess(exe, ["run", job, "--output", out])
        shared.release()
        #expect(s4 == ExitStatus.tempFail.rawValue && e4.contains("shards of a sharded run"), "\(e4)")
        // Weight scenarios run inside the main pass: such a job is not sharded.
        try (String(contentsOfFile: job, encoding: .utf8) + "sensitivity: { perturb: 0.2 }\n").write(toFile: job, atomically: true, encoding: .utf8)
        let (s5, _, e5) = try runProcess(exe, ["run", job, "--shard", "0/2", "--run-id", "x", "--output", out])
        #expect(s5 == ExitStatus.usage.rawValue && e5.contains("sensitivity: weight scenarios") && e5.contains("cannot be sharded"), "\(e5)")
    }
}

/// The one-node loopback cluster of scripts/slurm-cluster, started once for the suite and stopped
/// when the test process exits.
enum SlurmCluster {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let binaries = ["/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/bin/sbatch", "/usr/bin/scontrol", "/usr/sbin/munged"]

    /// nil when the cluster runs, else why the Slurm tests are skipped.
    static let unavailable: String? = {
        let missing = binaries.filter { !FileManager.default.isExecutableFile(atPath: $0) }
        if !missing.isEmpty {
            let reason = "Slurm tests skipped: \(missing.joined(separator: ", ")) missing (scripts/setup installs slurmctld slurmd slurm-client munge)"
            print(reason)
            return reason
        }
        do {
            let out = try shell("\(root)/scripts/slurm-cluster", ["start"])
            if let line = out.split(separator: "\n").first(where: { $0.hasPrefix("SLURM_CONF=") }) {
                setenv("SLURM_CONF", String(line.dropFirst("SLURM_CONF=".count)), 1)
            }
            atexit { _ = try? shell("\(SlurmCluster.root)/scripts/slurm-cluster", ["stop"]) }
            return nil
        } catch {
            // The binaries are there: a cluster that does not start is a failure, not a skip.
            return "the one-node Slurm cluster did not start: \(error)"
        }
    }()

    static var binariesPresent: Bool {
        binaries.allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// Submitted to a real Slurm (scripts/slurm-cluster): a folder as an array + summary, one job
/// in 4 bands + merge, a failing shard that cancels the merge.
@Suite(.serialized, .enabled(if: SlurmCluster.binariesPresent, "Slurm binaries missing (scripts/setup installs slurmctld slurmd slurm-client munge)"))
struct SlurmTests {
    var exe: String { BadInputTests.executable }

    func submitOptions(_ environment: [String: String] = [:]) throws -> SlurmSubmitOptions {
        if let reason = SlurmCluster.unavailable { throw CommandFailure(description: reason) }
        var options = SlurmSubmitOptions(executable: exe)
        options.cpus = 1
        options.environment = environment
        return options
    }

    @Test func aFolderOfJobsAsAnArrayEqualsRunningThem() throws {
        let fx = try Fixture()
        // Three jobs: the fixture (fixed breaks), a quantile one, and one that fails (a missing layer).
        let text = try String(contentsOfFile: fx.jobPath, encoding: .utf8)
        try fx.project.write("jobs/quantile.yaml", text.replacingOccurrences(of: "name: fixture", with: "name: quantile")
            .replacingOccurrences(of: "out/fixture", with: "out/quantile")
            .replacingOccurrences(of: "  breaks: [0.25, 0.5, 0.75]\n", with: "  method: quantile\n"))
        try fx.project.write("jobs/zz-broken.yaml", text.replacingOccurrences(of: "name: fixture", with: "name: broken")
            .replacingOccurrences(of: "out/fixture", with: "out/broken").replacingOccurrences(of: "layer: fire-danger", with: "layer: no-such-layer"))
        var options = try submitOptions()
        options.throttle = 2
        let submission = try #require(try Operations.submitSlurm(fx.project.path("jobs"), options: options))
        #expect(submission.jobIDs.count == 2 && submission.tasks == 3)
        let script = try String(contentsOfFile: "\(submission.folder)/tasks.sh", encoding: .utf8)
        #expect(script.contains("#SBATCH --array=0-2%2"))
        let (status, table) = try Operations.waitForSlurm(submission, timeout: 300)

        // `batch` over a copy of the project: the same table (but the seconds and run ids), the
        // same status (the broken job's: an unknown layer, 65), the same products.
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("hz-batch-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: copy) }
        try shell("/bin/cp", ["-a", fx.project.root.path, copy])  // -a: the data time of the TIFF tags is the inputs' mtime
        try? FileManager.default.removeItem(atPath: "\(copy)/out")
        let entries = try Operations.runBatch("\(copy)/jobs", options: RunOptions(threads: 2))
        let expectedStatus = entries.first { $0.status != .ok }?.status ?? .ok
        #expect(expectedStatus == .dataError)
        #expect(status == expectedStatus, "\(table)")
        func withoutTimes(_ text: String) -> [String] {
            text.split(separator: "\n").map { line in
                String(line).replacingOccurrences(of: #" +[0-9]+\.[0-9] +"#, with: " ", options: .regularExpression)
                    .replacingOccurrences(of: #"published [0-9TZ-]+"#, with: "published RUN", options: .regularExpression)
                    .replacingOccurrences(of: copy, with: fx.project.root.path)
            }
        }
        #expect(withoutTimes(table) == withoutTimes(Operations.table(entries)), "\(table)\n\(Operations.table(entries))")
        let lines = table.split(separator: "\n").map(String.init)
        #expect(lines.count == 5 && lines[4] == "3 jobs, 1 failed", "\(table)")
        #expect(lines.count == 5 && lines[3].hasPrefix("zz-broken.yaml ") && lines[3].contains("no-such-layer"), "\(table)")
        // The summary job printed the same table and failed with the batch.
        let summaryLog = try String(contentsOfFile: "\(submission.folder)/summary.log", encoding: .utf8)
        #expect(summaryLog.contains("3 jobs, 1 failed") && summaryLog.contains("zz-broken.yaml"), "\(summaryLog)")

        for name in ["fixture", "quantile"] {
            let comparison = try RunComparison(fx.project.path("out/\(name)/latest"), "\(copy)/out/\(name)/latest")
            #expect(comparison.equal, "\(name): \(comparison.different) \(comparison.onlyInFirst) \(comparison.onlyInSecond)")
            #expect(comparison.identical.contains("risk_index.tif") && comparison.identical.contains("risk_class.tif"))
        }
    }

    @Test func aShardedJobEqualsOneProcessByteForByte() throws {
        let (fx, job) = try shardFixture()
        var options = try submitOptions()
        options.shards = 4
        let submission = try #require(try Operations.submitSlurm(job, options: options))
        let runID = try #require(submission.runID)
        let merge = try String(contentsOfFile: "\(submission.folder)/merge.sh", encoding: .utf8)
        #expect(merge.contains("merge") && merge.contains("--run-id \(runID)"))
        let (status, text) = try Operations.waitForSlurm(submission, timeout: 300)
        #expect(status == .ok, "\(text)")
        #expect(text.contains("run \(runID) published"), "\(text)")
        let out = fx.project.path("out/zoning")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(out)/latest") == runID)
        // A single process with the same run id.
        var single = RunOptions(threads: 2, runID: runID)
        single.database = fx.project.path("single/risk-database.gpkg")
        let reference = try Operations.runJob(job, output: fx.project.path("single/zoning"), options: single)
        let comparison = try RunComparison("\(out)/\(runID)", reference.runDirectory)
        #expect(comparison.equal, "differ: \(comparison.different), only sharded: \(comparison.onlyInFirst), only single: \(comparison.onlyInSecond)")
        #expect(comparison.identical.count >= 20, "\(comparison.identical)")
        let manifestDifferences = try RunComparison.manifestDifferences("\(out)/\(runID)", reference.runDirectory)
        #expect(manifestDifferences.isEmpty, "\(manifestDifferences)")
        // Up to date now: nothing is submitted.
        #expect(try Operations.submitSlurm(job, options: options) == nil)
    }

    @Test func aFailingShardCancelsTheMergeAndPublishesNothing() throws {
        let (fx, job) = try shardFixture(light: true)
        var options = try submitOptions()
        options.shards = 4
        // Shard 1 meets a real fault (GDAL without its GeoTIFF driver): the tasks run a wrapper
        // that starts the tool so for that shard only.
        let wrapper = fx.project.path("hazard-zoning-failing-shard-1")
        try fx.project.write("hazard-zoning-failing-shard-1", """
            #!/bin/sh
            case " $* " in *" --shard 1/4 "*) GDAL_SKIP=GTiff; export GDAL_SKIP ;; esac
            exec \(shellQuote(exe)) "$@"

            """)
        #expect(chmod(wrapper, 0o755) == 0)
        options.executable = wrapper
        let submission = try #require(try Operations.submitSlurm(job, options: options))
        let runID = try #require(submission.runID)
        let (status, text) = try Operations.waitForSlurm(submission, timeout: 300)
        #expect(status == .dataError, "\(text)")
        #expect(text.contains("shard 1/4 failed (exit 65)") && text.contains("not recognized as a supported file format"), "\(text)")
        // Slurm cancelled the merge (its dependency can never be satisfied); it never ran.
        #expect(!FileManager.default.fileExists(atPath: "\(submission.folder)/merge.status"))
        let (_, show, _) = try runProcess("/usr/bin/scontrol", ["-o", "show", "job", submission.jobIDs[1]])
        #expect(show.contains("JobState=CANCELLED"), "\(show)")
        let out = fx.project.path("out/zoning")
        #expect(!FileManager.default.fileExists(atPath: "\(out)/latest"))
        #expect(!FileManager.default.fileExists(atPath: "\(out)/\(runID)"))
        #expect(FileManager.default.fileExists(atPath: "\(out)/.staging-\(runID)-shards"))
        // Submitting again (without the failure) publishes, and removes the failed run's folder.
        options.executable = exe
        let again = try #require(try Operations.submitSlurm(job, options: options))
        let (status2, text2) = try Operations.waitForSlurm(again, timeout: 300)
        #expect(status2 == .ok, "\(text2)")
        let staging = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasPrefix(".staging") }
        #expect(staging.isEmpty, "left: \(staging)")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(out)/latest") == again.runID)
    }
}

/// `hazard-zoning plan` prints the run as its stages, and how a sharded run splits them.
@Suite struct StageListTests {
    func stages(_ text: String) -> [String] {
        text.split(separator: "\n").compactMap { line -> String? in
            guard let m = line.firstMatch(of: /^\s*\d+\. (\S+(?: \S+)*?)\s{2,}/) else { return nil }
            return String(m.1)
        }
    }

    @Test func planListsTheStagesOfARunItsShardsAndTheMerge() throws {
        let fx = try Fixture()
        let job = try fx.project.write("jobs/model.yaml", ModelTests.job)
        let text = try shell(BadInputTests.executable, ["plan", job])
        #expect(stages(text) == ["align", "statistics", "township grid", "compute", "classify", "export", "write", "record", "manifest"], "\(text)")
        #expect(text.contains("a sharded run's statistics, once (2 passes): align → statistics\n"), "\(text)")
        #expect(text.contains("each shard: align → statistics → compute (shard units) (statistics read from"), "\(text)")
        #expect(text.contains("their merge: align → township grid → merge → classify → export → write → record → manifest\n"), "\(text)")

        // Ranges fixed in the job: the statistics stage only compiles the model, and a sharded run
        // has no statistics job.
        let (zoningFixture, zoning) = try shardFixture()
        let plain = try withExtendedLifetime(zoningFixture) { try shell(BadInputTests.executable, ["plan", zoning]) }
        #expect(stages(plain) == ["align", "statistics", "township grid", "compute", "classify", "zone", "township statistics",
                                  "township tables", "attribution", "export", "write", "maps", "record", "manifest", "report"], "\(plain)")
        #expect(!plain.contains("statistics, once"), "\(plain)")
        #expect(plain.contains("each shard: align → statistics → compute (shard units)\n"), "\(plain)")
    }
}
