import Foundation
import GDALKit
import RasterKernel
import Testing
@testable import Zoning

/// The memory budget cuts the compute stage, never its results (issue 11).
@Suite(.serialized) struct MemoryBudgetTests {
    @Test func thePlanStaysWithinTheBudget() {
        let grid = GridGeometry(width: 8192, height: 8192, originX: 0, originY: 0, pixelWidth: 1, pixelHeight: 1)
        for (block, threads, layers) in [(4096, 8, 4), (4096, 1, 8), (512, 8, 4), (2048, 16, 12), (16, 8, 4)] {
            let m = MemoryPlan.make(grid: grid, layers: layers, blockSize: block, threads: threads, budget: 256 << 20, cacheBytes: 32 << 20)
            #expect(m.estimate <= 256 << 20 || m.height == 16, "\(block) \(threads) \(layers): \(m)")
            #expect(m.workers >= 1 && m.workers <= threads && m.inFlight > m.workers && m.height % 16 == 0 && m.width == block)
        }
        // Shipped jobs (512 px blocks, four layers) keep whole blocks, so their pixels do not change.
        let shipped = MemoryPlan.make(grid: grid, layers: 4, blockSize: 512, threads: 8, budget: 256 << 20, cacheBytes: 32 << 20)
        #expect(shipped.height == 512 && shipped.workers >= 4, "\(shipped)")
        // 4096 px blocks with 8 threads: strips of a block, not 8 × 4096² × layers.
        let big = MemoryPlan.make(grid: grid, layers: 4, blockSize: 4096, threads: 8, budget: 256 << 20, cacheBytes: 32 << 20)
        #expect(big.height < 4096)
    }

    /// Issue 21: the census job with `sensitivity.samples: 10000` (the documented maximum; 10 007
    /// weight sets) and natural breaks held every weight set's 10 001-bin histogram in each unit
    /// in flight and again in total, every unit's township tallies and every weight set's
    /// kernels: more than 2.5 GB against 256 MiB. On its 30 m grid the plan now holds the weight
    /// scenarios within the budget: workers, units in flight and a batch of weight sets a pass.
    @Test func tenThousandWeightScenariosFitTheBudget() throws {
        let grid = GridGeometry(width: 6964, height: 5563, originX: 0, originY: 0, pixelWidth: 30, pixelHeight: 30)
        let budget = 256 << 20
        let natural = SensitivityMemory(weightSets: 10_007, towns: 7, classes: 5, bins: Histogram().binCount)
        for threads in [1, 2, 4, 16] {
            let memory = MemoryPlan.make(grid: grid, layers: 9, blockSize: 512, threads: threads, budget: budget, cacheBytes: 32 << 20,
                                         writerBytesPerPixel: 7, sensitivity: natural)
            let batch = natural.statisticsBatch(memory, budget: budget)
            let held = memory.estimate + (batch - natural.minimumBatch) * natural.bytesPerBatchedSet(memory)
            print("census 30 m, 10 007 weight sets, \(threads) threads: \(memory), batch \(batch), held \(held >> 20) MiB")
            #expect(held <= budget && batch >= SensitivityMemory.minimumBatch && memory.height == 512, "\(threads): \(memory), batch \(batch)")
            // Without the weight scenarios the same units: the job's sums keep their order.
            let bare = MemoryPlan.make(grid: grid, layers: 9, blockSize: 512, threads: threads, budget: budget, cacheBytes: 32 << 20, writerBytesPerPixel: 7)
            #expect(bare.width == memory.width && bare.height == memory.height)
            // What the histograms alone took before: every weight set in every unit in flight and in total.
            #expect(10_007 * Histogram().binCount * 8 * (memory.inFlight + 1) > 2 << 30)
        }
        // The shipped census job (six one-at-a-time scenarios) keeps the workers it had.
        let shipped = SensitivityMemory(weightSets: 7, towns: 7, classes: 5, bins: Histogram().binCount)
        for threads in [2, 4] {
            let before = MemoryPlan.make(grid: grid, layers: 9, blockSize: 512, threads: threads, budget: budget, cacheBytes: 32 << 20, writerBytesPerPixel: 7)
            let now = MemoryPlan.make(grid: grid, layers: 9, blockSize: 512, threads: threads, budget: budget, cacheBytes: 32 << 20,
                                      writerBytesPerPixel: 7, sensitivity: shipped)
            #expect(now.workers == before.workers && now.inFlight == before.inFlight && now.estimate <= budget, "\(before) \(now)")
        }
        // Fixed breaks gather no histograms: every weight set in the main pass.
        let fixed = SensitivityMemory(weightSets: 10_007, towns: 7, classes: 5, bins: 0)
        let memory = MemoryPlan.make(grid: grid, layers: 9, blockSize: 512, threads: 4, budget: budget, cacheBytes: 32 << 20,
                                     writerBytesPerPixel: 7, sensitivity: fixed)
        #expect(fixed.statisticsBatch(memory, budget: budget) == 10_007 && memory.estimate <= budget, "\(memory)")
    }

