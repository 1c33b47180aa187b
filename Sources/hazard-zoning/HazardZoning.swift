import ArgumentParser
import Cluster
import Foundation
import FilePaths
import GDALKit
import Logging
import RiskDatabase
import Zoning

#if canImport(Glibc)
import Glibc
#endif

@main
struct HazardZoning: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hazard-zoning",
        abstract: "Turns natural-hazard layers into risk and zoning maps (GDAL + a streaming SIMD kernel).",
        discussion: """
            Jobs are YAML files (version 1) naming a grid, the layers (layers/<name>.yaml), their
            normalisation, the combination, the classification and the outputs.
            Exit codes: 0 ok (or up to date), 64 usage, 65 bad job or data, 66 missing input,
            70 internal error, 73 cannot create output, 74 I/O error, 75 output locked by another run.
            """,
        version: "\(ToolInfo.version) (GDAL \(GDAL.version), PROJ \(GDAL.projVersion))",
        subcommands: [Run.self, Batch.self, Merge.self, Submit.self, Validate.self, PlanCommand.self, Render.self, Rerun.self, History.self,
                      Changes.self, BaselineCommand.self, DB.self, SlurmTask.self, SlurmSummary.self, CensusCheckCommand.self,
                      ReportCommand.self]
    )
}

/// `--wait SECONDS`: a number of seconds from 0 to a year (NaN, infinities and negative values are refused).
func checkWait(_ wait: Double) throws {
    guard wait >= 0 && wait <= 31_536_000 else {
        throw ValidationError("--wait is a number of seconds from 0 to 31536000 (a year), got \(wait)")
    }
}

struct JobOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Folder of layer definitions (default: <project>/layers, the project being the parent of the job's folder).", valueName: "dir"))
    var layers: String?
}

struct RunFlags: ParsableArguments {
    @Option(help: "Worker threads (default: all cores). Outputs are identical for any value.") var threads: Int?
    @Flag(help: "Run even when the job, its inputs and the tool are unchanged since the last good run.") var force = false
    @Option(help: ArgumentHelp("Wait up to this many seconds for another run of the same outputs to finish (default: fail at once with exit 75).", valueName: "seconds")) var wait: Double = 0
    @Option(help: "Log format on standard error: text or json (JSON lines).") var logFormat: LogFormat = .text
    @Option(help: ArgumentHelp("GDAL block cache for the run in MiB (bounds memory; default 32).", valueName: "MiB")) var cacheMb: Int = 32
    @Option(help: ArgumentHelp("Memory budget of the computation in MiB (default 256): bounds blocks in flight × block size × layers, the GDAL cache included, whatever --threads and block-size are.", valueName: "MiB")) var maxMemory: Int = 256
    @Flag(help: "Take an input whose size and mtime are unchanged since the last good run as unchanged without hashing it (default: content hashes decide).") var trustMtime = false
    @Flag(help: "Align every layer with gdalwarp / gdal_rasterize into the staging folder instead of reading same-grid rasters as windows and burning vectors per block (a cross-check: products are identical; slower, needs disk).") var alignWithGdal = false
    @Flag(help: "Split each township's change of mean index since the previous run into data, weights and interaction (two more runs of the model; into changes.json and the risk database).") var explainChanges = false
    @Flag(name: .shortAndLong, help: "Log every stage; -vv also every step of a stage with its seconds (default: warnings only, plus a progress bar on a terminal).") var verbose: Int
    @Option(help: ArgumentHelp("Risk database to record runs in (default: the job's outputs.database, else risk-database.gpkg beside the output folder, i.e. out/risk-database.gpkg).", valueName: "path")) var database: String?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        try checkWait(wait)
        if cacheMb < 8 { throw ValidationError("--cache-mb must be at least 8") }
        if maxMemory < 64 || maxMemory > 1 << 30 { throw ValidationError("--max-memory must be between 64 and 1073741824 MiB") }
    }

    var logger: Logger {
        let format = logFormat, level: Logger.Level = verbose > 1 ? .debug : verbose == 1 ? .info : .warning
        return Logger(label: "hazard-zoning") { LineLogHandler(label: $0, format: format, level: level) }
    }

    /// Run options; a progress bar only on a terminal and only for text logs.
    func options(progress bar: ProgressBar?) -> RunOptions {
        var options = RunOptions(cacheBytes: cacheMb << 20, skipIfUpToDate: !force, lockWait: wait)
        if let threads { options.threads = threads }
        options.database = database
        options.trustMtime = trustMtime
        options.maxMemory = maxMemory << 20
        options.alignFastPaths = !alignWithGdal
        options.explainChanges = explainChanges
        if let bar { options.progress = { bar.update($0) } }
        return options
    }

    var progressBar: ProgressBar? {
        logFormat == .text && isatty(STDERR_FILENO) == 1 ? ProgressBar() : nil
    }
}

