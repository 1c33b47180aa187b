import Foundation
import Logging

/// A run as data: the stages chosen from the plan, in order, each with the timing it reports
/// (`manifest.json`'s `timings`; nil adds its time to the next step that reports one).
struct Pipeline {
    struct Step {
        let stage: any Stage
        let lap: String?
        /// Runs on its own thread beside the steps after it, until one of them reads what it
        /// produces (or the run ends): the zone stage beside the township statistics and totals.
        var beside = false
    }

    let steps: [Step]

    /// What kind of process runs the pipeline.
    enum Role {
        /// One process computes and publishes the whole run.
        case run
        /// One band of a sharded run: align, the model from the run's statistics, the main pass
        /// over `units`, written into the shard's rasters.
        case shard(units: Range<Int>, rasters: ShardRasters)
        /// The merge of a sharded run: the shards' results stand for the model and main pass.
        case merge
        /// The statistics passes of a sharded run, once, for its shards (`ShardStatistics`).
        case statistics
    }

    /// These steps as they are (tests of the order of a run).
    init(steps: [Step]) { self.steps = steps }

    /// align → statistics → compute → classify → zone → township statistics → totals → township
    /// tables → prevention → export → sensitivity → write → maps → record → manifest, each where
    /// the plan asks for it.
    init(_ env: RunEnvironment, role: Role = .run) {
        let plan = env.plan, products = plan.job.outputs.products
        var steps: [Step] = []
        func add(_ stage: any Stage, lap: String? = nil) { steps.append(Step(stage: stage, lap: lap)) }

        add(AlignStage(env), lap: "align")
        var statisticsPasses = 0
        switch role {
        case .statistics:
            add(StatisticsStage(env), lap: "statistics")
            self.steps = Self.cachingLayers(steps, passes: StatisticsStage.passes(plan))
            return
        case .shard(let units, let rasters):
            // A shard's statistics come from its job's statistics.json: its main pass is its only pass.
            add(StatisticsStage(env), lap: StatisticsStage.passes(plan) > 0 ? "statistics" : nil)
            add(ComputeStage(env, units: units, shardRasters: rasters), lap: "compute")
            self.steps = steps
            return
        case .merge:
            add(TownshipGridStage(env))
            add(MergeStage(env))
        case .run:
            statisticsPasses = StatisticsStage.passes(plan)
            add(StatisticsStage(env), lap: StatisticsStage.passes(plan) > 0 ? "statistics" : nil)
            add(TownshipGridStage(env))
            add(ComputeStage(env))
        }
        add(ClassifyStage(env), lap: "compute")

        if let zoning = plan.job.zoning {
            var zoningSteps: [any Stage] = [ZoneStage(env)]
            if plan.job.townshipSource != nil, products.contains(.statistics) {
                zoningSteps.append(TownshipStatisticsStage(env))
                if !zoning.totals.isEmpty { zoningSteps.append(TotalsStage(env)) }
                zoningSteps.append(TownshipTablesStage(env))
            }
            for (i, stage) in zoningSteps.enumerated() { add(stage, lap: i == zoningSteps.count - 1 ? "zoning" : nil) }
            // The zones (majority, sieve, polygons, their COG: a single-threaded tail for the most
            // part) beside the statistics and totals, which read the classes, not the zones.
            if zoningSteps.count > 1 { steps[steps.count - zoningSteps.count].beside = true }
            if plan.makesAttribution {
                // A run's main pass sums the attribution (`ComputeStage`); a merge has none, the stage makes a pass.
                var inMainPass = false
                if case .run = role { inMainPass = true }
                add(AttributionStage(env, inMainPass: inMainPass), lap: "attribution")
            }
        }
        if plan.makesPrevention {
            add(PreventionStage(env), lap: "prevention")
            if !(plan.job.zoning?.totals.isEmpty ?? true) { add(PreventionTotalsStage(env), lap: "prevention_totals") }
        }
        add(ExportStage(env))
        if plan.job.outputs.census != nil { add(CensusStage(env), lap: "census") }
        if plan.job.sensitivity != nil, products.contains(.sensitivity) { add(SensitivityStage(env), lap: "sensitivity") }
        add(WriteStage(env), lap: "write_cog")
        if products.contains(.maps) { add(MapsStage(env), lap: "maps") }
        add(RecordStage(env))
        add(ManifestStage(env))
        if plan.job.zoning != nil || plan.job.outputs.census != nil { add(ReportStage(env), lap: "report") }
        self.steps = Self.cachingLayers(steps, passes: Self.layerPasses(steps, statistics: statisticsPasses))
    }

    /// The passes over the aligned layers of these steps: the statistics stage's own (`statistics`),
    /// one for every other stage that makes one (`Stage.readsLayerUnits`).
    static func layerPasses(_ steps: [Step], statistics: Int) -> Int {
        statistics + steps.filter { $0.stage.readsLayerUnits }.count
    }

