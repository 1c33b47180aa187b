#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a layer's values become a 0..1 index. Values are Float32 on the grid; NaN and ±inf are
/// nodata and stay nodata.
public enum Normalization: Sendable, Equatable, Hashable {
    /// Piecewise-linear through the points (x strictly increasing), clamped to the first and last y.
    case curve([CurvePoint])
    /// (v − min) / (max − min), clamped to 0..1.
    case linear(min: Double, max: Double)
    /// Stored values matched to keys within a relative tolerance (`tableTolerance`); unmatched values
    /// get `default`, or nodata when there is no default.
    case table([TableEntry], default: Double?)

    public struct CurvePoint: Sendable, Equatable, Hashable {
        public let x: Double, y: Double
        public init(_ x: Double, _ y: Double) { self.x = x; self.y = y }
    }

    public struct TableEntry: Sendable, Equatable, Hashable {
        public let key: Double, value: Double
        public init(_ key: Double, _ value: Double) { self.key = key; self.value = value }
    }

    /// Relative tolerance of table matching: |v − key| ≤ tableTolerance × max(1, |key|).
    /// Float32 storage of 0.1 is 0.100000001: well inside; keys closer than twice this are rejected.
    public static let tableTolerance: Double = 1e-5

    /// A problem with the parameters, or nil when they are usable: every kind must be finite,
    /// representable in Float32 (the kernel's type) and map every value into 0..1
    /// (`rangeProblem`), so an index can never leave 0..1 whatever the data.
    public var problem: String? {
        shapeProblem ?? rangeProblem
    }

    /// Outputs outside 0..1, or parameters that do not survive Float32 (the kernel computes in it).
    /// New kinds add their own case here.
    public var rangeProblem: String? {
        let largest = Double(Float.greatestFiniteMagnitude)
        func outside(_ y: Double) -> Bool { !(y >= 0 && y <= 1) }
        switch self {
        case .curve(let points):
            for p in points where abs(p.x) > largest {
                return "curve x \(p.x) is beyond Float32 range (±3.4e38)"
            }
            for p in points where outside(p.y) {
                return "curve y values are normalised values and must lie in 0..1, got \(p.y) at x \(p.x)"
            }
            for (a, b) in zip(points, points.dropFirst()) where !(Float(b.x) > Float(a.x)) {
                return "curve x values \(a.x) and \(b.x) are equal in Float32 (the kernel's type)"
            }
            return nil
        case .linear(let lo, let hi):
            if abs(lo) > largest || abs(hi) > largest { return "linear bounds must lie within Float32 range (±3.4e38), got [\(lo), \(hi)]" }
            let scale = Float(1 / (hi - lo))
            if !(Float(hi) > Float(lo)) || !scale.isFinite || !scale.isNormal {
                return "linear bounds [\(lo), \(hi)] cannot be told apart in Float32 (the kernel's type)"
            }
            return nil
        case .table(let entries, let def):
            for e in entries where abs(e.key) > largest { return "table key \(e.key) is beyond Float32 range (±3.4e38)" }
            for e in entries where outside(e.value) {
                return "table values are normalised values and must lie in 0..1, got \(e.value) for \(e.key)"
            }
            if let def, outside(def) { return "table default is a normalised value and must lie in 0..1, got \(def)" }
            return nil
        }
    }

    private var shapeProblem: String? {
        switch self {
        case .curve(let points):
            if points.count < 2 { return "a curve needs at least 2 points, got \(points.count)" }
            for p in points where !p.x.isFinite || !p.y.isFinite { return "curve point [\(p.x), \(p.y)] is not finite" }
            for (a, b) in zip(points, points.dropFirst()) where !(b.x > a.x) {
                return "curve x values must increase strictly: \(a.x) is followed by \(b.x)"
            }
            return nil
        case .linear(let lo, let hi):
            if !lo.isFinite || !hi.isFinite { return "linear bounds must be finite" }
            if !(hi > lo) { return "linear needs min < max, got [\(lo), \(hi)]" }
            return nil
        case .table(let entries, let def):
            if entries.isEmpty { return "a table needs at least one entry" }
            for e in entries where !e.key.isFinite || !e.value.isFinite { return "table entry \(e.key): \(e.value) is not finite" }
            if let def, !def.isFinite { return "table default must be finite" }
            let keys = entries.map(\.key).sorted()
            for (a, b) in zip(keys, keys.dropFirst()) {
                let tol = Normalization.tableTolerance * max(1, abs(a), abs(b))
                if b - a <= 2 * tol { return "table keys \(a) and \(b) are too close to tell apart" }
            }
            return nil
        }
    }
}

