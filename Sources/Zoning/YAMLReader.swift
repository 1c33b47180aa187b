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

/// Parses a YAML file into its root node, reporting syntax errors with their position.
func composeYAML(text: String, file: String, sink: DiagnosticSink) -> YNode? {
    do {
        guard let node = try Yams.compose(yaml: text) else {
            sink.error(file, (1, 1), "the file is empty")
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
