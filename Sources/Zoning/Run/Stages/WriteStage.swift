import Foundation
import GDALKit
import Logging
import RasterKernel

/// The write stage: the temporaries removed, the raster products finished for their clients
/// (colour tables, attribute tables, QGIS styles, statistics; `ClientProducts.swift`).
struct WriteStage: Stage {
    let env: RunEnvironment
    init(_ env: RunEnvironment) { self.env = env }

    var name: String { "write" }
    var reads: [RunProduct] { [.indexRaster, .classRaster, .zones, .prevention, .sensitivity] }
    var produces: [RunProduct] { [.rasterMetadata] }

    func run(_ context: RunContext) throws {
        report("write", 0, plan.job.outputs.products.count)
        try FileManager.default.removeItem(atPath: context.files.work)
        try finishRasters(in: context.files.staging)
        try finishClassRange(in: context.files.staging)
    }
}
