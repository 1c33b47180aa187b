import Foundation
import GDALKit
import Testing
@testable import Zoning

/// The streamed COG writers on an even grid (620 × 490 px, the fixture at 15 m), where they go
/// tile by tile (issue 12; the 310 × 245 fixture takes their row-by-row fallback): whole
/// blocks, 16-row strips and other thread counts give the same bytes, and the overviews of
/// `risk_index.tif` / `risk_class.tif` equal those GDAL's COG driver builds from the same base
/// pixels (read back by GDAL's Python bindings, compared bit for bit with numpy).
@Suite struct EvenGridCOGTests {
    static let oracle = #"""
import sys
import numpy as np
from osgeo import gdal
gdal.UseExceptions()
ours, theirs = sys.argv[1:3]
def levels(path):
    ds = gdal.Open(path); b = ds.GetRasterBand(1)  # keep the dataset alive while the band is used
    return [b.ReadAsArray()] + [b.GetOverview(i).ReadAsArray() for i in range(b.GetOverviewCount())]
o, t = levels(ours), levels(theirs)
def differ(a, b):
    if a.shape != b.shape: return -1
    if a.dtype.kind == 'f':
        return int(np.count_nonzero(~((a.view(np.uint32) == b.view(np.uint32)) | (np.isnan(a) & np.isnan(b)))))
    return int(np.count_nonzero(a != b))
print(len(o), len(t), *[differ(x, y) for x, y in zip(o, t)])
"""#

    @Test func evenGridProductsEqualGDALsOverviews() throws {
        let fx = try Fixture(blockSize: 64, resolution: 15)
        let plan = try fx.plan()
        #expect(plan.grid.width == 620 && plan.grid.height == 490)
        let whole = try Runner(plan: plan, options: RunOptions(threads: 2, runID: "whole")).run()
        var tight = RunOptions(threads: 3, runID: "strips")
        tight.maxMemory = 64 << 20   // 16-row strips: tiles filled piece by piece
        let strips = Runner(plan: plan, options: tight)
        #expect(strips.memoryPlan.height == 16)
        let stripped = try strips.run()
        let single = try Runner(plan: plan, options: RunOptions(threads: 1, runID: "single")).run()

        let script = fx.project.path("oracle.py")
        try Self.oracle.write(toFile: script, atomically: true, encoding: .utf8)
        for (name, resampling) in [("risk_index.tif", "AVERAGE"), ("risk_class.tif", "NEAREST")] {
            let ours = "\(whole.runDirectory)/\(name)"
            for other in [stripped, single] {
                #expect(try Data(contentsOf: URL(fileURLWithPath: ours)) == (try Data(contentsOf: URL(fileURLWithPath: "\(other.runDirectory)/\(name)"))),
                        "\(name): \(other.runDirectory)")
            }
            // GDAL's COG driver from our base pixels alone (a plain GeoTIFF copy has no overviews).
            let plain = fx.project.path("plain-\(name)"), cog = fx.project.path("gdal-\(name)")
            try shell("/usr/bin/gdal_translate", ["-q", ours, plain])
            var args = ["-q", "-of", "COG", "-co", "COMPRESS=DEFLATE", "-co", "BLOCKSIZE=64", "-co", "OVERVIEW_RESAMPLING=\(resampling)"]
            if resampling == "AVERAGE" { args += ["-co", "PREDICTOR=YES"] }
            try shell("/usr/bin/gdal_translate", args + [plain, cog])
            let out = try shell("/usr/bin/python3", [script, ours, cog]).split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            // 620 × 490 with 64-px tiles: 310 × 245, 155 × 122, 77 × 61, 38 × 30.
            #expect(out.count == 7 && out[0] == 5 && out[1] == 5, "\(name): \(out)")
            #expect(out.dropFirst(2).allSatisfy { $0 == 0 }, "\(name): pixels differing per level \(out.dropFirst(2))")
        }
    }
}
