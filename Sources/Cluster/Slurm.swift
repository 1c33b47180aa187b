import Foundation
import FilePaths
import Logging
import Zoning

#if canImport(Glibc)
import Glibc
#endif

/// `hazard-zoning submit DIR|JOB --slurm`: the batch scripts of a folder of jobs (one array task
/// per job, then a summary job) or of one sharded job (one array task per band, then the merge),
/// written into the output area and submitted with `sbatch --parsable`. Slurm itself schedules:
/// arrays, `afterany`/`afterok` dependencies, `--kill-on-invalid-dep=yes` so that a failed shard
/// cancels the merge. The scripts stay beside the logs and can be submitted again by hand.
public struct SlurmSubmitOptions: Sendable {
    public var partition: String?
    public var account: String?
    /// Slurm's time limit of each task (e.g. `01:00:00`).
    public var time: String?
    /// CPUs per task (`--cpus-per-task`); also the task's `--threads`.
    public var cpus: Int?
    /// One job in N bands (a sharded run); nil: one task per job.
    public var shards: Int?
    /// At most this many array tasks at once (`--array=0-K%M`).
    public var throttle: Int?
    public var layers: String?
    /// A single job's output folder (as `run --output`).
    public var output: String?
    /// Where the scripts and logs go, a new folder (default: `<output>/slurm/<run-id>/` for a
    /// sharded job, `<project>/out/slurm/batch-<time>[-N]/` for a folder, made anew each time).
    public var scripts: String?
    /// Further arguments of every `run`/`merge` (e.g. `--force`, `--max-memory 256`).
    public var runArguments: [String] = []
    /// The hazard-zoning executable the scripts call (an absolute path on the shared file system).
    public var executable: String
    /// Variables set for sbatch (the jobs inherit the submitter's environment).
    public var environment: [String: String] = [:]
    /// `sbatch` (or a full path to it).
    public var sbatch = "sbatch"

    public init(executable: String) { self.executable = executable }
}

public struct SlurmSubmission: Sendable {
    public enum Kind: Sendable { case batch, sharded }
    public let kind: Kind
    /// Scripts, logs and results.
    public let folder: String
    /// The array job's id, then the summary's or the merge's; a sharded run whose model has
    /// data-driven parts then its statistics job's (which the array waits for).
    public let jobIDs: [String]
    /// A sharded run's id.
    public let runID: String?
    public let tasks: Int
    /// What to print: one line per submitted job.
    public var summary: String {
        let what = kind == .batch ? "summary" : "merge"
        var lines = ["submitted array job \(jobIDs[0]) (\(tasks) task\(tasks == 1 ? "" : "s")) and \(what) job \(jobIDs[1])"]
        if jobIDs.count > 2 { lines.append("after statistics job \(jobIDs[2]) (the statistics passes, once for every shard)") }
        if let runID { lines.append("run id \(runID)") }
        lines.append("scripts and logs: \(folder)")
        return lines.joined(separator: "\n")
    }
}

/// The jobs of a batch submitted as an array (`jobs.json` in the scripts' folder).
struct SlurmBatch: Codable {
    var jobs: [String]
    /// The arguments every task's `slurm-task` gets (also in tasks.sh).
    var arguments: [String]
}

extension Operations {

