import Foundation
import Testing
@testable import RasterKernel

/// The model kernel (indices, entropy weights, expressions) against the fixed kernel, numpy and
/// scalar references.
@Suite struct ModelKernelTests {
    // MARK: expressions: parsing

    @Test func precedenceAndAssociativity() throws {
        #expect(try IndexExpression.parse("a + b * c").description == "(a + (b * c))")
        #expect(try IndexExpression.parse("a - b - c").description == "((a - b) - c)")
        #expect(try IndexExpression.parse("a / b * c").description == "((a / b) * c)")
        #expect(try IndexExpression.parse("-a ^ 2").description == "-((a ^ 2))")
        #expect(try IndexExpression.parse("a ^ b ^ c").description == "(a ^ (b ^ c))")
        #expect(try IndexExpression.parse("a ^ -b").description == "(a ^ -(b))")
        #expect(try IndexExpression.parse("clamp(a*2, 0, 1)").description == "clamp((a * 2), 0, 1)")
        #expect(try IndexExpression.parse(" max(a, b, 0.5e-1) ").description == "max(a, b, 0.05)")
        #expect(try IndexExpression.parse("hazard * exposure * (1 - 0.5 * capacity)").names == ["hazard", "exposure", "capacity"])
    }

    @Test(arguments: [
        ("a +", 3, "unexpected end"),
        ("a + * b", 4, "unexpected \"*\""),
        ("(a + b", 6, "expected \")\""),
        ("a b", 2, "unexpected \"b\""),
        ("foo(a)", 0, "unknown function \"foo\""),
        ("sqrt(a, b)", 0, "sqrt takes 1 argument"),
        ("clamp(a, 0)", 0, "clamp takes 3 arguments"),
        ("min(a)", 0, "min takes at least 2 arguments"),
        ("a # b", 2, "unexpected \"#\""),
        ("1e", 1, "unexpected \"e\""),
    ])
    func syntaxErrorsPointAtTheCharacter(text: String, offset: Int, message: String) {
        do {
            _ = try IndexExpression.parse(text)
            Issue.record("\(text) parsed")
        } catch let e as IndexExpression.SyntaxError {
            #expect(e.offset == offset, "\(text): \(e)")
            #expect(e.message.contains(message), "\(text): \(e)")
        } catch { Issue.record("\(error)") }
    }

    @Test func deepNestingIsRefusedNotCrashed() {
        let deep = String(repeating: "(", count: 5000) + "a" + String(repeating: ")", count: 5000)
        #expect(throws: IndexExpression.SyntaxError.self) { try IndexExpression.parse(deep) }
    }

    // MARK: the model kernel equals the fixed kernel on the v1 combinations

    static let normalizations: [Normalization] = [
        .curve([.init(0, 0), .init(0.5, 0.3), .init(1.5, 0.7), .init(3.0, 1.0)]),
        .linear(min: 0, max: 100),
        .table([.init(0.05, 0.25), .init(0.10, 0.5), .init(0.15, 0.75), .init(0.20, 1.0)], default: 0),
    ]

    static func inputs(_ n: Int, seed: UInt64) -> ([[Float]], [Float]) {
        var rng = OracleRandom(seed: seed)
        var layers: [[Float]] = [[], [], []]
        var mask: [Float] = []
        let pga: [Float] = [0.05, 0.10, 0.15, 0.20, 0.3]
        for p in 0..<n {
            layers[0].append(Float(rng.unit() * 4))
            layers[1].append(Float(rng.unit() * 120 - 10))
            layers[2].append(pga[rng.below(pga.count)])
            if p % 37 == 5 { layers[rng.below(3)][p] = .nan }
            if p % 101 == 7 { layers[0][p] = .infinity }
            mask.append(p % 23 == 3 ? 0 : 1)
        }
        return (layers, mask)
    }

