#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The census risk model (indicator layers → sub-indices → risk) as a flat program of SIMD steps.
///
/// Every step writes one register (static single assignment: step i writes register i), a strip
/// of `ModelKernel.stripLength` Float32 values that stays in L1/L2. A step reads registers written
/// before it. Layers enter through `normalize` steps; nodata travels as NaN. Nothing is interpreted
/// per pixel: each step is one tight SIMD loop over the strip.
public struct ModelProgram: Sendable, Equatable {
    public enum Step: Sendable, Equatable {
        /// The input layer, normalised to 0..1 (NaN where it is nodata or unmatched by a table).
        case normalize(layer: Int, Normalization)
        case constant(Double)
        /// 1 − x (a negative direction).
        case oneMinus(Int)
        case negate(Int)
        case squareRoot(Int)
        case binary(IndexExpression.BinaryOperator, Int, Int)
        /// Lane-wise minimum / maximum of two or more registers; NaN in any operand gives NaN.
        case minimum([Int])
        case maximum([Int])
        /// min(max(x, lo), hi), NaN-propagating.
        case clamp(Int, Int, Int)
        /// Σ wᵢ·xᵢ, accumulated in member order exactly as the fixed weighted-sum kernel does.
        case weightedSum([Int], [Double])
        case product([Int])
        /// Π xᵢ^wᵢ as exp(Σ wᵢ·ln xᵢ), like the fixed kernel.
        case geometricMean([Int], [Double])
        /// x · c (an expression's product with a constant, fused).
        case scale(Int, Double)
        /// a + x · c (an expression's sum with a constant-weighted term, fused; no FMA: the product is rounded first).
        case scaledAdd(Int, Int, Double)
    }

    public private(set) var steps: [Step] = []

    public init() {}

    /// Appends a step; returns its register.
    @discardableResult
    public mutating func append(_ step: Step) -> Int {
        steps.append(step)
        return steps.count - 1
    }

    /// Compiles an expression whose names resolve through `registers`; returns the result's register.
    /// Products with a constant and sums with such a product fuse into one step each.
    public mutating func compile(_ e: IndexExpression, registers: [String: Int]) -> Int {
        func constantValue(_ e: IndexExpression) -> Double? {
            if case .number(let v) = e { return v }
            if case .negate(.number(let v)) = e { return -v }
            return nil
        }
        switch e {
        case .number(let v): return append(.constant(v))
        case .name(let n):
            guard let r = registers[n] else { preconditionFailure("unresolved name \(n)") }
            return r
        case .negate(let x):
            if let v = constantValue(e) { return append(.constant(v)) }
            return append(.negate(compile(x, registers: registers)))
        case .binary(let op, let a, let b):
            if op == .multiply {
                if let c = constantValue(b), constantValue(a) == nil { return append(.scale(compile(a, registers: registers), c)) }
                if let c = constantValue(a), constantValue(b) == nil { return append(.scale(compile(b, registers: registers), c)) }
            }
            if op == .add {
                // a + x·c or x·c + a, with the product rounded before the sum as written.
                func scaled(_ e: IndexExpression) -> (IndexExpression, Double)? {
                    guard case .binary(.multiply, let p, let q) = e else { return nil }
                    if let c = constantValue(q), constantValue(p) == nil { return (p, c) }
                    if let c = constantValue(p), constantValue(q) == nil { return (q, c) }
                    return nil
                }
                if let (x, c) = scaled(b) {
                    let ra = compile(a, registers: registers)
                    return append(.scaledAdd(ra, compile(x, registers: registers), c))
                }
                if let (x, c) = scaled(a) {
                    let rx = compile(x, registers: registers)
                    return append(.scaledAdd(compile(b, registers: registers), rx, c))
                }
            }
            let ra = compile(a, registers: registers)
            return append(.binary(op, ra, compile(b, registers: registers)))
        case .call(let f, let args):
            let rs = args.map { compile($0, registers: registers) }
            switch f {
            case .min: return append(.minimum(rs))
            case .max: return append(.maximum(rs))
            case .sqrt: return append(.squareRoot(rs[0]))
            case .clamp: return append(.clamp(rs[0], rs[1], rs[2]))
            }
        }
    }
}