    /// Writes the scripts and submits them; returns the job ids. Nothing is submitted when a
    /// sharded job is up to date and `force` is not among the run arguments (then nil).
    public static func submitSlurm(_ target: String, options: SlurmSubmitOptions) throws -> SlurmSubmission? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: target, isDirectory: &isDirectory) else {
            throw RunError(.noInput, "\(target): no such job file or folder")
        }
        guard options.executable.hasPrefix("/"), FileManager.default.isExecutableFile(atPath: options.executable) else {
            throw RunError(.noInput, "\(options.executable): the hazard-zoning executable the tasks run must be an absolute path to an executable on the shared file system")
        }
        if let cpus = options.cpus, cpus < 1 { throw RunError(.usage, "--cpus must be at least 1") }
        if let m = options.throttle, m < 1 { throw RunError(.usage, "--throttle must be at least 1") }
        try checkScriptValues(target, options)
        if let n = options.shards {
            guard !isDirectory.boolValue else {
                throw RunError(.usage, "\(target): --shards splits one job; a folder is submitted as one array task per job (drop --shards)")
            }
            guard n >= 1 else { throw RunError(.usage, "--shards must be at least 1") }
            return try submitSharded(absolutePath(target), shards: n, options: options)
        }
        let jobs: [String]
        let scriptsDefault: String
        if isDirectory.boolValue, options.output != nil {
            throw RunError(.usage, "\(target): --output names one job's output folder; the jobs of a folder write to their own outputs.directory")
        }
        if isDirectory.boolValue {
            let folder = absolutePath(target)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            jobs = names.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted().map { folder.appendingComponent($0) }
            if jobs.isEmpty { throw RunError(.noInput, "\(target): no job files (*.yaml) found") }
            scriptsDefault = folder.parentPath.appendingComponent("out/slurm")
        } else {
            jobs = [absolutePath(target)]
            let spec = try JobLoader(layersDirectory: options.layers).load(target)
            let plan = try Planner().resolve(spec, outputDirectory: options.output)
            scriptsDefault = plan.outputDirectory.appendingComponent("slurm")
        }
        var arguments = options.runArguments
        if let cpus = options.cpus { arguments += ["--threads", "\(cpus)"] }
        if let output = options.output { arguments += ["--output", absolutePath(output)] }
        if let layers = options.layers { arguments += ["--layers", absolutePath(layers)] }
        // Two submissions in the same second get batch-<time> and batch-<time>-2, never one folder.
        let stamp = Publisher(outputDirectory: scriptsDefault).newRunID()
        let folder = try options.scripts.map { try makeScriptsFolder(absolutePath($0)) }
            ?? uniqueScriptsFolder(in: scriptsDefault, named: { $0 == 1 ? "batch-\(stamp)" : "batch-\(stamp)-\($0)" }).path
        let batch = SlurmBatch(jobs: jobs, arguments: arguments)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try writeFile(try encoder.encode(batch), folder.appendingComponent("jobs.json"))
        let exe = shellQuote(options.executable), dir = shellQuote(folder)
        let taskScript = folder.appendingComponent("tasks.sh")
        try writeScript(taskScript, directives(options, name: "hazard-zoning-batch", array: jobs.count, folder: folder, log: "task-%a.log"), """
            exec \(exe) slurm-task \(dir) --task "$SLURM_ARRAY_TASK_ID" \(arguments.map(shellQuote).joined(separator: " "))
            """)
        let summaryScript = folder.appendingComponent("summary.sh")
        try writeScript(summaryScript, directives(options, name: "hazard-zoning-summary", array: nil, folder: folder, log: "summary.log", cpus: 1), """
            exec \(exe) slurm-summary \(dir)
            """)
        let array = try sbatch(options, [taskScript])
        let summary = try sbatch(options, ["--dependency=afterany:\(array)", summaryScript])
        return SlurmSubmission(kind: .batch, folder: folder, jobIDs: [array, summary], runID: nil, tasks: jobs.count)
    }

    private static func submitSharded(_ job: String, shards: Int, options: SlurmSubmitOptions) throws -> SlurmSubmission? {
        let spec = try JobLoader(layersDirectory: options.layers).load(job)
        let plan = try Planner().resolve(spec, outputDirectory: options.output)
        try Runner.checkShardable(plan)
        try checkScriptValue(plan.outputDirectory, "the job's output folder")
        let blockRows = (plan.grid.height + plan.blockSize - 1) / plan.blockSize
        guard shards <= blockRows else {
            throw RunError(.usage, "--shards \(shards): the grid (\(plan.grid.width)×\(plan.grid.height) px) has \(blockRows) block row\(blockRows == 1 ? "" : "s") of \(plan.blockSize) px; use at most \(blockRows) shards")
        }
        if !options.runArguments.contains("--force"), try Runner(plan: plan).upToDateRun() != nil { return nil }
        let (runID, folder) = try claimShardedRun(plan.outputDirectory, scripts: options.scripts)
        var arguments = options.runArguments.filter { $0 != "--force" }
        if let cpus = options.cpus { arguments += ["--threads", "\(cpus)"] }
        if let layers = options.layers { arguments += ["--layers", absolutePath(layers)] }
        arguments += ["--output", absolutePath(plan.outputDirectory)]
        let exe = shellQuote(options.executable), jobArg = shellQuote(job), dir = shellQuote(folder)
        let args = arguments.map(shellQuote).joined(separator: " ")
        let shardScript = folder.appendingComponent("shards.sh")
        try writeScript(shardScript, directives(options, name: "hazard-zoning-shards", array: shards, folder: folder, log: "shard-%a.log"), """
            \(exe) run \(jobArg) --shard "$SLURM_ARRAY_TASK_ID/\(shards)" --run-id \(shellQuote(runID)) \(args)
            status=$?
            echo "$status" > \(dir)/shard-"$SLURM_ARRAY_TASK_ID".status
            exit "$status"
            """)
        // The statistics passes (min-max ranges, entropy weights) once, before the shards.
        let statisticsScript = folder.appendingComponent("statistics.sh")
        if plan.statisticsPasses > 0 {
            try writeScript(statisticsScript, directives(options, name: "hazard-zoning-statistics", array: nil, folder: folder, log: "statistics.log"), """
                \(exe) run \(jobArg) --shard-statistics --run-id \(shellQuote(runID)) \(args)
                status=$?
                echo "$status" > \(dir)/statistics.status
                exit "$status"
                """)
        }
        let mergeScript = folder.appendingComponent("merge.sh")
        try writeScript(mergeScript, directives(options, name: "hazard-zoning-merge", array: nil, folder: folder, log: "merge.log"), """
            \(exe) merge \(jobArg) --run-id \(shellQuote(runID)) \(args)
            status=$?
            echo "$status" > \(dir)/merge.status
            exit "$status"
            """)
        try writeFile(Data("\(shards)\n".utf8), folder.appendingComponent("shards"))
        let statistics = plan.statisticsPasses > 0 ? try sbatch(options, [statisticsScript]) : nil
        let array = try sbatch(options, (statistics.map { ["--dependency=afterok:\($0)", "--kill-on-invalid-dep=yes"] } ?? []) + [shardScript])
        let merge = try sbatch(options, ["--dependency=afterok:\(array)", "--kill-on-invalid-dep=yes", mergeScript])
        return SlurmSubmission(kind: .sharded, folder: folder, jobIDs: [array, merge] + (statistics.map { [$0] } ?? []),
                               runID: runID, tasks: shards)
    }

    /// A new run id for a sharded submission and its scripts' folder `<out>/slurm/<run-id>`,
    /// claimed by creating that folder (two submissions in the same second get two ids); an id
    /// whose shards' folder exists (a failed sharded run, unpublished, so `newRunID` does not see
    /// it) is skipped. With `--scripts` the scripts go there instead (a new folder).
    private static func claimShardedRun(_ out: String, scripts: String?) throws -> (runID: String, folder: String) {
        let base = Publisher(outputDirectory: out).newRunID()
        func id(_ n: Int) -> String { n == 1 ? base : "\(base)-\(n)" }
        func used(_ id: String) -> Bool {
            FileManager.default.fileExists(atPath: out.appendingComponent(Shard.folderName(runID: id)))
                || FileManager.default.fileExists(atPath: out.appendingComponent(id))
        }
        guard let scripts else {
            let claimed = try uniqueScriptsFolder(in: out.appendingComponent("slurm"), named: id, skipping: used)
            return (claimed.name, claimed.path)
        }
        let runID = (1...).lazy.map(id).first { !used($0) && !FileManager.default.fileExists(atPath: "\(out)/slurm/\($0)") }!
        return (runID, try makeScriptsFolder(absolutePath(scripts)))
    }

    /// Every value the scripts carry that the user gave (options, the job or folder, the working
    /// folder they resolve against), refused before anything is written when one holds a control
    /// character: a newline would end the line of the script (or of an `#SBATCH` option) and the
    /// rest would run as shell on the compute node.
    private static func checkScriptValues(_ target: String, _ o: SlurmSubmitOptions) throws {
        // The operator's #SBATCH options: control characters, a backslash or '%' refused there too.
        for case let (option, value?) in [("partition", o.partition), ("account", o.account), ("time", o.time)] {
            _ = try sbatchDirective(option, value)
        }
        var values: [(what: String, value: String?)] = [
            ("the job file or folder", absolutePath(target)), ("--executable", o.executable),
            ("--output", o.output.map(absolutePath)), ("--layers", o.layers.map(absolutePath)), ("--scripts", o.scripts.map(absolutePath)),
        ]
        for (i, argument) in o.runArguments.enumerated() {
            values.append((i > 0 && o.runArguments[i - 1].hasPrefix("--") ? o.runArguments[i - 1] : "argument", argument))
        }
        for (what, value) in values {
            if let value { try checkScriptValue(value, what) }
        }
    }

    private static func checkScriptValue(_ value: String, _ what: String) throws {
        if let c = controlCharacter(in: value) {
            throw RunError(.usage, "\(what) \(value.debugDescription): \(c) is not allowed in a value of the Slurm scripts (the rest of the line would run as shell on the compute node); nothing was submitted")
        }
    }

    /// One `#SBATCH` option, quoted by `shellQuote`: sbatch splits these lines as the shell does
    /// (quotes group, whitespace separates, an unquoted `#` starts a comment), but it also takes
    /// `\` as an escape inside quotes, and `%` in a log name as a file-name pattern (`%a`, `%j`; a
    /// `\` anywhere turns the patterns off): a value with either cannot be written on the line
    /// and is refused. `pattern` is appended after the check (the log's own `%a`).
    static func sbatchDirective(_ option: String, _ value: String, what: String? = nil, pattern: String = "") throws -> String {
        let what = what ?? "--\(option)"
        try checkScriptValue(value, what)
        if let c = value.first(where: { $0 == "\\" || $0 == "%" }) {
            throw RunError(.usage, "\(what) \(value.debugDescription): '\(c)' cannot be written on an #SBATCH line (sbatch reads '\\' as an escape and '%' as a file-name pattern); nothing was submitted")
        }
        return shellQuote("--\(option)=\(value)\(pattern)")
    }

    /// `#SBATCH` lines: name, array (`0-K` with `%M`), log, partition, account, time, CPUs.
    private static func directives(_ o: SlurmSubmitOptions, name: String, array: Int?, folder: String, log: String,
                                   cpus: Int? = nil) throws -> [String] {
        var lines = [try sbatchDirective("job-name", name),
                     try sbatchDirective("output", folder + "/", what: "the folder of the scripts and logs", pattern: log)]
        if let array { lines.append("--array=0-\(array - 1)" + (o.throttle.map { "%\($0)" } ?? "")) }
        if let p = o.partition { lines.append(try sbatchDirective("partition", p)) }
        if let a = o.account { lines.append(try sbatchDirective("account", a)) }
        if let t = o.time { lines.append(try sbatchDirective("time", t)) }
        if let c = cpus ?? o.cpus { lines.append("--cpus-per-task=\(c)") }
        return lines
    }

    private static func writeScript(_ path: String, _ directives: [String], _ body: String) throws {
        let text = "#!/bin/bash\n" + directives.map { "#SBATCH \($0)\n" }.joined()
            + "# Written by hazard-zoning submit; the tasks inherit the submitter's environment and folder.\n" + body + "\n"
        try writeFile(Data(text.utf8), path)
        chmod(path, 0o755)
    }

    private static func writeFile(_ data: Data, _ path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: data) else {
            throw RunError(.cantCreate, "\(path): cannot write")
        }
    }

    /// The folder named by `--scripts`, made new: a folder that exists (another submission's,
    /// or anything else) is never written into.
    private static func makeScriptsFolder(_ path: String) throws -> String {
        try checkScriptsFolder(path)
        try makeParent(path.parentPath)
        guard mkdir(path, 0o755) == 0 else {
            let reason = errno == EEXIST ? "exists; name a new folder (the scripts and results of two submissions are never mixed)"
                : String(cString: strerror(errno))
            throw RunError(.cantCreate, "--scripts \(path): \(reason)")
        }
        return path
    }

    /// A new folder `name(n)` in `parent` for the first n = 1, 2, … whose folder `mkdir` creates
    /// (an existing one, even made a moment ago by another submission, fails it: never shared)
    /// and that `skipping` does not exclude.
    static func uniqueScriptsFolder(in parent: String, named name: (Int) -> String,
                                    skipping: (String) -> Bool = { _ in false }) throws -> (name: String, path: String) {
        try checkScriptsFolder(parent)
        try makeParent(parent)
        for n in 1... {
            let candidate = name(n), path = parent.appendingComponent(candidate)
            if skipping(candidate) { continue }
            if mkdir(path, 0o755) == 0 { return (candidate, path) }
            guard errno == EEXIST else {
                throw RunError(.cantCreate, "\(path): cannot create the folder of the batch scripts: \(String(cString: strerror(errno)))")
            }
        }
        fatalError("unreachable")
    }

    /// The scripts' folder goes into every script and `#SBATCH --output`: checked before it is made.
    private static func checkScriptsFolder(_ path: String) throws {
        _ = try sbatchDirective("output", path, what: "the folder of the scripts and logs")
    }

    private static func makeParent(_ parent: String) throws {
        do { try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true) } catch {
            throw RunError(.cantCreate, "\(parent): cannot create the folder of the batch scripts: \(error.localizedDescription)")
        }
    }

    /// `sbatch --parsable ARGS`: the job id.
    private static func sbatch(_ o: SlurmSubmitOptions, _ arguments: [String]) throws -> String {
        let (status, out, err) = try slurmCommand(o.sbatch, ["--parsable"] + arguments, environment: o.environment)
        guard status == 0, let id = out.split(separator: ";").first.map({ $0.trimmingCharacters(in: .whitespacesAndNewlines) }),
              !id.isEmpty, id.allSatisfy(\.isNumber) else {
            throw RunError(.tempFail, "sbatch \(arguments.joined(separator: " ")) failed (exit \(status)): \(oneLine(err + out))")
        }
        return id
    }

    static func slurmCommand(_ program: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (Int32, String, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [program] + arguments
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        do { try p.run() } catch {
            throw RunError(.noInput, "\(program): cannot run: \(error.localizedDescription) (is Slurm's client installed?)")
        }
        nonisolated(unsafe) var errData = Data()
        let reader = Thread { errData = err.fileHandleForReading.readDataToEndOfFile() }
        reader.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        while !reader.isFinished { usleep(1000) }
        if p.terminationStatus == 127 {
            throw RunError(.noInput, "\(program): not found (is Slurm's client installed and on PATH?)")
        }
        return (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    /// Waits until every job of the submission has left the queue (polling `scontrol -o show job`
    /// every half second: `sbatch --wait` polls at 2, 10, 42 s, then every 32 s), then returns the
    /// batch's status and what to print: the summary table of a folder (as `batch` prints it), the
    /// merge's output of a sharded run, or which shard failed.
    public static func waitForSlurm(_ submission: SlurmSubmission, timeout: Double? = nil,
                                    scontrol: String = "scontrol") throws -> (status: ExitStatus, text: String) {
        let deadline = timeout.map { Date().addingTimeInterval($0) }
        while try submission.jobIDs.contains(where: { try slurmJobActive($0, scontrol: scontrol) }) {
            if let deadline, Date() > deadline {
                throw RunError(.tempFail, "Slurm jobs \(submission.jobIDs.joined(separator: ", ")) still queued or running after \(Int(timeout!)) s; they keep running (scancel to stop them); logs in \(submission.folder)")
            }
            usleep(500_000)
        }
        switch submission.kind {
        case .batch:
            let entries = slurmBatchResults(submission.folder)
            return (entries.first { $0.status != .ok }?.status ?? .ok, table(entries))
        case .sharded:
            return shardedOutcome(submission.folder, tasks: submission.tasks)
        }
    }

    /// True while a job (or any task of an array) is pending, running or completing.
    static func slurmJobActive(_ id: String, scontrol: String) throws -> Bool {
        let (status, out, err) = try slurmCommand(scontrol, ["-o", "show", "job", id])
        if status != 0 {
            // A job that left the records (MinJobAge) is finished.
            if (err + out).contains("Invalid job id") { return false }
            throw RunError(.tempFail, "scontrol show job \(id) failed (exit \(status)): \(oneLine(err + out))")
        }
        let active: Set<String> = ["PENDING", "RUNNING", "COMPLETING", "CONFIGURING", "REQUEUED", "RESIZING", "SUSPENDED", "STAGE_OUT", "SIGNALING"]
        for line in out.split(separator: "\n") {
            for field in line.split(separator: " ") where field.hasPrefix("JobState=") {
                if active.contains(String(field.dropFirst("JobState=".count))) { return true }
            }
        }
        return false
    }

    /// The outcome of a sharded submission once its jobs left the queue.
    static func shardedOutcome(_ folder: String, tasks: Int) -> (status: ExitStatus, text: String) {
        func statusFile(_ name: String) -> Int32? {
            (try? String(contentsOfFile: folder.appendingComponent(name), encoding: .utf8))
                .flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        func lastLine(_ log: String) -> String {
            let text = (try? String(contentsOfFile: folder.appendingComponent(log), encoding: .utf8)) ?? ""
            return text.split(separator: "\n").last.map(String.init) ?? "(no output)"
        }
        if let merged = statusFile("merge.status") {
            let log = (try? String(contentsOfFile: folder.appendingComponent("merge.log"), encoding: .utf8)) ?? ""
            return (ExitStatus(rawValue: merged) ?? .failure, log.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        if let s = statusFile("statistics.status"), s != 0 {
            return (ExitStatus(rawValue: s) ?? .failure, "the statistics job failed (exit \(s)): \(lastLine("statistics.log")); the shards and the merge were cancelled and nothing was published (log: \(folder)/statistics.log)")
        }
        for i in 0..<tasks {
            guard let s = statusFile("shard-\(i).status") else {
                return (.software, "shard \(i)/\(tasks) did not finish (killed, timed out or cancelled; see \(folder)/shard-\(i).log); the merge was cancelled and nothing was published")
            }
            if s != 0 {
                return (ExitStatus(rawValue: s) ?? .failure, "shard \(i)/\(tasks) failed (exit \(s)): \(lastLine("shard-\(i).log")); the merge was cancelled and nothing was published (log: \(folder)/shard-\(i).log)")
            }
        }
        return (.software, "the merge did not run (cancelled or killed; see \(folder)/merge.log); nothing was published")
    }

    /// One array task of a submitted folder: runs job `task` of `jobs.json` like `batch` runs it
    /// and leaves its line of the summary in `result-<task>.json`. Returns that line.
    public static func slurmTask(_ folder: String, task: Int, layers: String? = nil, output: String? = nil, options: RunOptions,
                                 logger: Logger = Logger(label: "hazard-zoning")) throws -> BatchEntry {
        let path = folder.appendingComponent("jobs.json")
        guard let data = FileManager.default.contents(atPath: path) else { throw RunError(.noInput, "\(path): cannot be read") }
        let batch: SlurmBatch
        do { batch = try JSONDecoder().decode(SlurmBatch.self, from: data) } catch {
            throw RunError(.dataError, "\(path): not a list of submitted jobs: \(error)")
        }
        guard batch.jobs.indices.contains(task) else {
            throw RunError(.usage, "--task \(task): \(path) lists \(batch.jobs.count) jobs (0-\(batch.jobs.count - 1))")
        }
        let job = batch.jobs[task]
        let started = Date()
        let entry: BatchEntry
        do {
            let result = try runJob(job, layers: layers, output: output, options: options, logger: logger)
            entry = BatchEntry(job: job.fileName, status: .ok,
                               detail: result.upToDate ? "up to date (\(result.runID))" : "published \(result.runID)",
                               seconds: Date().timeIntervalSince(started))
        } catch {
            let (status, message) = describe(error)
            entry = BatchEntry(job: job.fileName, status: status,
                               detail: message.split(separator: "\n").first.map(String.init) ?? message,
                               seconds: Date().timeIntervalSince(started))
            logger.error("job failed", metadata: ["job": "\(job)", "status": "\(status.rawValue)", "error": "\(message)"])
        }
        let record: [String: Any] = ["job": entry.job, "status": Int(entry.status.rawValue), "detail": entry.detail, "seconds": entry.seconds]
        let json = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys, .withoutEscapingSlashes])
        let target = folder.appendingComponent("result-\(task).json")
        try writeFile(json, target + ".tmp")
        guard rename(target + ".tmp", target) == 0 else { throw RunError(.cantCreate, "\(target): cannot write") }
        return entry
    }

    /// The lines of a submitted folder's summary, in job order; a task that left no result (killed,
    /// timed out, never started) is a failure naming its log.
    public static func slurmBatchResults(_ folder: String) -> [BatchEntry] {
        let batch = FileManager.default.contents(atPath: folder.appendingComponent("jobs.json"))
            .flatMap { try? JSONDecoder().decode(SlurmBatch.self, from: $0) }
        return (batch?.jobs ?? []).enumerated().map { i, job in
            let name = job.fileName
            if let data = FileManager.default.contents(atPath: folder.appendingComponent("result-\(i).json")),
               let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
               let status = (object["status"] as? NSNumber).flatMap({ ExitStatus(rawValue: $0.int32Value) }) {
                return BatchEntry(job: name, status: status, detail: object["detail"] as? String ?? "",
                                  seconds: (object["seconds"] as? NSNumber)?.doubleValue ?? 0)
            }
            return BatchEntry(job: name, status: .software,
                              detail: "no result: the task failed or was killed before finishing (see \(folder)/task-\(i).log)", seconds: 0)
        }
    }
}
