import Foundation
import RasterKernel
import Yams

/// One combination of the risk model: the top-level `combine` or a sub-index of `indices:`
/// (hazard, exposure, vulnerability, capacity, …). Its members are layer keys or other indices.
public struct ModelNode: Sendable {
    public enum Form: String, Sendable, CaseIterable {
        case weightedSum = "weighted-sum"
        case geometricMean = "geometric-mean"
        case product
        case maximum
        case ahp
        case entropy
        case expression
    }

    /// `combine`, or the index's name.
    public let name: String
    public let form: Form
    /// Member names (layer keys or index names), in the order the weights follow.
    public let members: [String]
    /// Fixed or AHP weights, one per member (weighted-sum, geometric-mean, ahp); empty otherwise.
    /// Entropy weights are computed during the run.
    public let weights: [Double]
    /// Entropy: subjective weights combined with the objective ones (wⱼ ∝ priorⱼ · wⱼ).
    public let prior: [Double]?
    public let expression: IndexExpression?
    public let expressionText: String?
    /// `direction: negative`: the node's value x becomes 1 − x.
    public let negative: Bool
    public let ahpConsistencyRatio: Double?
    public let position: JobSpec.Position
    /// Where each member is written (for cycle messages).
    let memberNodes: [String: JobSpec.Position]

    /// The job-file key of the node, for messages (`combine`, `indices.hazard`).
    public var key: String { name == "combine" ? "combine" : "indices.\(name)" }

    /// A formula for `plan` and the manifest, with the weights (computed ones as `w(entropy)`).
    public func formula(weights computed: [Double]? = nil) -> String {
        let w = computed ?? weights
        var text: String
        switch form {
        case .weightedSum, .ahp:
            text = zip(members, w).map { "\(formatNumber($1))·\($0)" }.joined(separator: " + ")
            if let cr = ahpConsistencyRatio { text += " (AHP weights, consistency ratio \(String(format: "%.3f", cr)))" }
        case .geometricMean: text = zip(members, w).map { "\($0)^\(formatNumber($1))" }.joined(separator: " · ")
        case .product: text = members.joined(separator: " × ")
        case .maximum: text = "max(" + members.joined(separator: ", ") + ")"
        case .entropy:
            if computed != nil {
                text = zip(members, w).map { "\(String(format: "%.6f", $1))·\($0)" }.joined(separator: " + ") + " (entropy weights)"
            } else {
                text = members.map { "w(\($0))·\($0)" }.joined(separator: " + ")
                    + " (entropy weights computed from the data at run time\(prior == nil ? "" : ", times the prior"))"
            }
        case .expression: text = expressionText ?? "\(expression!)"
        }
        return negative ? "1 − (\(text))" : text
    }
}

extension JobLoader {
    static let combineForms = ModelNode.Form.allCases.map(\.rawValue)

    /// One combination (`combine:` or an entry of `indices:`): exactly one form, plus `direction`
    /// where `allowDirection`. `names` are the members it may name (`known` the same as a set, built
    /// once for every index of a job); with `requireAll`, every one of
    /// those must take part (a job without indices: every layer is combined).
    func parseModelNode(name: String, _ object: YObject, names: [String], known: Set<String>, requireAll: [String]?,
                        file: String) -> ModelNode? {
        let forms = JobLoader.combineForms.filter { object[$0] != nil }
        let place = object.node
        if forms.count != 1 {
            place.error("give exactly one of \(JobLoader.combineForms.joined(separator: ", ")) (got \(forms.isEmpty ? "none" : forms.joined(separator: ", ")))")
            return nil
        }
        var negative = false
        if let d = object["direction"], let text = d.string() {
            switch text {
            case "negative": negative = true
            case "positive": negative = false
            default: d.error("direction is positive or negative, got \(d.describe)")
            }
        }
        let form = ModelNode.Form(rawValue: forms[0])!
        let node = object[forms[0]]!
        let m = object.keys[forms[0]]!.mark
        let parsing = ModelNodeParsing(name: name, names: names, known: known, requireAll: requireAll, file: file, negative: negative,
                                       position: JobSpec.Position(file: file, line: m.line, column: m.column))
        switch form {
        case .product, .maximum: return parseMemberList(node, form: form, parsing)
        case .entropy: return parseEntropy(node, parsing)
        case .expression: return parseExpression(node, parsing)
        case .ahp: return parseAHP(node, parsing)
        case .weightedSum, .geometricMean: return parseWeights(node, form: form, parsing)
        }
    }

