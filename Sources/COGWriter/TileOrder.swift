/// The order of the full-resolution tiles in which a tile-by-tile `COGWriter` holds least: the
/// quadtree's. Over the first `quadtreeLevels` overview levels (those that exactly halve the
/// level above) a tile of level q covers 2^q × 2^q full-resolution tiles; visiting them one
/// such square after another, each in Z order (Morton), completes every level's tiles as soon as
/// possible, so the writer holds a few partial tiles per level whatever the raster's width. The
/// squares go left to right in bands 2^q tiles high, bands top to bottom: the tile rows of the
/// level below the quadtree then complete band by band. Without a quadtree (the writer goes row
/// by row) it is row-major order.
public struct TileOrder: Sendable, Equatable {
    /// Overview levels made as a quadtree (see `COGWriter.quadtreeLevels`).
    public let quadtreeLevels: Int

    /// The order for a raster of that size and tile size, overviews sized by `sizing`.
    public init(width: Int, height: Int, tileSize: Int, sizing: OverviewSizing = .cogDriver) {
        var sizes = [(width: width, height: height)] + cogOverviewSizes(width: width, height: height, tileSize: tileSize, sizing: sizing)
        var q = 0
        while sizes.count > 1, sizes[0].width % 2 == 0, sizes[0].height % 2 == 0,
              sizes[1].width * 2 == sizes[0].width, sizes[1].height * 2 == sizes[0].height {
            q += 1
            sizes.removeFirst()
        }
        quadtreeLevels = q
    }

    /// Sort key of the tile in column `column` and row `row` (tiles in increasing key order).
    public func key(column: Int, row: Int) -> (band: Int, position: Int) {
        guard quadtreeLevels > 0 else { return (row, column) }
        let side = min(quadtreeLevels, 24)
        return (row >> side, Self.interleave(column, row & ((1 << side) - 1)))
    }

    /// Bits of `x` and `y` interleaved (Z order): x in the even bits, y in the odd bits.
    static func interleave(_ x: Int, _ y: Int) -> Int {
        func spread(_ v: Int) -> Int {
            var v = UInt64(truncatingIfNeeded: v) & 0xFFFF_FFFF
            v = (v | (v << 16)) & 0x0000_FFFF_0000_FFFF
            v = (v | (v << 8)) & 0x00FF_00FF_00FF_00FF
            v = (v | (v << 4)) & 0x0F0F_0F0F_0F0F_0F0F
            v = (v | (v << 2)) & 0x3333_3333_3333_3333
            v = (v | (v << 1)) & 0x5555_5555_5555_5555
            return Int(truncatingIfNeeded: v)
        }
        return spread(x) | (spread(y) << 1)
    }
}

extension TileOrder {
    /// At most the pixels a writer of this size holds for later (`COGWriter.bufferedBytes` over
    /// the sample's size) when windows of `unitWidth` × `unitHeight` come in this order with at
    /// most `inFlight` of them written at once or out of order (as the compute stage hands out
    /// units to its workers).
    /// - Tile by tile: strips (units shorter than a tile) fill the tiles the units in flight
    ///   touch; per quadtree level k, the tiles whose quarters are not all in: those the tiles in
    ///   flight feed, and one more; below the quadtree, two tile rows of its last level being
    ///   gathered and one tile row per level below (together less than one).
    /// - Row by row (no quadtree, overviews): the full-width tile rows the units in flight span
    ///   (two rows of units, u = max(tile, unit height) rows each) and one tile row per level
    ///   (together less than one).
    public func heldPixels(width: Int, height: Int, tileSize t: Int, unitWidth: Int, unitHeight: Int, inFlight: Int) -> Int {
        let sizes = cogOverviewSizes(width: width, height: height, tileSize: t)
        if quadtreeLevels == 0 && !sizes.isEmpty {
            return (2 * max(t, unitHeight) + t) * width
        }
        let n = max(1, inFlight)
        let strips = unitHeight < t
        let tilesInFlight = strips ? (n * unitHeight + t - 1) / t + 1
                                   : n * ((unitWidth + t - 1) / t) * ((unitHeight + t - 1) / t)
        var tiles = strips ? tilesInFlight : 0
        var feeding = tilesInFlight
        for _ in 0..<quadtreeLevels {
            feeding = (feeding + 3) / 4 + 1
            tiles += feeding
        }
        let below = quadtreeLevels < sizes.count ? 3 * sizes[quadtreeLevels - 1].width * t : 0
        return tiles * t * t + below
    }
}
