import Testing
@testable import RasterKernel

/// The packed-counter majority filter against the scalar one (`apply(to:…)`, kept as the reference).
@Suite struct PackedMajorityTests {
    /// `applyPacked` over the whole raster in strips of `rows`, input and output the whole grid.
    static func packed(_ filter: MajorityFilter, _ input: [UInt8], width: Int, height: Int, rows: Int) -> [UInt8] {
        let grid = Window(x: 0, y: 0, width: width, height: height)
        var output = [UInt8](repeating: 255, count: width * height)
        input.withUnsafeBufferPointer { i in
            output.withUnsafeMutableBufferPointer { o in
                var y = 0
                while y < height {
                    let strip = Window(x: 0, y: y, width: width, height: min(rows, height - y))
                    filter.applyPacked(input: i, inputWindow: grid, block: strip, gridWidth: width, gridHeight: height,
                                       output: o, outputWindow: grid)
                    y += rows
                }
            }
        }
        return output
    }

    /// Random grids with ties and nodata, 1 to 8 classes (packed) and 9 or 12 (the reference path),
    /// in strips of 1, 3 and 64 rows: every pixel as the scalar filter, and as the brute force.
    @Test(arguments: [1, 2])
    func everyPixelAsTheScalarFilter(radius: Int) {
        let filter = MajorityFilter(radius: radius)
        var compared = 0, changed = 0
        for (width, height) in MajorityFilterTests.sizes + [(101, 77)] {
            for classCount in [1, 2, 3, 5, 8, 9, 12] {
                let input = randomClasses(width: width, height: height, classes: classCount, seed: UInt64(width * 7919 + height * 31 + classCount))
                let reference = filter.apply(to: input, width: width, height: height)
                #expect(reference == bruteForceMajority(input, width: width, height: height, radius: radius))
                for rows in [1, 3, 64] {
                    let ours = Self.packed(filter, input, width: width, height: height, rows: rows)
                    #expect(ours == reference, "radius \(radius), \(width)×\(height), \(classCount) classes, strips of \(rows)")
                    compared += 1
                }
                changed += zip(reference, input).filter { $0 != $1 }.count
            }
        }
        #expect(compared == 9 * 7 * 3 && changed > 1000, "the filter changes pixels, so the comparison means something")
    }

    /// In place, strips on several workers (issue 26: no second grid-sized buffer): every pixel as
    /// the scalar filter, for strips of `radius`…64 rows, a last strip shorter than the radius, and
    /// 1…3 workers (each pixel depends only on the input, so the result is the same).
    @Test(arguments: [1, 2])
    func inPlaceInStripsOnWorkersAsTheScalarFilter(radius: Int) {
        let filter = MajorityFilter(radius: radius)
        var compared = 0
        for (width, height) in MajorityFilterTests.sizes + [(101, 77), (33, 65), (20, 129), (7, 1), (9, 2)] {
            for classCount in [3, 8, 12] {
                let input = randomClasses(width: width, height: height, classes: classCount, seed: UInt64(width * 31 + height * 7 + classCount))
                let reference = filter.apply(to: input, width: width, height: height)
                for (rows, workers) in [(radius, 2), (3, 3), (8, 2), (64, 1), (64, 2)] {
                    var grid = input
                    grid.withUnsafeMutableBufferPointer { filter.applyInPlace($0, width: width, height: height, stripRows: rows, workers: workers) }
                    #expect(grid == reference, "radius \(radius), \(width)×\(height), \(classCount) classes, strips of \(rows), \(workers) workers")
                    compared += 1
                }
            }
        }
        #expect(compared == (MajorityFilterTests.sizes.count + 5) * 3 * 5)
    }

    /// A block in the middle of a grid with its halo as the input window, the output a block buffer.
    @Test func aBlockWithItsHaloAsInput() {
        let (width, height) = (50, 40)
        let input = randomClasses(width: width, height: height, classes: 4, seed: 7)
        let whole = MajorityFilter.fiveByFive.apply(to: input, width: width, height: height)
        let block = Window(x: 10, y: 12, width: 17, height: 9)
        let halo = MajorityFilter.fiveByFive.inputWindow(for: block, gridWidth: width, gridHeight: height)
        var window: [UInt8] = []
        for r in halo.y..<(halo.y + halo.height) { window += input[(r * width + halo.x)..<(r * width + halo.x + halo.width)] }
        var out = [UInt8](repeating: 255, count: block.count)
        window.withUnsafeBufferPointer { i in
            out.withUnsafeMutableBufferPointer { o in
                MajorityFilter.fiveByFive.applyPacked(input: i, inputWindow: halo, block: block, gridWidth: width, gridHeight: height,
                                                      output: o, outputWindow: block)
            }
        }
        for r in 0..<block.height {
            #expect(Array(out[(r * block.width)..<((r + 1) * block.width)])
                    == Array(whole[((block.y + r) * width + block.x)..<((block.y + r) * width + block.x + block.width)]))
        }
    }
}
