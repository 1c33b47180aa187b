import Foundation
import RasterKernel

/// `attribution.json`: why each township has its level — the township's mean index split exactly
/// into the contributions of the members of the model's top combination (hazard, exposure,
/// vulnerability, capacity … or the layers themselves) and of the indicators (layers) under them.
///
/// The split is made pixel by pixel and averaged over the township's valid pixels, so the
/// contributions sum to the township's `mean_index` of `stats.json` (the same pixels, the same
/// published index values): a pixel's index I is shared among the members of a combination by
/// - weighted sum, AHP, entropy: wⱼxⱼ / Σₖ wₖxₖ (so a member's contribution is wⱼ·mean(xⱼ) up to
///   the Float32 rounding of the index), the `proportional` split;
/// - product and geometric mean: ln-terms wⱼ·ln xⱼ / Σₖ wₖ·ln xₖ (wⱼ = 1 for a product), the
///   `log` split (log-contribution: ln I = Σ wⱼ ln xⱼ, so the terms are exact shares of ln I);
///   members equal to 0 take the whole pixel (I = 0 there anyway), all members 1 share equally;
/// - maximum: the member that is the maximum takes it all (`argmax`);
/// - an expression: by the members' Shapley values with the all-zero baseline (`shapley`,
///   `Attribution+Shapley.swift`): φⱼ averages, over the coalitions without j, what adding j at its
///   value adds to the expression with the members outside the coalition at 0; the shares φⱼ/Σφₖ
///   (Σφₖ = f(x) − f(0)) split the pixel's index, so a member that lowers it (capacity in
///   `1 − 0.5·capacity`) has a negative part;
/// - a combination with `direction: negative`, or an expression of more than 8 members, is not
///   split (it is an indicator in its own right). Indicators are the layers and such unsplit combinations; a layer reached
///   along several paths sums them.
public struct Attribution: Codable, Sendable, Equatable {
    public struct Part: Codable, Sendable, Equatable {
        public var name: String
        /// `index` (a combination of `indices:`) or `layer`.
        public var kind: String
        /// The weight of the member in the top combination (nil for unweighted forms and indicators).
        public var weight: Double?
        /// Mean of the member's value (0..1) over the township's valid pixels.
        public var mean: Double?
        /// Its contribution to the township's mean index, and as a share of it (%).
        public var contribution: Double
        public var percent: Double
    }
    public struct Township: Codable, Sendable, Equatable {
        public var id: Int
        public var code: String?
        public var name: String
        public var level: Int?
        public var levelName: String?
        public var validPixels: Int
        public var meanIndex: Double?
        public var members: [Part]
        public var indicators: [Part]
        /// The indicator with the largest contribution: the one that decides the level.
        public var deciding: String?
    }
    /// The top combination: its form and how it is split (`proportional`, `log`, `argmax`, `none`).
    public var form: String
    public var split: String
    public var method: String
    public var members: [String]
    public var weights: [Double]?
    public var indicators: [String]
    public var townships: [Township]

    static func splitName(_ form: ModelNode.Form) -> String {
        switch form {
        case .weightedSum, .ahp, .entropy: return "proportional"
        case .product, .geometricMean: return "log"
        case .maximum: return "argmax"
        case .expression: return "shapley"
        }
    }

    static let methodText = "pixel by pixel, the published index I is shared among the members: weighted sums by wⱼxⱼ/Σwₖxₖ "
        + "(contribution = wⱼ·mean(xⱼ)); products and geometric means by their log-contributions wⱼ·ln xⱼ / ln I; a maximum "
        + "wholly to the largest member; expressions by the members' Shapley values φⱼ with the all-zero baseline (shares φⱼ/Σφₖ, "
        + "Σφₖ = f(x) − f(0); a member that lowers the index has a negative part); the shares are averaged over the township's valid pixels, so they sum to its mean index"
}

/// The pixel-level split of the model: for every combination that can be split, its register,
/// form, weights and members (registers, and which node or indicator each is).
struct AttributionSplit: Sendable {
    struct Node: Sendable {
        let register: Int
        let form: ModelNode.Form
        let weights: [Double]
        /// Per member: its register and either a node (index into `nodes`) or an indicator.
        let members: [(register: Int, node: Int?, indicator: Int?)]
        /// The Shapley split of an expression node (nil for the other forms).
        var shapley: ShapleySplit? = nil
    }
    /// Nodes in an order where every node comes after all nodes that use it; node 0 is the top.
    let nodes: [Node]
    let indicators: [String]

