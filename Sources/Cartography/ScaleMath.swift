import Foundation

/// Pure helpers for scales, scale bars and graticules.
enum ScaleMath {
    /// Round scale denominators: {1, 1.2, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 7.5, 8, 9} × 10^k.
    static let denominatorMantissas: [Double] = [1, 1.2, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 7.5, 8, 9, 10]

    /// The smallest round denominator ≥ `x`.
    static func roundDenominator(atLeast x: Double) -> Double {
        precondition(x > 0 && x.isFinite)
        let e = (log10(x)).rounded(.down)
        let p = pow(10, e)
        for m in denominatorMantissas where m * p >= x * (1 - 1e-12) { return m * p }
        return 10 * p
    }

    /// Scale-bar lengths and their segment counts: {1, 2, 2.5, 3, 4, 5} × 10^k.
    static let barMantissas: [(Double, Int)] = [(1, 5), (2, 4), (2.5, 5), (3, 3), (4, 4), (5, 5)]

    /// The longest round length ≤ `x` and its number of segments.
    static func roundBarLength(atMost x: Double) -> (length: Double, segments: Int) {
        precondition(x > 0 && x.isFinite)
        let e = (log10(x)).rounded(.down)
        let p = pow(10, e)
        var best = (1.0 * p, 5)
        for (m, s) in barMantissas where m * p <= x * (1 + 1e-12) { best = (m * p, s) }
        return best
    }

    /// "40", "2.5", "0.5": a length without trailing zeros.
    static func format(_ v: Double) -> String {
        if v == v.rounded() { return String(Int(v)) }
        var s = String(format: "%.3f", v)
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return s
    }

    /// "40 km" or "500 m".
    static func distanceLabel(metres: Double) -> String {
        metres >= 1000 ? "\(format(metres / 1000)) km" : "\(format(metres)) m"
    }

    /// Groups digits by three with spaces: 800000 → "800 000".
    static func grouped(_ v: Double) -> String {
        let digits = String(Int(v.rounded()))
        var out = ""
        for (i, ch) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out.append(" ") }
            out.append(ch)
        }
        return out
    }

    /// Ellipsoidal distance in metres between two nearby lon/lat points (degrees) on GRS80/WGS 84,
    /// from the meridional and prime-vertical radii of curvature at the mean latitude. For the
    /// short baselines used here (≤ a few km) its relative error is below 1e-7.
    static func shortGeodesicDistance(lon1: Double, lat1: Double, lon2: Double, lat2: Double) -> Double {
        let a = 6_378_137.0, f = 1 / 298.257_223_563
        let e2 = f * (2 - f)
        let phi = (lat1 + lat2) / 2 * .pi / 180
        let s = sin(phi)
        let w = (1 - e2 * s * s).squareRoot()
        let m = a * (1 - e2) / (w * w * w)
        let n = a / w
        let dPhi = (lat2 - lat1) * .pi / 180
        let dLambda = (lon2 - lon1) * .pi / 180
        return ((m * dPhi) * (m * dPhi) + (n * cos(phi) * dLambda) * (n * cos(phi) * dLambda)).squareRoot()
    }

    /// Graticule step in degrees: the smallest of 5′ … 10° giving at most `maxLines` lines over `span`.
    static func graticuleStep(span: Double, maxLines: Int = 6) -> Double {
        let steps: [Double] = [1.0 / 60, 2.0 / 60, 5.0 / 60, 10.0 / 60, 0.25, 1.0 / 3, 0.5, 1, 2, 5, 10, 15, 30]
        for s in steps where span / s <= Double(maxLines) { return s }
        return 30
    }

    /// "107°30′E", "40°N".
    static func formatAngle(_ value: Double, positive: String, negative: String) -> String {
        let hemisphere = value < 0 ? negative : positive
        let totalMinutes = Int((abs(value) * 60).rounded())
        let d = totalMinutes / 60, m = totalMinutes % 60
        return m == 0 ? "\(d)°\(hemisphere)" : "\(d)°\(m < 10 ? "0" : "")\(m)′\(hemisphere)"
    }
}
