import Cartography
import COGWriter
import Foundation
import FilePaths
import GDALKit
import RasterKernel

extension JobSpec {
    /// `sensitivity:` — how stable the classes are when the weights of one combination change.
    public struct Sensitivity: Sendable {
        /// One-at-a-time perturbation: wⱼ·(1 ± perturb), in (0, 1).
        public let perturb: Double
        /// The node whose weights are perturbed: `combine` or an index name.
        public let index: String
        /// Monte-Carlo scenarios from a Dirichlet centred on the baseline.
        public let samples: Int
        public let seed: UInt64
        public let concentration: Double

        /// Concentrations that sample: Dir(c · w) draws its weights through Gamma(c · wⱼ)
        /// variates; below 0.1 all of a draw's variates underflow to 0 with a chance of
        /// e^(−745 c) (the draw is then the baseline: about 1 in 1 700 at 0.01, every one at 1e-300);
        /// above 10⁶ a weight's standard deviation is below 0.1 % of it.
        public static let concentrations = 0.1...1e6
    }
}

extension JobLoader {
    /// `sensitivity: { perturb: 0.2, index: NAME, samples: N, seed: S, concentration: C }`.
    func parseSensitivity(_ node: YNode, combine: JobSpec.Combine?, indices: [ModelNode]) -> JobSpec.Sensitivity? {
        guard let o = node.object(allowed: ["perturb", "index", "samples", "seed", "concentration"], required: ["perturb"]) else { return nil }
        var ok = true
        let perturb = o["perturb"]?.double()
        if let p = o["perturb"], let perturb, !(perturb > 0 && perturb < 1) {
            p.error("perturb is a relative change of a weight, strictly between 0 and 1, got \(formatNumber(perturb))")
            ok = false
        }
        let samples = o["samples"]?.int() ?? 0
        if let s = o["samples"], samples < 0 || samples > 10_000 {
            s.error("samples is a number of Monte-Carlo scenarios, 0 to 10000, got \(samples)")
            ok = false
        }
        let seed = o["seed"]?.int() ?? 1
        if let s = o["seed"], seed < 0 { s.error("seed must not be negative"); ok = false }
        let concentration = o["concentration"]?.double() ?? 100
        if let c = o["concentration"], !JobSpec.Sensitivity.concentrations.contains(concentration) {
            c.error("concentration is \(formatNumber(JobSpec.Sensitivity.concentrations.lowerBound)) to \(formatNumber(JobSpec.Sensitivity.concentrations.upperBound)), got \(formatNumber(concentration)): below, some draws underflow to all-zero weights and fall back to the baseline (at 1e-300 every one does); above, draws differ from the baseline by less than 0.1 %")
            ok = false
        }
        let name = o["index"]?.string() ?? "combine"
        let nodes = (combine.map { [$0.node] } ?? []) + indices
        if let target = nodes.first(where: { $0.name == name }) {
            let weighted: Set<ModelNode.Form> = [.weightedSum, .ahp, .entropy, .geometricMean]
            if !weighted.contains(target.form) {
                let at = o["index"] ?? node
                at.error("sensitivity perturbs weights, and \(target.key) (\(target.form.rawValue)) has none; name a weighted-sum, ahp, entropy or geometric-mean combination with index:")
                ok = false
            }
        } else if let i = o["index"] {
            let names = nodes.map(\.name)
            let hint = closest(to: name, in: names).map { " (did you mean \"\($0)\"?)" } ?? ""
            i.error("no combination named \"\(name)\"\(hint); known: \(names.joined(separator: ", "))")
            ok = false
        } else if combine != nil {
            ok = false
        }
        guard ok, let perturb else { return nil }
        return .init(perturb: perturb, index: name, samples: samples, seed: UInt64(seed), concentration: concentration)
    }
}
