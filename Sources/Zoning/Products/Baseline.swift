import Foundation
import FilePaths
import GDALKit
import Logging
import RasterKernel

extension Manifest {
    /// A run recorded from a previous assessment round's delivered result (`hazard-zoning baseline
    /// import`): nothing was computed; the class raster is the delivered classes on the job's grid.
    public struct BaselineInfo: Codable, Sendable, Equatable {
        /// The delivered file as named (absolute), its SHA-256 and whether it was a raster or polygons.
        public var source: String
        public var sourceSha256: String
        public var sourceKind: String
        /// Polygons: the attribute holding the class.
        public var field: String?
        /// When the previous round's result was made (YYYY-MM-DD) and what it is called.
        public var date: String?
        public var label: String?
        /// How the delivered classes reached the job's grid (`BaselineImport.rasterRule`/`vectorRule`).
        public var rule: String
        /// Where the township levels come from: `dominant class` or `levels file`.
        public var levels: String
        public var levelsSource: String?
        public var levelsSha256: String?
        public var levelField: String?
        /// The job's `hazard-code` (the database's `hazard` of the run).
        public var hazardCode: String? = nil
    }
}

/// `hazard-zoning baseline import`: what the operator named.
public struct BaselineOptions: Sendable {
    public var source: String
    public var field = "class"
    public var date: String?
    public var label: String?
    public var levels: String?
    public var levelField: String?
    public var database: String?
    public init(source: String, field: String = "class", date: String? = nil, label: String? = nil, levels: String? = nil,
                levelField: String? = nil, database: String? = nil) {
        (self.source, self.field, self.date, self.label) = (source, field, date, label)
        (self.levels, self.levelField, self.database) = (levels, levelField, database)
    }
}

/// Brings a previous round's class raster or polygons onto a job's grid and publishes it as a run
/// of the job with status `baseline`: the next run's changes are computed against it.
struct BaselineImport: RunScoped {
    let env: RunEnvironment
    let request: BaselineOptions

    static let rasterRule = "raster: gdalwarp onto the job's grid (its CRS, extent and pixel size), nearest neighbour (-r near), source nodata kept as nodata (0)"
    static let vectorRule = "polygons: reprojected to the grid CRS (ogr2ogr -t_srs), then burnt at pixel centres (gdal_rasterize -a FIELD, not all-touched; the later feature wins where polygons overlap), 0 = nodata"

    var scheme: ClassScheme { plan.job.classify.scheme }
    var source: String { absolutePath(request.source) }

    /// The delivered classes on the grid, as a GeoTIFF at `path` (Byte, 0 = nodata); the kind read.
    func classesOnGrid(path: String) throws -> String {
        guard FileManager.default.fileExists(atPath: source) else {
            throw RunError(.noInput, "\(source): baseline --from: no such file")
        }
        let g = plan.grid
        let extent = ["-te", "\(g.minX)", "\(g.minY)", "\(g.maxX)", "\(g.maxY)", "-tr", "\(g.pixelWidth)", "\(g.pixelHeight)"]
        if let raster = try? Dataset(open: source, flags: [.raster]), raster.width > 0 {
            guard raster.spatialReference != nil else {
                throw RunError(.dataError, "\(source): baseline --from: the raster has no CRS; expected a georeferenced class raster (set one with gdal_edit.py -a_srs)")
            }
            do {
                let out = try Utilities.warp([raster], to: path, arguments: ["-of", "GTiff", "-t_srs", plan.crsWKT] + extent
                                             + ["-r", "near", "-ot", "Byte", "-dstnodata", "0", "-overwrite"])
                try out.close()
            } catch { throw RunError(.dataError, "\(source): baseline --from: cannot warp onto the grid: \((error as? GDALError)?.message ?? "\(error)")") }
            return "raster"
        }
        let vector: Dataset
        do { vector = try Dataset(open: source, flags: [.vector]) } catch {
            throw RunError(.dataError, "\(source): baseline --from: neither a raster nor a vector file GDAL can read; expected a class GeoTIFF or polygons with a class attribute")
        }
        let layer = try vector.layer(0)
        guard layer.fields.contains(where: { $0.name == request.field }) else {
            throw RunError(.dataError, "\(source): baseline --field \(request.field): no such attribute (fields: \(layer.fields.map(\.name).joined(separator: ", ")))")
        }
        try checkVectorClasses(layer)
        do {
            let memory = try Utilities.vectorTranslate(vector, to: "", arguments: ["-f", "Memory", "-t_srs", plan.crsWKT, layer.name])
            let out = try Utilities.rasterize(memory, to: path, arguments: ["-a", request.field, "-l", layer.name] + extent
                                              + ["-ot", "Byte", "-init", "0", "-a_nodata", "0", "-of", "GTiff"])
            try out.close()
        } catch { throw RunError(.dataError, "\(source): baseline --from: cannot rasterise onto the grid: \((error as? GDALError)?.message ?? "\(error)")") }
        return "vector"
    }