/// Running sums for entropy weights over the pixels valid in every member (and inside the mask):
/// n, Σx and Σx·ln x per member (0·ln 0 = 0). Merged in block order, so the weights do not
/// depend on the thread count.
public struct EntropySums: Sendable, Equatable, Codable {
    public var count: Int
    public var sum: [Double]
    public var sumXLogX: [Double]
    /// Member values below 0 (an index outside 0..1): entropy weights are undefined for them.
    public var negative: Int

    public init(members: Int) {
        count = 0
        sum = [Double](repeating: 0, count: members)
        sumXLogX = [Double](repeating: 0, count: members)
        negative = 0
    }

    public mutating func merge(_ other: EntropySums) {
        count += other.count
        negative += other.negative
        for j in sum.indices {
            sum[j] += other.sum[j]
            sumXLogX[j] += other.sumXLogX[j]
        }
    }
}

/// Entropy weights (熵权法) from the sums: pᵢⱼ = xᵢⱼ / Σᵢ xᵢⱼ; eⱼ = −(1/ln n) Σᵢ pᵢⱼ ln pᵢⱼ;
/// dⱼ = 1 − eⱼ; wⱼ = dⱼ / Σ dⱼ; with a prior, wⱼ ∝ priorⱼ · wⱼ, renormalised.
/// Σᵢ pᵢⱼ ln pᵢⱼ = (Σᵢ xᵢⱼ ln xᵢⱼ) / Sⱼ − ln Sⱼ, so one pass over the data suffices.
public struct EntropyWeights: Sendable, Equatable, Codable {
    public let entropy: [Double]
    public let divergence: [Double]
    /// The objective weights (before any prior).
    public let objective: [Double]
    /// The weights used (with the prior applied, if any).
    public let weights: [Double]
    public let pixels: Int

    public enum Problem: Error, Sendable, Equatable, CustomStringConvertible {
        case tooFewPixels(Int)
        case zeroMember(Int)
        case negativeValues(Int)
        case noVariation
        public var description: String {
            switch self {
            case .tooFewPixels(let n): return "entropy weights need at least 2 pixels valid in every member, got \(n)"
            case .zeroMember(let j): return "member \(j + 1) is 0 at every pixel (its entropy is undefined)"
            case .negativeValues(let n): return "\(n) member values are below 0 (entropy needs values in 0..1)"
            case .noVariation: return "every member is spread evenly over the pixels (all entropies are 1): the weights are undefined"
            }
        }
    }

    public init(_ s: EntropySums, prior: [Double]? = nil) throws {
        guard s.negative == 0 else { throw Problem.negativeValues(s.negative) }
        guard s.count >= 2 else { throw Problem.tooFewPixels(s.count) }
        let k = 1 / log(Double(s.count))
        var e: [Double] = []
        for j in s.sum.indices {
            guard s.sum[j] > 0 else { throw Problem.zeroMember(j) }
            let plogp = s.sumXLogX[j] / s.sum[j] - log(s.sum[j])
            e.append(-k * plogp)
        }
        let d = e.map { 1 - $0 }
        let total = d.reduce(0, +)
        guard total > 0, d.allSatisfy({ $0 >= -1e-12 }) else { throw Problem.noVariation }
        let objective = d.map { max(0, $0) / total }
        var w = objective
        if let prior {
            precondition(prior.count == w.count, "one prior weight per member")
            w = zip(prior, w).map { $0 * $1 }
            let t = w.reduce(0, +)
            guard t > 0 else { throw Problem.noVariation }
            w = w.map { $0 / t }
        }
        entropy = e
        divergence = d
        self.objective = objective
        weights = w
        pixels = s.count
    }
}

