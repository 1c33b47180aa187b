import Foundation
import FilePaths

/// The report stage: `report.html`, `report.pdf` and `tables.xlsx` from the run's JSON products
/// as staged (`Report.swift`). It runs after the manifest, which it reads, then adds the three
/// files to `manifest.json`'s products and the STAC Item (nothing in them depends on that list).
struct ReportStage: Stage {
    let env: RunEnvironment
    init(_ env: RunEnvironment) { self.env = env }

    var name: String { "report" }
    var reads: [RunProduct] { [.manifest, .townshipTables, .attribution, .prevention, .sensitivity, .record] }
    var produces: [RunProduct] { [.report] }

    static let files = ["report.html", "report.pdf", "tables.xlsx"]

    func run(_ context: RunContext) throws {
        let staging = context.files.staging
        try ReportStage.write(folder: staging, job: plan.job)
        var manifest = context.required(context.manifest, .manifest, by: name)
        manifest.products = try (manifest.products + ReportStage.files.map { try fileEntry(staging.appendingComponent($0), relativeTo: staging) })
            .sorted { $0.path < $1.path }
        try write(try manifest.encoded(), to: staging.appendingComponent("manifest.json"))
        try STAC.writeItem(plan: plan, manifest: manifest, folder: staging, classes: rasterProducts)
        context.manifest = manifest
    }

    /// Writes the three files into `folder` (a staged or published run folder of `job`).
    static func write(folder: String, job: JobSpec) throws {
        let inputs = try ReportInputs(folder: folder)
        var builder = ReportBuilder(inputs: inputs, job: job)
        let content = builder.content()
        let html = try ReportHTML.page(content, folder: folder)
        let htmlPath = folder.appendingComponent("report.html")
        guard FileManager.default.createFile(atPath: htmlPath, contents: Data(html.utf8)) else { throw RunError(.ioError, "\(htmlPath): cannot write") }
        // The run's day, not its times: a sharded run's merge writes the same bytes as a single run.
        let day = String(inputs.manifest.finished.prefix(10))
        let midnight = ISO8601DateFormatter().date(from: "\(day)T00:00:00Z") ?? Date(timeIntervalSince1970: 0)
        let created = "\(day)T00:00:00"
        do {
            try ReportPDF.document(content, folder: folder, created: created).renderPDF(to: folder.appendingComponent("report.pdf"))
        } catch let error as RunError { throw error } catch {
            throw RunError(.ioError, "\(folder.appendingComponent("report.pdf")): cannot write the report: \(error)")
        }
        try Workbook.write(content, to: folder.appendingComponent("tables.xlsx"), created: midnight)
    }
}
