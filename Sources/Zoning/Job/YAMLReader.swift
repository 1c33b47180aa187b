import Foundation
import Yams

/// A YAML node with its file and position, for reading a configuration file strictly: unknown keys,
/// wrong types and bad values become diagnostics with `file:line:column`.
struct YNode {
    let node: Node
    let file: String
    let sink: DiagnosticSink
    /// The dotted key path, e.g. `grid.resolution`, for messages.
    let path: String

    var mark: (line: Int, column: Int) {
        let m = node.mark
        return (m?.line ?? 1, m?.column ?? 1)
    }

    func error(_ message: String, kind: Diagnostic.Kind = .error) {
        sink.error(file, mark, path.isEmpty ? message : "\(path): \(message)", kind: kind)
    }

    var scalarString: String? {
        if case .scalar(let s) = node { return s.string }
        return nil
    }

    var isNull: Bool {
        if case .scalar(let s) = node { return s.tag.description == "tag:yaml.org,2002:null" || (s.style == .plain && ["", "~", "null", "Null", "NULL"].contains(s.string)) }
        return false
    }

    // MARK: typed reads (each reports its own problem and returns nil)

    func string() -> String? {
        guard case .scalar(let s) = node, !isNull else { error("expected a string"); return nil }
        return s.string
    }

    /// A string shown on one line (a title, a class name): control characters and line breaks
    /// are refused, with the character's position in the value (they would split a log or
    /// summary line, or move the terminal's cursor).
    func line() -> String? {
        guard let text = string() else { return nil }
        if let (offset, scalar) = text.unicodeScalars.enumerated().first(where: { isLineBreakOrControl($0.1) }) {
            let code = String(scalar.value, radix: 16, uppercase: true)
            error("must be one line without control characters; character \(offset + 1) is U+\(String(repeating: "0", count: max(0, 4 - code.count)) + code)")
            return nil
        }
        return text
    }

    func double() -> Double? {
        guard case .scalar(let s) = node, s.style == .plain, let v = Double(s.string.replacingOccurrences(of: "_", with: "")), v.isFinite else {
            error("expected a number, got \(describe)"); return nil
        }
        return v
    }

    func int() -> Int? {
        guard case .scalar(let s) = node, s.style == .plain, let v = Int(s.string.replacingOccurrences(of: "_", with: "")) else {
            error("expected an integer, got \(describe)"); return nil
        }
        return v
    }

    func bool() -> Bool? {
        guard case .scalar(let s) = node, s.style == .plain else { error("expected true or false, got \(describe)"); return nil }
        switch s.string.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: error("expected true or false, got \(describe)"); return nil
        }
    }

    func sequence() -> [YNode]? {
        guard case .sequence(let seq) = node else { error("expected a list, got \(describe)"); return nil }
        return seq.enumerated().map { YNode(node: $1, file: file, sink: sink, path: "\(path)[\($0)]") }
    }

    func doubles(count: Int? = nil) -> [Double]? {
        guard let items = sequence() else { return nil }
        if let count, items.count != count { error("expected \(count) numbers, got \(items.count)"); return nil }
        let values = items.map { $0.double() }
        return values.contains(where: { $0 == nil }) ? nil : values.map { $0! }
    }

    /// The mapping's entries in file order, with duplicate keys reported.
    func entries() -> [(key: String, keyNode: YNode, value: YNode)]? {
        guard case .mapping(let map) = node else { error("expected a mapping, got \(describe)"); return nil }
        var seen = Set<String>()
        var result: [(String, YNode, YNode)] = []
        for (k, v) in map {
            let keyText = k.string ?? "\(k)"
            let childPath = path.isEmpty ? keyText : "\(path).\(keyText)"
            let keyNode = YNode(node: k, file: file, sink: sink, path: childPath)
            if !seen.insert(keyText).inserted { keyNode.error("duplicate key"); continue }
            result.append((keyText, keyNode, YNode(node: v, file: file, sink: sink, path: childPath)))
        }
        return result
    }

    /// A mapping read against a fixed set of keys: unknown keys are reported (with a suggestion),
    /// `required` keys that are absent too.
    func object(allowed: [String], required: [String] = []) -> YObject? {
        guard let list = entries() else { return nil }
        var values: [String: YNode] = [:]
        var keys: [String: YNode] = [:]
        for (key, keyNode, value) in list {
            if !allowed.contains(key) {
                let hint = closest(to: key, in: allowed).map { " (did you mean \"\($0)\"?)" } ?? ""
                keyNode.error("unknown key \"\(key)\"\(hint); expected one of: \(allowed.joined(separator: ", "))")
                continue
            }
            values[key] = value
            keys[key] = keyNode
        }
        for key in required where values[key] == nil {
            error("missing required key \"\(key)\"")
        }
        return YObject(node: self, values: values, keys: keys)
    }

    var describe: String {
        switch node {
        case .scalar(let s): return s.string.isEmpty ? "an empty value" : "\"\(s.string)\""
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        default: return "an alias"
        }
    }
}

struct YObject {
    let node: YNode
    let values: [String: YNode]
    let keys: [String: YNode]
    subscript(_ key: String) -> YNode? { values[key] }
}

