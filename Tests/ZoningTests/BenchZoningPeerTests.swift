import FilePaths
import Foundation
import GDALKit
import RasterKernel
import Testing
@testable import Zoning

/// The zoning benchmark's GDAL + numpy peer (scripts/bench_zoning.py) is a valid oracle: on a small
/// typed zoning job (5×5 majority, a minimum mapping unit within each township, totals through an
/// `average` warp) its zones, polygons and township statistics equal the tool's, its majority
/// filter equals RasterKernel's, and its check fails when the two disagree.
@Suite(.serialized) struct BenchZoningPeerTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let helper = repo.appendingComponent("scripts/bench_zoning.py")
    static let (width, height) = (Fixture.width, Fixture.height)

    /// Bands of the five classes (500 px each) sprinkled with single-pixel specks (the majority filter
    /// removes them) and 6 × 6 blobs (they survive the filter, the 100-px unit removes them), a nodata
    /// corner; persons at 90 m; two townships with a slanted border, the east of the grid in none.
    func project() throws -> (Project, String) {
        let p = try Project()
        let gt = [Fixture.xmin, 30, 0, Fixture.ymax, 0, -30]
        var v = [Float](repeating: 0, count: Self.width * Self.height)
        for r in 0..<Self.height {
            for c in 0..<Self.width {
                var x = Float(((r / 20) + (c / 25)) % 5) * 0.2 + 0.1
                if (r * 13 + c * 7) % 17 == 0 { x = 0.95 }
                if r % 40 >= 10 && r % 40 < 16 && c % 50 >= 30 && c % 50 < 36 { x = 0.5 }
                if r < 12 && c < 15 { x = -9999 }
                v[r * Self.width + c] = x
            }
        }
        try p.raster("layers/hz.tif", width: Self.width, height: Self.height, geoTransform: gt, crs: "EPSG:4545", nodata: -9999, values: v)
        let (pw, ph) = (Self.width / 3 + 2, Self.height / 3 + 2)
        let persons = (0..<(pw * ph)).map { Float(50 + ($0 % pw) * 3 + ($0 / pw) % 7) }
        try p.raster("layers/pop.tif", width: pw, height: ph, geoTransform: [Fixture.xmin - 20, 90, 0, Fixture.ymax + 40, 0, -90],
                     crs: "EPSG:4545", nodata: -9999, values: persons)
        let (x0, y0, y1) = (Fixture.xmin - 100, Fixture.ymin - 100, Fixture.ymax + 100)
        let (west, east) = (Fixture.xmin + 4_000, Fixture.xmin + 5_200)      // the slanted border
        let far = Fixture.xmin + 8_005
        func poly(_ pts: [(Double, Double)]) -> String { "[[" + (pts + [pts[0]]).map { "[\($0.0),\($0.1)]" }.joined(separator: ",") + "]]" }
        try p.vector("layers/towns.gpkg", layer: "towns", crs: "EPSG:4545", geojson: """
            {"type":"FeatureCollection","features":[
            {"type":"Feature","properties":{"name":"西乡"},"geometry":{"type":"Polygon","coordinates":\(poly([(x0, y0), (west, y0), (east, y1), (x0, y1)]))}},
            {"type":"Feature","properties":{"name":"东乡"},"geometry":{"type":"Polygon","coordinates":\(poly([(west, y0), (far, y0), (far, y1), (east, y1)]))}}]}
            """)
        try p.write("layers/hz.yaml", "source: hz.tif\n")
        try p.write("layers/pop.yaml", "source: pop.tif\n")
        try p.write("layers/towns.yaml", "source: towns.gpkg\nlayer: towns\n")
        let job = try p.write("jobs/peer.yaml", """
            version: 1
            name: peer
            product: zoning
            grid: { crs: EPSG:4545, resolution: 30, extent: [\(Fixture.xmin), \(Fixture.ymin), \(Fixture.xmax), \(Fixture.ymax)], block-size: 64 }
            layers:
              hz: { layer: hz, normalize: { linear: [0, 1] } }
            combine: { weighted-sum: { hz: 1 } }
            classify: { scheme: census-five, breaks: [0.2, 0.4, 0.6, 0.8] }
            zoning:
              majority: 5
              min-area-ha: 9
              townships: { layer: towns, name: name }
              totals: { persons: { layer: pop, as: per-km2, units: persons } }
            outputs: { directory: out/peer, products: [risk-index, risk-class, risk-zones, statistics] }

            """)
        return (p, job)
    }

    @Test func thePeersZonesPolygonsAndStatisticsEqualTheToolsAndItsCheckFailsWhenTheyDiffer() throws {
        let (p, job) = try project()
        let plan = try Planner().resolve(try JobLoader().load(job))
        let run = try Runner(plan: plan, options: RunOptions(threads: 2)).run().runDirectory
        let planText = try p.write("plan.txt", plan.summary)
        let work = p.path("peer")
        try shell("/usr/bin/python3", [Self.helper, "peer", run, planText, work])
        let (status, out, err) = try runProcess("/usr/bin/python3", [Self.helper, "check", run, work])
        #expect(status == 0, "\(out)\(err)")
        let check = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: work.appendingComponent("check.json")))) as? [String: Any])
        #expect(check["zone_pixels_differing"] as? Int == 0 && check["zone_cog_pixels_differing"] as? Int == 0, "\(check)")
        let polygons = try #require(check["polygons"] as? [String: Int])
        #expect(polygons["tool"] == polygons["peer"] && (polygons["tool"] ?? 0) > 2, "\(polygons)")
        #expect((check["statistics_differences"] as? [String])?.isEmpty == true, "\(check)")

        // Not vacuous: the majority filter and the sieve both changed pixels, the totals are not zero.
        let classes = try readBytes(run.appendingComponent("risk_class.tif"))
        let majority = try readBytes(work.appendingComponent("majority.tif"))
        let zones = try readBytes(run.appendingComponent("risk_zones.tif"))
        let towns = try readTownships(work.appendingComponent("towns.tif"))
        let differing = { (a: [UInt8], b: [UInt8]) in zip(a, b).filter { $0 != $1 }.count }
        #expect(differing(classes, majority) > 500 && differing(majority, zones) > 100,
                "majority changed \(differing(classes, majority)), the sieve \(differing(majority, zones)) pixels")
        #expect(Set(towns) == [0, 1, 2])
        // The peer's numpy majority equals RasterKernel's filter (pixels in no township are nodata).
        let kernel = MajorityFilter.fiveByFive.apply(to: classes, width: Self.width, height: Self.height)
        #expect(differing(zip(kernel, towns).map { $1 == 0 ? 0 : $0 }, majority) == 0)
        let stats = try String(contentsOfFile: work.appendingComponent("stats.json"), encoding: .utf8)
        #expect(stats.contains("\"persons_total\"") && !stats.contains("\"persons_total\": 0.0"), "\(stats.prefix(400))")

        // The check fails loudly when the peer's products differ from the tool's.
        var rows = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: work.appendingComponent("stats.json")))) as? [[String: Any]])
        rows[1]["level"] = ((rows[1]["level"] as? Int) ?? 1) % 5 + 1
        try JSONSerialization.data(withJSONObject: rows).write(to: URL(fileURLWithPath: work.appendingComponent("stats.json")))
        let (bad, _, badErr) = try runProcess("/usr/bin/python3", [Self.helper, "check", run, work])
        #expect(bad == 1 && badErr.contains("DISAGREE") && badErr.contains("township 2: level"), "\(badErr)")
    }

    /// A UInt16 raster read as Int32 (GDAL converts).
    func readTownships(_ path: String) throws -> [Int32] {
        let ds = try Dataset(open: path, flags: [.raster])
        return try ds.band(1).read(PixelWindow(x: 0, y: 0, width: ds.width, height: ds.height))
    }
}
