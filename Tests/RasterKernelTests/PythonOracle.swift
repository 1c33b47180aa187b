import Foundation

/// Runs Python reference code (numpy, mapclassify) as a test oracle: `/usr/bin/env python3 -c`.
/// A missing python3 or module, or a failing script, is an error: the tests that use it fail, never skip.
/// `scripts/setup` installs mapclassify for the python3 on PATH.
enum PythonOracle {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs `script` with `arguments` (as `sys.argv[1:]`) and returns what it printed on standard output.
    static func run(_ script: String, arguments: [String] = []) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        let stdout = Pipe()
        let stderrURL = FileManager.default.temporaryDirectory.appendingPathComponent("oracle-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: stderrURL) }
        let stderr = try FileHandle(forWritingTo: stderrURL)
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw Failure(description: "cannot run /usr/bin/env python3: \(error)")
        }
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try? stderr.close()
        let errors = (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? ""
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            throw Failure(description: "python3 failed (status \(process.terminationStatus)); run scripts/setup to install numpy and mapclassify.\n\(errors)")
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Writes `lines` to a temporary file, one a line, and passes its path to `body`.
    static func withTemporaryFile<R>(lines: [String], _ body: (String) throws -> R) throws -> R {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("oracle-\(UUID().uuidString).txt")
        try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: url) }
        return try body(url.path)
    }

    /// Parses lines of whitespace-separated numbers (Python's `repr` of floats round-trips exactly).
    static func numbers(_ line: Substring) throws -> [Double] {
        try line.split(separator: " ").map {
            guard let v = Double($0) else { throw Failure(description: "not a number from python: \($0)") }
            return v
        }
    }
}

/// Deterministic pseudo-random numbers (SplitMix64), private to the oracle tests.
struct OracleRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
    /// Uniform in 0..<n.
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    /// Standard normal (Box–Muller).
    mutating func normal() -> Double {
        let u = max(unit(), 1e-300), v = unit()
        return (-2 * Foundation.log(u)).squareRoot() * Foundation.cos(2 * Double.pi * v)
    }
}
