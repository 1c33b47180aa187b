import Foundation
import FilePaths
import GDALKit
import Logging
import RasterKernel

/// Where a run's files are while it runs: the staging folder (published as the run folder), its
/// `.work` folder of temporaries, and typed handles to the rasters stages hand each other.
struct RunFiles: Sendable {
    let staging: String
    let work: String
    /// The index COG in the staging folder; nil when the run does not publish it.
    let indexCOG: String?
    /// The uncompressed index later stages read (township statistics, the classify pass of
    /// data-driven breaks); nil when none reads it.
    let indexTemporary: String?
    /// The class raster: the class COG in the staging folder, or in `work` when not published.
    let classRaster: String

    /// The index as later stages read it: the temporary, else the COG.
    var indexForReading: String { indexTemporary ?? indexCOG ?? "" }

    /// A file of the run folder.
    func staged(_ name: String) -> String { staging.appendingComponent(name) }
    /// A temporary of the run, removed before publishing.
    func temporary(_ name: String) -> String { work.appendingComponent(name) }
}

/// The townships on the grid: their names and codes, and the raster of their ids.
struct TownshipGrid {
    let townships: Townships
    let raster: String
    /// Code-only townships (`TownshipSource.standardGridCodes`): the GeoPackage of their polygons
    /// made from the code cells (layer `townships`, field `code`), nil for a townships layer.
    var codePolygons: String? = nil
}

/// The resolved model: the kernel the blocks stream through and the data-driven parts it used.
struct ResolvedModel {
    let kernel: BlockKernel
    let resolution: ModelResolution
}

/// One run as it goes through its stages: the environment, the files, the products made so far
/// (typed, each set by the stage that produces it), timings and progress.
final class RunContext: RunScoped {
    let env: RunEnvironment
    let runID: String
    let started: Date
    let files: RunFiles
    let job: Manifest.JobInfo
    /// The merge of a sharded run: the shards' results stand for the statistics and main passes.
    let shards: ShardSet?
    /// A shard of a sharded run whose statistics passes ran once (`ShardStatistics`).
    var sharedStatistics: ShardStatistics?

    /// The inputs with their checksums; stages add what they learn of each (statistics, alignment).
    var inputs: [Manifest.Input]
    private(set) var timings: [String: Double] = [:]
    private var clock: Date

    // Products, in the order the stages make them.
    var aligned: [AlignedLayer] = []
    var mask: AlignedLayer?
    var model: ResolvedModel?
    var modelInfo: Manifest.ModelInfo?
    var townshipGrid: TownshipGrid?
    var sensitivity: (setup: SensitivitySetup, accumulator: SensitivityAccumulator)?
    var stats: StreamStats?
    var classification: Manifest.Classification?
    var zoning: Manifest.ZoningInfo?
    var townshipRows: [TownshipStatistics]?
    /// The attribution's sums per township, when the main pass made them (`AttributionPass`).
    var attributionSums: [[Double]]?
    var totals: [Manifest.TotalInfo]?
    /// The totals' layers on the grid and the values the totals stage read (for the prevention totals).
    var totalLayers: TotalLayers?
    var totalTransitions: [ChangeReport.TotalTransitions] = []
    var prevention: Manifest.PreventionInfo?
    var exports: [Manifest.ExportInfo] = []
    var sensitivityInfo: Manifest.SensitivityInfo?
    var applied: Manifest.Applied?
    var manifest: Manifest?

    init(env: RunEnvironment, runID: String, started: Date, files: RunFiles, inputs: [Manifest.Input],
         job: Manifest.JobInfo, shards: ShardSet?) {
        self.env = env
        self.runID = runID
        self.started = started
        self.files = files
        self.inputs = inputs
        self.job = job
        self.shards = shards
        let now = Date()
        self.clock = now
        timings["hash_inputs"] = (now.timeIntervalSince(started) * 1000).rounded() / 1000
    }

    /// Ends a timed step: its seconds since the last lap under `name`, logged; freed heap pages
    /// handed back to the system between stages.
    func lap(_ name: String) {
        let now = Date()
        timings[name] = (now.timeIntervalSince(clock) * 1000).rounded() / 1000
        logger.info("stage done", metadata: ["job": "\(plan.job.name)", "stage": "\(name)", "seconds": "\(timings[name]!)"])
        MemoryPlan.returnFreedMemory()
        clock = now
    }

    /// The whole run's seconds, from the start (hashing the inputs included).
    func finishTimings() {
        timings["total"] = (Date().timeIntervalSince(started) * 1000).rounded() / 1000
    }

    /// A product a stage needs that an earlier stage must have made: a missing one is a bug in
    /// the pipeline's order, not a user's error.
    func required<T>(_ value: T?, _ product: RunProduct, by stage: String) -> T {
        guard let value else { preconditionFailure("stage \(stage) runs before \(product.rawValue) is made") }
        return value
    }
}
