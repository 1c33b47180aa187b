import Foundation

/// Exit codes (sysexits.h), shared by every command.
public enum ExitStatus: Int32, Sendable {
    case ok = 0
    case failure = 1
    case usage = 64
    case dataError = 65
    case noInput = 66
    case software = 70
    case cantCreate = 73
    case ioError = 74
    case tempFail = 75
}

/// One problem found in a job or layer file, at a position in that file.
public struct Diagnostic: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable { case error, missingInput }
    public let file: String
    public let line: Int
    public let column: Int
    public let message: String
    public let kind: Kind

    public init(file: String, line: Int, column: Int, message: String, kind: Kind = .error) {
        self.file = file; self.line = line; self.column = column; self.message = message; self.kind = kind
    }

    /// `file:line:column: error: message`, the form editors and compilers use.
    public var description: String { "\(file):\(line):\(column): error: \(oneLine(message))" }
}

/// Every problem found in a job, reported at once.
public struct DiagnosticsError: Error, Sendable, CustomStringConvertible {
    public let diagnostics: [Diagnostic]
    public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }

    /// 66 when every problem is a missing input, else 65.
    public var exitStatus: ExitStatus {
        diagnostics.allSatisfy { $0.kind == .missingInput } ? .noInput : .dataError
    }

    public var description: String {
        diagnostics.map(\.description).joined(separator: "\n")
            + (diagnostics.count > 1 ? "\n\(diagnostics.count) problems found" : "")
    }
}

/// A failure while running a job: one clear line naming the file and the problem.
public struct RunError: Error, Sendable, CustomStringConvertible {
    public let status: ExitStatus
    public let message: String
    public init(_ status: ExitStatus, _ message: String) { self.status = status; self.message = message }
    public var description: String { oneLine(message) }
}

/// A message on one line: line breaks (U+2028 and U+2029 too) and other control characters (from
/// GDAL, from a file's own text echoed back) become spaces, and a very long message is cut in the middle.
public func oneLine(_ text: String) -> String {
    var result = String(String.UnicodeScalarView(text.unicodeScalars.map {
        isLineBreakOrControl($0) ? " " : $0
    }))
    if result.count > 2000 {
        result = String(result.prefix(1000)) + " … " + String(result.suffix(900))
    }
    return result
}

/// A control character (C0, DEL, C1) or a line or paragraph separator: what must not reach a
/// one-line message or a one-line name.
func isLineBreakOrControl(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.properties.generalCategory {
    case .control, .lineSeparator, .paragraphSeparator: return true
    default: return false
    }
}

/// Collects diagnostics while a file is read.
final class DiagnosticSink {
    private(set) var items: [Diagnostic] = []

    func add(_ diagnostic: Diagnostic) { items.append(diagnostic) }

    func error(_ file: String, _ mark: (line: Int, column: Int), _ message: String, kind: Diagnostic.Kind = .error) {
        items.append(Diagnostic(file: file, line: mark.line, column: mark.column, message: message, kind: kind))
    }

    var isEmpty: Bool { items.isEmpty }
}

/// The closest candidate by edit distance, for "did you mean" hints.
func closest(to word: String, in candidates: [String]) -> String? {
    func distance(_ a: [Character], _ b: [Character]) -> Int {
        var prev = Array(0...b.count)
        for (i, ca) in a.enumerated() {
            var cur = [i + 1] + Array(repeating: 0, count: b.count)
            for (j, cb) in b.enumerated() {
                cur[j + 1] = Swift.min(prev[j + 1] + 1, cur[j] + 1, prev[j] + (ca == cb ? 0 : 1))
            }
            prev = cur
        }
        return prev[b.count]
    }
    let w = Array(word)
    let scored = candidates.map { ($0, distance(w, Array($0))) }.sorted { $0.1 < $1.1 }
    guard let best = scored.first, best.1 <= Swift.max(2, word.count / 3) else { return nil }
    return best.0
}
