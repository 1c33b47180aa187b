import ArgumentParser
import Foundation
import GDALKit
import Zoning

@main
struct HazardZoning: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hazard-zoning",
        abstract: "Turns natural-hazard layers into risk and zoning maps (GDAL + a streaming SIMD kernel).",
        discussion: """
            Jobs are YAML files (version 1) naming a grid, the layers (layers/<name>.yaml), their
            normalisation, the combination, the classification and the outputs.
            Exit codes: 0 ok, 64 usage, 65 bad job or data, 66 missing input, 70 internal error,
            73 cannot create output, 74 I/O error.
            """,
        version: "\(ToolInfo.version) (GDAL \(GDAL.version), PROJ \(GDAL.projVersion))",
        subcommands: [Run.self, Validate.self, PlanCommand.self]
    )
}

struct JobOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Folder of layer definitions (default: <project>/layers, the project being the parent of the job's folder).", valueName: "dir"))
    var layers: String?
}

/// Prints a failure the way every command does and exits with its status.
func fail(_ error: Error) -> Never {
    let status: ExitStatus
    let text: String
    switch error {
    case let e as DiagnosticsError: status = e.exitStatus; text = e.description
    case let e as RunError: status = e.status; text = "error: \(e.message)"
    case let e as GDALError: status = .dataError; text = "error: \(e.description)"
    default: status = .software; text = "error: \(error)"
    }
    FileHandle.standardError.write(Data((text + "\n").utf8))
    exit(status.rawValue)
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a job and publish its products under <output>/<run-id>/, switching <output>/latest.")

    @Argument(help: "The job file.") var job: String
    @OptionGroup var common: JobOptions
    @Option(help: "Worker threads (default: all cores). Outputs are identical for any value.") var threads: Int?
    @Option(help: ArgumentHelp("Output folder (default: the job's outputs.directory under the project).", valueName: "dir")) var output: String?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        do {
            let spec = try JobLoader(layersDirectory: common.layers).load(job)
            let plan = try Planner().resolve(spec, outputDirectory: output)
            var options = RunOptions()
            if let threads { options.threads = threads }
            let result = try Runner(plan: plan, options: options).run()
            let s = result.manifest.statistics
            let classes = s.classes.map { "\($0.name.split(separator: " ").first ?? ""): \($0.pixels)" }.joined(separator: ", ")
            print("\(spec.name): run \(result.runID) published to \(result.runDirectory) (\(plan.grid.width)×\(plan.grid.height) px, \(s.validPixels) valid; \(classes); \(result.manifest.timings["total"] ?? 0) s)")
        } catch { fail(error) }
    }
}

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check job files without running them: every problem is reported with file:line:column.")

    @Argument(help: "Job files.") var jobs: [String]
    @OptionGroup var common: JobOptions

    func run() throws {
        var worst: ExitStatus = .ok
        for job in jobs {
            do {
                _ = try JobLoader(layersDirectory: common.layers).load(job)
                print("\(job): ok")
            } catch let e as DiagnosticsError {
                FileHandle.standardError.write(Data((e.description + "\n").utf8))
                if worst == .ok || e.exitStatus == .dataError { worst = e.exitStatus }
            } catch { fail(error) }
        }
        if worst != .ok { throw ExitCode(worst.rawValue) }
    }
}

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "plan", abstract: "Resolve a job against its data and print the grid, each layer's alignment and the steps.")

    @Argument(help: "The job file.") var job: String
    @OptionGroup var common: JobOptions
    @Option(help: ArgumentHelp("Output folder, as for run.", valueName: "dir")) var output: String?

    func run() throws {
        do {
            let spec = try JobLoader(layersDirectory: common.layers).load(job)
            print(try Planner().resolve(spec, outputDirectory: output).summary)
        } catch { fail(error) }
    }
}
