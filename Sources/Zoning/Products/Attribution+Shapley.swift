import Foundation
import RasterKernel

/// An expression of the model (`combine: { expression: … }` or an index) compiled to a flat
/// postfix program over its members' values, for the Shapley split of the attribution: the
/// expression is evaluated 2^m times a pixel (m members), so a stack machine over an array, not
/// a walk of the tree.
struct ExpressionProgram: Sendable {
    enum Op: Sendable {
        case constant(Double), load(Int), negate, add, subtract, multiply, divide, power, sqrt
        case minimum(Int), maximum(Int), clamp
    }
    let ops: [Op]
    let depth: Int

    /// `expression` with `members[i]` read from slot i; nil when it names anything else.
    init?(_ expression: IndexExpression, members: [String]) {
        var ops: [Op] = []
        var depth = 0, maxDepth = 0
        func push(_ op: Op, pops: Int) { ops.append(op); depth += 1 - pops; maxDepth = max(maxDepth, depth) }
        func emit(_ e: IndexExpression) -> Bool {
            switch e {
            case .number(let v): push(.constant(v), pops: 0)
            case .name(let n):
                guard let i = members.firstIndex(of: n) else { return false }
                push(.load(i), pops: 0)
            case .negate(let x): guard emit(x) else { return false }; push(.negate, pops: 1)
            case .binary(let op, let a, let b):
                guard emit(a), emit(b) else { return false }
                let code: Op = switch op {
                case .add: .add
                case .subtract: .subtract
                case .multiply: .multiply
                case .divide: .divide
                case .power: .power
                }
                push(code, pops: 2)
            case .call(let f, let args):
                for a in args { guard emit(a) else { return false } }
                switch f {
                case .min: push(.minimum(args.count), pops: args.count)
                case .max: push(.maximum(args.count), pops: args.count)
                case .sqrt: push(.sqrt, pops: 1)
                case .clamp: push(.clamp, pops: 3)
                }
            }
            return true
        }
        guard emit(expression) else { return nil }
        self.ops = ops
        self.depth = maxDepth
    }

    /// The value with member i = `x[i]`, on `stack` (at least `depth` long).
    func evaluate(_ x: [Double], stack: inout [Double]) -> Double {
        var top = -1
        for op in ops {
            switch op {
            case .constant(let v): top += 1; stack[top] = v
            case .load(let i): top += 1; stack[top] = x[i]
            case .negate: stack[top] = -stack[top]
            case .sqrt: stack[top] = Foundation.sqrt(stack[top])
            case .add: top -= 1; stack[top] += stack[top + 1]
            case .subtract: top -= 1; stack[top] -= stack[top + 1]
            case .multiply: top -= 1; stack[top] *= stack[top + 1]
            case .divide: top -= 1; stack[top] /= stack[top + 1]
            case .power: top -= 1; stack[top] = pow(stack[top], stack[top + 1])
            case .minimum(let n):
                top -= n - 1
                for k in 1..<n { stack[top] = Swift.min(stack[top], stack[top + k]) }
            case .maximum(let n):
                top -= n - 1
                for k in 1..<n { stack[top] = Swift.max(stack[top], stack[top + k]) }
            case .clamp:
                top -= 2
                stack[top] = Swift.min(Swift.max(stack[top], stack[top + 1]), stack[top + 2])
            }
        }
        return stack[0]
    }
}

/// The Shapley split of an expression at one pixel: member j's Shapley value with the all-zero
/// baseline (a member "absent" = 0, the bottom of its 0..1 scale),
/// φⱼ = Σ_{S ⊆ M∖{j}} |S|!(m−|S|−1)!/m! · [f(x_{S∪{j}}) − f(x_S)], the members outside S at 0;
/// Σφⱼ = f(x) − f(0). The shares are φⱼ / Σφₖ (a member that lowers the index, e.g. capacity in
/// `(1 − 0.5·capacity)`, has a negative share); where Σφₖ is 0 or not finite the members share
/// evenly. At most `ShapleySplit.maxMembers` members (2^m evaluations a pixel).
struct ShapleySplit: Sendable {
    static let maxMembers = 8
    let program: ExpressionProgram
    let members: Int
    /// Weight of a coalition of size s: s!(m−s−1)!/m!.
    let weights: [Double]

    init?(_ expression: IndexExpression, members: [String]) {
        guard members.count >= 1, members.count <= Self.maxMembers,
              let program = ExpressionProgram(expression, members: members) else { return nil }
        self.program = program
        self.members = members.count
        let m = members.count
        func factorial(_ n: Int) -> Double { n <= 1 ? 1 : (2...n).reduce(1.0) { $0 * Double($1) } }
        weights = (0..<m).map { s in factorial(s) * factorial(m - s - 1) / factorial(m) }
    }

    struct Scratch {
        var values: [Double]
        var x: [Double]
        var stack: [Double]
        init(_ split: ShapleySplit) {
            values = [Double](repeating: 0, count: 1 << split.members)
            x = [Double](repeating: 0, count: split.members)
            stack = [Double](repeating: 0, count: max(split.program.depth, 1))
        }
    }

    /// The shares of the members with values `x` into `shares` (summing to 1).
    func shares(values x: [Double], scratch s: inout Scratch, into shares: inout [Double]) {
        let m = members
        for mask in 0..<(1 << m) {
            for i in 0..<m { s.x[i] = mask & (1 << i) != 0 ? x[i] : 0 }
            s.values[mask] = program.evaluate(s.x, stack: &s.stack)
        }
        var total = 0.0
        for j in 0..<m {
            var phi = 0.0
            let bit = 1 << j
            for mask in 0..<(1 << m) where mask & bit == 0 {
                phi += weights[mask.nonzeroBitCount] * (s.values[mask | bit] - s.values[mask])
            }
            shares[j] = phi
            total += phi
        }
        guard total != 0, total.isFinite else {
            for j in 0..<m { shares[j] = 1 / Double(m) }
            return
        }
        for j in 0..<m { shares[j] /= total }
    }
}