    /// The shares of a combination's `n` members at one pixel (values `x`), summing to 1, into `shares`.
    static func shares(form: ModelNode.Form, weights: UnsafePointer<Double>, values x: UnsafePointer<Double>, n: Int,
                       into shares: UnsafeMutablePointer<Double>) {
        let even = 1 / Double(n)
        switch form {
        case .weightedSum, .ahp, .entropy:
            for j in 0..<n { shares[j] = weights[j] * x[j] }
        case .product, .geometricMean:
            var zeros = 0
            for j in 0..<n where x[j] <= 0 { zeros += 1 }
            if zeros > 0 {
                for j in 0..<n { shares[j] = x[j] <= 0 ? 1 / Double(zeros) : 0 }
                return
            }
            for j in 0..<n { shares[j] = (form == .product ? 1 : weights[j]) * log(x[j]) }
        case .maximum:
            var top = 0
            for j in 1..<max(n, 1) where x[j] > x[top] { top = j }
            for j in 0..<n { shares[j] = j == top ? 1 : 0 }
            return
        case .expression:
            for j in 0..<n { shares[j] = even }
            return
        }
        var total = 0.0
        for j in 0..<n { total += shares[j] }
        guard total != 0, total.isFinite else {
            for j in 0..<n { shares[j] = even }
            return
        }
        for j in 0..<n { shares[j] /= total }
    }

    /// Scratch space of `split`, one per worker: no allocation per pixel. The nodes' members are
    /// flattened (node i's are `start[i]..<start[i + 1]`), so a pixel touches no array of arrays.
    final class Scratch {
        /// The flattened members (pointers: a pixel pays no array access, bounds check or retain).
        let start: UnsafeMutablePointer<Int>, register: UnsafeMutablePointer<Int>, child: UnsafeMutablePointer<Int>,
            indicator: UnsafeMutablePointer<Int>
        let forms: UnsafeMutablePointer<ModelNode.Form>, isShapley: UnsafeMutablePointer<Bool>
        /// Per member: its weight (0 where its node has none), value and share at the pixel.
        let weights: UnsafeMutablePointer<Double>, x: UnsafeMutablePointer<Double>, shares: UnsafeMutablePointer<Double>
        /// Per expression node: its buffers, its members' values over the strip and their shares
        /// (member j of node i at `(start[i] + j) · S`).
        var shapley: [ShapleySplit.Scratch?]
        let stripValues: UnsafeMutablePointer<Double>, stripShares: UnsafeMutablePointer<Double>
        /// `splitStrip`'s arrays over a strip: per node its amount, per top member and indicator its
        /// part, and a weighted sum's total.
        let stripAmounts: UnsafeMutablePointer<Double>, stripTop: UnsafeMutablePointer<Double>, stripParts: UnsafeMutablePointer<Double>
        let stripTotal: UnsafeMutablePointer<Double>
        /// Members of the top combination, and indicators.
        let topCount: Int, partCount: Int

        init(_ split: AttributionSplit) {
            let nodes = split.nodes
            func pointer<T>(_ values: [T]) -> UnsafeMutablePointer<T> {
                let p = UnsafeMutablePointer<T>.allocate(capacity: max(values.count, 1))
                p.initialize(from: values, count: values.count)
                return p
            }
            start = pointer(nodes.reduce(into: [0]) { $0.append($0.last! + $1.members.count) })
            let members = nodes.flatMap(\.members), count = max(members.count, 1)
            register = pointer(members.map(\.register))
            child = pointer(members.map { $0.node ?? -1 })
            indicator = pointer(members.map { $0.indicator ?? -1 })
            forms = pointer(nodes.map(\.form))
            isShapley = pointer(nodes.map { $0.shapley != nil })
            weights = .allocate(capacity: count)
            weights.initialize(from: nodes.flatMap { n in n.members.indices.map { $0 < n.weights.count ? n.weights[$0] : 0 } }
                                   + [Double](repeating: 0, count: count - members.count), count: count)
            x = .allocate(capacity: count); x.initialize(repeating: 0, count: count)
            shares = .allocate(capacity: count); shares.initialize(repeating: 0, count: count)
            let S = AttributionSplit.strip
            shapley = nodes.map { node in node.shapley.map { ShapleySplit.Scratch($0, strip: S) } }
            stripValues = .allocate(capacity: count * S); stripValues.initialize(repeating: 0, count: count * S)
            stripShares = .allocate(capacity: count * S); stripShares.initialize(repeating: 0, count: count * S)
            topCount = nodes.first?.members.count ?? 0
            partCount = max(split.indicators.count, 1)
            func strips(_ k: Int) -> UnsafeMutablePointer<Double> {
                let p = UnsafeMutablePointer<Double>.allocate(capacity: max(k, 1) * S)
                p.initialize(repeating: 0, count: max(k, 1) * S)
                return p
            }
            stripAmounts = strips(nodes.count); stripTop = strips(topCount); stripParts = strips(partCount); stripTotal = strips(1)
        }

