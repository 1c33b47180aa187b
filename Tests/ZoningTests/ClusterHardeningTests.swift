@testable import Cluster
import Foundation
import FilePaths
import Synchronization
import Testing
import Zoning

#if canImport(Glibc)
import Glibc
#endif

/// The one quoting function of the generated scripts (issue 21, item 2).
@Suite struct ShellQuoteTests {
    /// Values a job, an option or a folder name may bring, every printable ASCII character alone.
    static let hostile: [String] = [
        "", "plain", "a b", "it's", "\"", "'", "''", "$(touch pwned)", "`touch pwned`", "a;touch pwned", "a|b&c", "#x", "*", "~",
        "~root", "\\", "\\'", "!x", "a=b", "-n", "%a", "é ü 東京", "x\ty", "a\nb", "abc\n", "\n", "\r", "\u{7F}",
        String((32...126).map { Character(UnicodeScalar($0)) }),
    ] + (32...126).map { String(UnicodeScalar($0)) }

    /// bash reads each quoted value back as exactly one word, itself, and runs none of it.
    @Test func everyValueComesBackFromBashAsOneWord() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hz-quote-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let script = "cd \(shellQuote(folder)) && printf '%s\\0' " + Self.hostile.map(shellQuote).joined(separator: " ") + "\n"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", script]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let words = data.split(separator: 0, omittingEmptySubsequences: false).dropLast().map { String(decoding: $0, as: UTF8.self) }
        #expect(words.count == Self.hostile.count, "\(words.count) words for \(Self.hostile.count) values")
        for (value, word) in zip(Self.hostile, words) where value != word {
            Issue.record("\(value.debugDescription) came back as \(word.debugDescription) (quoted \(shellQuote(value).debugDescription))")
        }
        #expect(!FileManager.default.fileExists(atPath: folder.appendingComponent("pwned")))
    }

    @Test func plainValuesStayAsTheyAreAndNothingElseDoes() {
        #expect(shellQuote("--output=/a/b_c.tif") == "--output=/a/b_c.tif")
        #expect(shellQuote("") == "''")
        #expect(shellQuote("it's") == "'it'\\''s'")
        // A regular expression's `$` matches before a final newline: the value must still be quoted.
        #expect(shellQuote("abc\n") == "'abc\n'")
        #expect(shellQuote("é") == "'é'")
    }

    @Test func controlCharactersAreNamed() {
        #expect(controlCharacter(in: "out/zoning") == nil)
        #expect(controlCharacter(in: "é 東京 '$") == nil)
        #expect(controlCharacter(in: "a\nb") == "a newline (U+000A)")
        #expect(controlCharacter(in: "a\rb") == "a carriage return (U+000D)")
        #expect(controlCharacter(in: "a\u{0}") == "a NUL (U+0000)")
        #expect(controlCharacter(in: "\u{1B}[31m") == "an escape (U+001B)")
        #expect(controlCharacter(in: "\u{7F}") == "a DEL (U+007F)")
        #expect(controlCharacter(in: "\u{85}") == "a control character (U+0085)")
    }

    /// `#SBATCH` lines take the same quoting; a backslash (an escape for sbatch even inside quotes)
    /// and '%' (a file-name pattern) cannot be written alike and are refused.
    @Test func sbatchDirectivesAreQuotedOrRefused() throws {
        #expect(try Operations.sbatchDirective("partition", "debug") == "--partition=debug")
        #expect(try Operations.sbatchDirective("output", "/a b/it's #1/", pattern: "shard-%a.log") == "'--output=/a b/it'\\''s #1/shard-%a.log'")
        for value in ["a\\b", "50%", "debug\n#SBATCH --wrap=x", "a\u{0}"] {
            #expect(throws: RunError.self, "\(value.debugDescription)") { try Operations.sbatchDirective("partition", value) }
        }
    }
}

/// `submit --slurm` refuses values that cannot be written safely into its scripts before it writes
/// anything, and never shares a folder between two submissions. No scheduler needed: each refusal
/// comes before `sbatch` runs; where a submission must get as far as its scripts, `sbatch` is a
/// program that does not exist (the real failure of a node without Slurm's client).
@Suite struct SubmitScriptValueTests {
    var exe: String { BadInputTests.executable }

