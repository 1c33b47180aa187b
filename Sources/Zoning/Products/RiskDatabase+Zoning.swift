import Foundation
import FilePaths
import RiskDatabase

extension RiskDatabase {
    /// Imports every published run folder of `outputDirectory` the database lacks, oldest first,
    /// each in one transaction. Returns the imported run ids and the folders skipped.
    @discardableResult
    public func record(outputDirectory: String, latest: String?) throws -> Recorded {
        let publisher = Publisher(outputDirectory: outputDirectory)
        return try record(runFolders: publisher.runs().map { outputDirectory.appendingComponent($0) })
    }
}

extension Operations {
    /// `hazard-zoning history`: one line per run.
    public static func historyTable(_ entries: [RiskDatabase.HistoryEntry]) -> String {
        guard !entries.isEmpty else { return "no runs" }
        var lines = ["job  run  started  status  breaks  levels (townships per level) / classes (pixels)"]
        for e in entries {
            let breaks = e.breaks.map { String(format: "%.4g", $0) }.joined(separator: ",")
            let counts = e.townshipsPerLevel.isEmpty
                ? "classes " + e.classPixels.keys.sorted().map { "\($0):\(e.classPixels[$0]!)" }.joined(separator: " ")
                : "levels " + e.townshipsPerLevel.keys.sorted().map { "\($0):\(e.townshipsPerLevel[$0]!)" }.joined(separator: " ")
            lines.append("\(e.job)  \(e.runID)  \(e.started)  \(e.status)\(e.pruned ? " (pruned)" : "")  [\(breaks)]  \(counts)")
        }
        return lines.joined(separator: "\n")
    }
}
