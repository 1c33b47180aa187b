import ArgumentParser
import Foundation
import Logging
import Zoning

/// `hazard-zoning baseline import JOB --from FILE`: a previous census round's result as a run of the job.
struct BaselineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "baseline", abstract: "Bring a previous assessment round's result in as a run of a job (status baseline): the job's next run compares against it.",
        subcommands: [Import.self])

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put a previous round's class GeoTIFF or class polygons (any GDAL format, any CRS) onto the job's grid (nearest neighbour; polygons burnt at pixel centres) and publish it as a run with status baseline.")

        @Argument(help: "The job file.") var job: String
        @Option(help: ArgumentHelp("The previous round's class raster or polygons.", valueName: "file")) var from: String
        @Option(help: ArgumentHelp("Polygons: the attribute holding the class (default: class).", valueName: "name")) var field = "class"
        @Option(help: ArgumentHelp("When the previous round's result was made (YYYY-MM-DD).", valueName: "date")) var date: String?
        @Option(help: ArgumentHelp("What the previous round is called, e.g. 2022普查.", valueName: "text")) var label: String?
        @Option(help: ArgumentHelp("Township levels as the previous round delivered them (a table or vector file with the township code or name); default: each township's dominant class.", valueName: "file")) var levels: String?
        @Option(help: ArgumentHelp("The attribute of --levels holding the level.", valueName: "name")) var levelField: String?
        @Option(help: ArgumentHelp("Risk database to record the baseline in (default: as a run of the job).", valueName: "path")) var database: String?
        @OptionGroup var common: JobOptions

        func run() throws {
            prepareProcess()
            do {
                let spec = try JobLoader(layersDirectory: common.layers).load(job)
                let request = BaselineOptions(source: from, field: field, date: date, label: label, levels: levels,
                                              levelField: levelField, database: database)
                let logger = Logger(label: "hazard-zoning") { LineLogHandler(label: $0, format: .text, level: .warning) }
                let folder = try Operations.importBaseline(job: spec, request, logger: logger)
                print("baseline recorded: \(folder) (status baseline; the next run of \(spec.name) compares against it)")
            } catch { fail(error) }
        }
    }
}
