import Foundation
import GDALKit
import RasterKernel

/// How one layer reaches the grid.
public struct SourcePlan: Sendable {
    public enum Kind: String, Sendable { case raster, vector, proximity }
    /// The job's key for the layer (`flood`), or `mask`.
    public let key: String
    public let definition: LayerDefinition
    public let kind: Kind
    /// The source CRS as GDAL names it.
    public let sourceCRS: String
    /// Raster: source pixel size in source units; vector: feature count.
    public let sourceDetail: String
    /// Vector layer name (vectors).
    public let layerName: String?
    /// How the source reaches the grid: warped (rasters) or burnt (vectors, proximity features).
    public enum Operation: Sendable, Equatable {
        case warp(WarpSpec)
        case rasterize(RasterizeSpec)
    }
    public let operation: Operation
    /// The source extent in grid coordinates.
    public let boundsInGrid: Bounds
    /// Proximity sources: the expanded raster the distances are computed on (see `Proximity.swift`).
    public var proximity: ProximityWindow? = nil

    /// The warp of a raster source, nil for vectors.
    public var warp: WarpSpec? {
        if case .warp(let spec) = operation { return spec } else { return nil }
    }
    /// The rasterisation of a vector source, nil for rasters.
    public var rasterize: RasterizeSpec? {
        if case .rasterize(let spec) = operation { return spec } else { return nil }
    }

    /// The arguments of the equivalent `gdalwarp` (rasters) or `gdal_rasterize` (vectors) call,
    /// without source and destination: the same options give the same pixels.
    public var arguments: [String] {
        switch operation {
        case .warp(let spec): return spec.gdalwarpArguments
        case .rasterize(let spec): return spec.gdalRasterizeArguments
        }
    }

    /// Vectors in another CRS: the `ogr2ogr` arguments that reproject them to the grid CRS first
    /// (`gdal_rasterize` itself only reprojects into an existing raster).
    public var reprojectArguments: [String]? { rasterize?.ogr2ogrArguments }

    /// The equivalent command line, for `plan` and for reproducing a layer by hand.
    public var commandLine: String {
        if let proximity { return proximityCommandLine(proximity) }
        let program = kind == .raster ? "gdalwarp" : "gdal_rasterize"
        var src = kind == .raster && definition.band != 1 ? "<band \(definition.band) of \(definition.source)>" : definition.source
        var prefix = ""
        if let reprojectArguments {
            prefix = (["ogr2ogr"] + reprojectArguments + ["<reprojected>.gpkg", src, layerName ?? ""]).map(shellQuote)
                .joined(separator: " ") + " && "
            src = "<reprojected>.gpkg"
        }
        return prefix + ([program] + arguments + [src, "<out>.tif"]).map(shellQuote).joined(separator: " ")
    }
}

/// A job resolved against its data: the grid, one aligned source per layer, the kernel, the outputs.
public struct Plan: Sendable {
    public let job: JobSpec
    /// The grid CRS as WKT and as a short name.
    public let crsWKT: String
    public let crsName: String
    public let grid: GridGeometry
    public let blockSize: Int
    public let sources: [SourcePlan]
    public let mask: SourcePlan?
    /// The fixed v1 kernel; nil when the job's model runs on the model kernel (built during the
    /// run, after the statistics passes: see `ModelStage.swift`).
    public let kernel: RiskKernel?
    /// Absolute folder receiving `<run-id>/` folders and the `latest` link.
    public let outputDirectory: String
    /// The prevention zoning's factor sources, when the job has `prevention:`.
    public var prevention: PreventionPlan? = nil
    /// One warp per `zoning.totals` entry, in the job's order (see `Totals.swift`).
    public var totals: [SourcePlan] = []
    /// What the weight scenarios of `sensitivity:` hold, for the memory plan (`SensitivityMemory`).
    public var sensitivity: SensitivityMemory? = nil
    /// A lat/long grid's ellipsoid: areas and distances are then geodesic (`cellAreas`, `GeodesicProximity`).
    public var ellipsoid: Ellipsoid? = nil
    /// The county's cells of the standard grid (`grid.standard-grid`), read once when planning.
    public var county: CountyCells? = nil

    public var blockCount: Int {
        ((grid.width + blockSize - 1) / blockSize) * ((grid.height + blockSize - 1) / blockSize)
    }

