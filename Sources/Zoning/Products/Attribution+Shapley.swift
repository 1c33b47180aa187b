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

    /// Evaluates the program over a strip of `n` pixels (`S` apart in the buffers): member i's
    /// values at `x + i·S` where bit i of `mask` is set, 0 elsewhere; the stack holds `depth`
    /// strips; the result is left in the stack's first strip. Per pixel the same operations in the
    /// same order as a scalar evaluation, one dispatch per operation and strip.
    func evaluateStrip(mask: Int, x: UnsafePointer<Double>, n: Int, S: Int, stack: UnsafeMutablePointer<Double>) {
        var top = -1
        for op in ops {
            switch op {
            case .constant(let v): top += 1; (stack + top * S).update(repeating: v, count: n)
            case .load(let i):
                top += 1
                if mask & (1 << i) != 0 { (stack + top * S).update(from: x + i * S, count: n) } else { (stack + top * S).update(repeating: 0, count: n) }
            case .negate: let a = stack + top * S; for q in 0..<n { a[q] = -a[q] }
            case .sqrt: let a = stack + top * S; for q in 0..<n { a[q] = Foundation.sqrt(a[q]) }
            case .add, .subtract, .multiply, .divide, .power:
                top -= 1
                let a = stack + top * S, b = a + S
                switch op {
                case .add: for q in 0..<n { a[q] += b[q] }
                case .subtract: for q in 0..<n { a[q] -= b[q] }
                case .multiply: for q in 0..<n { a[q] *= b[q] }
                case .divide: for q in 0..<n { a[q] /= b[q] }
                default: for q in 0..<n { a[q] = pow(a[q], b[q]) }
                }
            case .minimum(let k), .maximum(let k):
                top -= k - 1
                let a = stack + top * S
                let isMin = if case .minimum = op { true } else { false }
                for r in 1..<k {
                    let b = a + r * S
                    for q in 0..<n { a[q] = isMin ? Swift.min(a[q], b[q]) : Swift.max(a[q], b[q]) }
                }
            case .clamp:
                top -= 2
                let a = stack + top * S, lo = a + S, hi = a + 2 * S
                for q in 0..<n { a[q] = Swift.min(Swift.max(a[q], lo[q]), hi[q]) }
            }
        }
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

    /// Buffers of `stripShares`, one per worker.
    struct Scratch {
        var values: [Double]
        var stack: [Double]
        var phi: [Double]
        init(_ split: ShapleySplit, strip S: Int) {
            values = [Double](repeating: 0, count: (1 << split.members) * S)
            stack = [Double](repeating: 0, count: max(split.program.depth, 1) * S)
            phi = [Double](repeating: 0, count: S)
        }
    }

    /// The shares of the members at each of the `n` pixels of a strip: member j's values at
    /// `x + j·S`, its shares (summing to 1 per pixel) into `shares + j·S`.
    func stripShares(x: UnsafePointer<Double>, n: Int, S: Int, scratch s: inout Scratch, into shares: UnsafeMutablePointer<Double>) {
        let m = members
        s.values.withUnsafeMutableBufferPointer { values in
            s.stack.withUnsafeMutableBufferPointer { stack in
                for mask in 0..<(1 << m) {
                    program.evaluateStrip(mask: mask, x: x, n: n, S: S, stack: stack.baseAddress!)
                    (values.baseAddress! + mask * S).update(from: stack.baseAddress!, count: n)
                }
            }
            s.phi.withUnsafeMutableBufferPointer { total in
                for q in 0..<n { total[q] = 0 }
                for j in 0..<m {
                    let bit = 1 << j, out = shares + j * S
                    for q in 0..<n { out[q] = 0 }
                    for mask in 0..<(1 << m) where mask & bit == 0 {
                        let w = weights[mask.nonzeroBitCount]
                        let with = values.baseAddress! + (mask | bit) * S, without = values.baseAddress! + mask * S
                        for q in 0..<n { out[q] += w * (with[q] - without[q]) }
                    }
                    for q in 0..<n { total[q] += out[q] }
                }
                for q in 0..<n {
                    let t = total[q]
                    for j in 0..<m {
                        shares[j * S + q] = t != 0 && t.isFinite ? shares[j * S + q] / t : 1 / Double(m)
                    }
                }
            }
        }
    }
}