/// Runs a `ModelProgram` over blocks: the index (0..1, `indexNoData` where nodata) and its classes,
/// or entropy sums of chosen registers.
public struct ModelKernel: Sendable {
    public static let stripLength = 256

    public let program: ModelProgram
    public let layerCount: Int
    /// The register holding the index.
    public let output: Int
    let breaks: [Float]
    /// Per step: the compiled normalisation of `normalize` steps.
    let normalizations: [CompiledNormalization?]
    /// Registers of the normalised layers: a pixel is nodata where any is NaN.
    let layerRegisters: [Int]

    public var classCount: Int { breaks.count + 1 }

    /// Index values outside 0..1 by more than this are counted as out of range.
    public static let rangeTolerance: Float = 1e-6

    public init(program: ModelProgram, layerCount: Int, output: Int, breaks: [Double]) {
        precondition(output >= 0 && output < program.steps.count, "output register out of range")
        precondition(breaks.count <= 254, "at most 255 classes")
        precondition(zip(breaks, breaks.dropFirst()).allSatisfy { $0 < $1 }, "breaks must increase")
        var norms: [CompiledNormalization?] = []
        var layers: [Int] = []
        for (i, step) in program.steps.enumerated() {
            if case .normalize(let layer, let n) = step {
                precondition(layer >= 0 && layer < layerCount, "layer index out of range")
                precondition(n.problem == nil, n.problem ?? "")
                norms.append(CompiledNormalization(n))
                layers.append(i)
            } else {
                norms.append(nil)
            }
        }
        self.program = program
        self.layerCount = layerCount
        self.output = output
        self.breaks = breaks.map(Float.init)
        self.normalizations = norms
        self.layerRegisters = layers
    }

    /// What one `run` saw besides the index: results that were not finite although every input
    /// was valid (nodata now), and valid results outside 0..1.
    public struct Counters: Sendable, Equatable {
        public var nonFinite = 0
        public var outOfRange = 0
        public var minimum = Float.infinity
        public var maximum = -Float.infinity
        public init() {}
        public mutating func merge(_ o: Counters) {
            nonFinite += o.nonFinite
            outOfRange += o.outOfRange
            minimum = min(minimum, o.minimum)
            maximum = max(maximum, o.maximum)
        }
    }

    /// Runs the program over `count` pixels (inputs as for `RiskKernel.run`).
    @discardableResult
    public func run(count: Int, inputs: [UnsafeBufferPointer<Float>], mask: UnsafeBufferPointer<Float>?,
                    index: UnsafeMutableBufferPointer<Float>, classes: UnsafeMutableBufferPointer<UInt8>) -> Counters {
        precondition(index.count >= count && classes.count >= count, "buffers must hold at least count values")
        var tally = OutputTally()
        strips(count: count, inputs: inputs, mask: mask) { regs, maskPointer, start, n in
            output(regs: regs, mask: maskPointer, start: start, n: n, breaks: breaks, index: index, classes: classes, tally: &tally)
        }
        return tally.counters
    }

    /// A program that differs from this kernel's only in some steps' arguments (another weight set
    /// of a node): the steps to evaluate again (the changed ones and every step that reads them,
    /// in program order) and its breaks. `runVariants` gives each exactly what a kernel of its own
    /// program gives.
    public struct Variant: Sendable {
        let steps: [(Int, ModelProgram.Step)]
        let breaks: [Float]
    }

    /// The variant of this kernel that is `other` (classifying with `breaks`), or nil where `other`
    /// differs otherwise (another number of steps, another normalisation).
    public func variant(_ other: ModelProgram, breaks: [Double]) -> Variant? {
        guard other.steps.count == program.steps.count else { return nil }
        var dirty = Set<Int>()
        var steps: [(Int, ModelProgram.Step)] = []
        for (i, step) in other.steps.enumerated() {
            let changed = step != program.steps[i]
            if changed, case .normalize = step { return nil }
            if changed, case .normalize = program.steps[i] { return nil }
            if changed || Self.operands(step).contains(where: dirty.contains) {
                dirty.insert(i)
                steps.append((i, step))
            }
        }
        return Variant(steps: steps, breaks: breaks.map(Float.init))
    }