    @Test func operatorOptionsWithControlCharactersAreRefusedAndNothingIsWritten() throws {
        let (fx, job) = try shardFixture(light: true)
        let out = fx.project.path("out/zoning")
        let injected = "x\ntouch \(fx.project.path("pwned"))"
        let cases: [(option: String, arguments: [String])] = [
            ("--partition", ["--partition", injected]), ("--account", ["--account", injected]), ("--time", ["--time", injected]),
            ("--database", ["--database", fx.project.path("db\n.gpkg")]), ("--output", ["--output", fx.project.path("out\r")]),
            ("--scripts", ["--scripts", fx.project.path("s\u{1B}")]), ("--layers", ["--layers", fx.project.path("layers\t")]),
        ]
        for (option, arguments) in cases {
            let (status, _, err) = try runProcess(exe, ["submit", "--slurm", job, "--shards", "2"] + arguments)
            #expect(status == ExitStatus.usage.rawValue, "\(option): \(err)")
            #expect(err.contains("\(option) \"") && err.contains("is not allowed in a value of the Slurm scripts"), "\(option): \(err)")
            #expect(err.contains("nothing was submitted"), "\(err)")
        }
        // A backslash or '%' cannot be written on an #SBATCH line alike.
        for value in ["a\\b", "debug%1"] {
            let (status, _, err) = try runProcess(exe, ["submit", "--slurm", job, "--shards", "2", "--partition", value])
            #expect(status == ExitStatus.usage.rawValue && err.contains("cannot be written on an #SBATCH line"), "\(err)")
        }
        let (status, _, err) = try runProcess(exe, ["submit", "--slurm", job, "--shards", "2", "--scripts", fx.project.path("logs%j")])
        #expect(status == ExitStatus.usage.rawValue && err.contains("the folder of the scripts and logs"), "\(err)")
        #expect(!FileManager.default.fileExists(atPath: "\(out)/slurm"))
        #expect(!FileManager.default.fileExists(atPath: fx.project.path("logs%j")))
        #expect(!FileManager.default.fileExists(atPath: fx.project.path("pwned")))
    }

    /// `validate` refuses a control character in `outputs.directory` and in a layer's `source`
    /// at its line:column; `submit` refuses the job the same way, before writing a script.
    @Test func validateRefusesControlCharactersInPaths() throws {
        let (fx, job) = try shardFixture(light: true)
        let text = try String(contentsOfFile: job, encoding: .utf8)
        try text.replacingOccurrences(of: "  directory: out/zoning\n", with: "  directory: \"out/zoning\\n#SBATCH --wrap=id\"\n")
            .write(toFile: job, atomically: true, encoding: .utf8)
        let line = try #require(text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.hasPrefix("  directory:") }) + 1
        let (status, _, err) = try runProcess(exe, ["validate", job])
        #expect(status == ExitStatus.dataError.rawValue, "\(err)")
        #expect(err.contains("\(job.fileName):\(line):14: error: outputs.directory: a newline (U+000A) is not allowed in a path or a name"), "\(err)")
        let (s2, _, e2) = try runProcess(exe, ["submit", "--slurm", job, "--shards", "2"])
        #expect(s2 == ExitStatus.dataError.rawValue && e2.contains("outputs.directory: a newline"), "\(e2)")
        #expect(!FileManager.default.fileExists(atPath: fx.project.path("out")))

        try fx.project.write("layers/flood-depth.yaml", "source: \"flood.tif\\r\"\nunits: m\nhazard: flood\n")
        try text.write(toFile: job, atomically: true, encoding: .utf8)
        let (s3, _, e3) = try runProcess(exe, ["validate", job])
        #expect(s3 == ExitStatus.dataError.rawValue, "\(e3)")
        #expect(e3.contains("flood-depth.yaml:1:9: error: source: a carriage return (U+000D) is not allowed in a path or a name"), "\(e3)")
    }

