import Foundation

/// The fields of a run folder's `manifest.json` the database reads: the published format, not the
/// runner's `Manifest` type. `grid`, `classification`, `statistics.classes` and `applied.weights`
/// are kept as JSON values (numbers as reals) and stored as JSON text exactly as the typed
/// manifest encodes them (`RiskDatabase.jsonText`).
struct RunManifest: Decodable {
    struct Tool: Decodable { var version: String; var gdal: String; var proj: String }
    struct Job: Decodable { var name: String; var fileSha256: String }
    struct FileEntry: Decodable { var path: String; var size: Int; var sha256: String }
    struct Input: Decodable {
        var key: String
        var layer: String
        var definition: FileEntry
        var files: [FileEntry]
    }
    struct Statistics: Decodable { var classes: JSONValue }
    struct Applied: Decodable {
        struct LayerCopy: Decodable { var name: String; var copy: String }
        struct RunReference: Decodable { var runId: String }
        var title: String?
        var jobCopy: String
        var layerCopies: [LayerCopy]
        var weights: JSONValue
        var previousRun: RunReference?
    }

    /// The row of `runs`.
    var runId: String, started: String, finished: String, tool: Tool, job: Job
    /// Kept as JSON text in `runs`.
    var grid: JSONValue, classification: JSONValue, statistics: Statistics
    /// The rows of `inputs`.
    var inputs: [Input]
    /// Job copies, weights and the previous run; absent in runs made before runs kept their job.
    var applied: Applied?

    /// A previous round's result brought in by `baseline import` (status `baseline`).
    struct Baseline: Decodable { var date: String?; var label: String?; var sourceSha256: String; var hazardCode: String? }
    struct Total: Decodable { var name: String; var units: String? }
    var baseline: Baseline?
    /// The product type and hazard when the manifest names them (else derived: `runExtras`).
    var productType: String?
    var hazard: String?
    var prevention: JSONValue?
    /// Exposure totals: their units describe the columns named after them.
    var totals: [Total]?

    /// Decodes `manifest.json` (snake_case keys, as the runner writes it).
    static func decode(_ data: Data) throws -> RunManifest {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.userInfo[JSONValue.numbersAsReals] = true
        return try decoder.decode(RunManifest.self, from: data)
    }
}