        deinit {
            for p in [weights, x, shares, stripValues, stripShares, stripAmounts, stripTop, stripParts, stripTotal] { p.deallocate() }
            for p in [start, register, child, indicator] { p.deallocate() }
            forms.deallocate()
            isShapley.deallocate()
        }
    }

    /// The strip length of `prepareStrip` (the kernel's).
    static let strip = ModelKernel.stripLength

    /// The Shapley shares of every expression node over a strip of `n` pixels (`value(register, q)`
    /// the register's value at pixel q), for `split(pixel:)`: an expression is evaluated strip by
    /// strip, 2^m times, not pixel by pixel.
    func prepareStrip(n: Int, registers regs: UnsafePointer<Float>, scratch s: Scratch) {
        let S = Self.strip
        for (i, node) in nodes.enumerated() {
            guard let shapley = node.shapley else { continue }
            let base = s.start[i] * S
            for (j, m) in node.members.enumerated() {
                for q in 0..<n { s.stripValues[base + j * S + q] = Double(regs[m.register * S + q]) }
            }
            shapley.stripShares(x: s.stripValues + base, n: n, S: S, scratch: &s.shapley[i]!, into: s.stripShares + base)
        }
    }

    /// Splits the index values `index` of the `n` pixels of the prepared strip: each member of the
    /// top combination's part into `s.top + j·S`, each indicator's part into `s.parts + k·S`. Per
    /// pixel the same operations in the same order as a split pixel by pixel (the amounts and parts
    /// start at 0 and take their additions in node order), strip by strip so the weighted sums,
    /// the Shapley shares and the products by the node's amount run over arrays, not a pixel's members.
    func splitStrip(index: UnsafePointer<Double>, n: Int, registers regs: UnsafePointer<Float>, scratch s: Scratch) {
        let S = Self.strip
        let amounts = s.stripAmounts, top = s.stripTop, parts = s.stripParts
        for c in 0..<s.topCount { (top + c * S).update(repeating: 0, count: n) }
        for c in 0..<s.partCount { (parts + c * S).update(repeating: 0, count: n) }
        guard !nodes.isEmpty else {
            for q in 0..<n { parts[q] += index[q] }
            return
        }
        for i in 0..<nodes.count { (amounts + i * S).update(repeating: 0, count: n) }
        for q in 0..<n { amounts[q] = index[q] }
        for i in 0..<nodes.count {
            let a = s.start[i], m = s.start[i + 1] - a
            let shares = s.stripShares + a * S
            if !s.isShapley[i] { nodeShares(i, first: a, members: m, n: n, registers: regs, scratch: s, into: shares) }
            let amount = amounts + i * S
            for j in 0..<m {
                let share = shares + j * S
                let c = s.child[a + j], k = s.indicator[a + j]
                if i == 0 { let t = top + j * S; for q in 0..<n { t[q] += amount[q] * share[q] } }
                if c >= 0 {
                    let to = amounts + c * S
                    for q in 0..<n { to[q] += amount[q] * share[q] }
                } else if k >= 0 {
                    let to = parts + k * S
                    for q in 0..<n { to[q] += amount[q] * share[q] }
                }
            }
        }
    }

    /// The shares of node `i`'s `m` members (flattened from `first`) over the strip, member j's at
    /// `shares + j·S`: weighted sums over arrays (w·x, their total in member order, divided by it,
    /// even where it is 0 or not finite, as `shares(form:)`), other forms pixel by pixel by `shares(form:)`.
    @inline(__always)
    func nodeShares(_ i: Int, first a: Int, members m: Int, n: Int, registers regs: UnsafePointer<Float>, scratch s: Scratch,
                    into shares: UnsafeMutablePointer<Double>) {
        let S = Self.strip
        switch s.forms[i] {
        case .weightedSum, .ahp, .entropy:
            let total = s.stripTotal
            total.update(repeating: 0, count: n)
            for j in 0..<m {
                let w = s.weights[a + j], x = regs + s.register[a + j] * S, out = shares + j * S
                for q in 0..<n { out[q] = w * Double(x[q]) }
                for q in 0..<n { total[q] += out[q] }
            }
            let even = 1 / Double(m)
            for q in 0..<n {
                let t = total[q]
                if t != 0 && t.isFinite {
                    for j in 0..<m { shares[j * S + q] /= t }
                } else {
                    for j in 0..<m { shares[j * S + q] = even }
                }
            }
        default:
            for q in 0..<n {
                for j in 0..<m { s.x[a + j] = Double(regs[s.register[a + j] * S + q]) }
                AttributionSplit.shares(form: s.forms[i], weights: s.weights + a, values: s.x + a, n: m, into: s.shares + a)
                for j in 0..<m { shares[j * S + q] = s.shares[a + j] }
            }
        }
    }
}