    /// Weight scenarios whose tallies alone exceed the budget (10 007 weight sets over 3 000
    /// townships: 1.6 GB) are refused before the main pass, naming sensitivity.samples and the
    /// budget; the same over two townships runs at a budget below the fixed allowance (one worker).
    @Test func weightScenariosBeyondTheBudgetAreRefused() throws {
        let fx = try Fixture()
        let squares = (0..<3000).map { i -> String in
            let (x, y) = (Fixture.xmin + Double(i % 60) * 150, Fixture.ymin + Double(i / 60) * 140)
            let ring = [(x, y), (x + 150, y), (x + 150, y + 140), (x, y + 140), (x, y)].map { "[\($0.0),\($0.1)]" }.joined(separator: ",")
            return "{\"type\":\"Feature\",\"properties\":{\"name\":\"t\(i)\"},\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[\(ring)]]}}"
        }
        try fx.project.vector("layers/towns.gpkg", layer: "towns", crs: "EPSG:4545",
                              geojson: "{\"type\":\"FeatureCollection\",\"features\":[\(squares.joined(separator: ","))]}")
        try fx.project.write("layers/towns.yaml", "source: towns.gpkg\nlayer: towns\n")
        let job = try String(contentsOfFile: fx.jobPath, encoding: .utf8)
            .replacingOccurrences(of: "products: [risk-index, risk-class]", with: "products: [risk-index, risk-class, sensitivity]")
        try fx.project.write("jobs/fixture.yaml", job + "\nzoning:\n  townships: { layer: towns, name: name }\nsensitivity: { perturb: 0.2, samples: 10000 }\n")
        let plan = try fx.plan()
        #expect(plan.sensitivity == SensitivityMemory(weightSets: 10_007, towns: 3000, classes: 4, bins: 0))
        let error = try #require(throws: RunError.self) { try Runner(plan: plan, options: RunOptions(threads: 2)).run() }
        #expect(error.status == .dataError && error.message.hasPrefix("\(fx.jobPath): sensitivity.samples: 10000 draws make 10007 weight sets, whose tallies over 3000 townships")
                && error.message.contains("memory budget of 256 MiB (--max-memory)"), "\(error.message)")
        #expect(!FileManager.default.fileExists(atPath: fx.project.path("out/fixture/latest")))
        // Six weight sets fit a budget below the fixed allowance: it runs, with one worker, as without them.
        try fx.project.write("jobs/fixture.yaml", job + "\nsensitivity: { perturb: 0.2 }\n")
        var tight = RunOptions(threads: 2)
        tight.maxMemory = 64 << 20
        let runner = Runner(plan: try fx.plan(), options: tight)
        #expect(runner.memoryPlan.workers == 1)
        _ = try runner.run()
    }

    @Test func stripsGiveTheSamePixelsAsWholeBlocks() throws {
        let fx = try Fixture(blockSize: 128, errorThreshold: 0)
        let plan = try fx.plan()
        let whole = try Runner(plan: plan, options: RunOptions(threads: 3, runID: "whole")).run()
        var tight = RunOptions(threads: 3, runID: "strips")
        tight.maxMemory = 64 << 20   // below the fixed allowance: 16-row strips, one worker
        let runner = Runner(plan: plan, options: tight)
        #expect(runner.memoryPlan.height == 16 && runner.memoryPlan.workers == 1)
        let strips = try runner.run()
        for name in ["risk_index.tif", "risk_class.tif"] {
            #expect(try readFloat("\(whole.runDirectory)/\(name)") == (try readFloat("\(strips.runDirectory)/\(name)")), "\(name)")
        }
        #expect(whole.manifest.statistics.classes.map(\.pixels) == strips.manifest.statistics.classes.map(\.pixels))
    }
}