    /// A human-readable account of the plan (`hazard-zoning plan`).
    public var summary: String {
        var lines: [String] = []
        lines.append("job \(job.name) (\(job.file))")
        if let title = job.title { lines.append("  title: \(title)") }
        lines.append("grid")
        lines.append("  crs: \(crsName) (\(job.grid.crs))")
        lines.append("  size: \(grid.width) × \(grid.height) px = \(grid.pixelCount) px, pixel \(formatNumber(grid.pixelWidth)) × \(formatNumber(grid.pixelHeight))")
        lines.append("  bounds: [\(formatNumber(grid.minX)), \(formatNumber(grid.minY)), \(formatNumber(grid.maxX)), \(formatNumber(grid.maxY))]")
        if let line = standardGridExtentLine {
            lines.append(line)
        } else if job.grid.preset != nil {
            lines.append("  extent: preset census-30s, corners snapped outwards to multiples of 30″ (the national standard grid)")
        } else {
            lines.append(job.grid.align == .none ? "  extent: exactly as given (gdalwarp -te … -tr …)"
                                                 : "  extent: corners snapped outwards to multiples of the resolution (gdalwarp -tap)")
        }
        if let ellipsoid { lines.append(geodesySummary(ellipsoid)) }
        lines.append("  blocks: \(blockCount) of \(blockSize) × \(blockSize)")
        if let mask { lines.append(standardGridMaskLine ?? "  mask: \(mask.definition.name) — \(mask.commandLine)") }
        lines.append("layers")
        for (source, use) in zip(sources, job.layers) {
            lines.append("  \(source.key): \(source.definition.name) [\(source.kind.rawValue), \(source.sourceCRS), \(source.sourceDetail)]")
            lines.append("    align: \(source.commandLine)")
            let normalize = use.transform?.summary ?? (use.dataMinMax ? "min-max over the layer's valid pixels on the grid inside the mask (computed at run time)"
                : describe(use.normalization))
            lines.append("    normalize: \(use.proximity ? "distance to the nearest feature → " : "")\(normalize)\(use.negative ? ", direction negative (1 − x)" : "")")
        }
        lines.append("steps")
        lines.append("  1. align every layer onto the grid (above)")
        if job.layers.contains(where: \.dataMinMax) {
            lines.append("  2. normalise each layer to 0..1 (a first pass finds the min-max layers' ranges)")
        } else {
            lines.append("  2. normalise each layer to 0..1")
        }
        for index in job.indices {
            lines.append("     index \(index.name) (\(index.form.rawValue)) = \(index.formula())")
        }
        lines.append("  3. combine (\(job.combine.name)): index = \(job.combine.node.formula())")
        if !job.usesFixedKernel {
            lines.append("     (model kernel: \(job.indices.count) sub-ind\(job.indices.count == 1 ? "ex" : "ices"); an entropy combination's weights come from a pass over the data; a non-finite result is nodata, counted in the manifest; a result outside 0..1 fails the run)")
        }
        if let method = job.classify.method {
            let how = method == .standardDeviation ? "mean ± k·σ of every valid pixel" : "over every valid pixel (histogram at 1e-4)"
            lines.append("  4. classify (\(job.classify.scheme.id)): \(method.rawValue) breaks \(how), computed in a first pass")
        } else {
            lines.append("  4. classify (\(job.classify.scheme.id)): breaks \(job.classify.breaks.map(formatNumber).joined(separator: ", ")); class = 1 + number of breaks ≤ index")
        }
        lines.append("  5. nodata: any input nodata/NaN/±inf\(mask == nil ? "" : " or outside the mask") → index -9999, class 0")
        if let prevention { lines += prevention.summaryLines(riskScheme: job.classify.scheme) }
        lines += totalsSummaryLines
        lines += exportSummaryLines
        lines += censusSummaryLines
        if let s = job.sensitivity {
            let node = (job.indices + [job.combine.node]).first { $0.name == s.index }
            lines.append("  sensitivity: the weights of \(node?.key ?? s.index) (\(node?.members.joined(separator: ", ") ?? "")) each × (1 ± \(formatNumber(s.perturb))), renormalised (\(2 * (node?.members.count ?? 0)) scenarios)\(s.samples > 0 ? " + \(s.samples) Dirichlet draws (concentration \(formatNumber(s.concentration)), seed \(s.seed))" : ""); every scenario classified like the baseline → class_stability.tif, class_range.tif, sensitivity.csv/json")
        }
        lines.append("outputs: \(outputDirectory)/<run-id>/ (\(job.outputs.products.map(\.rawValue).joined(separator: ", ")), manifest.json), latest → newest run")
        return lines.joined(separator: "\n")
    }

