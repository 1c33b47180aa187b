import Testing
@testable import RasterKernel

/// An independent brute-force majority filter written from the documented rules.
func bruteForceMajority(_ classes: [UInt8], width: Int, height: Int, radius: Int) -> [UInt8] {
    var result = classes
    for row in 0..<height {
        for column in 0..<width {
            let centre = classes[row * width + column]
            if centre == 0 { continue }
            var counts: [UInt8: Int] = [:]
            for r in (row - radius)...(row + radius) where r >= 0 && r < height {
                for c in (column - radius)...(column + radius) where c >= 0 && c < width {
                    let v = classes[r * width + c]
                    if v != 0 { counts[v, default: 0] += 1 }
                }
            }
            let most = counts.values.max()!
            let tied = counts.filter { $0.value == most }.map(\.key)
            result[row * width + column] = tied.contains(centre) ? centre : tied.min()!
        }
    }
    return result
}

func randomClasses(width: Int, height: Int, classes: Int, seed: UInt64) -> [UInt8] {
    var rng = OracleRandom(seed: seed)
    // Patches of classes with noise and holes, so that majorities, ties and nodata all occur.
    return (0..<(width * height)).map { p in
        let x = p % width, y = p / width
        if rng.below(10) == 0 { return 0 }
        if rng.below(3) == 0 { return UInt8(1 + rng.below(classes)) }
        return UInt8(1 + ((x / 4 + y / 3) % classes))
    }
}

@Suite struct MajorityFilterTests {
    static let sizes: [(Int, Int)] = [(1, 1), (1, 9), (9, 1), (2, 2), (5, 5), (13, 9), (37, 23), (64, 41)]

    @Test(arguments: [1, 2])
    func matchesBruteForce(radius: Int) {
        let filter = MajorityFilter(radius: radius)
        for (width, height) in Self.sizes {
            for classCount in [2, 3, 6] {
                let input = randomClasses(width: width, height: height, classes: classCount, seed: UInt64(width * 1000 + height * 10 + classCount))
                let expected = bruteForceMajority(input, width: width, height: height, radius: radius)
                let actual = filter.apply(to: input, width: width, height: height)
                #expect(actual == expected, "radius \(radius), \(width)×\(height), \(classCount) classes")
            }
        }
    }

    /// Block by block, each block with its halo clipped to the grid, equals the whole raster at once.
    @Test(arguments: [1, 2])
    func blocksWithHalosEqualTheWholeRaster(radius: Int) {
        let filter = MajorityFilter(radius: radius)
        let (width, height) = (67, 45)
        let input = randomClasses(width: width, height: height, classes: 4, seed: 42)
        let whole = filter.apply(to: input, width: width, height: height)
        let grid = GridGeometry(width: width, height: height, originX: 0, originY: 0, pixelWidth: 1, pixelHeight: 1)
        for (bw, bh) in [(1, 1), (2, 3), (7, 7), (16, 10), (30, 44), (66, 45), (67, 45), (100, 100)] {
            var streamed = [UInt8](repeating: 255, count: width * height)
            for block in grid.blocks(width: bw, height: bh) {
                let w = block.window
                let halo = filter.inputWindow(for: w, gridWidth: width, gridHeight: height)
                var window: [UInt8] = []
                for r in halo.y..<(halo.y + halo.height) {
                    window += input[(r * width + halo.x)..<(r * width + halo.x + halo.width)]
                }
                let out = filter.apply(window, inputWindow: halo, block: w, gridWidth: width, gridHeight: height)
                for r in 0..<w.height {
                    for c in 0..<w.width { streamed[(w.y + r) * width + w.x + c] = out[r * w.width + c] }
                }
            }
            #expect(streamed == whole, "radius \(radius), blocks \(bw)×\(bh)")
        }
    }

    @Test func tieRules() {
        let f = MajorityFilter.threeByThree
        // Centre 2 is tied with 1 (three each): it stays.
        #expect(f.apply(to: [1, 1, 1, 2, 2, 2, 3, 3, 0], width: 3, height: 3)[4] == 2)
        // Centre 3 is not among the tied 1 and 2: the smallest, 1, wins.
        #expect(f.apply(to: [2, 2, 2, 1, 3, 1, 1, 0, 0], width: 3, height: 3)[4] == 1)
        // A clear majority wins over the centre.
        #expect(f.apply(to: [4, 4, 4, 4, 1, 2, 2, 3, 0], width: 3, height: 3)[4] == 4)
        // Nodata stays nodata and does not vote: the 0s outnumber the 5s, the 5 stays.
        #expect(f.apply(to: [0, 0, 0, 0, 5, 0, 0, 0, 6], width: 3, height: 3) == [0, 0, 0, 0, 5, 0, 0, 0, 6])
        // At a corner only the pixels inside the grid count: (0, 0) sees 7, 8, 8, 7.
        #expect(f.apply(to: [7, 8, 9, 8, 7, 9, 9, 9, 9], width: 3, height: 3)[0] == 7)
        #expect(f.apply(to: [8, 7, 9, 8, 7, 9, 9, 9, 9], width: 3, height: 3)[0] == 8)
        // 5×5 sees the whole 5×5 raster from its centre.
        let big: [UInt8] = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]
        #expect(MajorityFilter.fiveByFive.apply(to: big, width: 5, height: 5)[12] == 2)
        #expect(MajorityFilter.fiveByFive.apply(to: [], width: 0, height: 0).isEmpty)
    }

    @Test func programmerErrorsStop() async {
        await #expect(processExitsWith: .failure) { _ = MajorityFilter(radius: 3) }
        await #expect(processExitsWith: .failure) {
            // The input window lacks the halo.
            let block = Window(x: 2, y: 2, width: 2, height: 2)
            _ = MajorityFilter.threeByThree.apply([UInt8](repeating: 1, count: 4), inputWindow: block, block: block, gridWidth: 8, gridHeight: 8)
        }
    }
}
