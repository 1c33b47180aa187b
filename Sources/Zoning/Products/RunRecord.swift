import Foundation
import FilePaths
import GDALKit
import Logging
import RasterKernel
import RiskDatabase

#if canImport(Glibc)
import Glibc
#endif

extension Manifest {
    /// What a run applied, in enough detail to recompute it (`hazard-zoning rerun`): where its job
    /// and layer definitions are kept in the run folder, the normalisations, weights, resampling
    /// and error thresholds, and the previous run its changes were computed against.
    public struct Applied: Codable, Sendable, Equatable {
        public struct Layer: Codable, Sendable, Equatable {
            public var key: String
            public var layer: String
            public var resampling: String
            /// gdalwarp's `-et`.
            public var errorThreshold: Double
            public var allTouched: Bool
            /// Distance to the nearest feature, normalised.
            public var proximity: Bool
            public var normalization: String
        }
        public struct Weight: Codable, Sendable, Equatable {
            public var key: String
            public var weight: Double
        }
        /// The weights of the combination: fixed (from the job), AHP (derived from the job's matrix),
        /// entropy (derived from the data). Only the ones that were used are present.
        public struct Weights: Codable, Sendable, Equatable {
            public var fixed: [Weight]?
            public var ahp: [Weight]?
            public var ahpConsistencyRatio: Double?
            public var entropy: [Weight]?
        }
        public struct RunReference: Codable, Sendable, Equatable {
            public var job: String
            public var runId: String
            /// Absolute folder of the run when this run was made.
            public var directory: String
        }
        public struct LayerCopy: Codable, Sendable, Equatable {
            public var name: String
            /// The copy in the run folder (relative), e.g. `job/layers/flood.yaml`.
            public var copy: String
            /// The folder the original definition was in: its relative sources resolve against it.
            public var directory: String
        }

        public var title: String?
        /// The job file as run, relative to the run folder (`job/job.yaml`).
        public var jobCopy: String
        public var layerCopies: [LayerCopy]
        public var layers: [Layer]
        public var combination: String
        public var weights: Weights
        /// The run `latest` pointed to when this run started; changes are relative to it.
        public var previousRun: RunReference?
        /// Files of the changes since the previous run (relative), empty on a job's first run.
        public var changes: [String]
    }
}

/// Every file of a run folder (sub-folders included, hidden names skipped), relative, sorted.
func runFiles(in folder: String) throws -> [String] {
    var result: [String] = []
    func walk(_ relative: String) throws {
        let path = relative.isEmpty ? folder : folder.appendingComponent(relative)
        for name in try FileManager.default.contentsOfDirectory(atPath: path).sorted() where !name.hasPrefix(".") {
            let child = relative.isEmpty ? name : "\(relative)/\(name)"
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: folder.appendingComponent(child), isDirectory: &isDirectory)
            if isDirectory.boolValue { try walk(child) } else { result.append(child) }
        }
    }
    try walk("")
    return result.sorted()
}

public func absolutePath(_ path: String) -> String {
    path.hasPrefix("/") ? path : URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(path).standardizedFileURL.path
}

/// `hazard-zoning rerun RUN_DIR`: recomputes a kept run from its copies and compares products.
public struct RerunReport: Sendable {
    public let runDirectory: String
    public let rerunDirectory: String
    /// Products whose bytes are identical / differ / are missing in the rerun (manifest.json is
    /// not compared: it holds timings).
    public let identical: [String]
    public let different: [String]
    public let missing: [String]
    public var bitIdentical: Bool { different.isEmpty && missing.isEmpty }
    /// Whether the recomputed run is still on disk (a temporary one that matched is removed).
    public var kept = true
    /// What could not be reproduced and why (e.g. the previous run was pruned).
    public var notes: [String] = []

    public var summary: String {
        var lines: [String] = []
        if bitIdentical {
            lines.append("\(runDirectory): rerun reproduces all \(identical.count) products bit for bit")
        } else {
            lines.append("\(runDirectory): rerun differs: \(different.count) product(s) differ, \(missing.count) missing, \(identical.count) identical")
            for name in different { lines.append("  differs: \(name)") }
            for name in missing { lines.append("  missing: \(name)") }
        }
        lines += notes.map { "  note: \($0)" }
        if kept { lines.append("rerun products: \(rerunDirectory)") }
        return lines.joined(separator: "\n")
    }
}

