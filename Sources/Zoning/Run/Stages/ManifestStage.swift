import Foundation
import FilePaths
import GDALKit

/// The manifest stage: every file of the run with size and checksum, what each stage recorded,
/// the timings; `manifest.json` and the STAC Item (`ClientProducts.swift`).
struct ManifestStage: Stage {
    let env: RunEnvironment
    init(_ env: RunEnvironment) { self.env = env }

    var name: String { "manifest" }
    var reads: [RunProduct] { [.mainPass, .classification, .record] }
    var produces: [RunProduct] { [.manifest] }

    func run(_ context: RunContext) throws {
        let staging = context.files.staging
        let stats = context.required(context.stats, .mainPass, by: name)
        let names = try runFiles(in: staging)
        let products = try names.map { try fileEntry(staging.appendingComponent($0), relativeTo: staging) }
        var classes = plan.job.classify.scheme.classes.map {
            Manifest.ClassCount(value: Int($0.value), name: "\($0.name) \($0.english)", pixels: stats.classCounts[Int($0.value)])
        }
        let valid = classes.reduce(0) { $0 + $1.pixels }
        let hectares = try classHectares(classPath: context.files.classRaster, counts: stats.classCounts)
        for i in classes.indices {
            classes[i].areaHa = hectares[classes[i].value]
            classes[i].percent = valid > 0 ? 100 * Double(classes[i].pixels) / Double(valid) : 0
        }
        let iso = ISO8601DateFormatter()
        context.finishTimings()
        var manifest = Manifest(
            runId: context.runID, started: iso.string(from: context.started), finished: iso.string(from: Date()),
            tool: .init(name: ToolInfo.name, version: ToolInfo.version, gdal: GDAL.version, proj: GDAL.projVersion),
            job: context.job,
            grid: .init(crs: plan.crsName, width: plan.grid.width, height: plan.grid.height,
                        geoTransform: plan.grid.geoTransform, blockSize: plan.blockSize),
            inputs: context.inputs, products: products,
            classification: context.required(context.classification, .classification, by: name), zoning: context.zoning,
            statistics: .init(validPixels: valid, nodataPixels: stats.classCounts[0],
                              indexMin: valid > 0 ? Double(stats.indexMin) : nil,
                              indexMax: valid > 0 ? Double(stats.indexMax) : nil,
                              indexMean: valid > 0 ? stats.indexSum / Double(valid) : nil, classes: classes),
            timings: context.timings, threads: options.threads)
        manifest.prevention = context.prevention
        manifest.totals = context.totals
        manifest.exports = context.exports.isEmpty ? nil : context.exports
        manifest.model = context.modelInfo
        manifest.sensitivity = context.sensitivityInfo
        manifest.applied = context.applied
        context.manifest = try writeManifestAndCatalogue(manifest, staging: staging)
    }
}
