import Foundation
import GDALKit
import Logging
import RasterKernel

/// The run's inputs: the job's identity and every file read, with size and checksum.
extension RunScoped {

    func jobInfo() -> Manifest.JobInfo {
        var h = SHA256()
        h.update(Data(plan.job.text.utf8))
        var defs = plan.job.layers.map(\.definition)
        defs += plan.job.auxiliary.keys.sorted().map { plan.job.auxiliary[$0]! }
        for def in defs {
            h.update(Data(def.name.utf8))
            h.update(FileManager.default.contents(atPath: def.file) ?? Data())
        }
        return .init(name: plan.job.name, file: plan.job.file, fileSha256: SHA256.hex(Data(plan.job.text.utf8)),
                     hash: h.finalizeHex())
    }

    /// Every input file with size, mtime and SHA-256. A file whose path, size and mtime equal the
    /// previous manifest's keeps its recorded checksum (the fast pre-check); others are hashed.
    func describeInputs(previous: Manifest?, log: InputLog? = nil) throws -> [Manifest.Input] {
        var known: [String: Manifest.FileEntry] = [:]
        for input in previous?.inputs ?? [] {
            for file in input.files + [input.definition] { known[file.path] = file }
        }
        var result: [Manifest.Input] = []
        var all = plan.sources.map { ($0.key, $0.definition) }
        if let mask = plan.mask { all.append((mask.key, mask.definition)) }
        for factor in plan.prevention?.sources ?? [] { all.append((factor.key, factor.definition)) }
        if let t = plan.job.zoning?.townships { all.append(("townships", t.definition)) }
        for total in plan.job.zoning?.totals ?? [] { all.append(("zoning.totals.\(total.name)", total.definition)) }
        for c in plan.job.maps.context ?? [] where !all.contains(where: { $0.1.name == c.definition.name }) {
            all.append(("map:\(c.definition.name)", c.definition))
        }
        var listed: [(key: String, def: LayerDefinition, files: [String])] = []
        for (key, def) in all {
            let files: [String]
            do { files = try Dataset(open: def.source).fileList } catch {
                throw inputError(error, file: def.source, what: "layer \(def.name)")
            }
            if !plan.job.allowNetwork, let remote = files.first(where: { NetworkPolicy.networkReference(in: $0) != nil }) {
                throw RunError(.dataError, "\(def.source): layer \(def.name) reads \(remote) over the network; set `allow-network: true` in the job to allow it")
            }
            listed.append((key, def, files.sorted()))
        }
        // Every distinct file hashed once, on the run's threads (a large layer no longer waits for
        // the small ones before it); entries are then assembled in the job's order.
        var paths: [String] = []
        var seen = Set<String>()
        for item in listed { for path in item.files + [item.def.file] where seen.insert(path).inserted { paths.append(path) } }
        let entries = try hashFiles(paths, known: known, log: log)
        for item in listed {
            result.append(.init(key: item.key, layer: item.def.name, definition: entries[item.def.file]!,
                                source: item.def.source, files: item.files.map { entries[$0]! }, statistics: nil))
        }
        return result
    }

    /// `fileEntry` of every path, `options.threads` at a time; the first failure in `paths` order
    /// is thrown, whatever thread met it.
    func hashFiles(_ paths: [String], known: [String: Manifest.FileEntry], log: InputLog?) throws -> [String: Manifest.FileEntry] {
        let results = UnsafeMutableBufferPointer<Result<Manifest.FileEntry, any Error>?>.allocate(capacity: paths.count)
        results.initialize(repeating: nil)
        defer { results.deallocate() }
        let slots = SendablePointer(results)
        let workers = max(1, min(options.threads, paths.count))
        let next = Counter()
        nonisolated(unsafe) let runner = self  // fileEntry reads only `options`
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while let i = next.take(below: paths.count) {
                slots.buffer[i] = Result { try runner.fileEntry(paths[i], relativeTo: nil, known: known, log: log) }
            }
        }
        var entries: [String: Manifest.FileEntry] = [:]
        for (i, path) in paths.enumerated() { entries[path] = try results[i]!.get() }
        return entries
    }

    func fileEntry(_ path: String, relativeTo base: String?, known: [String: Manifest.FileEntry] = [:],
                   log: InputLog? = nil) throws -> Manifest.FileEntry {
        // The identity before hashing, checked after hashing and again before publishing.
        let identity = log == nil ? nil : FileIdentity(path: path)
        let attributes: [FileAttributeKey: Any]
        do { attributes = try FileManager.default.attributesOfItem(atPath: path) } catch {
            throw RunError(.noInput, "\(path): cannot be read: \(error.localizedDescription)")
        }
        let size = (attributes[.size] as? NSNumber)?.intValue ?? 0
        let mtime = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970
        var shown = path
        if let base, path.hasPrefix(base + "/") { shown = String(path.dropFirst(base.count + 1)) }
        if options.trustMtime, let old = known[path], old.size == size, let mtime, old.mtime == mtime {
            if let log, let identity { log.record(path, identity) }
            return .init(path: shown, size: size, sha256: old.sha256, mtime: mtime)
        }
        let hash = try SHA256.hex(fileAt: path)
        if let log, let identity {
            log.record(path, identity)
            try log.verify()
        }
        return .init(path: shown, size: size, sha256: hash, mtime: mtime)
    }
}

/// Hands out 0, 1, 2, … to concurrent workers.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func take(below limit: Int) -> Int? {
        lock.lock(); defer { lock.unlock() }
        guard value < limit else { return nil }
        value += 1
        return value - 1
    }
}

/// A buffer whose distinct elements are written by distinct threads.
struct SendablePointer<T>: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<T>
    init(_ buffer: UnsafeMutableBufferPointer<T>) { self.buffer = buffer }
}
