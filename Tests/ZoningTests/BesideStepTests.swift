import Foundation
import Logging
import Testing
@testable import Zoning

/// A step running beside the steps after it (`Pipeline.Step.beside`: the zone stage beside the
/// township statistics and totals): it overlaps them, is joined before the first step that reads
/// what it produces and before the run ends or fails, and its failure is the run's.
@Suite struct BesideStepTests {
    /// What the test stages saw, in order.
    typealias Journal = LogTests.Lines

    struct Probe: Stage {
        let env: RunEnvironment
        let name: String
        let reads: [RunProduct]
        let produces: [RunProduct]
        let journal: Journal
        var seconds = 0.0
        var fails = false
        func run(_ context: RunContext) throws {
            journal.add("\(name) start")
            Thread.sleep(forTimeInterval: seconds)
            if fails { throw RunError(.software, "\(name) failed") }
            journal.add("\(name) end")
        }
    }

    func context() throws -> (RunEnvironment, RunContext) {
        let fx = try Fixture()
        let env = RunEnvironment(plan: try fx.plan(), options: RunOptions(threads: 2), logger: Logger(label: "t"))
        let folder = fx.project.path("staging")
        let files = RunFiles(staging: folder, work: folder + "/.work", indexCOG: nil, indexTemporary: nil, classRaster: folder + "/c.tif")
        let job = Manifest.JobInfo(name: "t", file: "", fileSha256: "", hash: "")
        return (env, withExtendedLifetime(fx) { RunContext(env: env, runID: "r", started: Date(), files: files, inputs: [], job: job, shards: nil) })
    }

    @Test func aBesideStepOverlapsTheNextStepsAndIsJoinedBeforeAReaderOfItsProducts() throws {
        let (env, context) = try context()
        let j = Journal()
        let zone = Probe(env: env, name: "zone", reads: [.classRaster], produces: [.zones], journal: j, seconds: 0.4)
        let stats = Probe(env: env, name: "stats", reads: [.classRaster], produces: [.townshipRows], journal: j, seconds: 0.05)
        let export = Probe(env: env, name: "export", reads: [.zones], produces: [.exports], journal: j)
        try Pipeline(steps: [.init(stage: zone, lap: nil, beside: true), .init(stage: stats, lap: nil),
                             .init(stage: export, lap: nil)]).run(context)
        let seen = j.all
        // stats ran while zone was still running; export only after zone had ended.
        #expect(seen.firstIndex(of: "stats end")! < seen.firstIndex(of: "zone end")!, "\(seen)")
        #expect(seen.firstIndex(of: "zone end")! < seen.firstIndex(of: "export start")!, "\(seen)")
    }

    @Test func aLapAndTheEndOfTheRunWaitForTheBesideStepAndItsFailureIsTheRuns() throws {
        let (env, context) = try context()
        let j = Journal()
        let zone = Probe(env: env, name: "zone", reads: [], produces: [.zones], journal: j, seconds: 0.3)
        let stats = Probe(env: env, name: "stats", reads: [], produces: [.townshipRows], journal: j)
        try Pipeline(steps: [.init(stage: zone, lap: nil, beside: true), .init(stage: stats, lap: "zoning")]).run(context)
        #expect(j.all.last == "zone end" && context.timings["zoning"] != nil, "the lap waits: \(j.all)")

        // The beside step fails while no later step reads its product: the run still fails with it.
        let failing = Probe(env: env, name: "zone", reads: [], produces: [.zones], journal: j, seconds: 0.1, fails: true)
        #expect(throws: RunError.self) {
            try Pipeline(steps: [.init(stage: failing, lap: nil, beside: true), .init(stage: stats, lap: nil)]).run(context)
        }
        // A step on the calling thread fails: its error is the run's, after the beside step has ended.
        let k = Journal()
        let slow = Probe(env: env, name: "zone", reads: [], produces: [.zones], journal: k, seconds: 0.3)
        let broken = Probe(env: env, name: "stats", reads: [], produces: [.townshipRows], journal: k, fails: true)
        do {
            try Pipeline(steps: [.init(stage: slow, lap: nil, beside: true), .init(stage: broken, lap: nil)]).run(context)
            Issue.record("the run should fail")
        } catch let error as RunError {
            #expect(error.message.contains("stats failed"), "\(error.message)")
        }
        #expect(k.all.contains("zone end"), "nothing outlives the run: \(k.all)")
    }
}
