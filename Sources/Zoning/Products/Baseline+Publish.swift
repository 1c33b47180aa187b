import Foundation
import FilePaths
import GDALKit
import Logging
import RasterKernel

#if canImport(Glibc)
import Glibc
#endif

extension BaselineImport {
    /// Township levels delivered with the previous round (`--levels FILE --level-field F`), by the
    /// township's code (the job's `zoning.townships.code` attribute) or, when the file has no such
    /// attribute, by its name (`zoning.townships.name`).
    func deliveredLevels(_ spec: JobSpec.Townships) throws -> [String: Int]? {
        guard let file = request.levels.map(absolutePath) else { return nil }
        guard let field = request.levelField else {
            throw RunError(.usage, "\(file): baseline --levels needs --level-field F (the attribute holding the level)")
        }
        let ds: Dataset
        do { ds = try Dataset(open: file, flags: [.vector]) } catch {
            throw RunError(.noInput, "\(file): baseline --levels: cannot be read as a table or vector file: \((error as? GDALError)?.message ?? "\(error)")")
        }
        let layer = try ds.layer(0)
        let names = layer.fields.map(\.name)
        guard let levelIndex = layer.fieldIndex(field) else {
            throw RunError(.dataError, "\(file): baseline --level-field \(field): no such attribute (fields: \(names.joined(separator: ", ")))")
        }
        let keyField = [spec.codeField, spec.nameField].compactMap { $0 }.first { names.contains($0) }
        guard let keyField, let keyIndex = layer.fieldIndex(keyField) else {
            throw RunError(.dataError, "\(file): baseline --levels: no attribute \(spec.codeField ?? spec.nameField) to match the townships by (the job's zoning.townships code or name; fields: \(names.joined(separator: ", ")))")
        }
        let k = scheme.classCount
        var levels: [String: Int] = [:]
        var problem: String?
        var row = 0
        layer.readFeatures { f in
            row += 1
            let text = f.string(levelIndex)
            guard let level = Int(text), (1...k).contains(level) else {
                if problem == nil { problem = "row \(row) (\(f.string(keyIndex))) has \(field) \"\(text)\"; expected a level 1…\(k) of the job's scheme \(scheme.id)" }
                return
            }
            levels["\(keyField == spec.codeField ? "code" : "name"):\(f.string(keyIndex))"] = level
        }
        if let problem { throw RunError(.dataError, "\(file): baseline --level-field \(field): \(problem)") }
        return levels
    }

    /// `stats.json` rows of the baseline: pixels per class per township, the level delivered or
    /// the dominant class (ties: the higher class); no index (none was delivered).
    func townshipRows(_ grid: TownshipGrid, counts: [[Int]], areas: AreaTally, delivered: [String: Int]?) -> [TownshipStatistics] {
        let townships = grid.townships
        let k = scheme.classCount
        let name: (Int?) -> String? = { v in v.flatMap { v in scheme.classes.first { Int($0.value) == v }.map { "\($0.name) \($0.english)" } } }
        return townships.names.indices.map { i in
            let t = i + 1
            let valid = counts[t][1...].reduce(0, +)
            let classes = scheme.classes.map { info -> TownshipStatistics.ClassArea in
                let px = counts[t][Int(info.value)]
                return .init(value: Int(info.value), name: "\(info.name) \(info.english)", pixels: px,
                             areaHa: areas.hectares(t * (k + 1) + Int(info.value), count: px),
                             percent: valid > 0 ? 100 * Double(px) / Double(valid) : 0)
            }
            let dominant = valid > 0 ? classes.max { $0.pixels < $1.pixels || ($0.pixels == $1.pixels && $0.value > $1.value) }?.value : nil
            var level = dominant
            if let delivered {
                level = townships.code(t).flatMap { delivered["code:\($0)"] } ?? delivered["name:\(townships.names[i])"]
            }
            return TownshipStatistics(id: t, code: townships.code(t), name: townships.names[i], english: townships.englishName(t),
                                      validPixels: valid, validAreaHa: classes.reduce(0) { $0 + $1.areaHa }, meanIndex: nil, maxIndex: nil,
                                      dominantClass: dominant, dominantClassName: name(dominant), level: level, levelName: name(level),
                                      classes: classes)
        }
    }