    /// `product: [a, b]`, `maximum: [a, b]`.
    private func parseMemberList(_ node: YNode, form: ModelNode.Form, _ p: ModelNodeParsing) -> ModelNode? {
        guard let items = node.sequence() else { return nil }
        let members = items.compactMap { item in item.string().map { ($0, item) } }
        guard members.count == items.count, p.checkMembers(members, at: node) else { return nil }
        if members.count < 1 { node.error("at least one member is needed"); return nil }
        return ModelNode(name: p.name, form: form, members: p.ordered(members.map(\.0)), weights: [], prior: nil,
                         expression: nil, expressionText: nil, negative: p.negative, ahpConsistencyRatio: nil,
                         position: p.position, memberNodes: p.positions(members))
    }

    /// `entropy: [a, b]` or `entropy: { members: [a, b], prior: { a: w, b: w } }`.
    private func parseEntropy(_ node: YNode, _ p: ModelNodeParsing) -> ModelNode? {
        var items: [YNode]?
        var priorNode: YNode?
        if case .mapping = node.node {
            guard let o = node.object(allowed: ["members", "prior"], required: ["members"]) else { return nil }
            items = o["members"]?.sequence()   // missing: reported by object(required:)
            priorNode = o["prior"]
        } else {
            items = node.sequence()
        }
        guard let items else { return nil }
        let members = items.compactMap { item in item.string().map { ($0, item) } }
        guard members.count == items.count, p.checkMembers(members, at: node) else { return nil }
        if members.count < 2 {
            node.error("entropy weights need at least 2 members, got \(members.count)")
            return nil
        }
        var prior: [Double]?
        if let priorNode, let entries = priorNode.entries() {
            var byKey: [String: Double] = [:]
            for (key, keyNode, value) in entries {
                guard members.contains(where: { $0.0 == key }) else {
                    let hint = closest(to: key, in: members.map(\.0)).map { " (did you mean \"\($0)\"?)" } ?? ""
                    keyNode.error("\"\(key)\" is not a member of this entropy combination\(hint)")
                    continue
                }
                if let w = value.double() {
                    if w <= 0 { value.error("prior weights must be positive") } else { byKey[key] = w }
                }
            }
            for (member, _) in members where byKey[member] == nil && entries.contains(where: { $0.key == member }) == false {
                priorNode.error("prior needs a weight for \"\(member)\"")
            }
            guard byKey.count == members.count else { return nil }
            prior = members.map { byKey[$0.0]! }
        }
        return ModelNode(name: p.name, form: .entropy, members: members.map(\.0), weights: [], prior: prior,
                         expression: nil, expressionText: nil, negative: p.negative, ahpConsistencyRatio: nil,
                         position: p.position, memberNodes: p.positions(members))
    }

    /// `expression: "…"`: the names it reads are its members.
    private func parseExpression(_ node: YNode, _ p: ModelNodeParsing) -> ModelNode? {
        let (name, names) = (p.name, p.names)
        guard let text = node.string() else { return nil }
        let expression: IndexExpression
        do { expression = try IndexExpression.parse(text) } catch let e as IndexExpression.SyntaxError {
            reportInside(node, offset: e.offset, message: "expression: \(e.message)")
            return nil
        } catch { return nil }
        var members: [(String, YNode)] = []
        var ok = true
        let read = expression.names
        for (n, offset) in IndexExpression.nameOffsets(in: text) where read.contains(n) && !members.contains(where: { $0.0 == n }) {
            if !p.known.contains(n) || n == name {
                let hint = closest(to: n, in: names).map { " (did you mean \"\($0)\"?)" } ?? ""
                reportInside(node, offset: offset, message: n == name
                    ? "expression: \"\(n)\" cannot refer to itself"
                    : "expression: unknown name \"\(n)\"\(hint); known: \(names.joined(separator: ", "))")
                ok = false
            }
            members.append((n, node))
        }
        guard ok else { return nil }
        if members.isEmpty { node.error("the expression reads no layer or index"); return nil }
        return ModelNode(name: name, form: .expression, members: members.map(\.0), weights: [], prior: nil,
                         expression: expression, expressionText: text, negative: p.negative, ahpConsistencyRatio: nil,
                         position: p.position, memberNodes: p.positions(members))
    }