    private func describe(_ n: Normalization) -> String {
        switch n {
        case .curve(let pts): return "curve " + pts.map { "[\(formatNumber($0.x)), \(formatNumber($0.y))]" }.joined(separator: " ")
        case .linear(let lo, let hi): return "linear [\(formatNumber(lo)), \(formatNumber(hi))] clamped"
        case .table(let entries, let def):
            return "table " + entries.map { "\(formatNumber($0.key))→\(formatNumber($0.value))" }.joined(separator: ", ")
                + (def.map { ", otherwise \(formatNumber($0))" } ?? ", otherwise nodata")
        }
    }
}

/// Turns a GDAL failure on a file into one clear line and the right exit status.
func inputError(_ error: Error, file: String, what: String) -> RunError {
    if let run = error as? RunError { return run }
    let message = (error as? GDALError)?.message ?? "\(error)"
    let local = LayerDefinition.isLocalFile(file)
    if local && !FileManager.default.fileExists(atPath: file) {
        return RunError(.noInput, "\(file): \(what): file does not exist")
    }
    return RunError(.dataError, "\(file): \(what): \(message)")
}

/// Resolves jobs into plans: opens every source once to learn its CRS, extent and fields.
public struct Planner {
    public init() {}

    /// - Parameter outputDirectory: overrides the job's `outputs.directory` (relative to the
    ///   current directory); nil = the job's directory relative to the project root.
    public func resolve(_ job: JobSpec, outputDirectory: String? = nil) throws -> Plan {
        GDAL.ensureRegistered()
        return try NetworkPolicy.scope(allowNetwork: job.allowNetwork) { try resolveSources(job, outputDirectory: outputDirectory) }
    }

    private func resolveSources(_ job: JobSpec, outputDirectory: String?) throws -> Plan {
        let gridSRS: SpatialReference
        do { gridSRS = try SpatialReference(definition: job.grid.crs) } catch {
            throw RunError(.dataError, "\(job.file): grid.crs: unknown CRS \"\(job.grid.crs)\"")
        }
        let crsName = gridSRS.authorityCode.map { "\($0) \(gridSRS.name)" } ?? gridSRS.name

        // The grid extent (a standard grid's: the envelope of the county's cells).
        let county = try standardGridCounty(job)
        let bounds: Bounds
        switch job.grid.extent {
        case .bounds(let b): bounds = b
        case .layer(let name):
            let def = job.auxiliary[name]!
            bounds = try county?.bounds ?? sourceBounds(def, in: gridSRS, role: "grid.extent")
        }
        let grid: GridGeometry
        do {
            // max-pixels holds for the final snapped grid, the one every product has.
            grid = try GridGeometry.checked(minX: bounds.minX, minY: bounds.minY, maxX: bounds.maxX, maxY: bounds.maxY,
                                            resolution: job.grid.resolution, alignment: job.grid.alignment, maxPixels: job.grid.maxPixels)
        } catch {
            let origin: String
            if case .layer(let name) = job.grid.extent { origin = " (extent of layer \(name): \(bounds))" } else { origin = "" }
            throw RunError(.dataError, "\(job.file):\(job.grid.position.line):\(job.grid.position.column): grid: \(error)\(origin); raise grid.max-pixels or coarsen grid.resolution")
        }
        let gridBounds = Bounds(minX: grid.minX, minY: grid.minY, maxX: grid.maxX, maxY: grid.maxY)
        try checkMapInsets(job, gridBounds: gridBounds)

        var sources: [SourcePlan] = []
        for use in job.layers {
            if use.proximity {
                sources.append(try planProximity(use.definition, key: use.key, margin: proximityMargin(use.normalization),
                                                 what: "layers.\(use.key) (layer \(use.definition.name))", gridSRS: gridSRS,
                                                 crsDefinition: job.grid.crs, grid: grid, maxPixels: job.grid.maxPixels))
                continue
            }
            sources.append(try plan(use.definition, key: use.key, use: use, gridSRS: gridSRS, crsDefinition: job.grid.crs,
                                    grid: grid, gridBounds: gridBounds, blockSize: job.grid.blockSize, isMask: false))
        }
        var mask: SourcePlan?
        if let name = job.grid.mask {
            mask = try plan(job.auxiliary[name]!, key: "mask", use: nil, gridSRS: gridSRS, crsDefinition: job.grid.crs,
                            grid: grid, gridBounds: gridBounds, blockSize: job.grid.blockSize, isMask: true)
        }
        if let county { mask = try standardGridMask(county, job: job, grid: grid) }
        let kernel = job.usesFixedKernel
            ? RiskKernel(normalizations: job.layers.map(\.normalization), combination: job.combine.combination!,
                         breaks: job.classify.breaks)
            : nil
        let out: String
        if let outputDirectory {
            out = URL(fileURLWithPath: outputDirectory).standardizedFileURL.path
        } else if job.outputs.directory.hasPrefix("/") {
            out = try Confinement.outputDirectory(job.outputs.directory, job: job)
        } else {
            out = try Confinement.outputDirectory(
                URL(fileURLWithPath: job.projectRoot).appendingPathComponent(job.outputs.directory).standardizedFileURL.path, job: job)
        }
        var plan = Plan(job: job, crsWKT: gridSRS.wkt, crsName: crsName, grid: grid, blockSize: job.grid.blockSize,
                        sources: sources, mask: mask, kernel: kernel, outputDirectory: out)
        plan.ellipsoid = try geodesicEllipsoid(gridSRS, what: "\(job.file): grid.crs", crsDefinition: job.grid.crs)
        plan.county = county
        if let prevention = job.prevention {
            plan.prevention = try planPrevention(prevention, job: job, gridSRS: gridSRS, grid: grid, gridBounds: gridBounds)
        }
        plan.totals = try planTotals(job, gridSRS: gridSRS, grid: grid, gridBounds: gridBounds)
        plan.sensitivity = planSensitivity(job, county: county)
        return plan
    }

