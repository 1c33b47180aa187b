import Foundation
import RasterKernel
import Testing
@testable import Zoning

/// The coalitions of the Shapley split (`ExpressionProgram.folded`): every coalition's folded
/// program over strips equals the expression evaluated pixel by pixel with the absent members at
/// 0 (a walk of the parsed tree), bit for bit, for the job files' forms and every operator.
@Suite struct ShapleyProgramTests {
    static let expressions = [
        "hazard * (0.2 + 0.8 * exposure) * (0.5 + 0.5 * vulnerability) * (1 - 0.5 * capacity)",
        "-a / (b + 0.1) - sqrt(c) ^ 2 + min(a, 0.3, b) * max(c, d, 0.25)",
        "clamp(a - b, 0.1, d) + clamp(0.2, c, 0.9) * (1 - d) ^ 0.5",
        "0.3 * 2 + a * (1 / 3)",
    ]

    /// The expression at one pixel, straight from the tree (Swift.min / Swift.max folded left to right).
    static func value(_ e: IndexExpression, _ x: [String: Double]) -> Double {
        switch e {
        case .number(let v): return v
        case .name(let n): return x[n]!
        case .negate(let a): return -value(a, x)
        case .binary(let op, let a, let b):
            let (l, r) = (value(a, x), value(b, x))
            switch op {
            case .add: return l + r
            case .subtract: return l - r
            case .multiply: return l * r
            case .divide: return l / r
            case .power: return pow(l, r)
            }
        case .call(let f, let args):
            let v = args.map { value($0, x) }
            switch f {
            case .min: return v.dropFirst().reduce(v[0]) { Swift.min($0, $1) }
            case .max: return v.dropFirst().reduce(v[0]) { Swift.max($0, $1) }
            case .sqrt: return Foundation.sqrt(v[0])
            case .clamp: return Swift.min(Swift.max(v[0], v[1]), v[2])
            }
        }
    }

    @Test(arguments: expressions)
    func everyCoalitionEqualsTheTreeBitForBit(_ text: String) throws {
        let e = try IndexExpression.parse(text)
        let members = Array(Set(IndexExpression.nameOffsets(in: text).map(\.name))).sorted()
        let program = try #require(ExpressionProgram(e, members: members))
        let S = 64, n = 61, m = members.count
        var rng = SplitMixTest(state: UInt64(text.count))
        let specials: [Double] = [0, -0.0, 1, 0.5, -0.25, 2, .nan, 1e-300]
        var x = [Double](repeating: 0, count: m * S)
        for i in 0..<(m * S) { x[i] = rng.unit() < 0.25 ? specials[Int(rng.unit() * Double(specials.count))] : rng.unit() }
        var temporaries = [Double](repeating: .nan, count: 32 * S), out = [Double](repeating: .nan, count: S)
        var folded = 0
        for mask in 0..<(1 << m) {
            let coalition = program.folded(mask: mask)
            folded += coalition.steps.count
            #expect(coalition.temporaryCount <= 32)
            x.withUnsafeBufferPointer { x in
                coalition.evaluate(x: x.baseAddress!, n: n, S: S, temporaries: &temporaries, into: &out)
            }
            for q in 0..<n {
                var values: [String: Double] = [:]
                for (i, name) in members.enumerated() { values[name] = mask & (1 << i) != 0 ? x[i * S + q] : 0 }
                let expected = Self.value(e, values)
                #expect(out[q].bitPattern == expected.bitPattern, "\(text): coalition \(mask), pixel \(q): \(out[q]) ≠ \(expected)")
            }
        }
        // Folding leaves fewer steps than operations: the constants and absent members are not strips.
        #expect(folded < program.ops.count << m)
    }
}