    /// `ahp: { order: [a, b], matrix: [[1, 3], [1/3, 1]], max-consistency-ratio: 0.1 }`.
    private func parseAHP(_ node: YNode, _ p: ModelNodeParsing) -> ModelNode? {
        guard let obj = node.object(allowed: ["order", "matrix", "max-consistency-ratio"], required: ["order", "matrix"]),
              let orderItems = obj["order"]?.sequence(), let rows = obj["matrix"]?.sequence() else { return nil }
        let order = orderItems.compactMap { item in item.string().map { ($0, item) } }
        guard order.count == orderItems.count, p.checkMembers(order, at: obj["order"]!) else { return nil }
        var matrix: [[Double]] = []
        for row in rows {
            guard let cells = row.sequence() else { return nil }
            if cells.count != order.count { row.error("each row needs \(order.count) entries, got \(cells.count)"); return nil }
            var values: [Double] = []
            for cell in cells {
                guard let v = fraction(cell) else { return nil }
                values.append(v)
            }
            matrix.append(values)
        }
        if matrix.count != order.count { obj["matrix"]!.error("the matrix needs \(order.count) rows, got \(matrix.count)"); return nil }
        let limit = obj["max-consistency-ratio"]?.double() ?? 0.1
        let ahp: AHP
        do { ahp = try AHP(matrix) } catch {
            obj["matrix"]!.error("\(error)")
            return nil
        }
        if ahp.consistencyRatio > limit {
            obj["matrix"]!.error("the comparisons are inconsistent: consistency ratio \(String(format: "%.3f", ahp.consistencyRatio)) exceeds \(formatNumber(limit)) (λmax \(String(format: "%.3f", ahp.lambdaMax)), CI \(String(format: "%.3f", ahp.consistencyIndex)))")
            return nil
        }
        let byKey = Dictionary(uniqueKeysWithValues: zip(order.map(\.0), ahp.weights))
        let members = p.ordered(order.map(\.0))
        return ModelNode(name: p.name, form: .ahp, members: members, weights: members.map { byKey[$0]! }, prior: nil,
                         expression: nil, expressionText: nil, negative: p.negative,
                         ahpConsistencyRatio: ahp.consistencyRatio, position: p.position, memberNodes: p.positions(order))
    }

    /// `weighted-sum: { a: w, b: w }`, `geometric-mean: { a: w, b: w }`: weights summing to 1.
    private func parseWeights(_ node: YNode, form: ModelNode.Form, _ p: ModelNodeParsing) -> ModelNode? {
        guard let entries = node.entries() else { return nil }
        var byKey: [String: Double] = [:]
        for (key, _, value) in entries {
            if let w = value.double() {
                if w < 0 || (form == .geometricMean && w == 0) {
                    value.error(form == .geometricMean ? "geometric-mean weights must be positive" : "weights must not be negative")
                }
                byKey[key] = w
            }
        }
        let pairs = entries.map { ($0.key, $0.keyNode) }
        let membersOK = p.checkMembers(pairs, at: node)
        guard byKey.count == entries.count else { return nil }
        // The members the job knows (an unknown one is reported above).
        let total = byKey.filter { p.known.contains($0.key) }.values.reduce(0, +)
        if abs(total - 1) > 1e-6 {
            node.error("weights must sum to 1, they sum to \(formatNumber(total))")
            return nil
        }
        guard membersOK else { return nil }
        let members = p.ordered(entries.map(\.key))
        return ModelNode(name: p.name, form: form, members: members, weights: members.map { byKey[$0]! }, prior: nil,
                         expression: nil, expressionText: nil, negative: p.negative, ahpConsistencyRatio: nil,
                         position: p.position, memberNodes: p.positions(pairs))
    }