    @Test(arguments: [0, 1, 2, 7, 8, 9, 255, 256, 257, 263, 1023, 1025, 4097])
    func programsEqualTheFixedKernelBitForBit(count: Int) {
        let (layers, mask) = ModelKernelTests.inputs(count, seed: UInt64(count) + 11)
        let breaks = [0.25, 0.5, 0.75]
        let cases: [(Combination, (ModelProgram, [Int]) -> ModelProgram.Step)] = [
            (.weightedSum([0.45, 0.25, 0.30]), { _, r in .weightedSum(r, [0.45, 0.25, 0.30]) }),
            (.product, { _, r in .product(r) }),
            (.maximum, { _, r in .maximum(r) }),
            (.geometricMean([0.5, 0.3, 0.2]), { _, r in .geometricMean(r, [0.5, 0.3, 0.2]) }),
        ]
        for (combination, step) in cases {
            for withMask in [false, true] {
                let fixed = RiskKernel(normalizations: ModelKernelTests.normalizations, combination: combination, breaks: breaks)
                var program = ModelProgram()
                let registers = ModelKernelTests.normalizations.enumerated().map { program.append(.normalize(layer: $0, $1)) }
                let out = program.append(step(program, registers))
                let model = ModelKernel(program: program, layerCount: 3, output: out, breaks: breaks)
                var i1 = [Float](repeating: 7, count: count), c1 = [UInt8](repeating: 7, count: count)
                var i2 = [Float](repeating: 8, count: count), c2 = [UInt8](repeating: 8, count: count)
                layers[0].withUnsafeBufferPointer { a in
                    layers[1].withUnsafeBufferPointer { b in
                        layers[2].withUnsafeBufferPointer { c in
                            mask.withUnsafeBufferPointer { m in
                                i1.withUnsafeMutableBufferPointer { ip in
                                    c1.withUnsafeMutableBufferPointer { cp in
                                        fixed.run(count: count, inputs: [a, b, c], mask: withMask ? m : nil, index: ip, classes: cp)
                                    }
                                }
                                i2.withUnsafeMutableBufferPointer { ip in
                                    c2.withUnsafeMutableBufferPointer { cp in
                                        _ = model.run(count: count, inputs: [a, b, c], mask: withMask ? m : nil, index: ip, classes: cp)
                                    }
                                }
                            }
                        }
                    }
                }
                let same = zip(i1, i2).allSatisfy { $0.bitPattern == $1.bitPattern } && c1 == c2
                #expect(same, "count \(count), \(combination), mask \(withMask): first difference at \(zip(i1, i2).enumerated().first { $1.0.bitPattern != $1.1.bitPattern }.map { "\($0.offset): \($0.element)" } ?? "classes")")
            }
        }
    }

    // MARK: expressions against numpy (float32, the same order of operations)

    /// A random expression over a, b, c: numbers, the four operations, ^ with small exponents,
    /// unary minus, min/max/sqrt/clamp.
    static func randomExpression(_ rng: inout OracleRandom, depth: Int) -> String {
        if depth == 0 || rng.below(4) == 0 {
            switch rng.below(5) {
            case 0: return String(format: "%.3g", rng.unit() * 2)
            case 1: return "a"
            case 2: return "b"
            default: return "c"
            }
        }
        let x = randomExpression(&rng, depth: depth - 1), y = randomExpression(&rng, depth: depth - 1)
        switch rng.below(11) {
        case 0: return "\(x) + \(y)"
        case 1: return "\(x) - \(y)"
        case 2: return "(\(x)) * (\(y))"
        case 3: return "(\(x)) / (\(y))"
        case 4: return "(\(x)) ^ \(["2", "0.5", "3", "1.5"][rng.below(4)])"
        case 5: return "-(\(x))"
        case 6: return "min(\(x), \(y))"
        case 7: return "max(\(x), \(y), 0.3)"
        case 8: return "sqrt(\(x))"
        case 9: return "clamp(\(x), 0.1, 0.9)"
        default: return "\(x) + 0.25 * \(y)"
        }
    }

