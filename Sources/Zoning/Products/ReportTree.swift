import Foundation

/// The indicator tree of a run's model (`manifest.json`'s `model`), drawn as inline SVG in the
/// report: the combination on the left, its members to the right, each edge labelled with the
/// weight the run applied (fixed, AHP or entropy), each combination with its form and AHP
/// consistency ratio.
struct ReportTree {
    struct Node {
        var name: String
        var label: String
        var children: [(node: Int, weight: Double?)]
    }
    var nodes: [Node] = []

    init(model: Manifest.ModelInfo) {
        let byName = Dictionary(uniqueKeysWithValues: (model.indices + [model.combine]).map { ($0.name, $0) })
        func add(_ name: String, depth: Int) -> Int {
            let i = nodes.count
            guard let node = byName[name], depth < 8 else {
                nodes.append(Node(name: name, label: name, children: []))
                return i
            }
            var label = "\(name == "combine" ? "综合风险 risk" : name) · \(node.form)"
            if let cr = node.ahpConsistencyRatio { label += " · CR \(String(format: "%.3f", cr))" }
            nodes.append(Node(name: name, label: label, children: []))
            let kids = node.members.enumerated().map { j, m in (node: add(m, depth: depth + 1), weight: node.weights?[j]) }
            nodes[i].children = kids
            return i
        }
        _ = add("combine", depth: 0)
    }

    /// The SVG: leaves one per row, a node centred on its children; columns by depth.
    var svg: String {
        var rows: [Int: Double] = [:], depth: [Int: Int] = [:]
        var next = 0.0
        func place(_ i: Int, _ d: Int) -> Double {
            depth[i] = d
            if nodes[i].children.isEmpty { rows[i] = next; next += 1; return rows[i]! }
            let ys = nodes[i].children.map { place($0.node, d + 1) }
            rows[i] = (ys.min()! + ys.max()!) / 2
            return rows[i]!
        }
        _ = place(0, 0)
        let colWidth = 230.0, rowHeight = 34.0, boxW = 200.0, boxH = 24.0
        let width = Double((depth.values.max() ?? 0) + 1) * colWidth + 20, height = next * rowHeight + 10
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\" aria-label=\"指标体系 indicator tree\">"
        func box(_ i: Int) -> (Double, Double) { (10 + Double(depth[i]!) * colWidth, 5 + rows[i]! * rowHeight) }
        for (i, node) in nodes.enumerated() {
            let (x, y) = box(i)
            for child in node.children {
                let (cx, cy) = box(child.node)
                out += "<path d=\"M\(x + boxW) \(y + boxH / 2) C\(x + boxW + 15) \(y + boxH / 2) \(cx - 15) \(cy + boxH / 2) \(cx) \(cy + boxH / 2)\" fill=\"none\" stroke=\"#888\"/>"
                if let w = child.weight {
                    out += "<text x=\"\(cx - 4)\" y=\"\(cy + boxH / 2 - 3)\" text-anchor=\"end\" font-size=\"10\" fill=\"#a00\">\(String(format: "%.3f", w))</text>"
                }
            }
            let fill = node.children.isEmpty ? "#eef5ff" : "#fff3e6"
            out += "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(boxW)\" height=\"\(boxH)\" rx=\"4\" fill=\"\(fill)\" stroke=\"#555\"/>"
            out += "<text x=\"\(x + 6)\" y=\"\(y + 16)\" font-size=\"11\">\(htmlEscaped(node.label))</text>"
        }
        return out + "</svg>"
    }
}

/// Text made safe inside HTML and SVG.
func htmlEscaped(_ s: String) -> String {
    var out = ""
    for ch in s {
        switch ch {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        default: out.append(ch)
        }
    }
    return out
}
