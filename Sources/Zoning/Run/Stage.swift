import Foundation
import Logging

/// What every part of a run reads and never changes: the plan, the options and the logger.
struct RunEnvironment: Sendable {
    let plan: Plan
    let options: RunOptions
    let logger: Logger
}

/// A part of a run: the runner, a stage, a helper of a stage. The plan, options and logger come
/// from its `env`; the capabilities every part shares (the block engine, reading aligned layers,
/// writing COGs, hashing files) are extensions of this protocol, each in the file of its concern.
protocol RunScoped {
    var env: RunEnvironment { get }
}

extension RunScoped {
    var plan: Plan { env.plan }
    var options: RunOptions { env.options }
    var logger: Logger { env.logger }

    /// `body`, its seconds logged at debug level (`-vv`) as a part of a step.
    func timed<T>(_ part: String, _ body: () throws -> T) rethrows -> T {
        let started = Date()
        defer { logger.debug("part done", metadata: ["part": "\(part)", "seconds": "\(String(format: "%.3f", Date().timeIntervalSince(started)))"]) }
        return try body()
    }

    func report(_ stage: String, _ done: Int, _ total: Int) {
        options.progress?(Progress(stage: stage, done: done, total: total))
    }
}

/// What a stage reads from and adds to the run (`RunContext`): the typed products and
/// temporaries of a run, as `plan` prints them.
enum RunProduct: String, Sendable, CaseIterable {
    case alignedLayers = "aligned layers"
    case model = "model (kernel, ranges, weights)"
    case townshipGrid = "township grid"
    case mainPass = "main-pass counts"
    case indexRaster = "risk index"
    case classRaster = "risk classes"
    case shards = "shards"
    case classification = "classification"
    case zones = "risk zones"
    case townshipRows = "township statistics"
    case totals = "totals"
    case townshipTables = "stats.json/csv, township levels"
    case prevention = "prevention zones"
    case exports = "exports"
    case census = "census package, QC"
    case sensitivity = "sensitivity"
    case rasterMetadata = "COG metadata, styles"
    case maps = "maps"
    case record = "run record, changes"
    case manifest = "manifest, STAC item"
    case attribution = "attribution.json"
    case report = "report.html/pdf, tables.xlsx"
}

/// One step of a run, as PDAL's stages: a name, what it reads and produces of the run
/// (`RunProduct`), and `run`, which reads those from the context and adds its products to it.
/// A run is a list of stages chosen from the plan (`Pipeline`); `hazard-zoning plan` prints it.
protocol Stage: RunScoped {
    var name: String { get }
    var reads: [RunProduct] { get }
    var produces: [RunProduct] { get }
    /// Whether the stage makes a pass over the aligned layers' units (what decides whether the
    /// layers' blocks are cached: `Pipeline.layerPasses`); by default, whether it reads them.
    var readsLayerUnits: Bool { get }
    func run(_ context: RunContext) throws
}

extension Stage {
    var readsLayerUnits: Bool { reads.contains(.alignedLayers) }
}
