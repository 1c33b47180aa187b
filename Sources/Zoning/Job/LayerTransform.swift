import Foundation
import RasterKernel

/// What a layer's values go through before they are normalised (`normalize:` forms for skewed
/// exposure; see README "Normalisations for skewed exposure"):
///
/// - `{ log: data }` (optional `offset: c`, default 1): y = ln(v + c), then min-max over the data
///   of y (the base of the logarithm cancels in min-max). Default c = 1 is log1p: zero stays
///   the minimum. A valid value with v + c ≤ 0 fails the run naming the layer.
/// - `{ min-max: data, transform: cbrt }`: y = ∛v (of negative values too), then min-max over the
///   data of y — FEMA's National Risk Index takes the cube root of exposure before min-max.
/// - `{ quantile: data }`: y = the exact percentile rank of v among the layer's valid values on the
///   grid inside the mask (`RankTable`: ties share their mean rank), used as the 0..1 value.
public enum LayerTransform: Sendable, Equatable {
    case log(offset: Double)
    case cbrt
    /// The ranks, filled in by the statistics stage (nil in the job, before the data pass).
    case quantile(RankTable?)

    /// Applies the transform to one value; NaN and ±inf stay as they are (nodata).
    @inline(__always) func apply(_ v: Float) -> Float {
        guard v.isFinite else { return v }
        switch self {
        case .log(let c): let s = Double(v) + c; return s > 0 ? Float(Foundation.log(s)) : .nan
        case .cbrt: return Float(Foundation.cbrt(Double(v)))
        case .quantile(let table): return table?.rank(v) ?? .nan
        }
    }

    /// How the manifest and `plan` name the normalisation.
    var form: String {
        switch self {
        case .log(let c): return c == 1 ? "log1p-min-max-data" : "log-min-max-data"
        case .cbrt: return "cbrt-min-max-data"
        case .quantile: return "quantile-data"
        }
    }

    var summary: String {
        switch self {
        case .log(let c): return "ln(v + \(formatNumber(c))), then min-max of that over the layer's valid pixels on the grid inside the mask (computed at run time)"
        case .cbrt: return "cube root, then min-max of that over the layer's valid pixels on the grid inside the mask (computed at run time)"
        case .quantile: return "exact percentile rank among the layer's valid pixels on the grid inside the mask, ties averaged (computed at run time)"
        }
    }

    /// Whether the transform needs a pass over the data before it is applied (ranks; the log's
    /// domain check).
    var needsPass: Bool {
        if case .cbrt = self { return false }
        return true
    }
}

extension JobLoader {
    /// `normalize: { log: data [, offset: c] }`, `{ quantile: data }` and `{ min-max: data,
    /// transform: cbrt }`: the placeholder normalisation (min-max: data; linear [0, 1] for ranks),
    /// whether the range comes from the data, and the transform. Nil when the node is none of these.
    func parseTransformedNormalization(_ node: YNode?) -> (Normalization?, Bool, LayerTransform?)? {
        guard let node, case .mapping(let map) = node.node else { return nil }
        let keys = Set(map.compactMap { $0.key.string })
        guard keys.contains("log") || keys.contains("quantile") || keys.contains("transform") else { return nil }
        func data(_ key: String, _ obj: YObject) -> Bool {
            guard let value = obj[key], let text = value.string() else { return false }
            guard text == "data" else {
                value.error("\(key) takes data (the layer's own values on the grid inside the mask), got \(value.describe)")
                return false
            }
            return true
        }
        if keys.contains("log") {
            guard let obj = node.object(allowed: ["log", "offset"]), data("log", obj) else { return (nil, true, nil) }
            let offset = obj["offset"]?.double() ?? 1
            return (.linear(min: 0, max: 1), true, .log(offset: offset))
        }
        if keys.contains("quantile") {
            guard let obj = node.object(allowed: ["quantile"]), data("quantile", obj) else { return (nil, false, nil) }
            return (.linear(min: 0, max: 1), false, .quantile(nil))
        }
        guard let obj = node.object(allowed: ["min-max", "transform"], required: ["min-max", "transform"]),
              data("min-max", obj), let t = obj["transform"] else { return (nil, true, nil) }
        guard let text = t.string() else { return (nil, true, nil) }
        guard text == "cbrt" else {
            t.error("transform takes cbrt (the cube root before min-max, as FEMA's National Risk Index); for a logarithm use normalize: { log: data }")
            return (nil, true, nil)
        }
        return (.linear(min: 0, max: 1), true, .cbrt)
    }
}