    @Test func randomExpressionsEqualNumpy() throws {
        var rng = OracleRandom(seed: 20261130)
        let n = 1000
        var values: [[Float]] = [[], [], []]
        for p in 0..<n {
            for l in 0..<3 { values[l].append(p % 97 == l ? .nan : Float(rng.unit())) }
        }
        values[0][3] = 0
        values[1][4] = 0
        var expressions: [String] = []
        while expressions.count < 30 {
            let e = ModelKernelTests.randomExpression(&rng, depth: 4)
            if e.contains("a") || e.contains("b") || e.contains("c") { expressions.append(e) }
        }
        var ours: [[Float]] = []
        for text in expressions {
            let expression = try IndexExpression.parse(text)
            var program = ModelProgram()
            var registers: [String: Int] = [:]
            for (l, name) in ["a", "b", "c"].enumerated() { registers[name] = program.append(.normalize(layer: l, .linear(min: 0, max: 1))) }
            let out = program.compile(expression, registers: registers)
            let kernel = ModelKernel(program: program, layerCount: 3, output: out, breaks: [])
            var index = [Float](repeating: 0, count: n), classes = [UInt8](repeating: 0, count: n)
            values[0].withUnsafeBufferPointer { a in values[1].withUnsafeBufferPointer { b in values[2].withUnsafeBufferPointer { c in
                index.withUnsafeMutableBufferPointer { ip in classes.withUnsafeMutableBufferPointer { cp in
                    _ = kernel.run(count: n, inputs: [a, b, c], mask: nil, index: ip, classes: cp)
                } }
            } } }
            ours.append(index)
        }
        let script = """
            import sys, numpy as np
            np.seterr(all="ignore")
            rows = [l.split() for l in open(sys.argv[1])]
            a, b, c = (np.array([float(v) for v in r], dtype=np.float32) for r in rows[:3])
            def clamp(x, lo, hi): return np.minimum(np.maximum(x, np.float32(lo)), np.float32(hi))
            def mn(*xs):
                r = xs[0]
                for x in xs[1:]: r = np.minimum(r, x)
                return r
            def mx(*xs):
                r = xs[0]
                for x in xs[1:]: r = np.maximum(r, x)
                return r
            for e in open(sys.argv[2]).read().splitlines():
                r = eval(e.replace("^", "**").replace("min(", "mn(").replace("max(", "mx(").replace("sqrt(", "np.sqrt("))
                r = np.broadcast_to(np.asarray(r, dtype=np.float32), a.shape)
                r = np.where(np.isfinite(a) & np.isfinite(b) & np.isfinite(c) & np.isfinite(r), r, np.float32(-9999))
                print(" ".join(repr(float(v)) for v in r))
            """
        let lines = values.map { $0.map { $0.isNaN ? "nan" : "\($0)" }.joined(separator: " ") }
        let output = try PythonOracle.withTemporaryFile(lines: lines) { data in
            try PythonOracle.withTemporaryFile(lines: expressions) { exprs in try PythonOracle.run(script, arguments: [data, exprs]) }
        }
        let rows = output.split(separator: "\n")
        #expect(rows.count == expressions.count)
        for (k, row) in rows.enumerated() {
            let expected = try PythonOracle.numbers(row)
            var worst = 0.0, nodataDiff = 0
            for p in 0..<n {
                let x = Double(ours[k][p]), y = expected[p]
                if (x == -9999) != (y == -9999) { nodataDiff += 1; continue }
                worst = max(worst, abs(x - y) / max(1, abs(y)))
            }
            #expect(nodataDiff == 0 && worst <= 1e-6, "\(expressions[k]): \(nodataDiff) nodata differ, worst relative Δ \(worst)")
        }
    }

    @Test func scaledSumsFuseWithoutChangingTheArithmetic() throws {
        var program = ModelProgram()
        let a = program.append(.normalize(layer: 0, .linear(min: 0, max: 1)))
        let b = program.append(.normalize(layer: 1, .linear(min: 0, max: 1)))
        let out = program.compile(try IndexExpression.parse("0.45 * a + b * 0.55"), registers: ["a": a, "b": b])
        #expect(program.steps[out] == .scaledAdd(2, b, 0.55))
        #expect(program.steps[2] == .scale(a, 0.45))
    }

    // MARK: entropy weights against numpy

