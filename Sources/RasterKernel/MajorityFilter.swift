/// A majority (modal) filter on a class raster (UInt8, 0 = nodata) with a square 3×3 or 5×5
/// window, made for streaming block by block with a halo.
///
/// Rules, for each pixel:
/// - a nodata pixel (class 0) stays 0;
/// - otherwise the non-zero classes in the window around it (the pixel itself included) are
///   counted, and the most frequent class wins;
/// - on a tie the pixel keeps its own class if it is among the tied classes, else the smallest
///   tied class wins;
/// - window pixels outside the grid do not count (nor do nodata pixels).
///
/// One pass: the output is computed from the unfiltered input only, so a block's result depends
/// only on its pixels and its halo, and filtering block by block equals filtering in one go.
public struct MajorityFilter: Sendable, Equatable, Hashable {
    /// Pixels on each side of the centre: 1 (3×3) or 2 (5×5).
    public let radius: Int

    /// - Parameter radius: 1 for a 3×3 window, 2 for 5×5.
    public init(radius: Int) {
        precondition(radius == 1 || radius == 2, "majority filter radius must be 1 (3×3) or 2 (5×5), got \(radius)")
        self.radius = radius
    }

    /// A 3×3 window.
    public static let threeByThree = MajorityFilter(radius: 1)
    /// A 5×5 window.
    public static let fiveByFive = MajorityFilter(radius: 2)

    /// Side of the window: 3 or 5.
    public var windowSize: Int { 2 * radius + 1 }

    /// The input window a block needs: the block grown by `radius` on every side, clipped to the grid.
    public func inputWindow(for block: Window, gridWidth: Int, gridHeight: Int) -> Window {
        block.expanded(by: radius, within: gridWidth, gridHeight)
    }

    /// Filters one block.
    /// - Parameters:
    ///   - input: the classes of `inputWindow`, row by row (`inputWindow.count` values).
    ///   - inputWindow: must equal `inputWindow(for: block, gridWidth:gridHeight:)`: the block and its
    ///     halo, clipped to the grid, so a neighbour outside it is outside the grid.
    ///   - block: the pixels to compute.
    ///   - gridWidth, gridHeight: the size of the whole grid.
    ///   - output: receives the filtered classes of `block`, row by row (`block.count` values).
    public func apply(input: UnsafeBufferPointer<UInt8>, inputWindow: Window, block: Window,
                      gridWidth: Int, gridHeight: Int, output: UnsafeMutableBufferPointer<UInt8>) {
        precondition(block.x + block.width <= gridWidth && block.y + block.height <= gridHeight,
                     "block \(block) is not inside the \(gridWidth)×\(gridHeight) grid")
        let expected = self.inputWindow(for: block, gridWidth: gridWidth, gridHeight: gridHeight)
        precondition(inputWindow == expected, "input window \(inputWindow) must be the block with its halo, \(expected)")
        precondition(input.count >= inputWindow.count, "input holds \(input.count) values, the input window \(inputWindow.count)")
        precondition(output.count >= block.count, "output holds \(output.count) values, the block \(block.count)")
        guard block.count > 0 else { return }

        let stride = inputWindow.width
        // Per-class counts; only the classes touched for a pixel are reset afterwards.
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: 256) { counts in
            counts.initialize(repeating: 0)
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: windowSize * windowSize) { seen in
                for row in 0..<block.height {
                    let y = block.y + row - inputWindow.y  // row in the input window
                    let y0 = max(0, y - radius), y1 = min(inputWindow.height - 1, y + radius)
                    for column in 0..<block.width {
                        let x = block.x + column - inputWindow.x
                        let centre = input[y * stride + x]
                        var result = centre
                        if centre != 0 {
                            let x0 = max(0, x - radius), x1 = min(stride - 1, x + radius)
                            var distinct = 0
                            for yy in y0...y1 {
                                for xx in x0...x1 {
                                    let c = input[yy * stride + xx]
                                    guard c != 0 else { continue }
                                    if counts[Int(c)] == 0 { seen[distinct] = c; distinct += 1 }
                                    counts[Int(c)] += 1
                                }
                            }
                            // Start from the centre; a class replaces the current winner with a larger
                            // count, or with an equal count when the winner is not the centre and the class
                            // is smaller. So the centre wins any tie it is in, else the smallest tied class.
                            var bestCount = counts[Int(centre)]
                            for k in 0..<distinct {
                                let c = seen[k], n = counts[Int(c)]
                                if n > bestCount || (n == bestCount && result != centre && c < result) {
                                    result = c
                                    bestCount = n
                                }
                            }
                            for k in 0..<distinct { counts[Int(seen[k])] = 0 }
                        }
                        output[row * block.width + column] = result
                    }
                }
            }
        }
    }

    /// Filters one block held in arrays; returns the block's filtered classes, row by row.
    public func apply(_ input: [UInt8], inputWindow: Window, block: Window, gridWidth: Int, gridHeight: Int) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: block.count)
        input.withUnsafeBufferPointer { i in
            output.withUnsafeMutableBufferPointer { o in
                apply(input: i, inputWindow: inputWindow, block: block, gridWidth: gridWidth, gridHeight: gridHeight, output: o)
            }
        }
        return output
    }

    /// Filters a whole `width`×`height` raster held in memory (row by row).
    public func apply(to classes: [UInt8], width: Int, height: Int) -> [UInt8] {
        precondition(width >= 0 && height >= 0 && classes.count == width * height,
                     "a \(width)×\(height) raster needs \(width * height) values, got \(classes.count)")
        let all = Window(x: 0, y: 0, width: width, height: height)
        return apply(classes, inputWindow: all, block: all, gridWidth: width, gridHeight: height)
    }
}