    /// The registers a step reads.
    static func operands(_ step: ModelProgram.Step) -> [Int] {
        switch step {
        case .normalize, .constant: return []
        case .oneMinus(let a), .negate(let a), .squareRoot(let a), .scale(let a, _): return [a]
        case .binary(_, let a, let b), .scaledAdd(let a, let b, _): return [a, b]
        case .minimum(let rs), .maximum(let rs), .product(let rs): return rs
        case .clamp(let a, let b, let c): return [a, b, c]
        case .weightedSum(let rs, _), .geometricMean(let rs, _): return rs
        }
    }

    /// Every variant over `count` pixels into its own index and classes, the steps no variant
    /// changes evaluated once per strip: each variant's index, classes and counters are those of
    /// `ModelKernel(program: its program, …).run` (the same steps on the same registers in the same
    /// order; a step that does not read a changed one holds the same value in both).
    @discardableResult
    public func runVariants(count: Int, inputs: [UnsafeBufferPointer<Float>], mask: UnsafeBufferPointer<Float>?,
                            variants: [Variant], index: [UnsafeMutableBufferPointer<Float>],
                            classes: [UnsafeMutableBufferPointer<UInt8>]) -> [Counters] {
        precondition(index.count == variants.count && classes.count == variants.count, "one index and classes buffer per variant")
        precondition(index.allSatisfy { $0.count >= count } && classes.allSatisfy { $0.count >= count },
                     "buffers must hold at least count values")
        var tallies = [OutputTally](repeating: OutputTally(), count: variants.count)
        // Every variant evaluates the steps any variant changes (its own where it changes them, the
        // base's elsewhere): a register an earlier variant wrote is written again before a later
        // step reads it, and the others hold the base's values.
        let changed = Set(variants.flatMap { $0.steps.map(\.0) }).sorted()
        let steps = variants.map { variant in
            let own = Dictionary(uniqueKeysWithValues: variant.steps.map { ($0.0, $0.1) })
            return changed.map { ($0, own[$0] ?? program.steps[$0]) }
        }
        strips(count: count, inputs: inputs, mask: mask) { regs, maskPointer, start, n in
            let vectors = (n + 7) / 8
            for (v, variant) in variants.enumerated() {
                evaluate(regs: regs, inputs: [], vectors: vectors, only: steps[v])
                output(regs: regs, mask: maskPointer, start: start, n: n, breaks: variant.breaks, index: index[v], classes: classes[v],
                       tally: &tallies[v])
            }
        }
        return tallies.map(\.counters)
    }

    /// `run`'s counts across strips.
    struct OutputTally {
        var nonFinite = SIMD8<Int32>(), outOfRange = SIMD8<Int32>()
        var lowest = V(repeating: .infinity), highest = V(repeating: -.infinity)
        var counters: Counters {
            var c = Counters()
            c.nonFinite = Int(nonFinite.wrappedSum())
            c.outOfRange = Int(outOfRange.wrappedSum())
            c.minimum = lowest.min()
            c.maximum = highest.max()
            return c
        }
    }