    /// Two submissions of a folder in the same second: each its own `batch-<time>[-N]` folder, the
    /// other's scripts and job list untouched.
    @Test func twoFolderSubmissionsNeverShareAFolder() throws {
        let fx = try Fixture()
        let slurm = fx.project.path("out/slurm")
        // Another submission's folders for the next seconds, as if it had just made them.
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let now = Date()
        let taken = (0..<5).map { "batch-" + f.string(from: now.addingTimeInterval(Double($0))) }
        for name in taken {
            try fx.project.write("out/slurm/\(name)/jobs.json", "the other submission's\n")
        }
        var options = SlurmSubmitOptions(executable: exe)
        options.sbatch = fx.project.path("no-such-sbatch")
        var folders: [String] = []
        for _ in 0..<2 {
            #expect(throws: RunError.self) { try Operations.submitSlurm(fx.project.path("jobs"), options: options) }
            let made = try FileManager.default.contentsOfDirectory(atPath: slurm).filter { !taken.contains($0) && !folders.contains($0) }
            #expect(made.count == 1, "\(made)")
            folders += made
        }
        #expect(folders.allSatisfy { name in taken.contains { name.hasPrefix($0 + "-") } }, "\(folders)")
        for name in taken {
            #expect(try String(contentsOfFile: "\(slurm)/\(name)/jobs.json", encoding: .utf8) == "the other submission's\n")
            #expect(!FileManager.default.fileExists(atPath: "\(slurm)/\(name)/tasks.sh"))
        }
        for name in folders {
            #expect(FileManager.default.fileExists(atPath: "\(slurm)/\(name)/tasks.sh"))
        }
        // --scripts names a new folder: an existing one is refused, not written into.
        options.scripts = "\(slurm)/\(taken[0])"
        #expect(throws: RunError.self) { try Operations.submitSlurm(fx.project.path("jobs"), options: options) }
        #expect(!FileManager.default.fileExists(atPath: "\(slurm)/\(taken[0])/tasks.sh"))
    }

    @Test func concurrentClaimsGetDistinctFolders() throws {
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent("hz-claims-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let claimed = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 16) { _ in
            let name = try? Operations.uniqueScriptsFolder(in: parent, named: { $0 == 1 ? "batch-T" : "batch-T-\($0)" }).name
            claimed.withLock { $0.append(name ?? "failed") }
        }
        let names = claimed.withLock { $0 }
        #expect(Set(names).count == 16 && !names.contains("failed"), "\(names.sorted())")
        #expect(Set(names) == Set((1...16).map { $0 == 1 ? "batch-T" : "batch-T-\($0)" }))
    }
}

/// The merge trusts a shard's files only as the shard wrote them (issue 21, item 9): every raster
/// it reads and the record itself carry a SHA-256 in `shard.json`, checked before they are read.
@Suite(.serialized) struct ShardTrustTests {
    var exe: String { BadInputTests.executable }

    func shards(_ runID: String, _ job: String, _ out: String) throws -> String {
        for i in 0..<2 {
            try shell(exe, ["run", job, "--shard", "\(i)/2", "--run-id", runID, "--output", out, "--threads", "1"])
        }
        return "\(out)/.staging-\(runID)-shards"
    }

    func expectNothingPublished(_ out: String, _ runID: String) {
        #expect(!FileManager.default.fileExists(atPath: "\(out)/\(runID)"))
        #expect(!FileManager.default.fileExists(atPath: "\(out)/latest"))
        #expect(FileManager.default.fileExists(atPath: "\(out)/.staging-\(runID)-shards/shard-0-of-2/shard.json"))
    }

    @Test func aReplacedRasterIsRefused() throws {
        let (fx, job) = try shardFixture(light: true)
        let out = fx.project.path("out/zoning")
        let folder = try shards("r1", job, out)
        // Shard 1's index replaced by shard 0's (a valid raster of the same grid, other pixels).
        let target = "\(folder)/shard-1-of-2/risk_index.tif"
        try FileManager.default.moveItem(atPath: target, toPath: target + ".saved")
        try FileManager.default.copyItem(atPath: "\(folder)/shard-0-of-2/risk_index.tif", toPath: target)
        let (status, _, err) = try runProcess(exe, ["merge", job, "--run-id", "r1", "--output", out])
        #expect(status == ExitStatus.dataError.rawValue, "\(err)")
        #expect(err.contains("\(target): not the file shard 1/2 computed"), "\(err)")
        #expect(err.contains("nothing was published"), "\(err)")
        expectNothingPublished(out, "r1")
        // The class raster too; the files as the shards wrote them merge again.
        try FileManager.default.removeItem(atPath: target)
        try FileManager.default.moveItem(atPath: target + ".saved", toPath: target)
        let classes = "\(folder)/shard-0-of-2/risk_class.tif"
        try FileManager.default.moveItem(atPath: classes, toPath: classes + ".saved")
        try Data("not a raster".utf8).write(to: URL(fileURLWithPath: classes))
        let (s2, _, e2) = try runProcess(exe, ["merge", job, "--run-id", "r1", "--output", out])
        #expect(s2 == ExitStatus.dataError.rawValue && e2.contains("\(classes): not the file shard 0/2 computed"), "\(e2)")
        expectNothingPublished(out, "r1")
        try FileManager.default.removeItem(atPath: classes)
        try FileManager.default.moveItem(atPath: classes + ".saved", toPath: classes)
        let merged = try shell(exe, ["merge", job, "--run-id", "r1", "--output", out])
        #expect(merged.contains("run r1 published"), "\(merged)")
    }

