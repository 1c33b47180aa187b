// libyaml, as compiled into Yams: its event parser is the only way to see an alias before Yams
// composes it (Yams' own event API is private).
import CYaml

/// Counts the nodes of a YAML document with every alias expanded, from libyaml's events, before
/// anything is composed; stops at the first event past `limit` and returns its position.
///
/// Yams composes an alias as the anchored node itself (no copy), but checks a mapping's keys for
/// duplicates by hashing them, and hashing a key walks it with its aliases expanded: a mapping
/// whose keys are aliases (`? *a8 : x`) of nested anchored collections cost ten times more per
/// level of nesting, hours at eight levels, before the composed document could be checked. Here
/// each anchor's expanded size is known when its node ends, an alias adds that size at once, and
/// the document is refused at the alias that passes the limit, so the work is linear in the
/// file's length. Syntax errors are left to the composer (nil), which reports them positioned.
func expandedYAMLNodes(_ text: String, limit: Int) -> (count: Int, line: Int, column: Int)? {
    var parser = yaml_parser_t()
    guard yaml_parser_initialize(&parser) == 1 else { return nil }
    defer { yaml_parser_delete(&parser) }
    var bytes = Array(text.utf8)
    return bytes.withUnsafeMutableBufferPointer { buffer -> (Int, Int, Int)? in
        yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
        var sizes: [String: Int] = [:]
        // Open collections: the anchor and the expanded nodes so far, the collection included.
        var open: [(anchor: String?, nodes: Int)] = []
        var total = 0
        while true {
            var event = yaml_event_t()
            guard yaml_parser_parse(&parser, &event) == 1 else { return nil }
            defer { yaml_event_delete(&event) }
            let mark = (line: Int(event.start_mark.line) + 1, column: Int(event.start_mark.column) + 1)
            // The node that ends with this event: its expanded size and its anchor.
            var ended: (nodes: Int, anchor: String?)?
            switch event.type {
            case YAML_STREAM_END_EVENT:
                return nil
            case YAML_SCALAR_EVENT:
                ended = (1, anchorName(event.data.scalar.anchor))
            case YAML_ALIAS_EVENT:
                // An undefined alias is the composer's to report.
                ended = (anchorName(event.data.alias.anchor).flatMap { sizes[$0] } ?? 1, nil)
            case YAML_SEQUENCE_START_EVENT:
                open.append((anchorName(event.data.sequence_start.anchor), 1))
            case YAML_MAPPING_START_EVENT:
                open.append((anchorName(event.data.mapping_start.anchor), 1))
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                if let collection = open.popLast() { ended = (collection.nodes, collection.anchor) }
            default:
                break
            }
            guard let node = ended else { continue }
            if let anchor = node.anchor { sizes[anchor] = node.nodes }
            // A collection's own node is counted when it ends, with what it holds.
            let isCollectionEnd = event.type == YAML_SEQUENCE_END_EVENT || event.type == YAML_MAPPING_END_EVENT
            total += isCollectionEnd ? 1 : node.nodes
            if total > limit { return (total, mark.line, mark.column) }
            if !open.isEmpty { open[open.count - 1].nodes += node.nodes }
        }
    }
}

private func anchorName(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
    pointer.map { String(cString: UnsafePointer($0)) }
}
