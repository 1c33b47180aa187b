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

    /// A problem with the parameters, or nil when they are usable.
    public var problem: String? {
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
@usableFromInline
struct CompiledNormalization: Sendable {
    @usableFromInline enum Kind: Sendable { case curve, linear, table }
    @usableFromInline let kind: Kind
    // curve: y0 + Σ slope_i · clamp(v − x_i, 0, width_i)
    @usableFromInline let y0: Float
    @usableFromInline let xs: [Float]
    @usableFromInline let widths: [Float]
    @usableFromInline let slopes: [Float]
    // linear
    @usableFromInline let low: Float
    @usableFromInline let scale: Float
    // table
    @usableFromInline let keys: [Float]
    @usableFromInline let tolerances: [Float]
    @usableFromInline let values: [Float]
    @usableFromInline let fallback: Float   // NaN = nodata

    init(_ n: Normalization) {
        var y0: Float = 0, xs: [Float] = [], widths: [Float] = [], slopes: [Float] = []
        var low: Float = 0, scale: Float = 1
        var keys: [Float] = [], tolerances: [Float] = [], values: [Float] = [], fallback: Float = .nan
        switch n {
        case .curve(let points):
            kind = .curve
            y0 = Float(points[0].y)
            for (a, b) in zip(points, points.dropFirst()) {
                xs.append(Float(a.x))
                widths.append(Float(b.x - a.x))
                slopes.append(Float((b.y - a.y) / (b.x - a.x)))
            }
        case .linear(let lo, let hi):
            kind = .linear
            low = Float(lo)
            scale = Float(1 / (hi - lo))
        case .table(let entries, let def):
            kind = .table
            for e in entries {
                keys.append(Float(e.key))
                tolerances.append(Float(Normalization.tableTolerance * max(1, abs(e.key))))
                values.append(Float(e.value))
            }
            fallback = def.map(Float.init) ?? .nan
        }
        self.y0 = y0; self.xs = xs; self.widths = widths; self.slopes = slopes
        self.low = low; self.scale = scale
        self.keys = keys; self.tolerances = tolerances; self.values = values; self.fallback = fallback
    }

    @inlinable @inline(__always)
    func apply(_ v: SIMD8<Float>) -> SIMD8<Float> {
        switch kind {
        case .curve:
            var r = SIMD8<Float>(repeating: y0)
            let zero = SIMD8<Float>(repeating: 0)
            for i in 0..<xs.count {
                let d = (v - SIMD8(repeating: xs[i])).clamped(lowerBound: zero, upperBound: SIMD8(repeating: widths[i]))
                r = r + d * SIMD8(repeating: slopes[i])
            }
            return r
        case .linear:
            let t = (v - SIMD8(repeating: low)) * SIMD8(repeating: scale)
            return t.clamped(lowerBound: SIMD8(repeating: 0), upperBound: SIMD8(repeating: 1))
        case .table:
            var r = SIMD8<Float>(repeating: fallback)
            for i in 0..<keys.count {
                let d = v - SIMD8(repeating: keys[i])
                let hit = (d .<= SIMD8(repeating: tolerances[i])) .& (d .>= SIMD8(repeating: -tolerances[i]))
                r.replace(with: values[i], where: hit)
            }
            return r
        }
    }
}
