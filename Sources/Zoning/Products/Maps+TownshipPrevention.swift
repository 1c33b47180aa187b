import Cartography
import Foundation
import FilePaths
import GDALKit

extension MapMaker {
    /// The township rule of the prevention map, as printed on it.
    static let townshipPreventionRule = "乡镇防治分区规则 Township prevention rule — 主导防治分区: 占乡镇有效面积最大的分区 (面积相同取更优先者), 同 prevention_stats.csv dominant_category "
        + "· the category covering the largest share of the township's valid area (ties: the more urgent), as dominant_category in prevention_stats.csv"

    /// 乡镇防治分区图: every township filled with its dominant prevention category
    /// (`prevention_stats.json`), labelled with its name, category and share; its polygons are
    /// written into `work` when the map is drawn (`writeTownshipPrevention`). Nil unless the run
    /// has prevention statistics and township polygons.
    func townshipPreventionTarget(in folder: String, work: String?) -> Target? {
        let stats = folder.appendingComponent("prevention_stats.json")
        let levels = folder.appendingComponent("township_levels.gpkg")
        let frame = folder.appendingComponent("prevention_class.tif")
        guard let work, let categories = plan.prevention?.spec.categories,
              [stats, levels, frame].allSatisfy(FileManager.default.fileExists(atPath:)) else { return nil }
        let title = plan.job.maps.title ?? plan.job.title ?? plan.job.name
        var target = Target(raster: frame, base: "township_prevention_map",
                            title: "\(title) · 乡镇防治分区图 township prevention zoning",
                            legendTitle: "乡镇防治分区 Township category", legend: MapMaker.legend(categories),
                            areas: AreaLayer(source: MapMaker.townshipPreventionPath(work), layer: "township_prevention",
                                             classField: "category", labelField: "label"),
                            kind: .prevention)
        target.notes = [MapMaker.townshipPreventionRule]
        return target
    }

    static func townshipPreventionPath(_ work: String) -> String { work.appendingComponent("township_prevention.gpkg") }

    /// The township polygons of `township_levels.gpkg` with `category` (the dominant prevention
    /// category of `prevention_stats.json`) and `label` ("name\ncategory share %"), into `work`.
    func writeTownshipPrevention(folder: String, work: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: folder.appendingComponent("prevention_stats.json")))
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let rows = try decoder.decode([TownshipPreventionStatistics].self, from: data)
        let byID = Dictionary(rows.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let categories = plan.prevention?.spec.categories ?? []
        let source = try Dataset(open: folder.appendingComponent("township_levels.gpkg"), flags: [.vector])
        let memory = try Utilities.vectorTranslate(source, to: "", arguments: ["-f", "Memory", "-nln", "township_prevention", "township_levels"])
        let layer = try memory.layer(named: "township_prevention")
        try layer.createField("category", kind: .integer)
        try layer.createField("label", kind: .string)
        guard let idField = layer.fieldIndex("township_id"), let categoryField = layer.fieldIndex("category"),
              let labelField = layer.fieldIndex("label") else {
            throw RunError(.dataError, "\(folder.appendingComponent("township_levels.gpkg")): no township_id field")
        }
        try layer.updateFeatures { f in
            guard let row = byID[f.integer(idField)], let value = row.dominantCategory,
                  let category = categories.first(where: { $0.value == value }) else { return }
            let share = row.categories.first { $0.value == value }?.percent ?? 0
            f.set(categoryField, value)
            f.set(labelField, "\(row.name)\n\(category.name) \(Int(share.rounded())) %")
        }
        let out = try Utilities.vectorTranslate(memory, to: MapMaker.townshipPreventionPath(work), arguments: ["-f", "GPKG", "township_prevention"])
        try out.close()
    }
}