    @Test(arguments: [false, true])
    func entropyWeightsEqualNumpy(prior: Bool) throws {
        var rng = OracleRandom(seed: prior ? 7 : 8)
        let n = 3000
        var values: [[Float]] = [[], [], []]
        var mask: [Float] = []
        for p in 0..<n {
            values[0].append(Float(rng.unit()))
            values[1].append(Float(pow(rng.unit(), 4)))                   // skewed: more information
            values[2].append(p % 5 == 0 ? 0 : Float(0.5 + 0.1 * rng.unit()))  // zeros: 0·ln 0 = 0
            if p % 41 == 3 { values[p % 3][p] = .nan }
            mask.append(p % 29 == 1 ? 0 : 1)
        }
        var program = ModelProgram()
        let registers = (0..<3).map { program.append(.normalize(layer: $0, .linear(min: 0, max: 1))) }
        let kernel = ModelKernel(program: program, layerCount: 3, output: 0, breaks: [])
        // Two blocks merged in order, as a run does.
        var sums = EntropySums(members: 3)
        for range in [0..<1234, 1234..<n] {
            let part = values[0][range].withUnsafeBufferPointer { a in values[1][range].withUnsafeBufferPointer { b in
                values[2][range].withUnsafeBufferPointer { c in mask[range].withUnsafeBufferPointer { m in
                    kernel.entropySums(count: range.count, inputs: [a, b, c], mask: m, groups: [registers])
                } }
            } }
            sums.merge(part[0])
        }
        let priorWeights = prior ? [0.5, 0.3, 0.2] : nil
        let weights = try EntropyWeights(sums, prior: priorWeights)
        let script = """
            import sys, numpy as np
            rows = [l.split() for l in open(sys.argv[1])]
            x = np.array([[float(v) for v in r] for r in rows[:3]]).T
            m = np.array([float(v) for v in rows[3]])
            keep = np.all(np.isfinite(x), axis=1) & (m != 0)
            x = x[keep]
            n = x.shape[0]
            p = x / x.sum(axis=0)
            with np.errstate(divide="ignore", invalid="ignore"):
                plogp = np.where(p > 0, p * np.log(p), 0.0)
            e = -plogp.sum(axis=0) / np.log(n)
            d = 1 - e
            w = d / d.sum()
            if sys.argv[2] != "none":
                w = w * np.array([float(v) for v in sys.argv[2].split(",")])
                w = w / w.sum()
            print(n, " ".join(repr(float(v)) for v in w), " ".join(repr(float(v)) for v in e))
            """
        let lines = values.map { $0.map { $0.isNaN ? "nan" : "\($0)" }.joined(separator: " ") } + [mask.map { "\($0)" }.joined(separator: " ")]
        let out = try PythonOracle.withTemporaryFile(lines: lines) {
            try PythonOracle.run(script, arguments: [$0, priorWeights.map { $0.map { "\($0)" }.joined(separator: ",") } ?? "none"])
        }
        let numbers = try PythonOracle.numbers(out.split(separator: "\n")[0])
        #expect(Int(numbers[0]) == weights.pixels)
        for j in 0..<3 {
            #expect(abs(weights.weights[j] - numbers[1 + j]) < 1e-9, "weight \(j): \(weights.weights[j]) vs numpy \(numbers[1 + j])")
            #expect(abs(weights.entropy[j] - numbers[4 + j]) < 1e-9, "entropy \(j)")
        }
        #expect(abs(weights.weights.reduce(0, +) - 1) < 1e-12)
    }

    @Test func entropyRefusesWhatIsUndefined() {
        var zero = EntropySums(members: 2)
        zero.count = 10; zero.sum = [5, 0]; zero.sumXLogX = [-1, 0]
        #expect(throws: EntropyWeights.Problem.zeroMember(1)) { try EntropyWeights(zero) }
        var one = EntropySums(members: 2)
        one.count = 1; one.sum = [1, 1]
        #expect(throws: EntropyWeights.Problem.tooFewPixels(1)) { try EntropyWeights(one) }
        // Every member constant: every entropy is exactly 1, no divergence.
        var flat = EntropySums(members: 2)
        flat.count = 4; flat.sum = [2, 4]; flat.sumXLogX = [4 * 0.5 * log(0.5), 0]
        #expect(throws: EntropyWeights.Problem.noVariation) { try EntropyWeights(flat) }
    }

    // MARK: standard-deviation breaks

    @Test func standardDeviationBreaksAreCentred() {
        let five = ModelKernel.standardDeviationBreaks(mean: 0.4, deviation: 0.1, classes: 5)
        #expect(zip(five, [0.25, 0.35, 0.45, 0.55]).allSatisfy { abs($0 - $1) < 1e-15 })
        let four = ModelKernel.standardDeviationBreaks(mean: 0.4, deviation: 0.1, classes: 4)
        #expect(zip(four, [0.3, 0.4, 0.5]).allSatisfy { abs($0 - $1) < 1e-15 })
        #expect(ModelKernel.standardDeviationBreaks(mean: 0.5, deviation: 0.1, classes: 2) == [0.5])
        #expect(ModelKernel.standardDeviationBreaks(mean: 0.5, deviation: 0.1, classes: 9).count == 8)
    }

    @Test func countsNonFiniteResultsAndValuesOutsideTheRange() {
        var program = ModelProgram()
        let a = program.append(.normalize(layer: 0, .linear(min: 0, max: 1)))
        let two = program.append(.constant(2))
        let out = program.append(.binary(.divide, two, a))   // 2 / a: inf at 0, > 1 below 2
        let kernel = ModelKernel(program: program, layerCount: 1, output: out, breaks: [0.5])
        let values: [Float] = [0, 1, 0.5, .nan, 4, 0, 1, 1, 1, 1, 1]
        var index = [Float](repeating: 0, count: values.count), classes = [UInt8](repeating: 0, count: values.count)
        let counters = values.withUnsafeBufferPointer { v in
            index.withUnsafeMutableBufferPointer { ip in classes.withUnsafeMutableBufferPointer { cp in
                kernel.run(count: values.count, inputs: [v], mask: nil, index: ip, classes: cp)
            } }
        }
        #expect(counters.nonFinite == 2)
        #expect(counters.outOfRange == 8)   // 2 where a = 1 (7 pixels; 4 clamps to 1) and 4 where a = 0.5
        #expect(index[0] == RiskKernel.indexNoData && classes[0] == 0)
        #expect(index[3] == RiskKernel.indexNoData && classes[3] == 0)
        #expect(index[2] == 4 && classes[2] == 2)
        #expect(counters.maximum == 4 && counters.minimum == 2)
    }

