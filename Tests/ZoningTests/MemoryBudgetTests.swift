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
    /// The streamed COG writers hold half tile rows of level 1, not full-width tile rows, on
    /// even grids (issue 12): at 16384² the default budget gives two workers with four layers.
    @Test func wideGridsKeepTwoWorkers() {
        func plan(_ side: Int, threads: Int = 2) -> MemoryPlan {
            let grid = GridGeometry(width: side, height: side, originX: 0, originY: 0, pixelWidth: 1, pixelHeight: 1)
            return MemoryPlan.make(grid: grid, layers: 4, blockSize: 512, threads: threads, budget: 256 << 20, cacheBytes: 32 << 20)
        }
        let (small, large) = (plan(8192), plan(16384))
        print("memory plan, 4 layers, 512 px blocks, 2 threads, 256 MiB: 8192² \(small) (\(small.estimate >> 20) MiB, writers \(MemoryPlan.writerBytes(gridWidth: 8192, gridHeight: 8192, tileSize: 512, unitHeight: 512) >> 20) MiB); 16384² \(large) (\(large.estimate >> 20) MiB, writers \(MemoryPlan.writerBytes(gridWidth: 16384, gridHeight: 16384, tileSize: 512, unitHeight: 512) >> 20) MiB)")
        #expect(small.workers == 2 && large.workers == 2 && large.height == 512, "\(small) \(large)")
        #expect(large.estimate <= 256 << 20)
        // Tile by tile, whole 512 px blocks: 3 level-1 half tile rows (128 rows of the grid's
        // width each) and the tile rows of levels 2 and up (< 256 rows), 5 bytes a pixel.
        #expect(MemoryPlan.writerBytes(gridWidth: 16384, gridHeight: 16384, tileSize: 512, unitHeight: 512) == (3 * 128 + 256) * 16384 * 5)
        // An odd width keeps the full-width tile rows (2 × 512 being filled + 512 for the levels).
        #expect(MemoryPlan.writerBytes(gridWidth: 16383, gridHeight: 16384, tileSize: 512, unitHeight: 512) == 3 * 512 * 16383 * 5)
        // Strips: the tiles they fill (two tile rows) besides the level-1 rows.
        #expect(MemoryPlan.writerBytes(gridWidth: 16384, gridHeight: 16384, tileSize: 512, unitHeight: 64) == (2 * 512 + 3 * 128 + 256) * 16384 * 5)
        // More threads: the plan would have given one worker before (the old full-width rows).
        #expect(plan(16384, threads: 8).workers >= 3)
        // The sensitivity's stability and range COGs: two more Byte writers, 7 bytes a pixel.
        #expect(MemoryPlan.writerBytes(gridWidth: 16384, gridHeight: 16384, tileSize: 512, unitHeight: 512, bytes: 7) == (3 * 128 + 256) * 16384 * 7)
        let grid = GridGeometry(width: 16384, height: 16384, originX: 0, originY: 0, pixelWidth: 1, pixelHeight: 1)
        let withScenarios = MemoryPlan.make(grid: grid, layers: 4, blockSize: 512, threads: 2, budget: 256 << 20, cacheBytes: 32 << 20,
                                            writerBytesPerPixel: 7)
        #expect(withScenarios.estimate - large.estimate == (3 * 128 + 256) * 16384 * 2 && withScenarios.estimate <= 256 << 20)
    }
}