    /// A source's extent in the grid CRS; a CRS that cannot be transformed, or (with `gridBounds`)
    /// no overlap with the grid, is one clear error naming the source.
    func locate(_ bounds: Bounds, srs: SpatialReference, in gridSRS: SpatialReference, gridBounds: Bounds?,
                source: String, what: String) throws -> Bounds {
        let inGrid: Bounds
        do { inGrid = try srs.transformBounds(bounds, to: gridSRS) } catch {
            throw RunError(.dataError, "\(source): \(what): its CRS (\(srs.name)) cannot be transformed to the grid CRS: \((error as? GDALError)?.message ?? "\(error)")")
        }
        if let gridBounds, !inGrid.intersects(gridBounds) {
            throw RunError(.dataError, "\(source): \(what): does not overlap the grid (layer \(inGrid), grid \(gridBounds) in the grid CRS)")
        }
        return inGrid
    }

    /// The extent of a layer's source in the grid CRS.
    private func sourceBounds(_ def: LayerDefinition, in gridSRS: SpatialReference, role: String) throws -> Bounds {
        let ds: Dataset
        do { ds = try Dataset(open: def.source) } catch { throw inputError(error, file: def.source, what: "\(role) (layer \(def.name))") }
        do {
            if ds.bandCount > 0 {
                guard let srs = ds.spatialReference else { throw RunError(.dataError, "\(def.source): layer \(def.name) has no CRS; assign one (gdal_edit.py -a_srs) or fix the file") }
                guard let b = ds.extent else { throw RunError(.dataError, "\(def.source): layer \(def.name) has no geotransform") }
                return try srs.transformBounds(b, to: gridSRS)
            } else {
                let layer = try def.layer.map { try ds.layer(named: $0) } ?? ds.layer(0)
                guard let srs = layer.spatialReference else { throw RunError(.dataError, "\(def.source): layer \(def.name) has no CRS") }
                return try srs.transformBounds(try layer.extent(), to: gridSRS)
            }
        } catch { throw inputError(error, file: def.source, what: "layer \(def.name)") }
    }

