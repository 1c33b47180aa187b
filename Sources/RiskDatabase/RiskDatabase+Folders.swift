import Foundation
import FilePaths
import GDALKit

/// A run folder the database cannot take because one of its files cannot be read (a damaged
/// `manifest.json`, an unreadable `zones.gpkg`). Runs and `db import` skip it and say so, `db check`
/// reports it and `db check --repair` marks it unreadable: one damaged folder never makes every
/// later run fail.
public struct UnreadableRunFolder: Error, Sendable, CustomStringConvertible {
    public let folder: String
    /// The file that cannot be read.
    public let file: String
    public let reason: String
    public var description: String { "\(file): \(reason)" }
}

extension RiskDatabase {
    /// What recording run folders did: the runs imported, the folders skipped.
    public struct Recorded: Sendable {
        public var imported: [String] = []
        public var skipped: [UnreadableRunFolder] = []
    }

    /// The `status` of a run folder marked by `db check --repair` because its files cannot be read.
    /// A marked folder is skipped until its manifest reads again; `latest_runs` never shows it.
    static let unreadableStatus = "unreadable"

    /// The run folders of `runs` (`run_directory`) and their status.
    func recordedFolders(in ds: Dataset) throws -> [String: String] {
        var result: [String: String] = [:]
        for r in try ds.query("SELECT run_directory, status FROM runs") {
            if let folder = r["run_directory"].text { result[folder] = r["status"].text ?? "" }
        }
        return result
    }

    /// Imports the folders the database lacks, each in one transaction. A folder it has (by its
    /// path, also when marked unreadable) is not read again; a folder with a file that cannot be
    /// read is skipped. `name` gives what `imported` lists for a run id and its folder.
    func record(folders: [String], into ds: Dataset, name: (String, String) -> String) throws -> Recorded {
        let recorded = try recordedFolders(in: ds)
        var result = Recorded()
        for folder in folders where recorded[folder] == nil {
            do {
                if let id = try importRun(folder, into: ds) { result.imported.append(name(id, folder)) }
            } catch let unreadable as UnreadableRunFolder {
                result.skipped.append(unreadable)
            }
        }
        try refreshChangeViews(ds)
        return result
    }

    /// A run folder's `manifest.json`, or why it cannot be read.
    static func readManifest(_ folder: String) throws -> RunManifest {
        let file = folder.appendingComponent("manifest.json")
        guard let data = FileManager.default.contents(atPath: file) else {
            throw UnreadableRunFolder(folder: folder, file: file, reason: "cannot be read")
        }
        do { return try RunManifest.decode(data) } catch {
            throw UnreadableRunFolder(folder: folder, file: file, reason: "not a run manifest (\(describe(error)))")
        }
    }

    /// A decoding error in a few words: where in the file and what is wrong.
    static func describe(_ error: Error) -> String {
        func at(_ path: [CodingKey]) -> String { path.isEmpty ? "" : " at " + path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".") }
        switch error as? DecodingError {
        case .dataCorrupted(let c)?: return c.debugDescription + at(c.codingPath)
        case .keyNotFound(let key, let c)?: return "no \"\(key.stringValue)\"" + at(c.codingPath)
        case .typeMismatch(_, let c)?, .valueNotFound(_, let c)?: return c.debugDescription + at(c.codingPath)
        default: return "\(error)"
        }
    }

    // MARK: checking folders

    /// Marks a run folder whose files cannot be read: its row of `runs` (a recorded run keeps its
    /// rows) gets the status `unreadable`, or a row naming the folder is added.
    func markUnreadable(_ unreadable: UnreadableRunFolder, recorded: Bool, in ds: Dataset) throws {
        let folder = unreadable.folder
        if recorded {
            _ = try ds.query("UPDATE runs SET status = \(RiskDatabase.quote(RiskDatabase.unreadableStatus)) WHERE run_directory = \(RiskDatabase.quote(folder))")
            return
        }
        try ds.layer(named: "runs").insert([
            ("run_id", .string(folder.fileName)), ("job", .string(folder.parentPath.fileName)),
            ("status", .string(RiskDatabase.unreadableStatus)), ("run_directory", .string(folder)), ("pruned", .integer(0)),
            ("recorded", .string(ISO8601DateFormatter().string(from: Date()))),
        ])
    }

    /// Undoes `markUnreadable`: the added row goes, a recorded run is `ok` again.
    func unmark(_ folder: String, in ds: Dataset) throws {
        let q = RiskDatabase.quote, where_ = "run_directory = \(q(folder)) AND status = \(q(RiskDatabase.unreadableStatus))"
        _ = try ds.query("DELETE FROM runs WHERE \(where_) AND started IS NULL")
        _ = try ds.query("UPDATE runs SET status = 'ok' WHERE \(where_)")
    }

    /// One run folder on disk against the database. With `repair`: imported when missing, marked
    /// when a file of it cannot be read, unmarked when it reads again; else each is a problem.
    /// `status` is the folder's status in `runs` (nil: not recorded by its path); `known` the
    /// `job@run` of the readable recorded runs.
    func checkFolder(_ folder: String, status: String?, known: Set<String>, repair: Bool, in ds: Dataset,
                     report: inout CheckReport) throws {
        var status = status
        do {
            let manifest = try RiskDatabase.readManifest(folder)
            let run = "\(manifest.job.name) \(manifest.runId)"
            if status == RiskDatabase.unreadableStatus {
                guard repair else {
                    report.problems.append("\(run): \(folder) is marked unreadable but reads again; `db check --repair` unmarks it")
                    return
                }
                try unmark(folder, in: ds)
                status = nil
                report.repaired.append("\(run): \(folder) reads again; unmarked")
            }
            guard status == nil, !known.contains("\(manifest.job.name)@\(manifest.runId)") else { return }
            if !repair {
                report.problems.append("\(run): published in \(folder) but missing from the database")
            } else if try importRun(folder, into: ds) != nil {
                report.repaired.append("\(run): imported from \(folder)")
            }
        } catch let unreadable as UnreadableRunFolder {
            guard status != RiskDatabase.unreadableStatus else { return }
            if repair {
                try markUnreadable(unreadable, recorded: status != nil, in: ds)
                report.repaired.append("\(unreadable): marked unreadable (the run is left out until the file reads again)")
            } else {
                report.problems.append("\(unreadable); `db check --repair` marks the run unreadable")
            }
        }
    }
}
