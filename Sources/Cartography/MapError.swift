/// Why a map could not be made. Input problems name the file; GDAL's own message is kept.
public enum MapError: Error, Sendable, CustomStringConvertible {
    /// The spec itself is unusable (no legend, bad page, bad band...).
    case invalidSpec(String)
    /// The class raster or a context layer cannot be read or used.
    case input(path: String, reason: String)
    /// Cairo reported an error (e.g. the PDF or PNG could not be written).
    case cairo(operation: String, status: String)
    /// The output could not be put in place.
    case output(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalidSpec(let text): return "map spec: \(text)"
        case .input(let path, let reason): return "\(path): \(reason)"
        case .cairo(let operation, let status): return "\(operation): cairo: \(status)"
        case .output(let path, let reason): return "\(path): \(reason)"
        }
    }
}