    /// A program of the census shape: a weighted hazard of the three layers, a second index, and
    /// `hazard * (0.2 + 0.8 * second) * (1 - 0.5 * layer 1)` — the hazard's weights set by `w`.
    static func censusShape(_ w: [Double]) -> (ModelProgram, Int) {
        var program = ModelProgram()
        let r = normalizations.enumerated().map { program.append(.normalize(layer: $0, $1)) }
        let hazard = program.append(.weightedSum(r, w))
        let second = program.append(.maximum([r[1], r[2]]))
        let a = program.append(.constant(0.2))
        let b = program.append(.scaledAdd(a, second, 0.8))
        let one = program.append(.constant(1))
        let c = program.append(.scaledAdd(one, r[1], -0.5))
        let hb = program.append(.binary(.multiply, hazard, b))
        let out = program.append(.binary(.multiply, hb, c))
        return (program, out)
    }

    @Test(arguments: [1, 8, 257, 4097])
    func variantsEqualTheirOwnKernelsBitForBit(count: Int) {
        let (layers, mask) = ModelKernelTests.inputs(count, seed: UInt64(count) + 29)
        let weights: [[Double]] = [[0.45, 0.20, 0.35], [0.54, 0.16, 0.30], [0.36, 0.24, 0.40], [0.45, 0.20, 0.35]]
        let breaks: [[Double]] = [[0.1, 0.2, 0.3], [], [0.05, 0.15, 0.25, 0.35], [0.3]]
        let (base, output) = ModelKernelTests.censusShape(weights[0])
        let kernel = ModelKernel(program: base, layerCount: 3, output: output, breaks: [])
        let variants = zip(weights, breaks).map { kernel.variant(ModelKernelTests.censusShape($0).0, breaks: $1)! }
        // The hazard and the two products that read it: three steps again, the rest once.
        #expect(variants[1].steps.map(\.0) == [3, 9, 10])
        #expect(variants[3].steps.isEmpty)
        for withMask in [false, true] {
            var index = (0..<4).map { _ in [Float](repeating: 7, count: count) }, classes = (0..<4).map { _ in [UInt8](repeating: 7, count: count) }
            var ownIndex = index, ownClasses = classes
            var shared: [ModelKernel.Counters] = [], own: [ModelKernel.Counters] = []
            layers[0].withUnsafeBufferPointer { a in layers[1].withUnsafeBufferPointer { b in layers[2].withUnsafeBufferPointer { c in
                mask.withUnsafeBufferPointer { m in
                    let inputs = [a, b, c], m = withMask ? m : nil
                    let ip = index.indices.map { i in index[i].withUnsafeMutableBufferPointer { $0 } }
                    let cp = classes.indices.map { i in classes[i].withUnsafeMutableBufferPointer { $0 } }
                    shared = kernel.runVariants(count: count, inputs: inputs, mask: m, variants: variants, index: ip, classes: cp)
                    for v in 0..<4 {
                        let k = ModelKernel(program: ModelKernelTests.censusShape(weights[v]).0, layerCount: 3, output: output, breaks: breaks[v])
                        own.append(ownIndex[v].withUnsafeMutableBufferPointer { i in
                            ownClasses[v].withUnsafeMutableBufferPointer { k.run(count: count, inputs: inputs, mask: m, index: i, classes: $0) }
                        })
                    }
                }
            } } }
            for v in 0..<4 {
                #expect(index[v].map(\.bitPattern) == ownIndex[v].map(\.bitPattern), "variant \(v), mask \(withMask): index")
                #expect(classes[v] == ownClasses[v], "variant \(v), mask \(withMask): classes")
                #expect(shared[v] == own[v], "variant \(v), mask \(withMask): counters")
            }
            // The variants differ where they should (the weights change the index).
            #expect(count < 8 || index[0] != index[1])
        }
        // Another structure (a step more) is no variant.
        var other = base
        other.append(.constant(3))
        #expect(kernel.variant(other, breaks: []) == nil)
    }
}
