import Foundation
import Testing
@testable import Zoning

/// Shapefile export of text longer than a DBF field: never cut silently.
@Suite(.serialized) struct ExportTextTests {
    /// A DBF text field holds 254 bytes. A township name of 203 bytes (over 84 Chinese characters'
    /// worth) is exported whole; one of 300 bytes keeps its first 84 characters (252 bytes, GDAL cuts
    /// at a character boundary) with a warning naming the .dbf, the field and the name, while
    /// zones.gpkg keeps it whole.
    @Test func aTownshipNameLongerThanADBFFieldIsCutWithAWarning() throws {
        let (fx, job) = try TotalsTests.fixture(outputs: "  export: [shapefile]\n",
                                                products: "  products: [risk-class, risk-zones]\n")
        let long = String(repeating: "长", count: 100), fits = String(repeating: "a", count: 200) + "东"
        let towns = fx.project.path("layers/towns.gpkg")
        for (tid, name) in [(1, long), (2, fits)] {
            try shell("/usr/bin/ogrinfo", ["-q", towns, "-sql", "UPDATE towns SET name = '\(name)' WHERE tid = \(tid)"])
        }
        let (status, _, err) = try runProcess(BadInputTests.executable, ["run", job, "--threads", "2"])
        #expect(status == 0, "\(err)")
        let run = fx.project.path("out/totals/latest")
        let dbf = fx.project.path("out/totals/\(try FileManager.default.destinationOfSymbolicLink(atPath: run))/risk_zones.dbf")
        let warnings = err.split(separator: "\n").filter { $0.contains("longer than a shapefile field holds") }
        #expect(warnings.count == 1 && warnings[0].contains(dbf) && warnings[0].contains("township") && warnings[0].contains("300")
                && warnings[0].contains(long), "\(err)")
        let shp = try shell("/usr/bin/ogrinfo", ["-ro", "-al", "-geom=NO", "\(run)/risk_zones.shp"])
        #expect(shp.contains("township (String) = \(String(long.prefix(84)))\n") && shp.contains("township (String) = \(fits)\n"), "\(shp)")
        let gpkg = try shell("/usr/bin/ogrinfo", ["-ro", "-al", "-geom=NO", "\(run)/zones.gpkg"])
        #expect(gpkg.contains("township (String) = \(long)\n"))
    }
}
