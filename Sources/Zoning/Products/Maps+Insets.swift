import Cartography
import Foundation

extension MapMaker {
    /// The location inset (区位图) of `maps.location`: the county is the grid mask's polygon (or the
    /// first outline of the map context), nil without either.
    var locationInset: LocationInset? { MapMaker.locationInset(of: plan.job) }

    /// A job's location inset (`maps.location`), nil when it has none.
    static func locationInset(of job: JobSpec) -> LocationInset? {
        guard let provinces = job.maps.location else { return nil }
        let county = job.grid.mask.flatMap { job.auxiliary[$0] } ?? job.maps.context?.first { $0.style == .outline }?.definition
        guard let county else { return nil }
        return LocationInset(provinces: provinces.source, provincesLayer: provinces.layer, nameField: provinces.attribute,
                             county: county.source, countyLayer: county.layer)
    }

    /// The source line of a job's location inset: "区位图 Location inset — " and the first sentence of
    /// the provinces layer's description (its source and licence).
    static func locationSource(of job: JobSpec) -> [String] {
        guard let def = job.maps.location, locationInset(of: job) != nil else { return [] }
        let first = (def.description ?? def.name).replacingOccurrences(of: "\n", with: " ").components(separatedBy: ". ").first ?? def.name
        return ["区位图 Location inset — \(first.trimmingCharacters(in: .whitespaces))"]
    }

    /// The detail insets of a class or zoning map (`base` risk_map or zoning_map): the job's
    /// `maps.insets`, or on a typed job without them the automatic one around the top class
    /// (`MapInsetRule`); none on the other maps.
    func detailInsets(base: String) -> DetailInsets {
        guard base == "risk_map" || base == "zoning_map" else { return .none }
        if let boxes = plan.job.maps.insets {
            return boxes.isEmpty ? .none : .boxes(boxes.map {
                DetailInset(minX: $0.bounds.minX, minY: $0.bounds.minY, maxX: $0.bounds.maxX, maxY: $0.bounds.maxY)
            })
        }
        guard plan.job.product != nil, let top = plan.job.classify.scheme.classes.map(\.value).max() else { return .none }
        return .aroundClass(Int(top))
    }
}
