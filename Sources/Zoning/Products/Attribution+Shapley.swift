import Foundation
import RasterKernel

/// An expression of the model (`combine: { expression: … }` or an index) compiled to a flat
/// postfix program over its members' values, for the Shapley split of the attribution: the
/// expression is evaluated 2^m times a pixel (m members), once per coalition with the absent
/// members' parts folded to constants (`folded(mask:)`), as steps over strips of pixels.
struct ExpressionProgram: Sendable {
    enum Op: Sendable {
        case constant(Double), load(Int), negate, add, subtract, multiply, divide, power, sqrt
        case minimum(Int), maximum(Int), clamp
    }
    let ops: [Op]

    /// `expression` with `members[i]` read from slot i; nil when it names anything else.
    init?(_ expression: IndexExpression, members: [String]) {
        var ops: [Op] = []
        func emit(_ e: IndexExpression) -> Bool {
            switch e {
            case .number(let v): ops.append(.constant(v))
            case .name(let n):
                guard let i = members.firstIndex(of: n) else { return false }
                ops.append(.load(i))
            case .negate(let x): guard emit(x) else { return false }; ops.append(.negate)
            case .binary(let op, let a, let b):
                guard emit(a), emit(b) else { return false }
                let code: Op = switch op {
                case .add: .add
                case .subtract: .subtract
                case .multiply: .multiply
                case .divide: .divide
                case .power: .power
                }
                ops.append(code)
            case .call(let f, let args):
                for a in args { guard emit(a) else { return false } }
                switch f {
                case .min: ops.append(.minimum(args.count))
                case .max: ops.append(.maximum(args.count))
                case .sqrt: ops.append(.sqrt)
                case .clamp: ops.append(.clamp)
                }
            }
            return true
        }
        guard emit(expression) else { return nil }
        self.ops = ops
    }

    /// The program with the members outside `mask` at 0 and every part without a member folded
    /// to its constant (the same operations on the same Double values, so the same bits), as
    /// operations over strips: what a coalition of the Shapley split evaluates.
    func folded(mask: Int) -> FoldedProgram {
        var stack: [FoldedProgram.Operand] = []
        var steps: [FoldedProgram.Step] = []
        func emit(_ kind: FoldedProgram.Kind, _ a: FoldedProgram.Operand, _ b: FoldedProgram.Operand = .constant(0)) -> FoldedProgram.Operand {
            if case .constant(let x) = a, case .constant(let y) = b { return .constant(kind.apply(x, y)) }
            steps.append(.init(kind: kind, a: a, b: b))
            return .temporary(steps.count - 1)
        }
        for op in ops {
            switch op {
            case .constant(let v): stack.append(.constant(v))
            case .load(let i): stack.append(mask & (1 << i) != 0 ? .member(i) : .constant(0))
            case .negate: stack.append(emit(.negate, stack.removeLast()))
            case .sqrt: stack.append(emit(.sqrt, stack.removeLast()))
            case .add, .subtract, .multiply, .divide, .power:
                let b = stack.removeLast(), a = stack.removeLast()
                let kind: FoldedProgram.Kind = switch op {
                case .add: .add
                case .subtract: .subtract
                case .multiply: .multiply
                case .divide: .divide
                default: .power
                }
                stack.append(emit(kind, a, b))
            case .minimum(let k), .maximum(let k):
                let args = Array(stack.suffix(k))
                stack.removeLast(k)
                let kind: FoldedProgram.Kind = if case .minimum = op { .minimum } else { .maximum }
                stack.append(args.dropFirst().reduce(args[0]) { emit(kind, $0, $1) })
            case .clamp:
                let hi = stack.removeLast(), lo = stack.removeLast(), a = stack.removeLast()
                stack.append(emit(.minimum, emit(.maximum, a, lo), hi))
            }
        }
        return FoldedProgram(steps: steps, result: stack[0])
    }
}

/// A program of `ExpressionProgram.folded`: steps over strips, each writing its own temporary.
struct FoldedProgram: Sendable {
    enum Operand: Sendable { case constant(Double), member(Int), temporary(Int) }
    /// Per pixel as the stack machine computes it: `a op b` (`Swift.min(a, b)`, `pow(a, b)` …).
    enum Kind: Sendable {
        case negate, sqrt, add, subtract, multiply, divide, power, minimum, maximum
        @inline(__always)
        func apply(_ a: Double, _ b: Double) -> Double {
            switch self {
            case .negate: -a
            case .sqrt: Foundation.sqrt(a)
            case .add: a + b
            case .subtract: a - b
            case .multiply: a * b
            case .divide: a / b
            case .power: pow(a, b)
            case .minimum: Swift.min(a, b)
            case .maximum: Swift.max(a, b)
            }
        }
    }
    struct Step: Sendable { let kind: Kind; let a: Operand; let b: Operand }
    let steps: [Step]
    let result: Operand

