#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Weight sets around a baseline, for the class-stability analysis: one-at-a-time perturbations
/// and Monte-Carlo draws from a Dirichlet distribution centred on the baseline.
public enum WeightScenarios {
    /// One scenario: its weights and how it was made.
    public struct Scenario: Sendable, Equatable, Codable {
        /// `oat` (one at a time) or `dirichlet`.
        public let kind: String
        /// One-at-a-time: the perturbed member (0-based) and the sign (−1 or +1).
        public let member: Int?
        public let sign: Int?
        public let weights: [Double]
    }

    /// For each member j and sign s ∈ {−1, +1}: wⱼ' = wⱼ·(1 + s·perturb), the others unchanged, then
    /// all renormalised to sum 1. 2k scenarios, member-major, −1 before +1.
    public static func oneAtATime(_ weights: [Double], perturb: Double) -> [Scenario] {
        var result: [Scenario] = []
        for j in weights.indices {
            for s in [-1, 1] {
                var w = weights
                w[j] *= 1 + Double(s) * perturb
                let total = w.reduce(0, +)
                result.append(Scenario(kind: "oat", member: j, sign: s, weights: w.map { $0 / total }))
            }
        }
        return result
    }

    /// `samples` draws from Dirichlet(concentration · w): the mean is the baseline, a larger
    /// concentration draws closer to it. Reproducible for a seed (SplitMix64; gamma variates by
    /// Marsaglia–Tsang), computed once before any pixel, so independent of the thread count.
    public static func dirichlet(_ weights: [Double], concentration: Double, samples: Int, seed: UInt64) -> [Scenario] {
        var rng = SplitMix64(seed: seed)
        var result: [Scenario] = []
        for _ in 0..<samples {
            let g = weights.map { $0 > 0 ? rng.gamma(shape: concentration * $0) : 0 }
            let total = g.reduce(0, +)
            result.append(Scenario(kind: "dirichlet", member: nil, sign: nil,
                                   weights: total > 0 ? g.map { $0 / total } : weights))
        }
        return result
    }
}

/// SplitMix64: small, fast, and the same sequence on every platform.
public struct SplitMix64: Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in (0, 1): never 0, so logarithms are finite.
    public mutating func unit() -> Double { (Double(next() >> 11) + 0.5) / Double(1 << 53) }

    /// Standard normal (Box–Muller; one of the pair is used, so the sequence is simple to reproduce).
    public mutating func normal() -> Double {
        let u = unit(), v = unit()
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
    }

    /// Gamma(shape, 1) by Marsaglia & Tsang (2000); shapes below 1 through Gamma(shape + 1)·U^(1/shape).
    public mutating func gamma(shape: Double) -> Double {
        precondition(shape > 0, "gamma shape must be positive")
        if shape < 1 { return gamma(shape: shape + 1) * pow(unit(), 1 / shape) }
        let d = shape - 1.0 / 3.0, c = 1 / (9 * d).squareRoot()
        while true {
            var x: Double, v: Double
            repeat {
                x = normal()
                v = 1 + c * x
            } while v <= 0
            v = v * v * v
            let u = unit()
            if u < 1 - 0.0331 * x * x * x * x { return d * v }
            if log(u) < 0.5 * x * x + d * (1 - v + log(v)) { return d * v }
        }
    }
}
