import ArgumentParser
import Foundation
import Zoning

/// `hazard-zoning census-check --standard-grid PATH FILE…`: the census's acceptance checks on any
/// deliverable, a PASS/FAIL line per file with the reasons in Chinese and English.
struct CensusCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "census-check",
        abstract: "Check census deliverables (GeoTIFF, shapefile) against the standard grid: a PASS/FAIL line per file; exit 0 only if all pass.")

    @Option(help: ArgumentHelp("The census standard grid raster (30″ EPSG:4490 cells holding 9-digit township codes).", valueName: "path"))
    var standardGrid: String
    @Option(help: ArgumentHelp("A CSV file of further hazard codes (code,name_zh,name_en,hazard_product).", valueName: "csv"))
    var hazardCodes: String?
    @Argument(help: "GeoTIFF (.tif) and shapefile (.shp) files.") var files: [String]

    func validate() throws {
        if files.isEmpty { throw ValidationError("name at least one file to check") }
    }

    func run() throws {
        prepareProcess()
        let reports: [CensusCheck.FileReport]
        do { reports = try CensusCheck.run(standardGrid: standardGrid, hazardCodes: hazardCodes, files: files) } catch { fail(error) }
        for report in reports { print(report.line) }
        if !reports.allSatisfy(\.passed) { throw ExitCode(ExitStatus.dataError.rawValue) }
    }
}
