import Cartography
import Foundation
import FilePaths

extension MapMaker {
    /// The maps' titles, legends and notes as the job's product type says (`ProductType`), the
    /// township level rule on the township map, and the figure numbers counted on from `maps.figure`.
    /// A typed job's zoning map draws the zone polygons (`zones.gpkg`) with their outlines over the
    /// township lines, rather than the zones raster.
    func furnished(_ targets: [Target], folder: String) -> [Target] {
        var result = targets
        let figures = plan.job.maps.furniture.figure.map { MapFurniture.figureNumbers($0, count: targets.count) } ?? []
        for i in result.indices {
            if i < figures.count { result[i].figure = figures[i] }
            if result[i].base == "township_map", let level = plan.job.townshipSource?.level {
                result[i].notes.append("乡镇定级规则 Township level rule (level_rule) — \(level.rule)")
            }
        }
        guard let product = plan.job.product else { return result }
        let title = plan.job.maps.title ?? plan.job.title ?? plan.job.name
        let zones = folder.appendingComponent("zones.gpkg")
        for i in result.indices {
            guard let kind = MapMaker.mapKind(base: result[i].base) else { continue }
            result[i].title = "\(title) · \(product.mapWord(kind))"
            switch kind {
            case .classes, .zoning:
                result[i].legendTitle = product.legendTitle
            case .township:
                result[i].legendTitle = "乡镇\(product.levelNoun.zh)等级 Township \(product.levelNoun.en) level"
            case .stability, .prevention:
                break
            }
            if kind == .zoning, FileManager.default.fileExists(atPath: zones) {
                result[i].areas = AreaLayer(source: zones, layer: "risk_zones", classField: "class")
            }
        }
        return result
    }

    /// What a map of the run folder shows, by its file base name.
    static func mapKind(base: String) -> ProductType.MapKind? {
        let kinds: [String: ProductType.MapKind] = [
            "risk_map": .classes, "zoning_map": .zoning, "township_map": .township,
            "stability_map": .stability, "prevention_map": .prevention,
        ]
        return kinds[base]
    }
}