    func plan(_ def: LayerDefinition, key: String, use: JobSpec.LayerUse?, gridSRS: SpatialReference,
                      crsDefinition: String, grid: GridGeometry, gridBounds: Bounds, blockSize: Int, isMask: Bool) throws -> SourcePlan {
        let ds: Dataset
        let what = isMask ? "grid.mask (layer \(def.name))" : "layers.\(key) (layer \(def.name))"
        do { ds = try Dataset(open: def.source) } catch { throw inputError(error, file: def.source, what: what) }
        do {
            if ds.bandCount > 0 && !isMask {
                guard let srs = ds.spatialReference else {
                    throw RunError(.dataError, "\(def.source): \(what): the raster has no CRS; assign one (gdal_edit.py -a_srs) or fix the file")
                }
                guard let gt = ds.geoTransform else { throw RunError(.dataError, "\(def.source): \(what): the raster has no geotransform") }
                guard def.band <= ds.bandCount else {
                    throw RunError(.dataError, "\(def.file): band: \(def.source) has \(ds.bandCount) band(s), band \(def.band) does not exist")
                }
                let inGrid = try locate(ds.extent!, srs: srs, in: gridSRS, gridBounds: gridBounds, source: def.source, what: what)
                let warp = WarpSpec(targetCRS: crsDefinition, grid: grid, resampling: use?.resampling ?? .nearest,
                                    outputType: .float32, errorThreshold: use?.errorThreshold ?? 0.125, sourceNoData: def.nodata)
                let band = try ds.band(def.band)
                let detail = "\(band.pixelType.rawValue), pixel \(formatNumber(abs(gt[1]))) × \(formatNumber(abs(gt[5]))), \(ds.width) × \(ds.height) px"
                    + (band.noDataValue.map { ", nodata \(formatNumber($0))" } ?? "")
                return SourcePlan(key: key, definition: def, kind: .raster, sourceCRS: srs.authorityCode ?? srs.name,
                                  sourceDetail: detail, layerName: nil, operation: .warp(warp), boundsInGrid: inGrid)
            }
            guard ds.layerCount > 0 else {
                throw RunError(.dataError, "\(def.source): \(what): neither raster bands nor vector layers found")
            }
            let layer = try def.layer.map { try ds.layer(named: $0) } ?? ds.layer(0)
            guard let srs = layer.spatialReference else {
                throw RunError(.dataError, "\(def.source): \(what): vector layer \(layer.name) has no CRS")
            }
            let inGrid = try locate(try layer.extent(), srs: srs, in: gridSRS, gridBounds: gridBounds, source: def.source, what: what)
            let reprojectTo = srs.isSame(as: gridSRS) ? nil : crsDefinition
            var rasterize: RasterizeSpec
            if isMask {
                rasterize = RasterizeSpec(value: .burn(1), layerName: layer.name, grid: grid, outputType: .byte, initialValue: 0,
                                          noData: nil, allTouched: false, reprojectTo: reprojectTo)
            } else {
                guard let attribute = def.attribute else {
                    throw RunError(.dataError, "\(def.file): a vector layer used as \(what) needs `attribute:` (numeric fields: \(layer.fields.filter { $0.kind == .integer || $0.kind == .real }.map(\.name).joined(separator: ", ")))")
                }
                guard let field = layer.fields.first(where: { $0.name == attribute }) else {
                    throw RunError(.dataError, "\(def.source): \(what): layer \(layer.name) has no attribute \"\(attribute)\" (fields: \(layer.fields.map(\.name).joined(separator: ", ")))")
                }
                guard field.kind == .integer || field.kind == .real else {
                    throw RunError(.dataError, "\(def.source): \(what): attribute \"\(attribute)\" is not numeric")
                }
                rasterize = RasterizeSpec(value: .attribute(attribute), layerName: layer.name, grid: grid, outputType: .float32,
                                          initialValue: .nan, noData: .nan, allTouched: false, reprojectTo: reprojectTo)
            }
            if use?.allTouched == true { rasterize.allTouched = true }
            return SourcePlan(key: key, definition: def, kind: .vector, sourceCRS: srs.authorityCode ?? srs.name,
                              sourceDetail: "\(layer.featureCount) features (\(layer.geometryTypeName))",
                              layerName: layer.name, operation: .rasterize(rasterize), boundsInGrid: inGrid)
        } catch { throw inputError(error, file: def.source, what: what) }
    }
}