extension LogFormat: ExpressibleByArgument {}

/// A full disk or a file-size limit must give a clean error, not a kill by SIGXFSZ.
func prepareProcess() {
    signal(SIGXFSZ, SIG_IGN)
    MemoryPlan.boundHeap()
    GDAL.silenceUncapturedMessages()
}

/// Prints a failure the way every command does and exits with its status.
func fail(_ error: Error, format: LogFormat = .text, job: String? = nil) -> Never {
    let (status, message) = Operations.describe(error)
    switch format {
    case .text:
        let text = error is DiagnosticsError ? message : "error: \(message)"
        FileHandle.standardError.write(Data((text + "\n").utf8))
    case .json:
        var object: [String: Any] = ["level": "error", "message": message, "status": Int(status.rawValue)]
        if let job { object["job"] = job }
        if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) {
            FileHandle.standardError.write(data + Data("\n".utf8))
        }
    }
    exit(status.rawValue)
}

func summary(_ result: RunResult, job: String, format: LogFormat) -> String {
    let s = result.manifest.statistics
    switch format {
    case .text:
        if result.upToDate { return "\(job): up to date (run \(result.runID))" }
        let classes = s.classes.map { "\($0.name.split(separator: " ").first ?? ""): \($0.pixels)" }.joined(separator: ", ")
        return "\(job): run \(result.runID) published to \(result.runDirectory) (\(result.manifest.grid.width)×\(result.manifest.grid.height) px, \(s.validPixels) valid; \(classes); \(result.manifest.timings["total"] ?? 0) s)"
    case .json:
        let object: [String: Any] = ["event": result.upToDate ? "up-to-date" : "published", "job": job, "run": result.runID,
                                     "directory": result.runDirectory, "valid_pixels": s.validPixels,
                                     "seconds": result.manifest.timings["total"] ?? 0]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a job and publish its products under <output>/<run-id>/, switching <output>/latest; skipped when nothing changed.")

    @Argument(help: "The job file.") var job: String
    @OptionGroup var common: JobOptions
    @OptionGroup var flags: RunFlags
    @Option(help: ArgumentHelp("Output folder (default: the job's outputs.directory under the project).", valueName: "dir")) var output: String?
    @Option(help: ArgumentHelp("Compute only band I of N of the grid (I from 0) into the staging folder of run --run-id; `merge` publishes the run once every shard finished.", valueName: "I/N")) var shard: String?
    @Option(help: ArgumentHelp("The run's id (default: the time); the same for every shard of a sharded run and its merge.", valueName: "id")) var runId: String?
    @Flag(help: "Compute the statistics passes of sharded run --run-id once (min-max ranges, entropy weights) for every --shard to read, instead of each shard computing them.") var shardStatistics = false

    func validate() throws {
        if shard != nil && runId == nil { throw ValidationError("--shard needs --run-id ID (the same for every shard and for the merge)") }
        if shardStatistics && (runId == nil || shard != nil) { throw ValidationError("--shard-statistics needs --run-id ID (the sharded run's) and no --shard") }
    }

    func run() throws {
        prepareProcess()
        let bar = flags.progressBar
        do {
            var options = flags.options(progress: bar)
            options.runID = runId
            if shardStatistics {
                let file = try Operations.runShardStatistics(job, runID: runId!, layers: common.layers, output: output,
                                                             options: options, logger: flags.logger)
                bar?.finish()
                print("\(job): statistics of run \(runId!) computed into \(file)")
                return
            }
            if let shard {
                let folder = try Operations.runShard(job, shard: try Shard(argument: shard), runID: runId!, layers: common.layers,
                                                     output: output, options: options, logger: flags.logger)
                bar?.finish()
                print("\(job): shard \(shard) of run \(runId!) computed into \(folder)")
                return
            }
            let result = try Operations.runJob(job, layers: common.layers, output: output,
                                               options: options, logger: flags.logger)
            bar?.finish()
            print(summary(result, job: result.manifest.job.name, format: flags.logFormat))
        } catch {
            bar?.finish()
            fail(error, format: flags.logFormat, job: job)
        }
    }
}

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Merge the shards of a sharded run (run JOB --shard I/N --run-id ID) and publish it: the products of a single-process run.")

    @Argument(help: "The job file.") var job: String
    @Option(help: ArgumentHelp("The sharded run's id.", valueName: "id")) var runId: String
    @OptionGroup var common: JobOptions
    @OptionGroup var flags: RunFlags
    @Option(help: ArgumentHelp("Output folder, as for run.", valueName: "dir")) var output: String?

    func run() throws {
        prepareProcess()
        let bar = flags.progressBar
        do {
            let result = try Operations.merge(job, runID: runId, layers: common.layers, output: output,
                                              options: flags.options(progress: bar), logger: flags.logger)
            bar?.finish()
            print(summary(result, job: result.manifest.job.name, format: flags.logFormat))
        } catch {
            bar?.finish()
            fail(error, format: flags.logFormat, job: job)
        }
    }
}

