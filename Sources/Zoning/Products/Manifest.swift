import Foundation

/// `manifest.json` of a run: what went in, what came out, with checksums, versions and timings.
public struct Manifest: Codable, Sendable {
    public struct Tool: Codable, Sendable { public var name: String; public var version: String; public var gdal: String; public var proj: String }
    public struct JobInfo: Codable, Sendable {
        public var name: String
        public var file: String
        /// SHA-256 of the job file's bytes.
        public var fileSha256: String
        /// SHA-256 over the job file and every layer definition it uses (what defines the run).
        public var hash: String
    }
    public struct FileEntry: Codable, Sendable, Equatable {
        public var path: String
        public var size: Int
        public var sha256: String
        /// Modification time (seconds since 1970), the fast pre-check of the incremental run.
        public var mtime: Double?
    }
    /// Per-layer pixel counts: in the source (rasters) and on the grid after alignment.
    public struct LayerStatistics: Codable, Sendable, Equatable {
        public var sourceValid: Int?
        public var sourceNodata: Int?
        /// NaN and ±inf values in the source are treated as nodata; counted here.
        public var sourceNan: Int?
        public var sourceInfinite: Int?
        public var gridValid: Int
        public var gridNodata: Int
    }
    public struct Input: Codable, Sendable {
        public var key: String
        public var layer: String
        public var definition: FileEntry
        public var source: String
        public var files: [FileEntry]
        public var statistics: LayerStatistics?
        /// How the layer reached the grid: `window` (the source's pixels read as a shifted window),
        /// `warp` (gdalwarp's warper), `rasterise-per-block` (features burnt per block in memory),
        /// `rasterise` (one raster of the grid), `proximity`. Absent for files that are not layers.
        public var alignment: String? = nil
    }
    public struct GridInfo: Codable, Sendable {
        public var crs: String
        public var width: Int
        public var height: Int
        public var geoTransform: [Double]
        public var blockSize: Int
    }
    public struct ClassCount: Codable, Sendable, Equatable {
        public var value: Int; public var name: String; public var pixels: Int
        /// Area (ha) and share (%) of the valid area: the county table of the report.
        public var areaHa: Double? = nil
        public var percent: Double? = nil
    }
    public struct Statistics: Codable, Sendable {
        public var validPixels: Int
        public var nodataPixels: Int
        public var indexMin: Double?
        public var indexMax: Double?
        public var indexMean: Double?
        public var classes: [ClassCount]
    }

    /// The classification applied: scheme, method (nil = fixed breaks) and the breaks the kernel
    /// used (class = 1 + number of breaks ≤ index).
    public struct Classification: Codable, Sendable, Equatable {
        public var scheme: String
        public var method: String?
        public var breaks: [Double]
        /// Data-driven methods: the breaks as the method states them (upper bounds of the classes,
        /// values quantised to `histogramResolution`).
        public var methodBreaks: [Double]?
        public var histogramResolution: Double?
    }

    /// What generalisation did: the majority window, the minimum mapping unit as pixels, polygons made.
    public struct ZoningInfo: Codable, Sendable, Equatable {
        public var majority: Int?
        public var minAreaHa: Double?
        public var sieveThresholdPixels: Int?
        public var connectivity: Int
        public var zoneFeatures: Int?
    }

    public var formatVersion = 1
    public var runId: String
    public var started: String
    public var finished: String
    public var tool: Tool
    public var job: JobInfo
    public var grid: GridInfo
    public var inputs: [Input]
    public var products: [FileEntry]
    public var classification: Classification
    public var zoning: ZoningInfo?
    public var statistics: Statistics
    /// Seconds per stage.
    public var timings: [String: Double]
    public var threads: Int
    /// Prevention zoning: factors, categories with their pixel counts (see `PreventionStage.swift`).
    public var prevention: PreventionInfo? = nil
    /// The risk model as applied (normalisations, weights used, kernel counts).
    public var model: ModelInfo? = nil
    /// The class-stability analysis (`sensitivity:`).
    public var sensitivity: SensitivityInfo? = nil
    /// Exposure totals (`zoning.totals`), banner-wide and per class (see `Totals.swift`).
    public var totals: [TotalInfo]? = nil
    /// Files exported in further formats (`outputs.export`, see `Export.swift`).
    public var exports: [ExportInfo]? = nil
    /// Job copies, method as applied and the previous run (see `RunRecord.swift`).
    public var applied: Applied? = nil
    /// A previous round's delivered result brought in by `baseline import` (see `Baseline.swift`).
    public var baseline: BaselineInfo? = nil

    public func encoded() throws -> Data { try Manifest.json(self) }

    /// The JSON every file of a run is written in: sorted keys, snake_case, pretty-printed.
    static func json<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try encoder.encode(value)
    }

    public static func decode(_ data: Data) throws -> Manifest {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(Manifest.self, from: data)
    }
}

public enum ToolInfo {
    public static let name = "hazard-zoning"
    public static let version = "0.1.0"
}
