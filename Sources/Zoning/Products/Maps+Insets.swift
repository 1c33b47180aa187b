import Cartography
import Foundation

extension MapMaker {
    /// The location inset (区位图) of `maps.location`: the county is the grid mask's polygon (or the
    /// first outline of the map context), nil without either.
    var locationInset: LocationInset? {
        guard let provinces = plan.job.maps.location else { return nil }
        let county = plan.job.grid.mask.flatMap { plan.job.auxiliary[$0] }
            ?? plan.job.maps.context?.first { $0.style == .outline }?.definition
        guard let county else { return nil }
        return LocationInset(provinces: provinces.source, provincesLayer: provinces.layer, nameField: provinces.attribute,
                             county: county.source, countyLayer: county.layer)
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