extension Operations {
    /// Recomputes a kept run from `job/job.yaml` and `job/layers/` of its folder (relative layer
    /// sources resolve against the folders the definitions were in), with the same run id and
    /// against the same previous run, into `output` (default: a new temporary folder), and compares
    /// every product with the kept one.
    public static func rerun(_ runDirectory: String, output: String? = nil, threads: Int? = nil,
                             logger: Logger = Logger(label: "hazard-zoning")) throws -> RerunReport {
        let run = absolutePath(runDirectory)
        let manifestPath = run.appendingComponent("manifest.json")
        guard let data = FileManager.default.contents(atPath: manifestPath) else {
            throw RunError(.noInput, "\(manifestPath): cannot be read; is \(runDirectory) a run folder?")
        }
        let manifest: Manifest
        do { manifest = try Manifest.decode(data) } catch {
            throw RunError(.dataError, "\(manifestPath): not a run manifest: \(error)")
        }
        guard let applied = manifest.applied else {
            throw RunError(.dataError, "\(manifestPath): the run keeps no job copy (made before runs kept job/); it cannot be rerun")
        }
        try Confinement.checkNames(of: manifest, at: manifestPath)
        var loader = JobLoader(layersDirectory: run.appendingComponent("job/layers"))
        loader.sourceDirectories = Dictionary(applied.layerCopies.map { ($0.name, $0.directory) }, uniquingKeysWith: { a, _ in a })
        let spec = try loader.load(run.appendingComponent(applied.jobCopy))

        // A folder of this rerun's own, new (never one that was there: `--output out` is where the
        // job's published runs are), and the only thing it may remove again.
        let root = try rerunFolder(output: output, name: "\(manifest.job.name)-\(manifest.runId)")
        let out = root.appendingComponent(manifest.job.name)
        guard mkdir(out, 0o755) == 0 else {
            throw RunError(.cantCreate, "\(out): cannot create the rerun folder: \(String(cString: strerror(errno)))")
        }
        // The same previous run, so the changes are recomputed against it too.
        let notes = try placePreviousRun(applied.previousRun, beside: out)
        let plan = try Planner().resolve(spec, outputDirectory: out)
        var options = RunOptions(runID: manifest.runId)
        if let threads { options.threads = threads }
        options.database = root.appendingComponent("rerun-database.gpkg")
        let result = try Runner(plan: plan, options: options, logger: logger).run()

        var identical: [String] = [], different: [String] = [], missing: [String] = []
        for product in manifest.products where product.path != "manifest.json" {
            let path = result.runDirectory.appendingComponent(product.path)
            guard FileManager.default.fileExists(atPath: path) else { missing.append(product.path); continue }
            let hash = try SHA256.hex(fileAt: path)
            if hash == product.sha256 { identical.append(product.path) } else { different.append(product.path) }
        }
        var report = RerunReport(runDirectory: run, rerunDirectory: result.runDirectory, identical: identical,
                                 different: different, missing: missing)
        report.notes = notes
        // A temporary rerun that reproduced everything is not kept.
        if output == nil && report.bitIdentical {
            try? FileManager.default.removeItem(atPath: root)
            report.kept = false
        }
        return report
    }

    /// A new folder for a rerun: `<output>/rerun-<name>-<random>` (`output` created when missing),
    /// or `hazard-zoning-rerun-<name>-<random>` in the temporary folder.
    static func rerunFolder(output: String?, name: String) throws -> String {
        var parent = FileManager.default.temporaryDirectory.path
        if let output {
            parent = absolutePath(output)
            do { try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true) } catch {
                throw RunError(.cantCreate, "\(parent): cannot create the folder: \(error.localizedDescription)")
            }
        }
        do { return try SafeFiles.makeFreshDirectory(in: parent, prefix: output == nil ? "hazard-zoning-rerun-\(name)" : "rerun-\(name)") } catch {
            throw RunError(.cantCreate, error)
        }
    }

    /// Links the previous run (file by file: hard links, copies across file systems) into a folder
    /// beside `out`'s coming run, with `latest` pointing at it, as when the run was made. Returns
    /// a note when the previous run is gone.
    static func placePreviousRun(_ previous: Manifest.Applied.RunReference?, beside out: String) throws -> [String] {
        guard let previous else { return [] }
        guard FileManager.default.fileExists(atPath: previous.directory.appendingComponent("manifest.json")) else {
            return ["the previous run \(previous.runId) (\(previous.directory)) is gone: the changes since it cannot be recomputed"]
        }
        let sibling = out.appendingComponent(previous.runId)
        for file in try runFiles(in: previous.directory) {
            let from = previous.directory.appendingComponent(file)
            let to = sibling.appendingComponent(file)
            do {
                try FileManager.default.createDirectory(atPath: to.parentPath, withIntermediateDirectories: true)
                if link(from, to) != 0 { try FileManager.default.copyItem(atPath: from, toPath: to) }
            } catch {
                throw RunError(.cantCreate, "\(to): cannot place the previous run beside the rerun: \(error.localizedDescription)")
            }
        }
        _ = symlink(previous.runId, out.appendingComponent("latest"))
        return []
    }
}