    /// One strip's index and classes from the output register: nodata where the mask is 0, a
    /// normalised layer is NaN or the result is not finite; class 1 + the breaks at or below it.
    @inline(__always)
    private func output(regs: UnsafeMutablePointer<Float>, mask maskPointer: UnsafePointer<Float>?, start: Int, n: Int, breaks: [Float],
                        index: UnsafeMutableBufferPointer<Float>, classes: UnsafeMutableBufferPointer<UInt8>, tally t: inout OutputTally) {
        let S = ModelKernel.stripLength
        let stride = MemoryLayout<V>.stride
        let zero = V(repeating: 0), one32 = SIMD8<Int32>(repeating: 1), none32 = SIMD8<Int32>(repeating: 0)
        let infinity = V(repeating: .infinity), negInfinity = V(repeating: -.infinity)
        let below = V(repeating: -ModelKernel.rangeTolerance), above = V(repeating: 1 + ModelKernel.rangeTolerance)
        let noData = V(repeating: RiskKernel.indexNoData)
        let out = UnsafeRawPointer(regs + output * S)
        for j in 0..<(n + 7) / 8 {
            var ok: SIMDMask<SIMD8<Int32>>
            if let maskPointer {
                ok = UnsafeRawPointer(maskPointer).loadUnaligned(fromByteOffset: j * stride, as: V.self) .!= zero
            } else {
                ok = zero .== zero
            }
            for r in layerRegisters {
                let x = UnsafeRawPointer(regs + r * S).load(fromByteOffset: j * stride, as: V.self)
                ok = ok .& (x .== x)
            }
            let v = out.load(fromByteOffset: j * stride, as: V.self)
            let finite = (v .< infinity) .& (v .> negInfinity)
            t.nonFinite &+= none32.replacing(with: one32, where: ok .& .!finite)
            ok = ok .& finite
            t.outOfRange &+= none32.replacing(with: one32, where: ok .& ((v .< below) .| (v .> above)))
            t.lowest = t.lowest.replacing(with: v, where: ok .& (v .< t.lowest))
            t.highest = t.highest.replacing(with: v, where: ok .& (v .> t.highest))
            var c = one32
            for b in breaks { c &+= none32.replacing(with: one32, where: v .>= V(repeating: b)) }
            c = none32.replacing(with: c, where: ok)
            let values = noData.replacing(with: v, where: ok)
            let narrow = SIMD8<UInt8>(truncatingIfNeeded: c)
            let base = start + j * 8
            if base + 8 <= start + n {
                UnsafeMutableRawPointer(index.baseAddress! + base).storeBytes(of: values, as: V.self)
                UnsafeMutableRawPointer(classes.baseAddress! + base).storeBytes(of: narrow, as: SIMD8<UInt8>.self)
            } else {
                for lane in 0..<(start + n - base) {
                    index[base + lane] = values[lane]
                    classes[base + lane] = narrow[lane]
                }
            }
        }
    }

    /// Entropy sums for each group of registers over the pixels where every register of the group
    /// is finite and the mask is non-zero, in pixel order.
    public func entropySums(count: Int, inputs: [UnsafeBufferPointer<Float>], mask: UnsafeBufferPointer<Float>?,
                            groups: [[Int]]) -> [EntropySums] {
        var sums = groups.map { EntropySums(members: $0.count) }
        strips(count: count, inputs: inputs, mask: mask) { regs, maskPointer, _, n in
            let S = ModelKernel.stripLength
            for (g, members) in groups.enumerated() {
                for p in 0..<n {
                    if let maskPointer, maskPointer[p] == 0 { continue }
                    var ok = true
                    for r in members where !regs[r * S + p].isFinite { ok = false; break }
                    guard ok else { continue }
                    sums[g].count += 1
                    for (j, r) in members.enumerated() {
                        let x = Double(regs[r * S + p])
                        if x < 0 { sums[g].negative += 1; continue }
                        sums[g].sum[j] += x
                        if x > 0 { sums[g].sumXLogX[j] += x * log(x) }
                    }
                }
            }
        }
        return sums
    }