    /// Reports a problem at a character of a scalar: the scalar's own line and column plus the
    /// offset (and the opening quote). Block scalars (`|`, `>`) and scalars with escapes or line
    /// breaks before the offset are reported at the scalar, with the character number.
    func reportInside(_ node: YNode, offset: Int, message: String) {
        guard case .scalar(let s) = node.node else { node.error(message); return }
        let prefix = String(s.string.unicodeScalars.prefix(offset))
        let simple = !prefix.contains("\n") && !prefix.contains("\\") && !prefix.contains("'")
        switch s.style {
        case .plain where simple:
            node.sink.error(node.file, (node.mark.line, node.mark.column + offset), "\(node.path): \(message)")
        case .singleQuoted where simple, .doubleQuoted where simple:
            node.sink.error(node.file, (node.mark.line, node.mark.column + 1 + offset), "\(node.path): \(message)")
        default:
            node.error("\(message) (character \(offset + 1) of the expression)")
        }
    }

    /// A number or a fraction written as "a/b" (AHP matrices).
    func fraction(_ node: YNode) -> Double? {
        if let text = node.scalarString, text.contains("/") {
            let parts = text.split(separator: "/").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            if parts.count == 2, let a = parts[0], let b = parts[1], b != 0, a > 0 { return a / b }
            node.error("expected a positive number or fraction like 1/3, got \(node.describe)")
            return nil
        }
        return node.double()
    }

    /// Orders indices so that every index follows its members; reports cycles at the member that
    /// closes them, chains of indices deeper than `ModelNode.maxDepth`, and layers or indices that
    /// nothing uses. Walks with explicit stacks: a job of thousands of chained indices is refused
    /// here, positioned, rather than overflowing a stack here or in the compiler.
    /// `checkUse`: whether every layer and index must be used (false when some index failed to
    /// parse: what it would have used is unknown).
    func orderModel(indices: [ModelNode], combine: ModelNode?, layerKeys: [String], layerNodes: [String: YNode],
                    indexNodes: [String: YNode], checkUse: Bool, sink: DiagnosticSink) -> [ModelNode]? {
        let byName = Dictionary(uniqueKeysWithValues: indices.map { ($0.name, $0) })
        guard let (ordered, heights) = ModelNode.dependencyOrder(indices, byName: byName, sink: sink),
              ModelNode.checkDepth(ordered, heights: heights, byName: byName, indexNodes: indexNodes, sink: sink) else { return nil }
        guard checkUse, let combine else { return ordered }
        // Everything must reach the result.
        var used = Set<String>()
        var pending = [combine]
        while let node = pending.popLast() {
            for member in node.members where used.insert(member).inserted {
                if let index = byName[member] { pending.append(index) }
            }
        }
        var ok = true
        for key in layerKeys where !used.contains(key) {
            (layerNodes[key].map { $0.error("layer \"\(key)\" is not used by combine or by any index it uses") })
            ok = false
        }
        for index in indices where !used.contains(index.name) {
            indexNodes[index.name]?.error("index \"\(index.name)\" is not used by combine or by any index it uses")
            ok = false
        }
        return ok ? ordered : nil
    }
}

extension ModelNode {
    /// Indices may use indices this many levels deep (an index of layers is level 1): the model
    /// compiler and the walks over the model recurse once a level.
    public static let maxDepth = 64

    /// Depth-first, every index after its members (post-order, in the job's order), with an
    /// explicit stack; each index's height (1 + its highest member index). Cycles are reported
    /// at the member that closes them; nil when there is one.
    static func dependencyOrder(_ indices: [ModelNode], byName: [String: ModelNode],
                                sink: DiagnosticSink) -> (ordered: [ModelNode], heights: [String: Int])? {
        var state: [String: Int] = [:]  // 1 = on the path, 2 = done
        var heights: [String: Int] = [:]
        var ordered: [ModelNode] = []
        var ok = true
        for root in indices where state[root.name] == nil {
            state[root.name] = 1
            var path: [(node: ModelNode, next: Int)] = [(root, 0)]
            while let (node, next) = path.last {
                guard next < node.members.count else {
                    path.removeLast()
                    state[node.name] = 2
                    heights[node.name] = 1 + (node.members.compactMap { heights[$0] }.max() ?? 0)
                    ordered.append(node)
                    continue
                }
                path[path.count - 1].next += 1
                let member = node.members[next]
                guard let index = byName[member], state[member] != 2 else { continue }
                if state[member] == 1 {
                    // The member that closes the cycle, in the node that names it.
                    let names = path.map(\.node.name)
                    let cycle = Array(names.drop(while: { $0 != member })) + [member]
                    let at = node.memberNodes[member] ?? node.position
                    sink.error(at.file, (at.line, at.column),
                               "indices.\(node.name): cycle: \(cycle.joined(separator: " → ")); an index cannot depend on itself")
                    ok = false
                    continue
                }
                state[member] = 1
                path.append((index, 0))
            }
        }
        return ok ? (ordered, heights) : nil
    }

