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