    /// Evaluates the program strip by strip; `body` sees the registers, the strip's mask (nil = none),
    /// the strip's first pixel and its pixel count. The last partial strip runs on NaN-padded copies.
    func strips(count: Int, inputs: [UnsafeBufferPointer<Float>], mask: UnsafeBufferPointer<Float>?,
                _ body: (UnsafeMutablePointer<Float>, UnsafePointer<Float>?, Int, Int) -> Void) {
        precondition(inputs.count == layerCount, "expected \(layerCount) input layers, got \(inputs.count)")
        precondition(inputs.allSatisfy { $0.count >= count }, "inputs must hold at least count values")
        if let mask { precondition(mask.count >= count, "mask must hold at least count values") }
        guard count > 0 else { return }
        let S = ModelKernel.stripLength
        let registers = program.steps.count
        withUnsafeTemporaryAllocation(of: Float.self, capacity: registers * S + (layerCount + 1) * S) { scratch in
            let regs = scratch.baseAddress!
            let pad = regs + registers * S
            // Constants once: no step writes a constant register again.
            for (i, step) in program.steps.enumerated() {
                if case .constant(let c) = step { (regs + i * S).initialize(repeating: Float(c), count: S) }
            }
            var start = 0
            while start < count {
                let n = min(S, count - start)
                let vectors = (n + 7) / 8
                var pointers: [UnsafeRawPointer] = []
                var maskPointer: UnsafePointer<Float>? = mask.map { $0.baseAddress! + start }
                if n % 8 != 0 {
                    // Pad the last partial vector: inputs NaN, mask 0 beyond the end.
                    for l in 0..<layerCount {
                        let dst = pad + l * S
                        dst.initialize(repeating: .nan, count: vectors * 8)
                        for k in 0..<n { dst[k] = inputs[l][start + k] }
                        pointers.append(UnsafeRawPointer(dst))
                    }
                    if let mask {
                        let dst = pad + layerCount * S
                        dst.initialize(repeating: 0, count: vectors * 8)
                        for k in 0..<n { dst[k] = mask[start + k] }
                        maskPointer = UnsafePointer(dst)
                    }
                } else {
                    pointers = inputs.map { UnsafeRawPointer($0.baseAddress! + start) }
                }
                evaluate(regs: regs, inputs: pointers, vectors: vectors)
                body(regs, maskPointer, start, n)
                start += n
            }
        }
    }

