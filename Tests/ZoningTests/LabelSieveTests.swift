import Foundation
import GDALKit
import RasterKernel
import Testing

/// The in-memory labelling sieve against `gdal_sieve.py` (GDAL's `GDALSieveFilter`, band mask =
/// nodata 0) on random class rasters: 4- and 8-connectivity, several thresholds, nodata, chains
/// of small regions, regions with no neighbour.
@Suite struct LabelSieveTests {
    /// Patches of 1…`classes` with single-cell and small-blob noise and nodata holes.
    static func raster(width: Int, height: Int, classes: Int, seed: UInt64) -> [UInt8] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        func next(_ n: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(n))
        }
        var values = [UInt8](repeating: 0, count: width * height)
        for y in 0..<height {
            for x in 0..<width {
                let base = UInt8(((x / 6) + (y / 4) * 3 + Int(seed)) % classes + 1)
                let r = next(100)
                values[y * width + x] = r < 8 ? 0 : r < 30 ? UInt8(next(classes) + 1) : base
            }
        }
        return values
    }

    /// One python (GDAL's `gdal.SieveFilter`, the function `gdal_sieve.py` calls, with the band's
    /// nodata mask as `gdal_sieve.py` passes it) for all cases, so the test stays fast.
    @Test func equalsGdalSieveOnRandomRasters() throws {
        let p = try Project()
        var cases: [(input: String, values: [UInt8], w: Int, h: Int, connectivity: Int, threshold: Int, out: String)] = []
        for (seed, (w, h, classes)) in [(71, 53, 4), (128, 37, 3), (33, 90, 6), (1, 1, 2)].enumerated() {
            let values = Self.raster(width: w, height: h, classes: classes, seed: UInt64(seed + 3))
            let input = p.path("in\(seed).tif")
            try writeClassRaster(values, width: w, height: h, to: input)
            for connectivity in [4, 8] {
                for threshold in [2, 4, 9, 40, w * h + 1] {
                    cases.append((input, values, w, h, connectivity, threshold, p.path("out\(seed)-\(connectivity)-\(threshold).tif")))
                }
            }
        }
        let script = """
            import sys
            from osgeo import gdal
            for line in sys.argv[1:]:
                src, conn, th, out = line.split("|")
                ds = gdal.GetDriverByName("GTiff").CreateCopy(out, gdal.Open(src)); band = ds.GetRasterBand(1)
                gdal.SieveFilter(band, band.GetMaskBand(), band, int(th), int(conn)); ds = None
            """
        try shell("/usr/bin/python3", ["-c", script] + cases.map { "\($0.input)|\($0.connectivity)|\($0.threshold)|\($0.out)" })
        var changed = 0
        for c in cases {
            var ours = c.values
            let didChange = LabelSieve.apply(&ours, width: c.w, height: c.h, threshold: Double(c.threshold), eightConnected: c.connectivity == 8)
            let gdal = try readBytes(c.out)
            #expect(ours == gdal, "\(c.w)×\(c.h), -\(c.connectivity), -st \(c.threshold): \(zip(ours, gdal).filter { $0 != $1 }.count) cells differ")
            #expect(didChange == (ours != c.values))
            changed += zip(ours, c.values).filter { $0 != $1 }.count
        }
        #expect(cases.count == 40 && changed > 5000, "the sieve changes many cells, so the comparison means something")
    }

    /// Hand-made cases: a chain of small regions follows the largest neighbours to a big one; a
    /// small region whose neighbours are all small (and lead back to it) stays; one with no
    /// neighbour (nodata around) stays; nodata never changes nor counts as a neighbour.
    @Test func chainsIsolatedRegionsAndNodata() {
        // 1 1 1 1 1 1 2 3 0 4
        var row: [UInt8] = [1, 1, 1, 1, 1, 1, 2, 3, 0, 4]
        LabelSieve.apply(&row, width: 10, height: 1, threshold: 2, eightConnected: true)
        #expect(row == [1, 1, 1, 1, 1, 1, 1, 1, 0, 4], "3 → its largest neighbour 2 (small) → 1; 4 has no neighbour")
        var pair: [UInt8] = [5, 6, 0, 0]
        #expect(!LabelSieve.apply(&pair, width: 4, height: 1, threshold: 3, eightConnected: false), "5 and 6 lead to each other")
        #expect(pair == [5, 6, 0, 0])
        // Diagonal cells: two regions of 2 with 8-connectivity (kept at threshold 2); with 4, four
        // single cells whose largest neighbours (the first met of equal size) form cycles: kept
        // (gdal_sieve.py gives the same on both).
        for eight in [true, false] {
            var diagonal: [UInt8] = [7, 1, 1, 7]
            #expect(!LabelSieve.apply(&diagonal, width: 2, height: 2, threshold: 2, eightConnected: eight))
            #expect(diagonal == [7, 1, 1, 7])
        }
    }
}
