import Foundation
import FilePaths
import Testing
@testable import Zoning

@Suite struct ValidationTests {
    /// Every problem of a job is reported at once, at its exact line and column.
    @Test func everyProblemIsReportedWithItsPosition() throws {
        let p = try Project()
        try p.write("layers/flood-depth.yaml", "source: missing-flood.tif\nunits: m\n")
        try p.write("layers/fire-danger.yaml", "source: fire.tif\n")
        try p.write("layers/fire.tif", "")
        let job = try p.write("jobs/bad.yaml", """
            version: 1
            name: bad job
            grid:
              crs: EPSG:999999
              resolution: -30
              extent: [10, 0, 5, 20]
              colour: red
            layers:
              flood:
                layer: flood-depth
                resampling: bilinier
                normalize: { curve: [[0, 0], [1.5, 0.3], [1.0, 0.7]] }
              fire:
                layer: no-such-layer
                normalize: { linear: [0, 100] }
            combine:
              weighted-sum: { flood: 0.5, fire: 0.6, quake: 0.1 }
            classify:
              scheme: four-colour
              breaks: [0.25, 0.75, 0.5]
            outputs:
              directory: ../escape

            """)
        let error = try #require(throws: DiagnosticsError.self) { try JobLoader().load(job) }
        let found = error.diagnostics.map { "\($0.file.fileName):\($0.line):\($0.column)" }
        #expect(found == [
            "bad.yaml:2:7",    // name with a space
            "bad.yaml:4:8",    // unknown CRS
            "bad.yaml:5:15",   // negative resolution
            "bad.yaml:6:11",   // extent with xmin > xmax
            "bad.yaml:7:3",    // unknown key grid.colour
            "bad.yaml:11:17",  // unknown resampling
            "bad.yaml:12:25",  // curve not increasing
            "bad.yaml:14:12",  // dangling layer name
            "bad.yaml:17:17",  // weights do not sum to 1
            "bad.yaml:17:42",  // weight for a layer the job does not have
            "bad.yaml:20:11",  // breaks not increasing
            "bad.yaml:22:14",  // directory escaping the project
            "flood-depth.yaml:1:9", // missing source file
        ])
        let messages = error.diagnostics.map(\.message)
        #expect(messages[1].contains("unknown CRS \"EPSG:999999\""))
        #expect(messages[4].contains("did you mean") == false && messages[4].contains("unknown key \"colour\""))
        #expect(messages[5].contains("did you mean \"bilinear\""))
        #expect(messages[8].contains("sum to 1.1"))
        #expect(messages[12].contains("missing-flood.tif does not exist") && messages[12].contains("bad.yaml:10:12"))
        #expect(error.diagnostics[12].kind == .missingInput)
        #expect(error.exitStatus == .dataError)
        #expect(error.description.hasSuffix("13 problems found"))
    }

    @Test func onlyMissingInputsGiveExitStatus66() throws {
        let p = try Project()
        try p.write("layers/a.yaml", "source: nowhere.tif\n")
        let job = try p.write("jobs/j.yaml", """
            version: 1
            name: j
            grid: { crs: EPSG:4545, resolution: 30, extent: [0, 0, 300, 300] }
            layers:
              a: { layer: a, normalize: { linear: [0, 1] } }
            combine: { weighted-sum: { a: 1 } }
            classify: { scheme: five-level, breaks: [0.2, 0.4, 0.6, 0.8] }
            outputs: { directory: out/j }

            """)
        let error = try #require(throws: DiagnosticsError.self) { try JobLoader().load(job) }
        #expect(error.diagnostics.count == 1)
        #expect(error.exitStatus == .noInput)
    }

    @Test func schemeNeedsTheRightNumberOfBreaksAndMissingKeysAreNamed() throws {
        let p = try Project()
        let job = try p.write("jobs/j.yaml", """
            version: 2
            name: j
            grid: { crs: EPSG:4545, resolution: 30 }
            layers: {}
            combine: { weighted-sum: {} }
            classify: { scheme: five-level, breaks: [0.2, 0.4, 0.6] }
            outputs: { directory: out/j, products: [risk-index, risk-map] }

            """)
        let error = try #require(throws: DiagnosticsError.self) { try JobLoader().load(job) }
        let text = error.diagnostics.map { "\($0.line):\($0.column) \($0.message)" }
        #expect(text.contains { $0.hasPrefix("1:10 ") && $0.contains("unsupported version 2") })
        #expect(text.contains { $0.hasPrefix("3:7 ") && $0.contains("missing required key \"extent\"") })
        #expect(text.contains { $0.hasPrefix("4:9 ") && $0.contains("at least one layer") })
        #expect(text.contains { $0.hasPrefix("6:41 ") && $0.contains("needs 4 breaks, got 3") })
        #expect(text.contains { $0.hasPrefix("7:53 ") && $0.contains("unknown product \"risk-map\"") })
    }

    @Test func yamlSyntaxErrorsHaveAPosition() throws {
        let p = try Project()
        let job = try p.write("jobs/j.yaml", "version: 1\nname: [unclosed\ngrid: {}\n")
        let error = try #require(throws: DiagnosticsError.self) { try JobLoader().load(job) }
        #expect(error.diagnostics.count == 1)
        #expect(error.diagnostics[0].message.contains("YAML"))
        #expect(error.diagnostics[0].line >= 2)
    }

    @Test func confinementNetworkSourcesGDALOptionsAndOutputFolder() throws {
        let p = try Project()
        try p.write("layers/remote.yaml", "source: /vsicurl/https://example.invalid/x.tif\n")
        let job = try p.write("jobs/j.yaml", """
            version: 1
            name: j
            gdal-config: { GDAL_CACHEMAX: 256, GDAL_DRIVER_PATH: /tmp/evil }
            grid: { crs: EPSG:4545, resolution: 30, extent: [0, 0, 300, 300] }
            layers:
              a: { layer: remote, normalize: { linear: [0, 1] } }
            combine: { weighted-sum: { a: 1 } }
            classify: { scheme: four-colour, breaks: [0.25, 0.5, 0.75] }
            outputs: { directory: /tmp/elsewhere }

            """)
        let error = try #require(throws: DiagnosticsError.self) { try JobLoader().load(job) }
        let text = error.diagnostics.map { "\($0.file.fileName):\($0.line):\($0.column) \($0.message)" }
        #expect(text.contains { $0.hasPrefix("j.yaml:3:36 ") && $0.contains("GDAL option GDAL_DRIVER_PATH may not be set") })
        #expect(text.contains { $0.hasPrefix("j.yaml:9:23 ") && $0.contains("must lie inside the project") })
        #expect(text.contains { $0.hasPrefix("remote.yaml:1:9 ") && $0.contains("allow-network: true") })
        #expect(error.diagnostics.count == 3, "\(text)")

        // With allow-network the network source is accepted (not fetched by validation).
        let allowed = try p.write("jobs/k.yaml", try String(contentsOfFile: job, encoding: .utf8)
            .replacingOccurrences(of: "name: j", with: "name: k\nallow-network: true"))
        let again = try #require(throws: DiagnosticsError.self) { try JobLoader().load(allowed) }
        #expect(!again.diagnostics.contains { $0.message.contains("allow-network") })
    }

    @Test func ahpWeightsComeFromTheMatrixAndInconsistencyIsRejectedWithTheRatio() throws {
        let fx = try Fixture()
        let base = try String(contentsOfFile: fx.jobPath, encoding: .utf8)
        // Saaty's textbook example: weights 0.637 / 0.258 / 0.105, CR 0.033.
        try base.replacingOccurrences(of: "  weighted-sum: { flood: 0.45, fire: 0.25, seismic: 0.30 }", with: """
              ahp:
                order: [flood, fire, seismic]
                matrix: [[1, 3, 5], [1/3, 1, 3], [1/5, 1/3, 1]]
            """).write(toFile: fx.jobPath, atomically: true, encoding: .utf8)
        let spec = try JobLoader().load(fx.jobPath)
        #expect(spec.weights.map { ($0 * 1000).rounded() / 1000 } == [0.637, 0.258, 0.105])
        #expect(abs(spec.combine.ahpConsistencyRatio! - 0.0332) < 0.001)
        // An inconsistent matrix (flood > fire > seismic > flood) is refused, naming the ratio.
        try base.replacingOccurrences(of: "  weighted-sum: { flood: 0.45, fire: 0.25, seismic: 0.30 }", with: """
              ahp:
                order: [flood, fire, seismic]
                matrix: [[1, 5, 1/5], [1/5, 1, 5], [5, 1/5, 1]]
            """).write(toFile: fx.jobPath, atomically: true, encoding: .utf8)
        let error = try #require(throws: DiagnosticsError.self) { try JobLoader().load(fx.jobPath) }
        let d = try #require(error.diagnostics.first)
        #expect(error.diagnostics.count == 1)
        #expect(d.message.contains("consistency ratio") && d.message.contains("exceeds 0.1"), "\(d.message)")
        #expect(d.line == 27 && d.column == 13, "at \(d.line):\(d.column): the matrix")
    }

    @Test func shippedJobsValidate() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let jobs = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("jobs").path).filter { $0.hasSuffix(".yaml") }
        #expect(!jobs.isEmpty)
        for job in jobs {
            let spec = try JobLoader().load(root.appendingPathComponent("jobs/\(job)").path)
            #expect(spec.version == 1)
        }
    }
}

@Suite struct SHA256Tests {
    @Test(arguments: [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 100_000, (4 << 20) - 1, 4 << 20, (9 << 20) + 17])
    func matchesCoreutils(length: Int) throws {
        let p = try Project()
        var rng = UInt32(truncatingIfNeeded: length &* 2654435761)
        let bytes = (0..<length).map { _ -> UInt8 in rng = rng &* 1664525 &+ 1013904223; return UInt8(rng >> 24) }
        let path = p.path("data.bin")
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        let expected = String(try shell("/usr/bin/sha256sum", [path]).prefix(64))
        #expect(try SHA256.hex(fileAt: path) == expected)
        #expect(SHA256.hex(Data(bytes)) == expected)
    }
}
