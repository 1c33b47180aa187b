import Foundation
import GDALKit
import RasterKernel
import Testing
@testable import Zoning

/// Seeded, bounded fuzzing of the shipped jobs (issue 11): a few hundred mutants, each validated
/// in-process (and resolved against the demo data when it validates), a few run through the CLI.
/// Asserted: no signal, no hang, every failure 64/65/66 with every problem at `file:line:column`.
@Suite(.serialized) struct FuzzTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// SplitMix64: the same seed gives the same mutants on every machine.
    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
        mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
    }

    static let extremeNumbers = ["0", "-1", "1e-30", "1e21", "1e308", "-1e308", "1e39", "-1e39", ".nan", ".inf", "-.inf",
                                 "99999999999999999999", "-0", "5e-324", "0x10", "1_000", "2147483648", "4096", "17", "0.5"]
    static let oddValues = ["", "~", "[]", "{}", "[1, 2]", "{a: 1}", "\"text\"", "yes", "&x 3", "*undefined",
                            "!!binary aGVsbG8=", "\"\\u0000\"", "'", "[[0, 0], [1, -9999]]", "[0, 0, 0, 0]",
                            "{ curve: [[0, -5], [100, 7]] }", "{ linear: [-1e39, 1e39] }", "../../etc", "/etc/passwd",
                            "/vsicurl/http://127.0.0.1:9/x.tif", "WMS:http://127.0.0.1:9/wms", "EPSG:999999"]

    /// One mutation of a job's text.
    static func mutate(_ text: String, _ rng: inout Random) -> String {
        var lines = text.components(separatedBy: "\n")
        let i = rng.below(lines.count)
        switch rng.below(12) {
        case 0, 1: // a number replaced by an extreme one
            let numbers = lines.indices.filter { lines[$0].range(of: "-?[0-9][0-9.e+-]*", options: .regularExpression) != nil }
            guard let j = numbers.isEmpty ? nil : rng.pick(numbers),
                  let r = lines[j].range(of: "-?[0-9][0-9.e+-]*", options: .regularExpression) else { break }
            lines[j].replaceSubrange(r, with: rng.pick(extremeNumbers))
        case 2: // a value replaced by an odd one
            if let colon = lines[i].firstIndex(of: ":") {
                lines[i] = String(lines[i][...colon]) + " " + rng.pick(oddValues)
            }
        case 3: lines.remove(at: i)
        case 4: lines.insert(lines[i], at: i)
        case 5: // a key misspelt
            if let colon = lines[i].firstIndex(of: ":"), colon > lines[i].startIndex {
                lines[i].insert("x", at: colon)
            }
        case 6: // indentation changed
            lines[i] = rng.below(2) == 0 ? "  " + lines[i] : String(lines[i].drop(while: { $0 == " " }))
        case 7: // truncated
            return String(text.prefix(rng.below(text.count)))
        case 8: // an alias bomb, in lists or in mapping keys
            let levels = 3 + rng.below(5)
            if rng.below(2) == 0 { return keyAliasBomb(levels: levels) + text }
            var bomb = "x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
            for l in 1...levels { bomb += "x\(l): &a\(l) [" + Array(repeating: "*a\(l - 1)", count: 9).joined(separator: ", ") + "]\n" }
            return bomb + text.replacingOccurrences(of: "title:", with: "title: *a\(levels)\nunused:")
        case 9: // a huge scalar
            let huge = String(repeating: rng.pick(["x", "界", "9"]), count: 70_000 + rng.below(1_000_000))
            if let colon = lines[i].firstIndex(of: ":") { lines[i] = String(lines[i][...colon]) + " " + huge } else { lines[i] += huge }
        case 10: // control characters and stray syntax, or a control character in a key
            if rng.below(2) == 0, let keyed = withControlCharacterInKey(lines[i], rng.pick(controlEscapes)) {
                lines[i] = keyed
            } else {
                lines[i] += rng.pick(["\t", "\u{0}", " #", " [", " {", " &", " *", " |", " >", " - x", "\u{1b}[31m"])
            }
        default: // a second mutation of a different kind
            return mutate(mutate(text, &rng), &rng)
        }
        return lines.joined(separator: "\n")
    }

    /// Anchored mappings whose keys are aliases of the level below (`? [i, *a] : i`), nine a level,
    /// and one more mapping keyed by the top level: Yams hashes such keys with aliases expanded.
    static func keyAliasBomb(levels: Int) -> String {
        var bomb = "k0: &a0 {lol: lol}\n"
        for l in 1...levels {
            bomb += "k\(l): &a\(l) {" + (0..<9).map { "? [\($0), *a\(l - 1)] : \($0)" }.joined(separator: ", ") + "}\n"
        }
        return bomb + "keyed: {? *a\(levels) : 1}\n"
    }

    /// YAML escapes of control characters (and line separators) a double-quoted key may hold.
    static let controlEscapes = ["\\t", "\\n", "\\r", "\\e", "\\x01", "\\x7f", "\\0", "\\N", "\\L", "\\P", "\\b"]

    /// The line with its key double-quoted and `escape` inserted in the middle of it; nil when
    /// the line has no plain key.
    static func withControlCharacterInKey(_ line: String, _ escape: String) -> String? {
        guard let r = line.range(of: #"^(\s*(- )?)([A-Za-z0-9_.-]+):"#, options: .regularExpression) else { return nil }
        let indent = line[r].prefix { $0 == " " || $0 == "-" }
        let key = line[r].dropFirst(indent.count).dropLast()
        let middle = key.index(key.startIndex, offsetBy: key.count / 2)
        return indent + "\"" + key[..<middle] + escape + key[middle...] + "\":" + line[r.upperBound...]
    }

    /// Runs `body` on its own thread; nil if it did not finish within `seconds` (a hang).
    final class Box<T>: @unchecked Sendable { var value: T?; let done = DispatchSemaphore(value: 0); init() {} }

    static func withDeadline<T: Sendable>(_ seconds: Double, _ body: @escaping @Sendable () -> T) -> T? {
        let box = Box<T>()
        let thread = Thread { box.value = body(); box.done.signal() }
        thread.stackSize = 8 << 20
        thread.start()
        return box.done.wait(timeout: .now() + seconds) == .success ? box.value : nil
    }

    static let positioned = try! NSRegularExpression(pattern: "^.+:[0-9]+:[0-9]+: error: .+$")

    static func isPositioned(_ line: String) -> Bool {
        positioned.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)) != nil
    }

    enum Outcome: Sendable { case valid, invalid(status: Zoning.ExitStatus, lines: [String]), other(String) }

    @Test func mutantsOfTheShippedJobsNeverCrashOrHang() throws {
        let project = try Project()
        let layers = Self.repository.appendingPathComponent("layers").path
        let jobs = try FileManager.default.contentsOfDirectory(atPath: Self.repository.appendingPathComponent("jobs").path)
            .filter { $0.hasSuffix(".yaml") }.sorted()
        let texts = try jobs.map { try String(contentsOf: Self.repository.appendingPathComponent("jobs/\($0)"), encoding: .utf8) }
        var rng = Random(state: 11)
        let started = Date()
        var counts = (valid: 0, invalid: 0, resolved: 0, refusedByPlan: 0)
        for n in 0..<300 {
            let text = Self.mutate(texts[n % texts.count], &rng)
            let path = try project.write("jobs/mutant-\(n).yaml", text)
            let out = project.path("out")
            let t0 = Date()
            defer { if ProcessInfo.processInfo.environment["FUZZ_TIMES"] != nil { print("mutant \(n): \(Date().timeIntervalSince(t0)) s \(text.count) chars") } }
            let outcome = Self.withDeadline(10) { () -> Outcome in
                do {
                    _ = try JobLoader(layersDirectory: layers).load(path)
                    return .valid
                } catch let e as DiagnosticsError {
                    return .invalid(status: e.exitStatus, lines: e.diagnostics.map(\.description))
                } catch { return .other("\(error)") }
            }
            guard let outcome else { Issue.record("mutant \(n) hangs validate:\n\(text.prefix(2000))"); continue }
            switch outcome {
            case .valid:
                counts.valid += 1
                // What validate accepted must resolve, or fail with one line (resolving opens every
                // source, about a second in a debug build: the first 20 valid mutants).
                if counts.resolved + counts.refusedByPlan >= 20 { continue }
                let resolved = Self.withDeadline(20) { () -> String? in
                    do {
                        _ = try Planner().resolve(try JobLoader(layersDirectory: layers).load(path), outputDirectory: out)
                        return nil
                    } catch let e as RunError {
                        return e.status == .dataError || e.status == .noInput ? "refused:\(e.description)" : "status \(e.status): \(e.description)"
                    } catch { return "unexpected: \(error)" }
                }
                switch resolved {
                case .none: Issue.record("mutant \(n) hangs plan:\n\(text.prefix(2000))")
                case .some(nil): counts.resolved += 1
                case .some(.some(let message)):
                    counts.refusedByPlan += 1
                    #expect(message.hasPrefix("refused:") && !message.contains("\n"), "mutant \(n): \(message)\n\(text.prefix(1500))")
                }
            case .invalid(let status, let lines):
                counts.invalid += 1
                #expect(status == .dataError || status == .noInput, "mutant \(n): \(status)")
                for line in lines {
                    #expect(Self.isPositioned(line) && line.hasPrefix(path), "mutant \(n): not positioned: \(line.prefix(300))")
                    #expect(!line.contains("\n") && line.count < 2200, "mutant \(n): not one short line: \(line.prefix(300))")
                }
            case .other(let message):
                Issue.record("mutant \(n): unexpected error \(message)")
            }
        }
        let seconds = Date().timeIntervalSince(started)
        // The mutants are varied: many refused, some still valid.
        #expect(counts.invalid > 100 && counts.valid > 20, "\(counts)")
        #expect(seconds < 60, "300 mutants took \(seconds) s")
    }

    /// A few mutants through the CLI `run` (coarse grid, no maps, so each takes about a second):
    /// the exit status is 0, 65 or 66, never a signal; failures are one line, or positioned lines.
    @Test func mutantsRunThroughTheCLI() throws {
        let project = try Project()
        let layers = Self.repository.appendingPathComponent("layers").path
        let base = try String(contentsOf: Self.repository.appendingPathComponent("jobs/hangjin-comprehensive-risk.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "resolution: 30", with: "resolution: 3000")
        // The zoning job without maps (they take seconds each in a debug build).
        let zoning = try String(contentsOf: Self.repository.appendingPathComponent("jobs/hangjin-risk-zoning.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "resolution: 30", with: "resolution: 1500")
            .replacingOccurrences(of: "  keep: 7", with: "  products: [risk-index, risk-class, risk-zones, statistics]")
        var rng = Random(state: 1111)
        let mutants = [base.replacingOccurrences(of: "resolution: 3000", with: "resolution: 1e-30"),
                       base.replacingOccurrences(of: "extent: hangjin-study-area", with: "extent: [0, 0, 1e21, 1]"),
                       base.replacingOccurrences(of: "[[0, 0], [0.5, 0.3], [1.5, 0.7], [3.0, 1.0]]", with: "[[0, -5], [100, 7]]"),
                       base.replacingOccurrences(of: "resolution: 3000", with: "resolution: 3000\n  max-pixels: 100"),
                       base]
            + (0..<5).map { _ in Self.mutate(base, &rng) }
            + [zoning.replacingOccurrences(of: "  majority: 5\n", with: "  majority: 5\n  min-area-ha: 1e300\n"),
               zoning.replacingOccurrences(of: "resampling: bilinear", with: "resampling: bilinear\n    error-threshold: 1e308")]
        for (n, text) in mutants.enumerated() {
            let path = try project.write("jobs/cli-\(n).yaml", text)
            let (status, reason, _, err) = try runProcessWithTimeout(BadInputTests.executable,
                                                                  ["run", path, "--layers", layers, "--threads", "2"], seconds: 60)
            #expect(reason == .exit, "mutant \(n) ended by \(reason) \(status):\n\(text.prefix(1000))")
            #expect([0, 65, 66].contains(status), "mutant \(n) exited \(status): \(err)")
            if status != 0 {
                let lines = err.split(separator: "\n").map(String.init).filter { !$0.hasSuffix("problems found") }
                #expect(lines.count == 1 || lines.allSatisfy(Self.isPositioned), "mutant \(n): \(err)")
                #expect(lines.allSatisfy { $0.contains(path) || $0.contains("layers/") }, "mutant \(n) names no file: \(err)")
            }
            if n < 4 { #expect(status == 65 && err.contains(path), "mutant \(n): \(status) \(err)") }
            if n == 4 { #expect(status == 0, "the coarse shipped job: \(err)") }
        }
    }
}

/// Runs a program with a deadline; a process still running after `seconds` is killed.
func runProcessWithTimeout(_ program: String, _ arguments: [String], seconds: Double,
                           environment: [String: String]? = nil) throws -> (Int32, Process.TerminationReason, String, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: program)
    p.arguments = arguments
    if let environment { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    nonisolated(unsafe) var errData = Data()
    nonisolated(unsafe) var outData = Data()
    let reader = Thread { errData = err.fileHandleForReading.readDataToEndOfFile() }
    reader.start()
    let outReader = Thread { outData = out.fileHandleForReading.readDataToEndOfFile() }
    outReader.start()
    let deadline = Date().addingTimeInterval(seconds)
    while p.isRunning && Date() < deadline { usleep(20_000) }
    if p.isRunning { kill(p.processIdentifier, SIGKILL) }
    p.waitUntilExit()
    while !reader.isFinished || !outReader.isFinished { usleep(1000) }
    return (p.terminationStatus, p.terminationReason, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}

/// The limits behind the fuzz test, one by one, each at its line:column.
@Suite struct HardeningValidationTests {
    func problems(_ fx: Fixture, _ edit: (String) -> String) throws -> [Diagnostic] {
        let text = edit(try String(contentsOfFile: fx.jobPath, encoding: .utf8))
        try text.write(toFile: fx.jobPath, atomically: true, encoding: .utf8)
        do { _ = try JobLoader().load(fx.jobPath); return [] } catch let e as DiagnosticsError { return e.diagnostics }
    }

    @Test func aliasBombsAndDeepAliasesAreRefusedWhereTheAliasIsWritten() throws {
        let fx = try Fixture()
        var bomb = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for l in 1...6 { bomb += "a\(l): &a\(l) [" + Array(repeating: "*a\(l - 1)", count: 9).joined(separator: ", ") + "]\n" }
        let d = try problems(fx) { bomb + $0 }
        // a0…a4 hold 74 732 nodes with their aliases expanded; a5's first alias (6:10) passes 100 000.
        #expect(d.count == 1 && d[0].line == 6 && d[0].column == 10 && d[0].message.contains("expand to more than 100000"), "\(d)")
        let fx2 = try Fixture()
        var chain = "b0: &b0 [x]\n"
        for l in 1...10 { chain += "b\(l): &b\(l) [*b\(l - 1)]\n" }
        let d2 = try problems(fx2) { chain + $0 }
        #expect(d2.count == 1 && d2[0].message.contains("nest more than 8"), "\(d2)")
        #expect(d2[0].line == 10, "\(d2)")   // b9's list: nine aliases deep (b8 … b0)
    }

    /// Issue 21: aliases as mapping keys (`? *a8`) took ten times longer per level inside Yams
    /// (hashing the keys, aliases expanded) before any limit applied; now bounded while parsing.
    @Test func aliasBombsAsMappingKeysAreRefusedWhileParsing() throws {
        let fx = try Fixture()
        let jobPath = fx.jobPath
        try (FuzzTests.keyAliasBomb(levels: 8) + String(contentsOfFile: jobPath, encoding: .utf8))
            .write(toFile: jobPath, atomically: true, encoding: .utf8)
        let started = Date()
        let lines = FuzzTests.withDeadline(20) { () -> [String] in
            do { _ = try JobLoader().load(jobPath); return [] } catch let e as DiagnosticsError {
                return e.diagnostics.map(\.description)
            } catch { return ["\(error)"] }
        }
        #expect(Date().timeIntervalSince(started) < 5, "validate took \(Date().timeIntervalSince(started)) s")
        // k0…k4 and their keys are 47 964 nodes, k4 alone 42 643: k5's second key alias (? [1, *a4], at 6:32) passes 100 000.
        #expect(lines == ["\(jobPath):6:32: error: YAML aliases expand to more than 100000 nodes"], "\(lines ?? ["hangs"])")
    }

    /// Every key of every shipped job, double-quoted with a control character in it: refused as
    /// an unknown key, positioned, on one line (the character echoed as a space).
    @Test func controlCharactersInEveryKeyAreRefusedOnOneLine() throws {
        let project = try Project()
        let layers = FuzzTests.repository.appendingPathComponent("layers").path
        let jobs = try FileManager.default.contentsOfDirectory(atPath: FuzzTests.repository.appendingPathComponent("jobs").path)
            .filter { $0.hasSuffix(".yaml") }.sorted()
        var tried = 0
        for job in jobs {
            let lines = try String(contentsOf: FuzzTests.repository.appendingPathComponent("jobs/\(job)"), encoding: .utf8)
                .components(separatedBy: "\n")
            for i in lines.indices {
                let escape = FuzzTests.controlEscapes[tried % FuzzTests.controlEscapes.count]
                guard let keyed = FuzzTests.withControlCharacterInKey(lines[i], escape) else { continue }
                var mutant = lines
                mutant[i] = keyed
                let path = try project.write("jobs/key-\(tried).yaml", mutant.joined(separator: "\n"))
                tried += 1
                do {
                    _ = try JobLoader(layersDirectory: layers).load(path)
                    Issue.record("\(job):\(i + 1): a key with \(escape) was accepted")
                } catch let e as DiagnosticsError {
                    #expect(e.exitStatus == .dataError, "\(job):\(i + 1)")
                    for d in e.diagnostics.map(\.description) {
                        #expect(FuzzTests.isPositioned(d) && d.hasPrefix(path), "\(job):\(i + 1) \(escape): \(d)")
                        #expect(!d.unicodeScalars.contains { $0.properties.generalCategory == .control || $0 == "\u{2028}" || $0 == "\u{2029}" },
                                "\(job):\(i + 1) \(escape): \(d.debugDescription)")
                    }
                }
            }
        }
        #expect(tried > 300, "\(tried) keys")
    }

    /// Found by the key mutants: an `ahp:` without `matrix` (or `order`) and an `entropy:` mapping
    /// without `members` crashed validate (a force-unwrap after the missing key was reported).
    @Test func combinationsMissingARequiredKeyAreReported() throws {
        let weights = "weighted-sum: { flood: 0.45, fire: 0.25, seismic: 0.30 }"
        for (form, key) in [("ahp: { order: [flood, fire, seismic] }", "matrix"), ("ahp: { matrix: [[1]] }", "order"),
                            ("entropy: { prior: { flood: 1 } }", "members")] {
            let fx = try Fixture()
            let d = try problems(fx) { $0.replacingOccurrences(of: weights, with: form) }
            #expect(d.count == 1 && d[0].line == 25 && d[0].message.contains("combine.\(form.prefix { $0 != ":" }): missing required key \"\(key)\""), "\(d)")
        }
    }

    /// Issue 21: a class name with a line break split the cron summary line. Control characters
    /// and line breaks are refused in titles and class names, at the value, naming the character.
    @Test func controlCharactersInClassNamesAndTitlesAreRefused() throws {
        let fx = try Fixture()
        let d = try problems(fx) {
            $0.replacingOccurrences(of: "title: 测试", with: "title: \"测试\\n第二行\"")
                .replacingOccurrences(of: "scheme: four-colour",
                                      with: "scheme: [{ name: \"低\\a\", colour: \"#00ff00\" }, { name: 高, english: \"high\\Lx\", colour: \"#ff0000\" }]")
                .replacingOccurrences(of: "breaks: [0.25, 0.5, 0.75]", with: "breaks: [0.5]") + "\nmaps:\n  subtitle: \"a\\tb\"\n"
        }
        let found = d.map { "\($0.line):\($0.column) \($0.message)" }
        #expect(found.contains("3:8 title: must be one line without control characters; character 3 is U+000A"), "\(found)")
        #expect(found.contains { $0.hasSuffix("classify.scheme[0].name: must be one line without control characters; character 2 is U+0007") }, "\(found)")
        #expect(found.contains { $0.hasSuffix("classify.scheme[1].english: must be one line without control characters; character 5 is U+2028") }, "\(found)")
        #expect(found.contains { $0.hasSuffix("maps.subtitle: must be one line without control characters; character 2 is U+0009") }, "\(found)")
        #expect(found.count == 4, "\(found)")
    }

    /// Issue 21: `concentration: 1e-300` gave every Dirichlet draw the baseline's weights (all of
    /// a draw's Gamma variates underflow); concentrations outside 0.1…10⁶ are refused with the range.
    @Test func concentrationsWhereSamplingDegeneratesAreRefused() throws {
        for (value, refused) in [("1e-300", true), ("0.05", true), ("0.1", false), ("1e6", false), ("2e6", true)] {
            let fx = try Fixture()
            let d = try problems(fx) {
                $0.replacingOccurrences(of: "products: [risk-index, risk-class]", with: "products: [risk-index, risk-class, sensitivity]")
                    + "\nsensitivity: { perturb: 0.2, samples: 10, concentration: \(value) }\n"
            }
            if refused {
                #expect(d.count == 1 && d[0].message.hasPrefix("sensitivity.concentration: concentration is 0.1 to 1000000, got "), "\(value): \(d)")
            } else {
                #expect(d.isEmpty, "\(value): \(d)")
            }
        }
        let baseline = [0.45, 0.25, 0.30]
        #expect(WeightScenarios.dirichlet(baseline, concentration: 1e-300, samples: 100, seed: 1).allSatisfy { $0.weights == baseline })
        #expect(WeightScenarios.dirichlet(baseline, concentration: 0.1, samples: 1000, seed: 1).allSatisfy { $0.weights != baseline })
    }

    @Test func hugeValuesAndFilesAreRefused() throws {
        let fx = try Fixture()
        let d = try problems(fx) { $0.replacingOccurrences(of: "title: 测试", with: "title: " + String(repeating: "界", count: 30_000)) }
        #expect(d.count == 1 && d[0].line == 3 && d[0].column == 8 && d[0].message.contains("limited to 65536 bytes"), "\(d)")
        let fx2 = try Fixture()
        let d2 = try problems(fx2) { $0 + "\n# " + String(repeating: "x", count: 1 << 20) + "\n" }
        #expect(d2.count == 1 && d2[0].message.contains("limited to 1048576 bytes"), "\(d2)")
    }

    @Test func gridsThatCannotBeComputedAreRefusedAtValidation() throws {
        for (edit, fragment) in [
            ({ (t: String) in t.replacingOccurrences(of: #"extent: \[[^\]]*\]"#, with: "extent: [0, 0, 1e21, 1]", options: .regularExpression) }, "exceeds max-pixels"),
            ({ (t: String) in t.replacingOccurrences(of: "resolution: 30.0", with: "resolution: 5e-324") }, "not finite"),
            ({ (t: String) in t.replacingOccurrences(of: #"extent: \[[^\]]*\]"#, with: "extent: [5, 5, 105, 105]", options: .regularExpression)
                .replacingOccurrences(of: "resolution: 30.0", with: "resolution: 10")
                .replacingOccurrences(of: "block-size: 64", with: "block-size: 64\n  max-pixels: 100\n  align: resolution") },
             "11 × 11 px exceeds max-pixels 100"),
        ] as [((String) -> String, String)] {
            let fx = try Fixture()
            let d = try problems(fx, edit)
            #expect(d.contains { $0.line == 7 && $0.column == 11 && $0.message.contains(fragment) }, "\(fragment): \(d)")
        }
        // The same at resolution 10 without the limit: 11 × 11 after snapping is fine.
        let fx = try Fixture()
        #expect(try problems(fx) { $0.replacingOccurrences(of: #"extent: \[[^\]]*\]"#, with: "extent: [5, 5, 105, 105]", options: .regularExpression)
            .replacingOccurrences(of: "resolution: 30.0", with: "resolution: 10")
            .replacingOccurrences(of: "block-size: 64", with: "block-size: 64\n  max-pixels: 121\n  align: resolution") }.isEmpty)
        // An explicit extent taken exactly (the default, gdalwarp -te) is 10 × 10 px: within 100.
        let fx3 = try Fixture()
        #expect(try problems(fx3) { $0.replacingOccurrences(of: #"extent: \[[^\]]*\]"#, with: "extent: [5, 5, 105, 105]", options: .regularExpression)
            .replacingOccurrences(of: "resolution: 30.0", with: "resolution: 10").replacingOccurrences(of: "block-size: 64", with: "block-size: 64\n  max-pixels: 100") }.isEmpty)
    }

    @Test func normalisationsLeavingZeroToOneAreRefusedAndGeographicZoningIsNot() throws {
        let fx = try Fixture()
        let d = try problems(fx) { $0.replacingOccurrences(of: "[[0, 0], [0.5, 0.3], [1.5, 0.7], [3.0, 1.0]]", with: "[[0, -5], [100, 7]]")
            .replacingOccurrences(of: "linear: [0, 100]", with: "linear: [-1e39, 1e39]") }
        #expect(d.contains { $0.message.contains("layers.flood.normalize.curve") && $0.message.contains("0..1") }, "\(d)")
        #expect(d.contains { $0.message.contains("layers.fire.normalize.linear") && $0.message.contains("Float32") }, "\(d)")
        let fx2 = try Fixture(extraJob: "zoning:\n  min-area-ha: 10\n")
        let d2 = try problems(fx2) { $0.replacingOccurrences(of: "crs: EPSG:4545", with: "crs: EPSG:4490")
            .replacingOccurrences(of: #"extent: \[[^\]]*\]"#, with: "extent: [107.9, 39.7, 108.1, 39.8]", options: .regularExpression)
            .replacingOccurrences(of: "resolution: 30.0", with: "resolution: 0.001") }
        // Zoning on a lat/long grid counts each cell's ellipsoidal area (GeodesicTests): accepted.
        #expect(!d2.contains { $0.message.contains("projected") }, "\(d2)")
    }
}