    /// Makes the baseline's products in `staging`: `risk_class.tif` (COG), `stats.json` when the
    /// job has townships. Returns the pixels per class and the baseline's description.
    func makeProducts(staging: String) throws -> ([Int], Manifest.BaselineInfo) {
        let work: String
        do { work = try SafeFiles.makeFreshDirectory(in: staging, prefix: ".baseline-work") } catch { throw RunError(.cantCreate, error) }
        defer { try? FileManager.default.removeItem(atPath: work) }
        let onGrid = work.appendingComponent("classes.tif")
        let kind = try classesOnGrid(path: onGrid)
        let townshipSpec = plan.job.zoning?.townships
        let grid = try layerOrCodeTownships(work: work)
        let delivered = try townshipSpec.flatMap { try deliveredLevels($0) }
        let (all, perTownship, areas) = try countClasses(onGrid, townships: grid)
        _ = try ChangeReport.writeChangeCOG(onGrid, into: work, threads: options.threads)
        try moveIntoPlace(work.appendingComponent("risk_change.tif"), staging.appendingComponent("risk_class.tif"))  // the COG writer names it so
        if let grid {
            let rows = townshipRows(grid, counts: perTownship, areas: areas, delivered: delivered)
            let missing = delivered == nil ? [] : rows.filter { $0.level == nil }.map(\.name)
            if !missing.isEmpty {
                logger.warning("townships without a level in --levels: their baseline level is empty", metadata: ["file": "\(request.levels ?? "")", "townships": "\(missing.joined(separator: ", "))"])
            }
            try write(try Manifest.json(rows), to: staging.appendingComponent("stats.json"))
        }
        let levelsFile = request.levels.map(absolutePath)
        let info = Manifest.BaselineInfo(
            source: source, sourceSha256: try SHA256.hex(fileAt: source), sourceKind: kind,
            field: kind == "vector" ? request.field : nil, date: request.date, label: request.label,
            rule: kind == "vector" ? BaselineImport.vectorRule : BaselineImport.rasterRule,
            levels: levelsFile == nil ? "dominant class (the class covering most of the township; ties: the higher class)" : "levels file",
            levelsSource: levelsFile, levelsSha256: try levelsFile.map { try SHA256.hex(fileAt: $0) }, levelField: request.levelField)
        return (all, info)
    }

    func moveIntoPlace(_ from: String, _ to: String) throws {
        guard rename(from, to) == 0 else {
            throw RunError(.ioError, "\(to): cannot move the baseline's class raster into place: \(String(cString: strerror(errno)))")
        }
    }

    /// The baseline's manifest: what was delivered (as the run's one input), the products, the
    /// classes; no model, no breaks.
    func manifest(runID: String, started: Date, staging: String, classes all: [Int], info: Manifest.BaselineInfo) throws -> Manifest {
        var files = [Manifest.FileEntry(path: source, size: fileSize(source), sha256: info.sourceSha256)]
        if let levels = info.levelsSource, let sha = info.levelsSha256 { files.append(.init(path: levels, size: fileSize(levels), sha256: sha)) }
        let input = Manifest.Input(key: "baseline", layer: source.fileName, definition: files[0], source: source, files: files)
        let products = try runFiles(in: staging).map { try fileEntry(staging.appendingComponent($0), relativeTo: staging) }
        let classes = scheme.classes.map { Manifest.ClassCount(value: Int($0.value), name: "\($0.name) \($0.english)", pixels: all[Int($0.value)]) }
        let valid = classes.reduce(0) { $0 + $1.pixels }
        let iso = ISO8601DateFormatter()
        var manifest = Manifest(
            runId: runID, started: iso.string(from: started), finished: iso.string(from: Date()),
            tool: .init(name: ToolInfo.name, version: ToolInfo.version, gdal: GDAL.version, proj: GDAL.projVersion),
            job: jobInfo(),
            grid: .init(crs: plan.crsName, width: plan.grid.width, height: plan.grid.height, geoTransform: plan.grid.geoTransform, blockSize: plan.blockSize),
            inputs: [input], products: products,
            classification: .init(scheme: scheme.id, method: "baseline (delivered classes)", breaks: []),
            zoning: nil,
            statistics: .init(validPixels: valid, nodataPixels: all[0], indexMin: nil, indexMax: nil, indexMean: nil, classes: classes),
            timings: [:], threads: options.threads)
        manifest.baseline = info
        manifest.baseline?.hazardCode = plan.job.hazardCode
        return manifest
    }

    func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
    }
}

extension Operations {
    /// `hazard-zoning baseline import JOB --from FILE`: the previous round's classes on the job's
    /// grid, published as a run of the job with status `baseline` (under the job's output lock)
    /// and recorded in the risk database. Returns the run folder.
    public static func importBaseline(job spec: JobSpec, _ request: BaselineOptions, logger: Logger) throws -> String {
        if let date = request.date, date.range(of: #"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"#, options: .regularExpression) == nil {
            throw RunError(.usage, "baseline --date \(date): expected YYYY-MM-DD (when the previous round's result was made)")
        }
        if request.levelField != nil && request.levels == nil {
            throw RunError(.usage, "baseline --level-field needs --levels FILE")
        }
        GDAL.ensureRegistered()
        let plan = try Planner().resolve(spec)
        var options = RunOptions(threads: 1)
        options.database = request.database
        let runner = Runner(plan: plan, options: options, logger: logger)
        let baseline = BaselineImport(env: RunEnvironment(plan: plan, options: options, logger: logger), request: request)
        let started = Date()
        let lock = try OutputLock(directory: plan.outputDirectory, now: started)
        defer { lock.release() }
        let publisher = Publisher(outputDirectory: plan.outputDirectory)
        _ = try publisher.checkedLatestRun()
        try runner.checkDatabase()
        let runID = publisher.newRunID(now: started)
        let staging = try publisher.makeStaging(runID: runID)
        do {
            let (classes, info) = try baseline.makeProducts(staging: staging)
            let manifest = try baseline.manifest(runID: runID, started: started, staging: staging, classes: classes, info: info)
            try baseline.write(try manifest.encoded(), to: staging.appendingComponent("manifest.json"))
            return try publisher.publish(staging: staging, runID: runID) { try runner.recordInDatabase(runDirectory: $0) }
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
    }
}
