import Foundation
import Logging
import Testing
@testable import Zoning

/// The terminal progress bar and the two log formats, through their output sinks.
@Suite struct LogTests {
    final class Lines: @unchecked Sendable {
        private let lock = NSLock()
        private var items: [String] = []
        func add(_ s: String) { lock.lock(); items.append(s); lock.unlock() }
        var all: [String] { lock.lock(); defer { lock.unlock() }; return items }
    }

    @Test func progressBarRedrawsInPlaceWithCountsAndEndsEachStageOnItsOwnLine() {
        let out = Lines()
        let bar = ProgressBar { out.add($0) }
        bar.update(Progress(stage: "compute", done: 0, total: 4))
        bar.update(Progress(stage: "compute", done: 4, total: 4))
        bar.update(Progress(stage: "write", done: 1, total: 2))
        bar.finish()
        let text = out.all.joined()
        #expect(text.hasPrefix("\rcompute  "))
        #expect(text.contains("0/4"))
        #expect(text.contains("4/4") && text.contains("██████████████████████████████"))
        #expect(text.contains("\n\rwrite    "))
        #expect(text.contains("1/2"))
        #expect(text.hasSuffix("\n"))
    }

    @Test func jsonLogLinesAreJSONObjectsWithLevelMessageAndMetadata() throws {
        let out = Lines()
        var logger = Logger(label: "t") { LineLogHandler(label: $0, format: .json, level: .info, sink: { out.add($0) }) }
        logger[metadataKey: "job"] = "demo"
        logger.info("stage done", metadata: ["stage": "compute"])
        logger.debug("not shown")
        #expect(out.all.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(out.all[0].utf8)) as? [String: Any])
        #expect(object["level"] as? String == "info" && object["message"] as? String == "stage done")
        #expect(object["job"] as? String == "demo" && object["stage"] as? String == "compute" && object["label"] as? String == "t")
        #expect(object["time"] is String)
    }

    @Test func textLogLinesCarryLevelLabelAndSortedMetadata() {
        let out = Lines()
        let logger = Logger(label: "hz") { LineLogHandler(label: $0, format: .text, level: .warning, sink: { out.add($0) }) }
        logger.info("hidden")
        logger.warning("careful", metadata: ["b": "2", "a": "1"])
        #expect(out.all.count == 1)
        #expect(out.all[0].hasSuffix(" warning hz: careful a=1 b=2"))
    }
}