    /// The steps with the align stage keeping the layers' blocks when more than one pass reads them.
    static func cachingLayers(_ steps: [Step], passes: Int) -> [Step] {
        guard var align = steps.first?.stage as? AlignStage else { return steps }
        align.cachesBlocks = passes > 1
        align.sharesTotalWarps = steps.contains { $0.stage is ComputeStage } && steps.contains { $0.stage is TotalsStage }
        return [Step(stage: align, lap: steps[0].lap, beside: steps[0].beside)] + steps.dropFirst()
    }

    /// Runs every step in order on `context`; a step `beside` on its own thread, joined before the
    /// first later step that reads one of its products, and before the run goes on after a failure.
    func run(_ context: RunContext) throws {
        var aside: [(task: BackgroundTask<Void>, produces: Set<RunProduct>)] = []
        defer { aside.forEach { $0.task.wait() } }
        for step in steps {
            for (i, a) in aside.enumerated().reversed() where !a.produces.isDisjoint(with: step.stage.reads) {
                aside.remove(at: i)
                try a.task.value()
            }
            let stage = step.stage
            if step.beside {
                let box = Beside(stage: stage, context: context)
                aside.append((BackgroundTask(gdalConfig: context.plan.job.gdalConfig) { try Self.run(box.stage, box.context) },
                              Set(stage.produces)))
                continue
            }
            try Self.run(stage, context)
            if let lap = step.lap {
                // A lap ends with every step of it.
                for a in aside { try a.task.value() }
                aside.removeAll()
                context.lap(lap)
            }
        }
        for a in aside { try a.task.value() }
    }

    /// One step, its seconds logged at debug level (`-vv`).
    private static func run(_ stage: any Stage, _ context: RunContext) throws {
        let started = Date()
        try stage.run(context)
        let seconds = (Date().timeIntervalSince(started) * 1000).rounded() / 1000
        context.logger.debug("step done", metadata: ["stage": "\(stage.name)", "seconds": "\(seconds)"])
    }

    /// The stages as `hazard-zoning plan` prints them: name, what each reads and produces.
    var description: String {
        let width = steps.map(\.stage.name.count).max() ?? 0
        return steps.enumerated().map { i, step in
            let s = step.stage
            let name = s.name.padding(toLength: width, withPad: " ", startingAt: 0)
            let reads = s.reads.isEmpty ? "inputs" : s.reads.map(\.rawValue).joined(separator: ", ")
            let beside = step.beside ? "  (on its own thread, beside the next steps until one reads what it produces)" : ""
            return "\(String(format: "%2d", i + 1)). \(name)  \(reads) → \(s.produces.map(\.rawValue).joined(separator: ", "))\(beside)"
        }.joined(separator: "\n")
    }
}

extension Plan {
    /// Whether a run makes the prevention zoning (its stages, and the totals they read again).
    var makesPrevention: Bool { prevention != nil && job.outputs.products.contains(.prevention) }

    /// Whether a run makes `attribution.json` (zoning with townships and statistics).
    var makesAttribution: Bool { job.zoning != nil && job.townshipSource != nil && job.outputs.products.contains(.statistics) }

    /// The statistics passes a run of this plan makes before its main pass (min-max ranges taken
    /// from the data, entropy weights): a sharded run makes them once, in its statistics job.
    public var statisticsPasses: Int { StatisticsStage.passes(self) }

    /// `hazard-zoning plan`: the plan's summary and the stages of a run of it, of a shard and of
    /// the merge of a sharded run.
    public var summaryWithStages: String {
        let env = RunEnvironment(plan: self, options: RunOptions(), logger: Logger(label: "hazard-zoning.plan"))
        func names(_ p: Pipeline) -> String { p.steps.map(\.stage.name).joined(separator: " → ") }
        let shard = Pipeline(env, role: .shard(units: 0..<0, rasters: ShardRasters(index: "", classes: "")))
        var text = summary + "\nstages (what each reads → what it adds to the run)\n" + Pipeline(env).description
        if statisticsPasses > 0 {
            text += "\n  a sharded run's statistics, once (\(statisticsPasses) passes): \(names(Pipeline(env, role: .statistics)))"
                + "\n  each shard: \(names(shard)) (statistics read from that job's statistics.json)"
        } else {
            text += "\n  each shard: \(names(shard))"
        }
        return text + "\n  their merge: \(names(Pipeline(env, role: .merge)))\n"
    }
}

/// The run's context handed to a step running beside others: that step and the ones running on
/// the calling thread read and write distinct products of it (`Stage.reads`/`produces`).
private struct Beside: @unchecked Sendable {
    let stage: any Stage
    let context: RunContext
}