    /// Evaluates the steps over `n` pixels (member i's values at `x + i·S`, temporaries at
    /// `temporaries + t·S`) and writes the result into `out`.
    func evaluate(x: UnsafePointer<Double>, n: Int, S: Int, temporaries: UnsafeMutablePointer<Double>, into out: UnsafeMutablePointer<Double>) {
        func strip(_ o: Operand) -> UnsafePointer<Double>? {
            switch o {
            case .constant: nil
            case .member(let i): x + i * S
            case .temporary(let t): UnsafePointer(temporaries + t * S)
            }
        }
        for (t, step) in steps.enumerated() {
            let o = temporaries + t * S
            let a = strip(step.a), b = strip(step.b)
            var ca = 0.0, cb = 0.0
            if case .constant(let c) = step.a { ca = c }
            if case .constant(let c) = step.b { cb = c }
            // One loop per operation and operand shape (the operation is not decided a pixel).
            @inline(__always) func loop(_ f: (Double, Double) -> Double) {
                if let a, let b {
                    for q in 0..<n { o[q] = f(a[q], b[q]) }
                } else if let a {
                    for q in 0..<n { o[q] = f(a[q], cb) }
                } else if let b {
                    for q in 0..<n { o[q] = f(ca, b[q]) }
                }
            }
            switch step.kind {
            case .negate: loop { a, _ in -a }
            case .sqrt: loop { a, _ in Foundation.sqrt(a) }
            case .add: loop { $0 + $1 }
            case .subtract: loop { $0 - $1 }
            case .multiply: loop { $0 * $1 }
            case .divide: loop { $0 / $1 }
            case .power: loop { pow($0, $1) }
            case .minimum: loop { Swift.min($0, $1) }
            case .maximum: loop { Swift.max($0, $1) }
            }
        }
        switch result {
        case .constant(let c): out.update(repeating: c, count: n)
        default: out.update(from: strip(result)!, count: n)
        }
    }

    /// Temporaries (strips) `evaluate` writes.
    var temporaryCount: Int { steps.count }
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
    /// Per coalition (bit j: member j present), the program folded (`ExpressionProgram.folded`).
    let coalitions: [FoldedProgram]
    let members: Int
    /// Weight of a coalition of size s: s!(m−s−1)!/m!.
    let weights: [Double]

    init?(_ expression: IndexExpression, members: [String]) {
        guard members.count >= 1, members.count <= Self.maxMembers,
              let program = ExpressionProgram(expression, members: members) else { return nil }
        self.program = program
        coalitions = (0..<(1 << members.count)).map { program.folded(mask: $0) }
        self.members = members.count
        let m = members.count
        func factorial(_ n: Int) -> Double { n <= 1 ? 1 : (2...n).reduce(1.0) { $0 * Double($1) } }
        weights = (0..<m).map { s in factorial(s) * factorial(m - s - 1) / factorial(m) }
    }

    /// Buffers of `stripShares`, one per worker.
    struct Scratch {
        var values: [Double]
        var temporaries: [Double]
        var phi: [Double]
        init(_ split: ShapleySplit, strip S: Int) {
            values = [Double](repeating: 0, count: (1 << split.members) * S)
            temporaries = [Double](repeating: 0, count: max(split.coalitions.map(\.temporaryCount).max() ?? 0, 1) * S)
            phi = [Double](repeating: 0, count: S)
        }
    }

    /// The shares of the members at each of the `n` pixels of a strip: member j's values at
    /// `x + j·S`, its shares (summing to 1 per pixel) into `shares + j·S`.
    func stripShares(x: UnsafePointer<Double>, n: Int, S: Int, scratch s: inout Scratch, into shares: UnsafeMutablePointer<Double>) {
        let m = members
        s.values.withUnsafeMutableBufferPointer { values in
            s.temporaries.withUnsafeMutableBufferPointer { temporaries in
                for mask in 0..<(1 << m) {
                    coalitions[mask].evaluate(x: x, n: n, S: S, temporaries: temporaries.baseAddress!, into: values.baseAddress! + mask * S)
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
