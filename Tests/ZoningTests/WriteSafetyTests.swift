import Foundation
import FilePaths
import GDALKit
import Testing
@testable import Zoning

/// Writes stay inside the project and never go through a link (issue 11): lock and staging opened
/// without following links, the output folder resolved with realpath, a damaged `latest` refused,
/// stale staging folders removed, `render` atomic under kill -9.
@Suite(.serialized) struct WriteSafetyTests {
    /// A file outside the project that must survive every trial untouched.
    final class Victim {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hz-victim-\(UUID().uuidString)").path
        var file: String { folder + "/precious.txt" }
        init() throws {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try "precious bytes\n".write(toFile: file, atomically: true, encoding: .utf8)
        }
        var intact: Bool { (try? String(contentsOfFile: file, encoding: .utf8)) == "precious bytes\n" }
        var entries: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted() }
        deinit { try? FileManager.default.removeItem(atPath: folder) }
    }

    func runCLI(_ fx: Fixture, _ extra: [String] = []) throws -> (Int32, String) {
        let (status, reason, _, err) = try runProcessWithTimeout(BadInputTests.executable, ["run", fx.jobPath, "--threads", "2", "--force"] + extra, seconds: 120)
        #expect(reason == .exit)
        return (status, err)
    }

    @Test func aLockThatIsALinkIsNotFollowed() throws {
        let victim = try Victim()
        let fx = try Fixture()
        let out = try fx.plan().outputDirectory
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: out + "/.lock", withDestinationPath: victim.file)
        let (status, err) = try runCLI(fx)
        #expect(status == 73 && err.contains(".lock") && err.contains("symbolic link"), "\(status) \(err)")
        #expect(victim.intact)
        // A hard link to the file is refused as well (it would be truncated through the link).
        try FileManager.default.removeItem(atPath: out + "/.lock")
        try FileManager.default.linkItem(atPath: victim.file, toPath: out + "/.lock")
        let (status2, err2) = try runCLI(fx)
        #expect(status2 == 73 && err2.contains("single link"), "\(status2) \(err2)")
        #expect(victim.intact)
        #expect(Publisher(outputDirectory: out).runs().isEmpty)
    }

    @Test func anOutputFolderLinkedOutsideIsRefused() throws {
        let victim = try Victim()
        // The output folder itself is a link out of the project …
        let fx = try Fixture()
        try FileManager.default.createDirectory(atPath: fx.project.path("out"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: fx.project.path("out/fixture"), withDestinationPath: victim.folder)
        let (status, err) = try runCLI(fx)
        #expect(status == 65 && err.contains("outside the project") && err.contains("fixture.yaml:"), "\(status) \(err)")
        #expect(victim.entries == ["precious.txt"])
        // … or a folder above it is.
        let fx2 = try Fixture()
        try FileManager.default.createSymbolicLink(atPath: fx2.project.path("out"), withDestinationPath: victim.folder)
        let (status2, err2) = try runCLI(fx2)
        #expect(status2 == 65 && err2.contains("outside the project"), "\(status2) \(err2)")
        #expect(victim.entries == ["precious.txt"])
        // The operator's --output may name the folder outside.
        let (status3, err3) = try runCLI(fx2, ["--output", victim.folder + "/runs"])
        #expect(status3 == 0, "\(err3)")
        #expect(FileManager.default.fileExists(atPath: victim.folder + "/runs/latest/risk_class.tif"))
        #expect(victim.intact)
    }

    @Test(arguments: ["file", "absolute", "dotdot", "to-a-file", "dangling"])
    func aDamagedLatestIsAnErrorAndNothingIsWritten(kind: String) throws {
        let victim = try Victim()
        let fx = try Fixture()
        let plan = try fx.plan()
        let good = try Runner(plan: plan, options: RunOptions(threads: 2, runID: "good")).run()
        let latest = Publisher(outputDirectory: plan.outputDirectory).latestPath
        try FileManager.default.removeItem(atPath: latest)
        switch kind {
        case "file": try "not a link".write(toFile: latest, atomically: false, encoding: .utf8)
        case "absolute": try FileManager.default.createSymbolicLink(atPath: latest, withDestinationPath: victim.folder)
        case "dotdot": try FileManager.default.createSymbolicLink(atPath: latest, withDestinationPath: "../../\(victim.folder.fileName)")
        case "to-a-file":
            try "x".write(toFile: plan.outputDirectory + "/notes", atomically: false, encoding: .utf8)
            try FileManager.default.createSymbolicLink(atPath: latest, withDestinationPath: "notes")
        default: try FileManager.default.createSymbolicLink(atPath: latest, withDestinationPath: "gone")
        }
        let before = try FileManager.default.contentsOfDirectory(atPath: plan.outputDirectory).sorted()
        let (status, err) = try runCLI(fx)
        #expect(status == 73 && err.contains("latest is damaged") && err.split(separator: "\n").count == 1, "\(kind): \(status) \(err)")
        // render refuses it too, and neither wrote anything.
        let (rstatus, _, _, rerr) = try runProcessWithTimeout(BadInputTests.executable, ["render", fx.jobPath], seconds: 60)
        #expect(rstatus == 73 && rerr.contains("latest is damaged"), "\(kind): \(rstatus) \(rerr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: plan.outputDirectory).sorted() == before)
        #expect(victim.entries == ["precious.txt"] && victim.intact)
        for product in good.manifest.products {
            #expect(try SHA256.hex(fileAt: "\(good.runDirectory)/\(product.path)") == product.sha256)
        }
    }

    @Test func staleStagingOfSeveralKilledRunsIsRemoved() throws {
        let fx = try Fixture()
        let plan = try fx.plan()
        try FileManager.default.createDirectory(atPath: plan.outputDirectory, withIntermediateDirectories: true)
        // Two killed runs: one whose pid is gone, one whose pid was reused by a live process.
        for name in [".staging-20250101T000000Z-999999", ".staging-20250101T000001Z-\(getppid())", ".latest-12345"] {
            try FileManager.default.createDirectory(atPath: plan.outputDirectory + "/" + name, withIntermediateDirectories: true)
        }
        _ = try Runner(plan: plan, options: RunOptions(threads: 2)).run()
        let left = try FileManager.default.contentsOfDirectory(atPath: plan.outputDirectory).filter { $0.hasPrefix(".staging") || $0.hasPrefix(".latest-") }
        #expect(left.isEmpty, "\(left)")
    }

    /// kill -9 at random moments of `render`: whatever instant, `latest` is a complete run whose
    /// manifest is true (every product's checksum matches), and no published run was changed.
    @Test func renderIsAtomicUnderKill() throws {
        let fx = try Fixture()
        let text = try String(contentsOfFile: fx.jobPath, encoding: .utf8)
            .replacingOccurrences(of: "products: [risk-index, risk-class]", with: "products: [risk-index, risk-class, maps]")
            .replacingOccurrences(of: "outputs:\n", with: "maps:\n  page: a4-landscape\noutputs:\n")
        try text.write(toFile: fx.jobPath, atomically: true, encoding: .utf8)
        let plan = try fx.plan()
        _ = try Runner(plan: plan, options: RunOptions(threads: 2)).run()
        let publisher = Publisher(outputDirectory: plan.outputDirectory)
        func checkEveryRun() throws {
            let latest = try #require(try publisher.checkedLatestRun())
            let manifest = try #require(publisher.latestManifest())
            for product in manifest.products {
                #expect(try SHA256.hex(fileAt: "\(latest)/\(product.path)") == product.sha256, "\(latest)/\(product.path)")
            }
            for run in publisher.runs() {
                let data = try #require(FileManager.default.contents(atPath: "\(plan.outputDirectory)/\(run)/manifest.json"))
                for product in try Manifest.decode(data).products {
                    #expect(try SHA256.hex(fileAt: "\(plan.outputDirectory)/\(run)/\(product.path)") == product.sha256, "\(run)/\(product.path)")
                }
            }
        }
        // How long one render takes here, to spread the kills over it.
        let t0 = Date()
        let (status, _, _, err) = try runProcessWithTimeout(BadInputTests.executable, ["render", fx.jobPath], seconds: 120)
        #expect(status == 0, "\(err)")
        let duration = Date().timeIntervalSince(t0)
        var rng = FuzzTests.Random(state: 9)
        for trial in 0..<8 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: BadInputTests.executable)
            p.arguments = ["render", fx.jobPath]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            usleep(UInt32(Double(rng.below(1000)) / 1000 * duration * 1_000_000))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            try checkEveryRun()
            _ = trial
        }
        // The next render cleans up what the killed ones left and succeeds.
        let (status2, _, _, err2) = try runProcessWithTimeout(BadInputTests.executable, ["render", fx.jobPath], seconds: 120)
        #expect(status2 == 0, "\(err2)")
        try checkEveryRun()
        #expect(try FileManager.default.contentsOfDirectory(atPath: plan.outputDirectory).filter { $0.hasPrefix(".staging") }.isEmpty)
    }
}