/// A normalisation compiled to Float32 parameters for the kernel.
struct CompiledNormalization: Sendable {
    enum Kind: Sendable { case curve, linear, table }
    let kind: Kind
    // curve: y0 + Σ slope_i · clamp(v − x_i, 0, width_i)
    let y0: Float
    let segments: [(x: Float, width: Float, slope: Float)]
    // linear: clamp((v − low) · scale, 0, 1)
    let low: Float
    let scale: Float
    // table: value_i where |v − key_i| ≤ tolerance_i, else fallback (NaN = nodata)
    let entries: [(key: Float, tolerance: Float, value: Float)]
    let fallback: Float

    init(_ n: Normalization) {
        var y0: Float = 0, segments: [(Float, Float, Float)] = []
        var low: Float = 0, scale: Float = 1
        var entries: [(Float, Float, Float)] = [], fallback: Float = .nan
        switch n {
        case .curve(let points):
            kind = .curve
            y0 = Float(points[0].y)
            for (a, b) in zip(points, points.dropFirst()) {
                segments.append((Float(a.x), Float(b.x - a.x), Float((b.y - a.y) / (b.x - a.x))))
            }
        case .linear(let lo, let hi):
            kind = .linear
            low = Float(lo)
            scale = Float(1 / (hi - lo))
        case .table(let table, let def):
            kind = .table
            for e in table {
                entries.append((Float(e.key), Float(Normalization.tableTolerance * max(1, abs(e.key))), Float(e.value)))
            }
            fallback = def.map(Float.init) ?? .nan
        }
        self.y0 = y0; self.segments = segments
        self.low = low; self.scale = scale
        self.entries = entries; self.fallback = fallback
    }

    /// Normalises `vectors`×8 values from `input` and adds them, times `weight`, into `acc`
    /// (or stores them there when `first`). Nodata inputs (NaN, ±inf) make the lane NaN.
    /// One SIMD pass; the parameters are read from L1 per vector.
    @inline(__always)
    func accumulate(_ input: UnsafeRawPointer, into acc: UnsafeMutableRawPointer, weight: Float, first: Bool, vectors: Int) {
        let stride = MemoryLayout<V>.stride
        let w = V(repeating: weight)
        let nan = V(repeating: .nan), infinity = V(repeating: .infinity), negInfinity = V(repeating: -.infinity)
        @inline(__always) func combine(_ j: Int, _ v: V, _ n: V) {
            // NaN fails both comparisons, so NaN and ±inf inputs become NaN here.
            let m = nan.replacing(with: n, where: (v .< infinity) .& (v .> negInfinity)) * w
            let offset = j * stride
            acc.storeBytes(of: first ? m : acc.load(fromByteOffset: offset, as: V.self) + m, toByteOffset: offset, as: V.self)
        }
        switch kind {
        case .curve:
            let start = V(repeating: y0), zero = V(repeating: 0)
            segments.withUnsafeBufferPointer { segs in
                for j in 0..<vectors {
                    let v = input.loadUnaligned(fromByteOffset: j * stride, as: V.self)
                    var t = start
                    for s in segs {
                        t = t + clamp(v - V(repeating: s.x), zero, V(repeating: s.width)) * V(repeating: s.slope)
                    }
                    combine(j, v, t)
                }
            }
        case .linear:
            let lo = V(repeating: low), sc = V(repeating: scale), zero = V(repeating: 0), one = V(repeating: 1)
            for j in 0..<vectors {
                let v = input.loadUnaligned(fromByteOffset: j * stride, as: V.self)
                combine(j, v, clamp((v - lo) * sc, zero, one))
            }
        case .table:
            let start = V(repeating: fallback)
            entries.withUnsafeBufferPointer { table in
                for j in 0..<vectors {
                    let v = input.loadUnaligned(fromByteOffset: j * stride, as: V.self)
                    var t = start
                    for e in table {
                        let d = v - V(repeating: e.key)
                        t = t.replacing(with: V(repeating: e.value),
                                        where: (d .<= V(repeating: e.tolerance)) .& (d .>= V(repeating: -e.tolerance)))
                    }
                    combine(j, v, t)
                }
            }
        }
    }