struct Submit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Submit a folder of jobs (one array task per job, then a summary) or one job in --shards bands (an array, then the merge) to Slurm with sbatch.",
        discussion: "The scripts and the tasks' logs are written into the output area (out/slurm/… or <job output>/slurm/<run-id>/); the project, the layers and the output folder must be on a file system every node shares.")

    @Argument(help: "A folder of job files, or one job file.") var target: String
    @Flag(help: "Submit to Slurm (sbatch); the only scheduler so far.") var slurm = false
    @Option(help: "Slurm partition.") var partition: String?
    @Option(help: "Slurm account.") var account: String?
    @Option(help: ArgumentHelp("Time limit of each task, as Slurm takes it (e.g. 02:00:00).", valueName: "time")) var time: String?
    @Option(help: "CPUs per task (--cpus-per-task); each task runs with that many threads.") var cpus: Int?
    @Option(help: "Split one job into N bands of block rows: N array tasks, then a merge that publishes the run.") var shards: Int?
    @Option(help: ArgumentHelp("At most M array tasks at once (--array=0-K%M).", valueName: "M")) var throttle: Int?
    @Flag(help: "Wait for the jobs to finish; print the summary and exit with the batch's status (as run/batch).") var wait = false
    @OptionGroup var common: JobOptions
    @Option(help: ArgumentHelp("Output folder of a single job, as for run.", valueName: "dir")) var output: String?
    @Option(help: ArgumentHelp("A new folder for the scripts and logs (refused when it exists: two submissions never share one).", valueName: "dir")) var scripts: String?
    @Flag(help: "Run even when nothing changed (a sharded job that is up to date is otherwise not submitted).") var force = false
    @Option(help: ArgumentHelp("Memory budget of each task in MiB (as run).", valueName: "MiB")) var maxMemory: Int?
    @Option(help: ArgumentHelp("Risk database (as run).", valueName: "path")) var database: String?
    @Option(help: ArgumentHelp("The hazard-zoning the tasks run (default: this executable).", valueName: "path")) var executable: String?

    func validate() throws {
        if !slurm { throw ValidationError("name the scheduler: --slurm") }
    }

    func run() throws {
        prepareProcess()
        do {
            let exe = executable ?? ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
            var options = SlurmSubmitOptions(executable: exe)
            options.partition = partition
            options.account = account
            options.time = time
            options.cpus = cpus
            options.shards = shards
            options.throttle = throttle
            options.layers = common.layers
            options.output = output
            options.scripts = scripts
            if force { options.runArguments.append("--force") }
            if let maxMemory { options.runArguments += ["--max-memory", "\(maxMemory)"] }
            if let database { options.runArguments += ["--database", absolute(database)] }
            guard let submission = try Operations.submitSlurm(target, options: options) else {
                print("\(target): up to date; nothing submitted (--force submits anyway)")
                return
            }
            print(submission.summary)
            if wait {
                let (status, text) = try Operations.waitForSlurm(submission)
                print(text)
                if status != .ok { throw ExitCode(status.rawValue) }
            }
        } catch let code as ExitCode { throw code } catch { fail(error) }
    }

    func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}

