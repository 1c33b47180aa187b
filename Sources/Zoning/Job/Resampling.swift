import COGWriter

/// How a source's pixels are resampled onto the grid, named as `gdalwarp -r` names it (the raw
/// value, which is also what the manifest records).
public enum Resampling: String, Sendable, CaseIterable {
    case nearest = "near"
    case bilinear, cubic, cubicspline, lanczos, average, rms, mode, min, max, med, q1, q3, sum

    /// The names a job may write, in the order error messages list them: gdalwarp's names, and
    /// `nearest` for `near`.
    static let jobNames = ["near", "nearest", "bilinear", "cubic", "cubicspline", "lanczos", "average", "rms",
                           "mode", "min", "max", "med", "q1", "q3", "sum"]

    /// The method a job names (`nearest` is `near`), nil for an unknown name.
    init?(jobName: String) {
        self.init(rawValue: jobName == "nearest" ? "near" : jobName)
    }

    /// The name `gdalwarp -r` takes.
    public var gdalName: String { rawValue }

    /// The overview resampling of a COG written with this method (`COGWriter`, and the COG
    /// driver's `OVERVIEW_RESAMPLING=` through its raw value); nil for methods overviews do not offer.
    public var overviewResampling: OverviewResampling? {
        switch self {
        case .nearest: return .nearest
        case .average: return .average
        default: return nil
        }
    }
}