    /// Reports the first index (in dependency order) whose chain of indices is deeper than
    /// `maxDepth`, at its key, with the chain.
    static func checkDepth(_ ordered: [ModelNode], heights: [String: Int], byName: [String: ModelNode],
                           indexNodes: [String: YNode], sink: DiagnosticSink) -> Bool {
        guard let deep = ordered.first(where: { heights[$0.name, default: 0] > maxDepth }) else { return true }
        var chain = [deep.name]
        var node = deep
        while let lower = node.members.compactMap({ byName[$0] }).max(by: { heights[$0.name, default: 0] < heights[$1.name, default: 0] }) {
            chain.append(lower.name)
            node = lower
        }
        let shown = chain.count > 6 ? chain.prefix(3) + ["…"] + chain.suffix(2) : chain[...]
        let message = "indices nest \(chain.count) levels deep (\(shown.joined(separator: " → "))); at most \(maxDepth) levels: combine fewer indices in a row"
        if let keyNode = indexNodes[deep.name] { keyNode.error(message) } else {
            sink.error(deep.position.file, (deep.position.line, deep.position.column), "\(deep.key): \(message)")
        }
        return false
    }
}

/// What the forms of one combination share while it is parsed: its name, the names it may use,
/// its direction and position, and how its members are checked.
private struct ModelNodeParsing {
    let name: String
    /// The layers and indices it may name.
    let names: [String]
    /// `names` as a set (a job may have thousands of indices).
    let known: Set<String>
    /// Every one of these must take part (a job without indices: every layer is combined).
    let requireAll: [String]?
    let file: String
    let negative: Bool
    let position: JobSpec.Position

    /// Checks names against `names` (did-you-mean), and completeness against `requireAll`.
    func checkMembers(_ members: [(String, YNode)], at node: YNode) -> Bool {
        var ok = true
        var seen = Set<String>()
        for (member, memberNode) in members {
            if !known.contains(member) {
                let hint = closest(to: member, in: names).map { " (did you mean \"\($0)\"?)" } ?? ""
                memberNode.error("\"\(member)\" is not a layer or index of this job\(hint); known: \(names.joined(separator: ", "))")
                ok = false
            } else if !seen.insert(member).inserted {
                memberNode.error("\"\(member)\" is named twice")
                ok = false
            } else if member == name {
                memberNode.error("\"\(member)\" cannot be a member of itself")
                ok = false
            }
        }
        for key in requireAll ?? [] where !members.contains(where: { $0.0 == key }) {
            node.error("layer \"\(key)\" is missing here; every layer takes part in the combination")
            ok = false
        }
        return ok
    }

    func positions(_ members: [(String, YNode)]) -> [String: JobSpec.Position] {
        var result: [String: JobSpec.Position] = [:]
        for (member, n) in members { result[member] = .init(file: file, line: n.mark.line, column: n.mark.column) }
        return result
    }

    /// Layer-order members when the node names exactly the layers (the v1 rule), else as written.
    func ordered(_ members: [String]) -> [String] {
        if let all = requireAll, Set(all) == Set(members) { return all }
        return members
    }
}

/// The risk model resolved against data: min-max ranges and entropy weights, filled in by the
/// statistics passes, then compiled into a `ModelKernel`.
public struct ModelResolution: Sendable {
    /// Per layer (by key): the data range of `min-max: data` layers.
    public var ranges: [String: (minimum: Double, maximum: Double)] = [:]
    /// Per entropy node (by name): the weights computed from the data.
    public var entropy: [String: EntropyWeights] = [:]
    /// Weights that replace a node's own (fixed, AHP or entropy): the scenarios of the
    /// class-stability analysis.
    public var overrides: [String: [Double]] = [:]
    public init() {}
}

