import Foundation
import FilePaths
import GDALKit

/// The prevention totals stage: each exposure total (`zoning.totals`: people, GDP, …) summed per
/// prevention category over `prevention_class.tif`, into `manifest.json`'s
/// `prevention.categories[].totals` (the people per category of the report's 防治建议). The totals'
/// layers' values are the ones the totals stage read (`TotalLayers`); summed in grid block order on this thread.
struct PreventionTotalsStage: Stage {
    let env: RunEnvironment
    init(_ env: RunEnvironment) { self.env = env }

    var name: String { "prevention totals" }
    var reads: [RunProduct] { [.prevention, .totals] }
    var produces: [RunProduct] { [.prevention] }

    func run(_ context: RunContext) throws {
        guard var info = context.prevention, let totals = plan.job.zoning?.totals, !totals.isEmpty else { return }
        let categoryPath = context.files.staged("prevention_class.tif")
        let totalsStage = TotalsStage(env)
        // The values the totals stage read, when it ran; else the layers warped here.
        let layers = try context.totalLayers ?? {
            let work = context.files.temporary("prevention-totals")
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
            return try totalsStage.alignTotals(work: work)
        }()
        let factors = totalsStage.rowFactors()
        var sums = [[Double]](repeating: [Double](repeating: 0, count: 256), count: totals.count)
        try forEachTotalsBlock(layers, bytes: [categoryPath]) { _, w, block in
            let categories = block.bytes[0]
            for (i, values) in block.values.enumerated() {
                for p in 0..<w.count where categories[p] > 0 && values[p].isFinite {
                    sums[i][Int(categories[p])] += values[p] * factors[i][w.y + p / w.width]
                }
            }
        }
        for j in info.categories.indices {
            info.categories[j].totals = Dictionary(uniqueKeysWithValues: totals.enumerated().map { ($1.name, sums[$0][info.categories[j].value]) })
        }
        context.prevention = info
    }
}