/// Limits on what a job or layer file may make the reader do: files are small, hand-written
/// configuration, so anything far beyond these is an attack or an accident, refused with a position.
enum YAMLLimits {
    /// Bytes of a job or layer file.
    static let fileBytes = 1 << 20
    /// Characters of one scalar (a WKT or PROJJSON CRS is a few KiB).
    static let scalarCharacters = 64 << 10
    /// Nodes of the document with every alias expanded ("billion laughs" stops here).
    static let expandedNodes = 100_000
    /// Nesting of collections, aliases expanded.
    static let depth = 64
    /// Anchored nodes inside anchored nodes (an alias of an alias of …).
    static let aliasDepth = 8
}

/// Checks the composed document against `YAMLLimits`, walking it with aliases expanded but
/// stopping at the first limit, so the walk itself is bounded (`expandedYAMLNodes` has already
/// bounded the expanded size while parsing; the count here is the same). Returns the problem and its position.
///
/// Yams hands an alias back as the anchored node itself, with the anchor's position; YAML defines
/// an anchor before any alias of it, so a node positioned before its parent is an alias use, and
/// the parent (or the mapping key) is where that alias is written.
func checkYAMLLimits(_ root: Node) -> (message: String, line: Int, column: Int)? {
    typealias Position = (line: Int, column: Int)
    var count = 0
    func position(_ node: Node) -> Position { (node.mark?.line ?? 1, node.mark?.column ?? 1) }
    func before(_ a: Position, _ b: Position) -> Bool { a.line < b.line || (a.line == b.line && a.column < b.column) }
    func visit(_ node: Node, parent: Position, use: Position, depth: Int, aliases: Int, outerAlias: Position?) -> (String, Int, Int)? {
        count += 1
        let here = position(node)
        let isAlias = before(here, parent)
        let aliases = aliases + (isAlias ? 1 : 0)
        let outer = outerAlias ?? (isAlias ? use : nil)
        if count > YAMLLimits.expandedNodes {
            let at = outer ?? here
            return ("YAML aliases expand to more than \(YAMLLimits.expandedNodes) nodes", at.line, at.column)
        }
        if aliases > YAMLLimits.aliasDepth {
            let at = outer ?? use
            return ("YAML aliases nest more than \(YAMLLimits.aliasDepth) levels deep", at.line, at.column)
        }
        if depth > YAMLLimits.depth {
            return ("YAML nesting deeper than \(YAMLLimits.depth) levels", here.line, here.column)
        }
        switch node {
        case .scalar(let s):
            if s.string.utf8.count > YAMLLimits.scalarCharacters {
                return ("a value of \(s.string.utf8.count) bytes; values are limited to \(YAMLLimits.scalarCharacters) bytes", here.line, here.column)
            }
        case .sequence(let seq):
            // Inside an alias, positions restart at the anchor: compare with this node's own position.
            for child in seq {
                if let p = visit(child, parent: here, use: here, depth: depth + 1, aliases: aliases, outerAlias: outer) { return p }
            }
        case .mapping(let map):
            for (k, v) in map {
                if let p = visit(k, parent: here, use: here, depth: depth + 1, aliases: aliases, outerAlias: outer) { return p }
                let key = position(k)
                if let p = visit(v, parent: key, use: key, depth: depth + 1, aliases: aliases, outerAlias: outer) { return p }
            }
        default:
            break
        }
        return nil
    }
    return visit(root, parent: (1, 1), use: (1, 1), depth: 0, aliases: 0, outerAlias: nil)
}

/// Parses a YAML file into its root node, reporting syntax errors with their position.
func composeYAML(text: String, file: String, sink: DiagnosticSink) -> YNode? {
    if text.utf8.count > YAMLLimits.fileBytes {
        sink.error(file, (1, 1), "the file has \(text.utf8.count) bytes; job and layer files are limited to \(YAMLLimits.fileBytes) bytes")
        return nil
    }
    // Bounded while parsing, before Yams composes (and hashes mapping keys with aliases expanded).
    if let over = expandedYAMLNodes(text, limit: YAMLLimits.expandedNodes) {
        sink.error(file, (over.line, over.column), "YAML aliases expand to more than \(YAMLLimits.expandedNodes) nodes")
        return nil
    }
    do {
        guard let node = try Yams.compose(yaml: text) else {
            sink.error(file, (1, 1), "the file is empty")
            return nil
        }
        if let problem = checkYAMLLimits(node) {
            sink.error(file, (problem.line, problem.column), problem.message)
            return nil
        }
        return YNode(node: node, file: file, sink: sink, path: "")
    } catch let error as YamlError {
        var line = 1, column = 1
        var message = "\(error)"
        switch error {
        case .scanner(let context, let problem, let mark, _):
            line = mark.line; column = mark.column
            message = "YAML syntax error: \(problem)" + (context.map { " \($0.text)" } ?? "")
        case .parser(let context, let problem, let mark, _):
            line = mark.line; column = mark.column
            message = "YAML syntax error: \(problem)" + (context.map { " \($0.text)" } ?? "")
        case .composer(let context, let problem, let mark, _):
            line = mark.line; column = mark.column
            message = "YAML error: \(problem)" + (context.map { " \($0.text)" } ?? "")
        default:
            break
        }
        sink.error(file, (line, column), message)
        return nil
    } catch {
        sink.error(file, (1, 1), "YAML error: \(error)")
        return nil
    }
}