    @Test func anEditedRecordIsRefused() throws {
        let (fx, job) = try shardFixture(light: true)
        let out = fx.project.path("out/zoning")
        let folder = try shards("r2", job, out)
        let file = "\(folder)/shard-0-of-2/shard.json"
        let text = try String(contentsOfFile: file, encoding: .utf8)
        // One class count raised by one, the rest of the file as the shard wrote it.
        let match = try #require(text.firstMatch(of: /"classCounts":\[(\d+),(\d+)/))
        let edited = text.replacingCharacters(in: match.range, with: "\"classCounts\":[\(match.1),\(Int(match.2)! + 1)")
        try edited.write(toFile: file, atomically: true, encoding: .utf8)
        let (status, _, err) = try runProcess(exe, ["merge", job, "--run-id", "r2", "--output", out])
        #expect(status == ExitStatus.dataError.rawValue, "\(err)")
        #expect(err.contains("\(file): the record of shard 0/2 does not match its SHA-256"), "\(err)")
        expectNothingPublished(out, "r2")
        // A record without checksums (an older shard's) is refused too.
        var object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        object.removeValue(forKey: "files")
        object.removeValue(forKey: "sha256")
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: file))
        let (s2, _, e2) = try runProcess(exe, ["merge", job, "--run-id", "r2", "--output", out])
        #expect(s2 == ExitStatus.dataError.rawValue && e2.contains("\(file): not a shard record"), "\(e2)")
        expectNothingPublished(out, "r2")
    }
}

/// The quoted scripts on a real Slurm (scripts/slurm-cluster): sbatch reads the `#SBATCH` lines
/// and bash the commands as written, for an output folder with every character the shell or
/// sbatch would take for syntax.
@Suite(.serialized, .enabled(if: SlurmCluster.binariesPresent, "Slurm binaries missing (scripts/setup installs slurmctld slurmd slurm-client munge)"))
struct SlurmQuotingTests {
    @Test func aShardedJobWhoseFolderNeedsQuotingRunsOnSlurm() throws {
        if let reason = SlurmCluster.unavailable { throw CommandFailure(description: reason) }
        let (fx, job) = try shardFixture(light: true)
        let out = fx.project.path("out/it's a \"zone\" #1 $(touch pwned) `touch pwned`; touch pwned")
        var options = SlurmSubmitOptions(executable: BadInputTests.executable)
        options.cpus = 1
        options.shards = 2
        options.output = out
        options.partition = "debug"
        let submission = try #require(try Operations.submitSlurm(job, options: options))
        let runID = try #require(submission.runID)
        #expect(submission.folder == "\(out)/slurm/\(runID)")
        let script = try String(contentsOfFile: "\(submission.folder)/shards.sh", encoding: .utf8)
        #expect(script.contains("#SBATCH \(shellQuote("--output=\(submission.folder)/shard-%a.log"))\n"), "\(script)")
        #expect(script.contains("#SBATCH --partition=debug\n"), "\(script)")
        let (status, text) = try Operations.waitForSlurm(submission, timeout: 300)
        #expect(status == .ok, "\(text)")
        #expect(text.contains("run \(runID) published"), "\(text)")
        // Slurm wrote the logs where the quoted #SBATCH --output said, the tasks their status files.
        for name in ["shard-0.log", "shard-1.log", "merge.log", "shard-0.status", "shard-1.status", "merge.status"] {
            #expect(FileManager.default.fileExists(atPath: "\(submission.folder)/\(name)"), "\(name)")
        }
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(out)/latest") == runID)
        for folder in [fx.project.root.path, FileManager.default.currentDirectoryPath, out] {
            #expect(!FileManager.default.fileExists(atPath: folder.appendingComponent("pwned")), "\(folder)")
        }
    }
}