    /// Every polygon's class is one of the scheme's (1…k).
    func checkVectorClasses(_ layer: VectorLayer) throws {
        let field = layer.fieldIndex(request.field)!
        let k = scheme.classCount
        var n = 0
        var bad: (Int, String)?
        layer.readFeatures { f in
            n += 1
            let text = f.string(field)
            if bad == nil, Int(text).map({ !(1...k).contains($0) }) ?? (Double(text).map { $0 != $0.rounded() || !(1...Double(k)).contains($0) } ?? true) {
                bad = (n, text)
            }
        }
        if let (feature, text) = bad {
            throw RunError(.dataError, "\(source): baseline --field \(request.field): feature \(feature) has \"\(text)\"; expected a class 1…\(k) of the job's scheme \(scheme.id)")
        }
    }

    /// Pixels per class (index 0 = nodata), per township when `townships` is given, with their
    /// areas (each cell's own on a lat/long grid: bucket township·(k+1)+class); checks every value
    /// is a class of the scheme.
    func countClasses(_ path: String, townships: TownshipGrid?) throws -> (all: [Int], perTownship: [[Int]], areas: AreaTally) {
        let k = scheme.classCount
        let band = try Dataset(open: path, flags: [.raster]).band(1)
        let townBand = try townships.map { try Dataset(open: $0.raster, flags: [.raster]).band(1) }
        let n = townships?.townships.names.count ?? 0
        var all = [Int](repeating: 0, count: k + 1)
        var per = [[Int]](repeating: all, count: n + 1)
        var areas = AreaTally(plan.cellAreas, buckets: (n + 1) * (k + 1))
        let g = plan.grid
        var y = 0
        while y < g.height {
            let window = PixelWindow(x: 0, y: y, width: g.width, height: min(256, g.height - y))
            let classes: [UInt8] = try band.read(window)
            let town: [Int32] = try townBand?.read(window) ?? []
            for i in 0..<window.count {
                let c = Int(classes[i])
                guard c <= k else {
                    throw RunError(.dataError, "\(source): baseline --from: value \(c) at pixel (\(i % g.width), \(y + i / g.width)) of the grid; expected a class 1…\(k) of the job's scheme \(scheme.id) (0 or the source's nodata outside)")
                }
                all[c] += 1
                if !town.isEmpty, town[i] > 0, Int(town[i]) <= n {
                    per[Int(town[i])][c] += 1
                    areas.add(Int(town[i]) * (k + 1) + c, row: y + i / g.width)
                }
            }
            y += window.height
        }
        return (all, per, areas)
    }
}

extension Publisher {
    /// Whether the run folder `name` is a baseline (its manifest has `baseline`): `outputs.keep`
    /// never removes one, the changes since it stay computable.
    func isBaseline(_ name: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: outputDirectory.appendingComponent(name).appendingComponent("manifest.json")),
              let manifest = try? Manifest.decode(data) else { return false }
        return manifest.baseline != nil
    }
}