    // One function over ~80 lines on purpose: the interpreter's hot loop, one `switch` case per
    // opcode, inlined into the strip loop; split, each case would pay a call per strip.
    @inline(__always)
    private func evaluate(regs: UnsafeMutablePointer<Float>, inputs: [UnsafeRawPointer], vectors: Int,
                          only: [(Int, ModelProgram.Step)]? = nil) {
        let S = ModelKernel.stripLength
        let stride = MemoryLayout<V>.stride
        let nan = V(repeating: .nan)
        @inline(__always) func reg(_ r: Int) -> UnsafeMutableRawPointer { UnsafeMutableRawPointer(regs + r * S) }
        @inline(__always) func load(_ r: Int, _ j: Int) -> V { reg(r).load(fromByteOffset: j * stride, as: V.self) }
        @inline(__always) func exec(_ i: Int, _ step: ModelProgram.Step) {
            let dst = reg(i)
            @inline(__always) func store(_ j: Int, _ v: V) { dst.storeBytes(of: v, toByteOffset: j * stride, as: V.self) }
            switch step {
            case .normalize(let layer, _):
                normalizations[i]!.accumulate(inputs[layer], into: dst, weight: 1, first: true, vectors: vectors)
            case .constant:
                break
            case .oneMinus(let a):
                let one = V(repeating: 1)
                for j in 0..<vectors { store(j, one - load(a, j)) }
            case .negate(let a):
                for j in 0..<vectors { store(j, -load(a, j)) }
            case .squareRoot(let a):
                for j in 0..<vectors { store(j, load(a, j).squareRoot()) }
            case .binary(let op, let a, let b):
                switch op {
                case .add: for j in 0..<vectors { store(j, load(a, j) + load(b, j)) }
                case .subtract: for j in 0..<vectors { store(j, load(a, j) - load(b, j)) }
                case .multiply: for j in 0..<vectors { store(j, load(a, j) * load(b, j)) }
                case .divide: for j in 0..<vectors { store(j, load(a, j) / load(b, j)) }
                case .power:
                    for j in 0..<vectors {
                        let x = load(a, j), y = load(b, j)
                        var r = V()
                        for lane in 0..<8 { r[lane] = powf(x[lane], y[lane]) }
                        // powf(NaN, 0) is 1: keep nodata as nodata.
                        store(j, r.replacing(with: nan, where: (x .!= x) .| (y .!= y)))
                    }
                }
            case .minimum(let rs):
                for j in 0..<vectors {
                    var acc = load(rs[0], j)
                    for r in rs.dropFirst() {
                        let x = load(r, j)
                        acc = acc.replacing(with: x, where: x .< acc).replacing(with: nan, where: x .!= x)
                    }
                    store(j, acc)
                }
            case .maximum(let rs):
                for j in 0..<vectors {
                    var acc = load(rs[0], j)
                    for r in rs.dropFirst() { acc = MaximumFold.fold(acc, load(r, j), nan) }
                    store(j, acc)
                }
            case .clamp(let x, let lo, let hi):
                for j in 0..<vectors {
                    let v = load(x, j), l = load(lo, j), h = load(hi, j)
                    let r = v.replacing(with: l, where: v .< l).replacing(with: h, where: v .> h)
                    store(j, r.replacing(with: nan, where: (v .!= v) .| (l .!= l) .| (h .!= h)))
                }
            case .weightedSum(let rs, let ws):
                let w = ws.map { V(repeating: Float($0)) }
                for j in 0..<vectors {
                    var acc = load(rs[0], j) * w[0]
                    for k in 1..<rs.count { acc = acc + load(rs[k], j) * w[k] }
                    store(j, acc)
                }
            case .product(let rs):
                for j in 0..<vectors {
                    var acc = load(rs[0], j)
                    for r in rs.dropFirst() { acc = acc * load(r, j) }
                    store(j, acc)
                }
            case .geometricMean(let rs, let ws):
                let w = ws.map { V(repeating: Float($0)) }
                for j in 0..<vectors {
                    var acc = WeightedLogSumFold.first(load(rs[0], j), w[0])
                    for k in 1..<rs.count { acc = WeightedLogSumFold.fold(acc, load(rs[k], j), w[k]) }
                    for lane in 0..<8 { acc[lane] = expf(acc[lane]) }
                    store(j, acc)
                }
            case .scale(let a, let c):
                let cv = V(repeating: Float(c))
                for j in 0..<vectors { store(j, load(a, j) * cv) }
            case .scaledAdd(let a, let x, let c):
                let cv = V(repeating: Float(c))
                for j in 0..<vectors { store(j, load(a, j) + load(x, j) * cv) }
            }
        }
        if let only {
            for (i, step) in only { exec(i, step) }
        } else {
            for (i, step) in program.steps.enumerated() { exec(i, step) }
        }
    }

    /// The finite values' range inside the mask (min-max normalisation over the data).
    public static func finiteRange(_ values: UnsafeBufferPointer<Float>, mask: UnsafeBufferPointer<Float>?)
        -> (minimum: Float, maximum: Float, count: Int) {
        var lo = Float.infinity, hi = -Float.infinity, n = 0
        for p in values.indices {
            let v = values[p]
            guard v.isFinite else { continue }
            if let mask, mask[p] == 0 { continue }
            lo = min(lo, v); hi = max(hi, v); n += 1
        }
        return (lo, hi, n)
    }

    /// Breaks at mean ± k·σ: for an odd number of classes k = 0.5, 1.5, … (the middle class is one σ
    /// wide around the mean); for an even number, the mean and ±1σ, ±2σ, …
    public static func standardDeviationBreaks(mean: Double, deviation: Double, classes: Int) -> [Double] {
        precondition(classes >= 2)
        let half = (classes - 1) / 2
        var ks: [Double] = []
        if classes % 2 == 1 {
            for i in 0..<half { ks.append(Double(i) + 0.5) }
            ks = ks.reversed().map { -$0 } + ks
        } else {
            for i in 1...max(1, half) where i <= half { ks.append(Double(i)) }
            ks = ks.reversed().map { -$0 } + [0] + ks
        }
        return ks.map { mean + $0 * deviation }
    }
}