struct SlurmTask: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "slurm-task", abstract: "One array task of a submitted folder (called by the scripts of submit).",
                                                    shouldDisplay: false)
    @Argument var folder: String
    @Option var task: Int
    @OptionGroup var common: JobOptions
    @OptionGroup var flags: RunFlags
    @Option var output: String?

    func run() throws {
        prepareProcess()
        do {
            let entry = try Operations.slurmTask(folder, task: task, layers: common.layers, output: output,
                                                 options: flags.options(progress: nil), logger: flags.logger)
            print(Operations.table([entry]))
            if entry.status != .ok { throw ExitCode(entry.status.rawValue) }
        } catch let code as ExitCode { throw code } catch { fail(error) }
    }
}

struct SlurmSummary: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "slurm-summary", abstract: "The summary table of a submitted folder (called by the scripts of submit).",
                                                    shouldDisplay: false)
    @Argument var folder: String

    func run() throws {
        let entries = Operations.slurmBatchResults(folder)
        print(Operations.table(entries))
        if let failed = entries.first(where: { $0.status != .ok }) { throw ExitCode(failed.status.rawValue) }
    }
}

struct Batch: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run every job (*.yaml) of a folder, continuing past failures; print a summary table; exit non-zero if any failed.")

    @Argument(help: "The folder of job files.") var folder: String
    @OptionGroup var common: JobOptions
    @OptionGroup var flags: RunFlags

    func run() throws {
        prepareProcess()
        let bar = flags.progressBar
        do {
            let entries = try Operations.runBatch(folder, layers: common.layers, options: flags.options(progress: bar),
                                                  logger: flags.logger) { _ in bar?.finish() }
            switch flags.logFormat {
            case .text: print(Operations.table(entries))
            case .json:
                for e in entries {
                    let object: [String: Any] = ["event": "batch-job", "job": e.job, "status": Int(e.status.rawValue),
                                                 "detail": e.detail, "seconds": e.seconds]
                    if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) {
                        print(String(decoding: data, as: UTF8.self))
                    }
                }
            }
            if let failed = entries.first(where: { $0.status != .ok }) { throw ExitCode(failed.status.rawValue) }
        } catch let code as ExitCode {
            throw code
        } catch {
            fail(error, format: flags.logFormat)
        }
    }
}

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check job files without running them: every problem is reported with file:line:column.")

    @Argument(help: "Job files.") var jobs: [String]
    @OptionGroup var common: JobOptions

    func run() throws {
        prepareProcess()
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

struct Render: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Redraw the maps (PDF, PNG) and QGIS styles of a job's latest run without recomputing.")

    @Argument(help: "The job file.") var job: String
    @OptionGroup var common: JobOptions
    @Option(help: ArgumentHelp("Output folder, as for run.", valueName: "dir")) var output: String?
    @Option(help: ArgumentHelp("Wait up to this many seconds for a running job of the same outputs.", valueName: "seconds")) var wait: Double = 0

    func validate() throws { try checkWait(wait) }

    func run() throws {
        prepareProcess()
        do {
            let files = try Operations.renderLatest(job, layers: common.layers, output: output, lockWait: wait)
            print(files.joined(separator: "\n"))
        } catch { fail(error) }
    }
}

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "plan", abstract: "Resolve a job against its data and print the grid, each layer's alignment and the steps.")

    @Argument(help: "The job file.") var job: String
    @OptionGroup var common: JobOptions
    @Option(help: ArgumentHelp("Output folder, as for run.", valueName: "dir")) var output: String?

    func run() throws {
        prepareProcess()
        do {
            let spec = try JobLoader(layersDirectory: common.layers).load(job)
            print(try Planner().resolve(spec, outputDirectory: output).summaryWithStages)
        } catch { fail(error) }
    }
}

struct DatabaseOption: ParsableArguments {
    @Option(help: ArgumentHelp("The risk database (default: out/risk-database.gpkg).", valueName: "path"))
    var database: String = "out/risk-database.gpkg"
}