/// Builds programs from a job's model.
public struct ModelCompiler: Sendable {
    public let job: JobSpec

    public init(job: JobSpec) { self.job = job }

    /// The normalisation a layer use applies, with data ranges filled in.
    public func normalization(_ use: JobSpec.LayerUse, _ resolution: ModelResolution) -> Normalization {
        if use.dataMinMax, let r = resolution.ranges[use.key] { return .linear(min: r.minimum, max: r.maximum) }
        return use.normalization
    }

    /// Compiles the registers of `targets` (node or layer names); entropy nodes must be resolved
    /// unless they are not needed. Returns the program and each target's register. Recurses once
    /// a level of indices, which validation bounds (`ModelNode.maxDepth`), and once a level of an
    /// expression (bounded by its parser).
    public func program(targets: [String], resolution: ModelResolution) -> (ModelProgram, [String: Int]) {
        var program = ModelProgram()
        var registers: [String: Int] = [:]
        let byName = Dictionary(uniqueKeysWithValues: (job.indices + [job.combine.node]).map { ($0.name, $0) })
        func emit(_ name: String) -> Int {
            if let r = registers[name] { return r }
            let r: Int
            if let l = job.layers.firstIndex(where: { $0.key == name }) {
                let use = job.layers[l]
                var x = program.append(.normalize(layer: l, normalization(use, resolution)))
                if use.negative { x = program.append(.oneMinus(x)) }
                r = x
            } else {
                let node = byName[name]!
                let members = node.members.map(emit)
                var x: Int
                switch node.form {
                case .weightedSum, .ahp: x = program.append(.weightedSum(members, resolution.overrides[node.name] ?? node.weights))
                case .geometricMean: x = program.append(.geometricMean(members, resolution.overrides[node.name] ?? node.weights))
                case .product: x = program.append(.product(members))
                case .maximum: x = program.append(.maximum(members))
                case .entropy:
                    guard let w = resolution.overrides[node.name] ?? resolution.entropy[node.name]?.weights else {
                        preconditionFailure("entropy weights of \(node.name) are not resolved")
                    }
                    x = program.append(.weightedSum(members, w))
                case .expression:
                    x = program.compile(node.expression!, registers: Dictionary(uniqueKeysWithValues: zip(node.members, members)))
                }
                if node.negative { x = program.append(.oneMinus(x)) }
                r = x
            }
            registers[name] = r
            return r
        }
        for t in targets { _ = emit(t) }
        return (program, registers)
    }

    /// The weights a node combines its members with (fixed, AHP or computed), nil for unweighted forms.
    public func weights(of node: ModelNode, _ resolution: ModelResolution) -> [Double]? {
        if let w = resolution.overrides[node.name] { return w }
        switch node.form {
        case .weightedSum, .ahp, .geometricMean: return node.weights
        case .entropy: return resolution.entropy[node.name]?.weights
        case .product, .maximum, .expression: return nil
        }
    }

    /// Entropy nodes whose weights are unknown but whose members need none: computable in one pass.
    public func nextEntropyNodes(_ resolution: ModelResolution) -> [ModelNode] {
        nextEntropyNodes(resolved: Set(resolution.entropy.keys))
    }

    /// The same, given the names of the entropy nodes whose weights are known.
    func nextEntropyNodes(resolved: Set<String>) -> [ModelNode] {
        let byName = Dictionary(uniqueKeysWithValues: job.indices.map { ($0.name, $0) })
        // Once per index (indices shared by many are not walked again); as deep as the model,
        // which validation bounds (`ModelNode.maxDepth`).
        var known: [String: Bool] = [:]
        func ready(_ name: String) -> Bool {
            guard let node = byName[name] else { return true }
            if let answer = known[name] { return answer }
            let answer = !(node.form == .entropy && !resolved.contains(name)) && node.members.allSatisfy(ready)
            known[name] = answer
            return answer
        }
        return (job.indices + [job.combine.node]).filter { node in
            node.form == .entropy && !resolved.contains(node.name) && node.members.allSatisfy(ready)
        }
    }
}