    /// The same for the other combinations: `F` folds each normalised layer into `acc`
    /// (or stores them there when `first`). Nodata inputs (NaN, ±inf) make the lane NaN.
    /// One SIMD pass; the parameters are read from L1 per vector.
    @inline(__always)
    func accumulate<F: Fold>(_ fold: F.Type, _ input: UnsafeRawPointer, into acc: UnsafeMutableRawPointer, weight: Float,
                             first: Bool, vectors: Int) {
        let stride = MemoryLayout<V>.stride
        let w = V(repeating: weight)
        let nan = V(repeating: .nan), infinity = V(repeating: .infinity), negInfinity = V(repeating: -.infinity)
        @inline(__always) func combine(_ j: Int, _ v: V, _ n: V) {
            // NaN fails both comparisons, so NaN and ±inf inputs become NaN here.
            let x = nan.replacing(with: n, where: (v .< infinity) .& (v .> negInfinity))
            let offset = j * stride
            let result = first ? F.first(x, w) : F.fold(acc.load(fromByteOffset: offset, as: V.self), x, w)
            acc.storeBytes(of: result, toByteOffset: offset, as: V.self)
        }
        switch kind {
        case .curve:
            let start = V(repeating: y0), zero = V(repeating: 0)
            segments.withUnsafeBufferPointer { segs in
                for j in 0..<vectors {
                    let v = input.loadUnaligned(fromByteOffset: j * stride, as: V.self)
                    var t = start
                    for s in segs {
                        t = t + clamp(v - V(repeating: s.x), zero, V(repeating: s.width)) * V(repeating: s.slope)
                    }
                    combine(j, v, t)
                }
            }
        case .linear:
            let lo = V(repeating: low), sc = V(repeating: scale), zero = V(repeating: 0), one = V(repeating: 1)
            for j in 0..<vectors {
                let v = input.loadUnaligned(fromByteOffset: j * stride, as: V.self)
                combine(j, v, clamp((v - lo) * sc, zero, one))
            }
        case .table:
            let start = V(repeating: fallback)
            entries.withUnsafeBufferPointer { table in
                for j in 0..<vectors {
                    let v = input.loadUnaligned(fromByteOffset: j * stride, as: V.self)
                    var t = start
                    for e in table {
                        let d = v - V(repeating: e.key)
                        t = t.replacing(with: V(repeating: e.value),
                                        where: (d .<= V(repeating: e.tolerance)) .& (d .>= V(repeating: -e.tolerance)))
                    }
                    combine(j, v, t)
                }
            }
        }
    }
}

typealias V = SIMD8<Float>

/// How one normalised layer folds into the accumulator.
enum CombineOperation: Sendable {
    case weightedSum, product, maximum
    /// Σ w·ln(n); the kernel takes exp at the end (weighted geometric mean).
    case weightedLogSum
}

/// One combination step of the less common operations, resolved at compile time (each gets its own
/// specialised loop). The weighted sum has a hand-written loop of its own: through this protocol it
/// ran at half the speed.
protocol Fold {
    static func first(_ x: V, _ w: V) -> V
    static func fold(_ acc: V, _ x: V, _ w: V) -> V
}

enum ProductFold: Fold {
    @inline(__always) static func first(_ x: V, _ w: V) -> V { x }
    @inline(__always) static func fold(_ acc: V, _ x: V, _ w: V) -> V { acc * x }
}

enum MaximumFold: Fold {
    @inline(__always) static func first(_ x: V, _ w: V) -> V { x }
    /// NaN in either operand gives NaN (nodata wins), like the other operations.
    @inline(__always) static func fold(_ acc: V, _ x: V, _ w: V) -> V {
        acc.replacing(with: x, where: x .> acc).replacing(with: V(repeating: .nan), where: x .!= x)
    }
}

enum WeightedLogSumFold: Fold {
    @inline(__always) static func log(_ x: V) -> V {
        var l = V()
        for lane in 0..<8 { l[lane] = logf(x[lane]) }
        return l
    }
    @inline(__always) static func first(_ x: V, _ w: V) -> V { log(x) * w }
    @inline(__always) static func fold(_ acc: V, _ x: V, _ w: V) -> V { acc + log(x) * w }
}

/// Clamps lane-wise with compare-and-blend (the standard library's `clamped` calls non-inlined
/// generic `pointwiseMin`/`pointwiseMax`). NaN lanes stay NaN.
@inline(__always)
func clamp(_ x: SIMD8<Float>, _ lo: SIMD8<Float>, _ hi: SIMD8<Float>) -> SIMD8<Float> {
    x.replacing(with: lo, where: x .< lo).replacing(with: hi, where: x .> hi)
}