extension MemoryBudgetTests {
    /// The streamed COG writers hold a few tiles per overview level on grids whose overviews halve
    /// exactly (units in the writers' tile order), not rows of the grid's width (issue 12): the
    /// plan at 16384² is the plan at 8192² plus two tiles of the one more level.
    @Test func wideGridsKeepTwoWorkers() {
        func plan(_ side: Int, threads: Int = 2) -> MemoryPlan {
            let grid = GridGeometry(width: side, height: side, originX: 0, originY: 0, pixelWidth: 1, pixelHeight: 1)
            return MemoryPlan.make(grid: grid, layers: 4, blockSize: 512, threads: threads, budget: 256 << 20, cacheBytes: 32 << 20)
        }
        func writer(_ w: Int, _ h: Int, unitHeight: Int = 512, bytes: Int = 5) -> Int {
            MemoryPlan.writerBytes(gridWidth: w, gridHeight: h, tileSize: 512, unitWidth: 512, unitHeight: unitHeight, inFlight: 4, bytes: bytes)
        }
        let (small, large) = (plan(8192), plan(16384))
        print("memory plan, 4 layers, 512 px blocks, 2 threads, 256 MiB: 8192² \(small) (\(small.estimate >> 20) MiB, writers \(writer(8192, 8192) >> 20) MiB); 16384² \(large) (\(large.estimate >> 20) MiB, writers \(writer(16384, 16384) >> 20) MiB)")
        #expect(small.workers == 2 && large.workers == 2 && large.height == 512, "\(small) \(large)")
        #expect(large.estimate - small.estimate == 2 * 512 * 512 * 5, "\(small) \(large)")
        // 16384²: 5 overview levels, all halving; 4 whole tiles in flight feed 2 partial tiles of
        // level 1 (⌈4 / 4⌉ + 1), which feed 2 of level 2, and so on: 10 tiles, 5 bytes a pixel.
        #expect(writer(16384, 16384) == 10 * 512 * 512 * 5)
        // An odd width keeps the full-width tile rows (2 × 512 being filled + 512 for the levels).
        #expect(writer(16383, 16384) == 3 * 512 * 16383 * 5)
        // Strips of 64 rows: 4 in flight touch 2 tiles, which feed 2 tiles of each level.
        #expect(writer(16384, 16384, unitHeight: 64) == (2 + 10) * 512 * 512 * 5)
        // 10000²: levels 5000, 2500, 1250, 625 halve, 312 does not: 8 tiles of the quadtree and
        // three tile rows of level 4 (625 px wide) for the levels below.
        #expect(writer(10000, 10000) == (8 * 512 * 512 + 3 * 625 * 512) * 5)
        #expect(plan(16384, threads: 8).workers >= 3)
        // The sensitivity's stability and range COGs: two more Byte writers, 7 bytes a pixel.
        #expect(writer(16384, 16384, bytes: 7) == 10 * 512 * 512 * 7)
        let grid = GridGeometry(width: 16384, height: 16384, originX: 0, originY: 0, pixelWidth: 1, pixelHeight: 1)
        let withScenarios = MemoryPlan.make(grid: grid, layers: 4, blockSize: 512, threads: 2, budget: 256 << 20, cacheBytes: 32 << 20,
                                            writerBytesPerPixel: 7)
        #expect(withScenarios.estimate - large.estimate == 10 * 512 * 512 * 2 && withScenarios.estimate <= 256 << 20)
    }
}
