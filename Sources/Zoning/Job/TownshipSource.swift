import Foundation

/// Where a job's township units come from: a polygon layer (`zoning.townships`), or — on the census
/// standard grid without a townships layer — the grid's own 9-digit township codes (the code is
/// both the unit's `code` and its name; there is no English name).
public enum TownshipSource: Sendable {
    case layer(JobSpec.Townships)
    case standardGridCodes(JobSpec.StandardGrid)

    /// The rule setting a township's level: the layer's, the area-weighted mean index for codes.
    public var level: JobSpec.TownshipLevel {
        switch self {
        case .layer(let t): return t.level
        case .standardGridCodes: return .meanIndex
        }
    }

    /// Whether the townships have codes (a layer's `code:` field, or the grid's codes).
    public var hasCodes: Bool { layer.map { $0.codeField != nil } ?? true }

    /// The townships layer, nil for code-only townships.
    public var layer: JobSpec.Townships? {
        if case .layer(let t) = self { return t }
        return nil
    }
}

extension JobSpec {
    /// The job's township units: with `zoning:`, the townships layer if it names one, else the
    /// standard grid's codes when the grid is the census standard grid; nil otherwise.
    public var townshipSource: TownshipSource? {
        guard let zoning else { return nil }
        if let t = zoning.townships { return .layer(t) }
        return grid.standardGrid.map { .standardGridCodes($0) }
    }
}

extension JobLoader {
    /// Whether `grid:` is the census standard grid, whose 9-digit codes are township units of their
    /// own (for the checks made while the job is read).
    func namesStandardGrid(_ top: YObject) -> Bool {
        top["grid"]?.entries()?.contains(where: { $0.key == "standard-grid" }) == true
    }
}