extension AttributionSplit {
    /// The split of `job`'s model over the program's `registers` (every node and layer compiled),
    /// with the weights the run applied (`weights`, by node name: fixed, AHP or entropy).
    init(job: JobSpec, registers: [String: Int], weights resolvedWeights: [String: [Double]]) {
        let byName = Dictionary(uniqueKeysWithValues: (job.indices + [job.combine.node]).map { ($0.name, $0) })
        func splittable(_ name: String) -> ModelNode? {
            guard let node = byName[name], !node.negative else { return nil }
            if node.form == .expression, Self.shapley(node) == nil { return nil }
            return node
        }
        // Reverse post-order from the top: every node after all its users.
        var post: [String] = [], seen: Set<String> = []
        func visit(_ name: String) {
            guard let node = splittable(name), seen.insert(name).inserted else { return }
            node.members.forEach(visit)
            post.append(name)
        }
        visit("combine")
        let order = Array(post.reversed())
        let position = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })
        var indicators: [String] = []
        func indicator(_ name: String) -> Int {
            if let i = indicators.firstIndex(of: name) { return i }
            indicators.append(name)
            return indicators.count - 1
        }
        if order.isEmpty { _ = indicator("combine") }
        nodes = order.map { name in
            let node = byName[name]!
            let members = node.members.map { m -> (register: Int, node: Int?, indicator: Int?) in
                if let p = position[m] { return (registers[m]!, p, nil) }
                return (registers[m]!, nil, indicator(m))
            }
            return Node(register: registers[name]!, form: node.form, weights: resolvedWeights[name] ?? node.weights, members: members,
                        shapley: Self.shapley(node))
        }
        self.indicators = indicators
    }

    /// The Shapley split of an expression node; nil for other forms and expressions it cannot split.
    static func shapley(_ node: ModelNode) -> ShapleySplit? {
        guard node.form == .expression, let e = node.expression else { return nil }
        return ShapleySplit(e, members: node.members)
    }
}

extension Attribution {
    /// `attribution.json` from the per-township sums of `AttributionStage` (row = township id:
    /// pixels, Σ index, Σ top members' values, Σ their parts, Σ indicators' parts) and the rows of `stats.json`.
    static func make(rows: [TownshipStatistics], sums: [[Double]], split: AttributionSplit, job: JobSpec, weights: [Double]?) -> Attribution {
        let top = job.combine.node
        let members = split.nodes.isEmpty ? [] : top.members
        let m = members.count
        let indexNames = Set(job.indices.map(\.name))
        func kind(_ name: String) -> String { indexNames.contains(name) || name == "combine" ? "index" : "layer" }
        let townships = rows.map { row -> Township in
            let s = sums[row.id], count = s[0]
            let mean = count > 0 ? s[1] / count : 0
            func percent(_ c: Double) -> Double { mean != 0 ? 100 * c / mean : 0 }
            let parts = members.enumerated().map { j, name in
                Part(name: name, kind: kind(name), weight: weights.map { $0[j] }, mean: count > 0 ? s[2 + j] / count : nil,
                     contribution: count > 0 ? s[2 + m + j] / count : 0, percent: count > 0 ? percent(s[2 + m + j] / count) : 0)
            }
            let indicators = split.indicators.enumerated().map { j, name in
                let c = count > 0 ? s[2 + 2 * m + j] / count : 0
                return Part(name: name, kind: kind(name), weight: nil, mean: nil, contribution: c, percent: percent(c))
            }
            let deciding = count > 0 ? indicators.max { $0.contribution < $1.contribution }?.name : nil
            return Township(id: row.id, code: row.code, name: row.name, level: row.level, levelName: row.levelName,
                            validPixels: Int(count), meanIndex: row.meanIndex, members: parts, indicators: indicators, deciding: deciding)
        }
        return Attribution(form: top.form.rawValue, split: split.nodes.isEmpty ? "none" : splitName(top.form), method: methodText,
                           members: members, weights: split.nodes.isEmpty ? nil : weights, indicators: split.indicators,
                           townships: townships)
    }
}
