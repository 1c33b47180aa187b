import Foundation
import FilePaths
import GDALKit
import Logging
import RasterKernel

/// The record stage: the job and layer definitions as run kept under `job/`, and the changes
/// since the previous run (`Changes.swift`); what the manifest records about the method.
struct RecordStage: Stage {
    let env: RunEnvironment
    init(_ env: RunEnvironment) { self.env = env }

    var name: String { "record" }
    var reads: [RunProduct] { [.model, .classRaster, .totals] }
    var produces: [RunProduct] { [.record] }

    func run(_ context: RunContext) throws {
        let model = context.required(context.modelInfo, .model, by: name)
        context.applied = try keepRunRecord(staging: context.files.staging, runID: context.runID, model: model,
                                            totals: context.totalTransitions)
    }
}

extension RecordStage {
    /// Every layer definition the run reads (layers, grid extent and mask, prevention factors,
    /// townships, map context), each once, by name.
    var usedDefinitions: [LayerDefinition] {
        var defs = plan.job.layers.map(\.definition)
        defs += plan.job.auxiliary.keys.sorted().compactMap { plan.job.auxiliary[$0] }
        defs += plan.prevention?.spec.factors.map(\.definition) ?? []
        if let t = plan.job.zoning?.townships { defs.append(t.definition) }
        defs += plan.job.maps.context?.map(\.definition) ?? []
        var seen = Set<String>()
        return defs.filter { seen.insert($0.name).inserted }
    }

    /// Keeps the job file and the layer definitions as run under `job/`, writes the changes since
    /// the previous run (`Changes.swift`) and returns what the manifest records about the method.
    func keepRunRecord(staging: String, runID: String, model: Manifest.ModelInfo,
                       totals: [ChangeReport.TotalTransitions] = []) throws -> Manifest.Applied {
        let jobFolder = staging.appendingComponent("job")
        let layerFolder = jobFolder.appendingComponent("layers")
        var copies: [Manifest.Applied.LayerCopy] = []
        do {
            try FileManager.default.createDirectory(atPath: layerFolder, withIntermediateDirectories: true)
            try Data(plan.job.text.utf8).write(to: URL(fileURLWithPath: jobFolder.appendingComponent("job.yaml")))
            for def in usedDefinitions {
                let copy = "job/layers/\(def.name).yaml"
                let data = FileManager.default.contents(atPath: def.file) ?? Data()
                try data.write(to: URL(fileURLWithPath: staging.appendingComponent(copy)))
                copies.append(.init(name: def.name, copy: copy, directory: def.file.parentPath))
            }
        } catch {
            throw RunError(.ioError, "\(jobFolder): cannot keep the job and layer definitions: \(error.localizedDescription)")
        }
        let layers = zip(plan.job.layers, model.layers).map { use, applied in
            // A range taken from the data is recorded as the linear normalisation it became.
            let normalization = use.dataMinMax
                ? "\(Normalization.linear(min: applied.minimum ?? 0, max: applied.maximum ?? 1)) (min-max over the data)"
                : "\(use.normalization)"
            let transformed = use.transform.map { "\($0.form): \(normalization)" } ?? normalization
            return Manifest.Applied.Layer(key: use.key, layer: use.definition.name, resampling: use.resampling.rawValue,
                                          errorThreshold: use.errorThreshold, allTouched: use.allTouched, proximity: use.proximity,
                                          normalization: transformed + (use.negative ? ", direction negative" : ""))
        }
        // The weights used by every weighted combination: the top level's keyed by member, an
        // index's by `index.member` (manifest.model has each combination in full).
        var weights = Manifest.Applied.Weights()
        for node in model.indices + [model.combine] {
            guard let w = node.weights else { continue }
            let keyed = zip(node.members, w).map { Manifest.Applied.Weight(key: node.name == "combine" ? $0 : "\(node.name).\($0)", weight: $1) }
            switch node.form {
            case "ahp":
                weights.ahp = (weights.ahp ?? []) + keyed
                weights.ahpConsistencyRatio = weights.ahpConsistencyRatio ?? node.ahpConsistencyRatio
            case "entropy": weights.entropy = (weights.entropy ?? []) + keyed
            default: weights.fixed = (weights.fixed ?? []) + keyed
            }
        }

        // The previous run: the one `latest` points at (the output lock is held since the start,
        // so it is the one it pointed to when this run started).
        var previous: Manifest.Applied.RunReference?
        var changes: [String] = []
        let publisher = Publisher(outputDirectory: plan.outputDirectory)
        if let run = publisher.latestRun, let manifest = publisher.latestManifest() {
            previous = .init(job: manifest.job.name, runId: manifest.runId, directory: run)
            let current = staging.appendingComponent("risk_class.tif")
            if FileManager.default.fileExists(atPath: current) {
                do {
                    changes = try ChangeReport.write(from: RunFolder(directory: run, manifest: manifest),
                                                     to: RunFolder(directory: staging, plan: plan, runID: runID),
                                                     into: staging, threads: options.threads,
                                                     map: plan.job.outputs.products.contains(.maps), withDirectories: false,
                                                     totals: totals)
                } catch let error as ChangeReport.GridMismatch {
                    logger.warning("no changes written", metadata: ["reason": "\(error.message)"])
                }
            }
        }
        return .init(title: plan.job.title, jobCopy: "job/job.yaml", layerCopies: copies, layers: layers,
                     combination: plan.job.combine.name, weights: weights, previousRun: previous, changes: changes)
    }
}
