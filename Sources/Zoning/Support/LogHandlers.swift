import Foundation
import Logging

/// Where and how the tool logs: human text or JSON lines, on standard error.
public enum LogFormat: String, Sendable, CaseIterable { case text, json }

/// A swift-log handler writing one line per event to standard error, as text or as JSON.
public struct LineLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    public let label: String
    public let format: LogFormat
    private let sink: @Sendable (String) -> Void

    public init(label: String, format: LogFormat, level: Logger.Level,
                sink: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) {
        self.label = label
        self.format = format
        self.logLevel = level
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let time = ISO8601DateFormatter().string(from: Date())
        switch format {
        case .text:
            let meta = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            sink("\(time) \(event.level) \(label): \(event.message)\(meta.isEmpty ? "" : " " + meta)")
        case .json:
            var object: [String: Any] = ["time": time, "level": "\(event.level)", "label": label, "message": "\(event.message)"]
            for (k, v) in merged { object[k] = "\(v)" }
            if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) {
                sink(String(decoding: data, as: UTF8.self))
            }
        }
    }
}

/// A progress bar on a terminal: one line, redrawn in place, with blocks done/total and an ETA.
public final class ProgressBar: @unchecked Sendable {
    // Guarded by `lock`; called from the run's calling thread, but kept safe anyway.
    private let lock = NSLock()
    private var stage = ""
    private var stageStarted = Date()
    private var lastDraw = Date.distantPast
    private let write: @Sendable (String) -> Void

    public init(write: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }) {
        self.write = write
    }

    public func update(_ p: Progress) {
        lock.lock(); defer { lock.unlock() }
        let now = Date()
        if p.stage != stage {
            if !stage.isEmpty { write("\n") }
            stage = p.stage
            stageStarted = now
            lastDraw = .distantPast
        }
        guard p.done == p.total || now.timeIntervalSince(lastDraw) > 0.1 else { return }
        lastDraw = now
        let width = 30
        let fraction = p.total > 0 ? Double(p.done) / Double(p.total) : 1
        let filled = Int((fraction * Double(width)).rounded(.down))
        let elapsed = now.timeIntervalSince(stageStarted)
        var eta = ""
        if p.done > 0 && p.done < p.total {
            eta = String(format: " ETA %.0fs", elapsed / Double(p.done) * Double(p.total - p.done))
        }
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        write("\r\(p.stage.padding(toLength: 8, withPad: " ", startingAt: 0)) \(bar) \(p.done)/\(p.total)\(eta)   ")
    }

    public func finish() {
        lock.lock(); defer { lock.unlock() }
        if !stage.isEmpty { write("\n") }
        stage = ""
    }
}
