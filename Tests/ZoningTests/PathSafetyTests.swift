import Foundation
import FilePaths
import GDALKit
import Testing
@testable import Zoning

#if canImport(Glibc)
import Glibc
#endif

/// Issue 21, items 1 and 3: `rerun` removes nothing it did not create, names from manifests are
/// checked before a path is built from them, and the risk database's files (the database, its
/// lock, its folder) are never reached through a link, never a FIFO, and stay inside the project.
@Suite(.serialized) struct PathSafetyTests {
    typealias Victim = WriteSafetyTests.Victim

    func cli(_ arguments: [String], seconds: Double = 120) throws -> (status: Int32, out: String, err: String) {
        let (status, reason, out, err) = try runProcessWithTimeout(BadInputTests.executable, arguments, seconds: seconds)
        #expect(reason == .exit, "\(arguments) did not finish in \(Int(seconds)) s (killed): \(err)")
        return (status, out, err)
    }

    func runCLI(_ fx: Fixture, _ extra: [String] = [], seconds: Double = 120) throws -> (status: Int32, out: String, err: String) {
        try cli(["run", fx.jobPath, "--threads", "2", "--force"] + extra, seconds: seconds)
    }

    /// Every file under `folder` (links as "-> target") with its SHA-256: what must stay as it was.
    func snapshot(_ folder: String) throws -> [String: String] {
        var result: [String: String] = [:]
        let fm = FileManager.default
        for name in try fm.subpathsOfDirectory(atPath: folder) {
            let path = folder.appendingComponent(name)
            if let target = try? fm.destinationOfSymbolicLink(atPath: path) { result[name] = "-> \(target)"; continue }
            var isDirectory: ObjCBool = false
            if fm.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
                result[name] = try SHA256.hex(fileAt: path)
            }
        }
        return result
    }

    func real(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path }

    /// A copy of a published run folder whose manifest says what `edit` makes it say.
    func tamperedCopy(of run: String, to copy: String, _ edit: (inout Manifest) -> Void) throws {
        try FileManager.default.createDirectory(atPath: copy.parentPath, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: run, toPath: copy)
        var manifest = try Manifest.decode(try Data(contentsOf: URL(fileURLWithPath: copy.appendingComponent("manifest.json"))))
        edit(&manifest)
        try manifest.encoded().write(to: URL(fileURLWithPath: copy.appendingComponent("manifest.json")))
    }

    // MARK: item 1: rerun

    /// `rerun RUN --output out` used to remove `out/<job>` first: every published run, `latest`,
    /// `catalog.json`. Now it computes into a fresh folder of its own inside `out`.
    @Test func rerunIntoTheOutputFolderRemovesNothingPublished() throws {
        let fx = try Fixture()
        let plan = try fx.plan()
        _ = try Runner(plan: plan, options: RunOptions(threads: 2, runID: "r0")).run()
        let r1 = try Runner(plan: plan, options: RunOptions(threads: 2, runID: "r1")).run()
        let out = fx.project.path("out")
        let before = try snapshot(out)
        #expect(before["fixture/catalog.json"] != nil && before["fixture/latest"] == "-> r1" && before["fixture/r0/manifest.json"] != nil)

        let (status, stdout, err) = try cli(["rerun", r1.runDirectory, "--output", out, "--threads", "2"])
        #expect(status == 0 && stdout.contains("reproduces all"), "\(status) \(stdout) \(err)")
        let after = try snapshot(out)
        for (name, hash) in before { #expect(after[name] == hash, "\(name) changed or vanished") }
        // The rerun is in a new folder of its own, beside the job's folder, not in it.
        let line = try #require(stdout.split(separator: "\n").first { $0.hasPrefix("rerun products: ") })
        let folder = String(line.dropFirst("rerun products: ".count))
        #expect(folder.hasPrefix(out + "/rerun-fixture-r1-") && !folder.hasPrefix(out + "/fixture/"), "\(folder)")
        #expect(FileManager.default.fileExists(atPath: folder.appendingComponent("risk_class.tif")))
        // A second rerun into the same folder gets another one; the first stays.
        let (again, stdout2, err2) = try cli(["rerun", r1.runDirectory, "--output", out, "--threads", "2"])
        #expect(again == 0 && !stdout2.contains(folder), "\(stdout2) \(err2)")
        #expect(FileManager.default.fileExists(atPath: folder.appendingComponent("risk_class.tif")))
    }

    /// A run folder whose manifest names its job `../../<folder>` made `rerun` remove that folder,
    /// outside, recursively. Names from a manifest are checked like job names before any path is
    /// built from them; nothing is created or removed.
    @Test func rerunRefusesAManifestWhoseNamesLeadOutside() throws {
        let victim = try Victim()
        let fx = try Fixture()
        let r1 = try Runner(plan: try fx.plan(), options: RunOptions(threads: 2, runID: "r1")).run()
        let output = fx.project.path("reruns")
        let relative = "../../\(victim.folder.fileName)"
        #expect(real(output.appendingComponent(relative)) == real(victim.folder))
        for (field, edit) in [("job.name", { (m: inout Manifest) in m.job.name = relative }),
                              ("run_id", { (m: inout Manifest) in m.runId = relative })] {
            let copy = fx.project.path("evil-\(field)/r1")
            try tamperedCopy(of: r1.runDirectory, to: copy, edit)
            let (status, _, err) = try cli(["rerun", copy, "--output", output, "--threads", "2"])
            #expect(status == 65 && err.contains("\(copy)/manifest.json") && err.contains("\(field) \"\(relative)\""), "\(field): \(status) \(err)")
            #expect(victim.entries == ["precious.txt"] && victim.intact, "\(field)")
            #expect(!FileManager.default.fileExists(atPath: output), "\(field): nothing is created")
        }
    }

    // MARK: item 3: the risk database's paths

    /// A dangling link planted as `<database>.lock` made the run create a file outside; one
    /// planted as SQLite's `-wal` made it fail after publishing, with SQLite's "unable to open".
    @Test(arguments: ["risk-database.gpkg.lock", "risk-database.gpkg-wal"])
    func theDatabaseLockAndSQLiteFilesAreNeverFollowed(name: String) throws {
        let victim = try Victim()
        let fx = try Fixture()
        try FileManager.default.createDirectory(atPath: fx.project.path("out"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: fx.project.path("out/\(name)"), withDestinationPath: victim.folder + "/planted")
        let (status, _, err) = try runCLI(fx)
        #expect(status == 73 && err.contains("out/\(name): ") && err.contains("symbolic link"), "\(status) \(err)")
        #expect(victim.entries == ["precious.txt"])
        // Refused before anything was computed: nothing published.
        #expect(Publisher(outputDirectory: try fx.plan().outputDirectory).runs().isEmpty)
    }

    /// A database that is a link (here to another project's database) was written through.
    @Test func aDatabaseThatIsALinkIsNotWrittenThrough() throws {
        let victim = try Victim()
        let fx = try Fixture()
        let theirs = victim.folder + "/theirs.gpkg"
        let (first, _, firstErr) = try runCLI(fx, ["--database", theirs])
        #expect(first == 0, "\(firstErr)")
        let before = try snapshot(victim.folder)
        try FileManager.default.createSymbolicLink(atPath: fx.project.path("out/risk-database.gpkg"), withDestinationPath: theirs)
        let (status, _, err) = try runCLI(fx)
        #expect(status == 73 && err.contains("out/risk-database.gpkg") && err.contains("symbolic link"), "\(status) \(err)")
        #expect(try snapshot(victim.folder) == before)
        #expect(Publisher(outputDirectory: try fx.plan().outputDirectory).runs().count == 1)
    }

    /// `outputs.database: shared/db.gpkg` with `shared` a link out of the project wrote outside.
    @Test func aDatabaseUnderALinkedFolderIsRefused() throws {
        let victim = try Victim()
        let fx = try Fixture(extraOutputs: "  database: shared/db.gpkg\n")
        try FileManager.default.createSymbolicLink(atPath: fx.project.path("shared"), withDestinationPath: victim.folder)
        let (status, _, err) = try runCLI(fx)
        let line = try String(contentsOfFile: fx.jobPath, encoding: .utf8).components(separatedBy: "\n")
            .firstIndex { $0.hasPrefix("  database:") }! + 1
        #expect(status == 65 && err.contains("fixture.yaml:\(line):13: outputs.database: shared/db.gpkg resolves to")
                && err.contains("outside the project"), "\(status) \(err)")
        #expect(victim.entries == ["precious.txt"])
        #expect(Publisher(outputDirectory: try fx.plan().outputDirectory).runs().isEmpty)
    }

    /// `outputs.directory: "."` put the database beside the project, in its parent; it goes
    /// into the project (the output folder) instead.
    @Test func theDatabaseOfAJobWritingIntoTheProjectStaysInIt() throws {
        let fx = try Fixture()
        let text = try String(contentsOfFile: fx.jobPath, encoding: .utf8)
        try text.replacingOccurrences(of: "directory: out/fixture", with: "directory: \".\"")
            .write(toFile: fx.jobPath, atomically: true, encoding: .utf8)
        let plan = try fx.plan()
        let root = fx.project.root.path
        #expect(plan.outputDirectory == real(root))
        try #require(Runner(plan: plan).databasePath == plan.outputDirectory.appendingComponent("risk-database.gpkg"))
        let (status, _, err) = try runCLI(fx)
        #expect(status == 0, "\(err)")
        let history = try cli(["history", "fixture", "--database", root.appendingComponent("risk-database.gpkg")])
        #expect(history.status == 0 && history.out.contains("fixture  "), "\(history)")
    }

    /// `changes A B` named its folder after the manifests' job names: `../` wrote outside.
    @Test func changesRefusesManifestNamesLeadingOutside() throws {
        let victim = try Victim()
        let fx = try Fixture()
        let r1 = try Runner(plan: try fx.plan(), options: RunOptions(threads: 2, runID: "r1")).run()
        let r2 = try Runner(plan: try fx.plan(), options: RunOptions(threads: 2, runID: "r2")).run()
        let database = fx.project.path("out/risk-database.gpkg")
        let name = "../../../\(victim.folder.fileName)/escaped"
        let copy = fx.project.path("evil/r1")
        try tamperedCopy(of: r1.runDirectory, to: copy) { $0.job.name = name }
        let (status, _, err) = try cli(["changes", copy, r2.runDirectory, "--database", database])
        #expect(status == 65 && err.contains("\(copy)/manifest.json") && err.contains("job.name \"\(name)\""), "\(status) \(err)")
        #expect(victim.entries == ["precious.txt"])
        // Sound manifests: the folder beside the database, created afresh.
        let (ok, out, okErr) = try cli(["changes", r1.runDirectory, r2.runDirectory, "--database", database])
        let folder = fx.project.path("out/changes/fixture-r1_to_fixture-r2")
        #expect(ok == 0 && out.contains(folder), "\(okErr)")
        #expect(FileManager.default.fileExists(atPath: folder.appendingComponent("changes.json")))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.parentPath) == ["fixture-r1_to_fixture-r2"])
        // An existing folder is never written into: refused before computing, the first products intact.
        let written = try snapshot(folder)
        let (again, _, againErr) = try cli(["changes", r1.runDirectory, r2.runDirectory, "--database", database])
        #expect(again == 73 && againErr.contains("\(folder): exists"), "\(again) \(againErr)")
        #expect(try snapshot(folder) == written)
    }

    /// A database that is a FIFO blocked `run` for ever, holding the output folder's lock.
    @Test func aDatabaseThatIsAFIFOIsRefusedAtOnce() throws {
        let fx = try Fixture()
        try FileManager.default.createDirectory(atPath: fx.project.path("out"), withIntermediateDirectories: true)
        #expect(mkfifo(fx.project.path("out/risk-database.gpkg"), 0o644) == 0)
        let started = Date()
        let (status, _, err) = try runCLI(fx, seconds: 30)
        #expect(status == 73 && err.contains("out/risk-database.gpkg") && err.contains("FIFO"), "\(status) \(err)")
        #expect(Date().timeIntervalSince(started) < 20)
        #expect(Publisher(outputDirectory: try fx.plan().outputDirectory).runs().isEmpty)
        // `history` and `db check` refuse it too instead of blocking.
        for command in [["history", "--all"], ["db", "check"]] {
            let (s, _, e) = try cli(command + ["--database", fx.project.path("out/risk-database.gpkg")], seconds: 30)
            #expect(s != 0 && e.contains("FIFO"), "\(command): \(s) \(e)")
        }
    }

    // MARK: the helper itself

    /// `SafeFiles`: a dangling link is followed to where it points, a fresh folder is never one
    /// that was there, a FIFO or a link is never opened; the name rules of `Confinement`.
    @Test func theHelperRefusesLinksFIFOsAndExistingFolders() throws {
        let victim = try Victim()
        let project = try Project()
        let dangling = project.path("dangling")
        try FileManager.default.createSymbolicLink(atPath: dangling, withDestinationPath: victim.folder + "/new")
        #expect(SafeFiles.realPath(dangling + "/db.gpkg") == real(victim.folder) + "/new/db.gpkg")
        #expect(throws: PathRefusal.self) { try SafeFiles.confined(dangling + "/db.gpkg", to: project.root.path) }
        #expect(try SafeFiles.confined(project.path("a/./b/../c"), to: project.root.path) == real(project.root.path) + "/a/c")

        #expect(mkfifo(project.path("fifo"), 0o644) == 0)
        for (name, kind) in [("fifo", "a FIFO"), ("dangling", "a symbolic link"), ("layers", "a folder")] {
            #expect { try SafeFiles.checkPlainFile(project.path(name), what: "x") } throws: {
                "\($0)".contains("x is \(kind)")
            }
            #expect(throws: PathRefusal.self, "\(name)") { _ = try SafeFiles.openLockFile(project.path(name)) }
        }
        try SafeFiles.checkPlainFile(project.path("absent"), what: "x")
        try SafeFiles.checkPlainFile(try project.write("plain", "x"), what: "x")
        #expect(victim.entries == ["precious.txt"])

        var made = Set<String>()
        for _ in 0..<20 {
            let folder = try SafeFiles.makeFreshDirectory(in: project.root.path, prefix: "fresh")
            #expect(folder.fileName.hasPrefix("fresh-") && made.insert(folder).inserted)
        }
        #expect(Confinement.isJobName("fixture-2.b_c") && !Confinement.isJobName("..") && !Confinement.isJobName("a/b") && !Confinement.isJobName(""))
        #expect(Confinement.isRunID("20260101T000000Z-2") && !Confinement.isRunID("latest") && !Confinement.isRunID("../x") && !Confinement.isRunID(".x"))
    }

    /// A job name is one path component of letters, digits, '.', '_', '-': a block scalar's
    /// trailing line break passed the old pattern (`$` matches before a final newline).
    @Test func aJobNameWithALineBreakIsRefused() throws {
        let fx = try Fixture()
        let text = try String(contentsOfFile: fx.jobPath, encoding: .utf8)
        try text.replacingOccurrences(of: "name: fixture\n", with: "name: |\n  fixture\n").write(toFile: fx.jobPath, atomically: true, encoding: .utf8)
        let error = try #require(throws: DiagnosticsError.self) { try JobLoader().load(fx.jobPath) }
        #expect(error.diagnostics.count == 1 && error.diagnostics[0].line == 2 && error.diagnostics[0].message.contains("a job name must be"), "\(error)")
    }
}