struct Rerun: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Recompute a kept run from the job and layer definitions kept in its folder (job/) and say whether the products are bit-identical.")

    @Argument(help: "The run folder (e.g. out/<job>/<run-id>).") var runDirectory: String
    @Option(help: ArgumentHelp("Folder to make the recomputed run's new folder in, rerun-<job>-<run>-<random> (default: the temporary folder); nothing already there is touched.", valueName: "dir")) var output: String?
    @Option(help: "Worker threads (outputs do not depend on it).") var threads: Int?

    func run() throws {
        prepareProcess()
        do {
            let logger = Logger(label: "hazard-zoning") { LineLogHandler(label: $0, format: .text, level: .warning) }
            let report = try Operations.rerun(runDirectory, output: output, threads: threads, logger: logger)
            print(report.summary)
            if !report.bitIdentical { throw ExitCode(1) }
        } catch let code as ExitCode { throw code } catch { fail(error) }
    }
}

struct History: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the runs kept in the risk database: id, date, status, breaks, townships per level.")

    @Argument(help: "A job name (or job file); omit with --all.") var job: String?
    @Flag(help: "Every job.") var all = false
    @OptionGroup var db: DatabaseOption

    func validate() throws {
        if job == nil && !all { throw ValidationError("name a job or pass --all") }
    }

    func run() throws {
        do {
            var name = job
            if let job, job.hasSuffix(".yaml") || job.hasSuffix(".yml") { name = try JobLoader().load(job).name }
            print(Operations.historyTable(try RiskDatabase(path: db.database).history(job: all ? nil : name)))
        } catch { fail(error) }
    }
}

struct Changes: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write the change products (changes.csv/.json, risk_change.tif, risk change map) between two kept runs on the same grid.")

    @Argument(help: "The earlier run: a run folder or JOB[@RUN] (JOB alone: its newest ok run).") var from: String
    @Argument(help: "The later run: a run folder or JOB[@RUN].") var to: String
    @Flag(help: "Split each township's change of mean index into data, weights and interaction (re-runs both jobs with the other run's weights) and print it.") var explain = false
    @Option(help: ArgumentHelp("Folder for the products, which must not exist yet or be empty (default: changes/<from>_to_<to>/ beside the database).", valueName: "dir")) var output: String?
    @OptionGroup var db: DatabaseOption

    func run() throws {
        do {
            let (folder, files) = try Operations.changes(from: from, to: to, output: output, database: db.database, explain: explain)
            print("changes written to \(folder): \(files.joined(separator: ", "))")
            if explain { print(try Operations.explanationTable(changesFolder: folder)) }
        } catch { fail(error) }
    }
}

struct DB: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "db", abstract: "Check or rebuild the risk database.",
                                                    subcommands: [Check.self, Import.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Integrity, every published run present, every row's run folder still there or marked pruned, every manifest readable; --repair imports and marks what is missing.")
        @Flag(help: "Import published runs the database lacks, mark rows of vanished run folders pruned and run folders whose manifest cannot be read unreadable.") var repair = false
        @Argument(help: "Further folders to look for run folders in (default: the database's folder and the recorded runs' output folders).") var folders: [String] = []
        @OptionGroup var db: DatabaseOption

        func run() throws {
            do {
                let report = try RiskDatabase(path: db.database).check(repair: repair, roots: folders)
                for line in report.repaired { print("repaired: \(line)") }
                for line in report.problems { print("problem: \(line)") }
                print(report.ok ? "\(db.database): ok (\(report.runs) runs)" : "\(db.database): \(report.problems.count) problem(s)")
                if !report.ok { throw ExitCode(ExitStatus.dataError.rawValue) }
            } catch let code as ExitCode { throw code } catch { fail(error) }
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Rebuild the database from the run folders' manifests and copies under DIR (runs it already has are skipped).")
        @Argument(help: "A folder of run folders, e.g. out/.") var folder: String
        @Option(help: ArgumentHelp("The risk database (default: DIR/risk-database.gpkg).", valueName: "path")) var database: String?

        func run() throws {
            do {
                let path = database ?? folder.appendingComponent("risk-database.gpkg")
                let recorded = try RiskDatabase(path: path).importAll(from: folder)
                for line in recorded.imported { print("imported \(line)") }
                for skipped in recorded.skipped { print("skipped \(skipped)") }
                print("\(path): \(recorded.imported.count) run(s) imported")
                if !recorded.skipped.isEmpty {
                    print("\(recorded.skipped.count) run folder(s) skipped: a file cannot be read; `hazard-zoning db check --repair --database \(path)` marks them unreadable")
                    throw ExitCode(ExitStatus.dataError.rawValue)
                }
            } catch let code as ExitCode { throw code } catch { fail(error) }
        }
    }
}
