import FilePaths
import Foundation
import GDALKit
import RasterKernel

/// The census stage (`outputs.census`): the submission package in the run folder's `census/`.
/// Each product is an index of the model (or the combined risk) classified by its own scheme and
/// method (default the job's), written as a Byte GeoTIFF (nodata 0) or a shapefile (EPSG:4490
/// `.prj`, integer `class`), named `{hazard}_{type}_{code}_{county6}_{seq:02}`. The census checks
/// then run on every file (`CensusCheck`): `QC.json` and `质检报告 QC report.txt` list them, and a
/// failing package fails the run, so nothing is published.
struct CensusStage: Stage {
    let env: RunEnvironment
    init(_ env: RunEnvironment) { self.env = env }

    var name: String { "census" }
    var reads: [RunProduct] { [.alignedLayers, .model, .classification] }
    var produces: [RunProduct] { [.census] }

    func run(_ context: RunContext) throws {
        guard let census = plan.job.outputs.census, let sg = plan.job.grid.standardGrid,
              let standardGrid = plan.job.auxiliary[sg.layer]?.source else { return }
        let folder = context.files.staged("census")
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false) } catch {
            throw RunError(.cantCreate, "\(folder): cannot create the census folder: \(error.localizedDescription)")
        }
        var files: [String] = []
        var rows: [CensusQC.Product] = []
        let indices = try indexValues(Array(Set(census.products.map(\.index))).sorted(), context: context)
        // Products of the same index and classification (a GeoTIFF and its shapefile) share their classes.
        var classified: [String: ([UInt8], (scheme: String, method: String?, breaks: [Double]))] = [:]
        for (i, product) in census.products.enumerated() {
            report("census", i, census.products.count)
            let c = product.classify
            let key = "\(product.index)|\(c?.scheme.id ?? "job")|\(c?.scheme.classCount ?? 0)|\(c?.method?.rawValue ?? "")|\(c?.breaks ?? [])"
            let (classes, info) = try classified[key] ?? classify(indices[product.index]!, product: product, context: context)
            classified[key] = (classes, info)
            let base = folder.appendingComponent(census.name(product))
            let path = base + "." + product.format.rawValue
            switch product.format {
            case .tif: try writeClasses(classes, to: path, driver: "GTiff", options: ["COMPRESS=DEFLATE"])
            case .shp: try writeShapefile(classes, to: path, work: context.files.work)
            }
            files.append(path)
            rows.append(CensusQC.Product(file: path.fileName, index: product.index, hazard: product.hazard, code: product.code,
                                         scheme: info.scheme, method: info.method, breaks: info.breaks))
        }
        report("census", census.products.count, census.products.count)
        var checker = CensusCheck(standardGrid: standardGrid, catalogue: try CensusCatalogue.extended(with: census.hazardCodes))
        let reports = files.map { checker.check($0) }
        let qc = CensusQC(standardGrid: standardGrid, adminCode: census.adminCode, products: rows, files: reports)
        try qc.write(into: folder)
        let failed = reports.filter { !$0.passed }
        if !failed.isEmpty {
            throw RunError(.dataError, "\(plan.job.file): outputs.census: the package fails the census check, nothing was published: "
                + failed.map(\.line).joined(separator: " | "))
        }
    }
}

extension CensusStage {
    /// The indices `names` (`risk`, or indices of `indices:`) at every cell of the grid, row-major,
    /// `RiskKernel.indexNoData` where they have no value: one pass over the layers for all of them.
    func indexValues(_ names: [String], context: RunContext) throws -> [String: [Float]] {
        // The merge of a sharded run has the shards' results but no kernel: the model is resolved
        // again over the aligned layers (the same passes over the same data give the same model).
        let model = try context.model ?? {
            let (kernel, _, resolution) = try StatisticsStage(env).resolveModel(aligned: context.aligned, mask: context.mask)
            return ResolvedModel(kernel: kernel, resolution: resolution)
        }()
        let kernels: [BlockKernel] = names.map { name in
            if name == "risk" { return model.kernel }
            let (program, registers) = ModelCompiler(job: plan.job).program(targets: [name], resolution: model.resolution)
            return .model(ModelKernel(program: program, layerCount: plan.job.layers.count, output: registers[name]!, breaks: []))
        }
        let parts = try mapBlocks(aligned: context.aligned, mask: context.mask, layers: nil) { block, inputs, mask -> (Window, [[Float]]) in
            let n = block.window.count
            var classes = [UInt8](repeating: 0, count: n)
            return (block.window, kernels.map { kernel in
                var index = [Float](repeating: 0, count: n)
                index.withUnsafeMutableBufferPointer { ip in
                    classes.withUnsafeMutableBufferPointer { cp in _ = kernel.run(count: n, inputs: inputs, mask: mask, index: ip, classes: cp) }
                }
                return index
            })
        }
        let width = plan.grid.width
        var values = names.map { _ in [Float](repeating: RiskKernel.indexNoData, count: plan.grid.pixelCount) }
        for (w, blocks) in parts {
            for (k, part) in blocks.enumerated() {
                for r in 0..<w.height {
                    for c in 0..<w.width { values[k][(w.y + r) * width + w.x + c] = part[r * w.width + c] }
                }
            }
        }
        return Dictionary(uniqueKeysWithValues: zip(names, values))
    }

    /// The classes of `values` (0 where no value): the job's classification of the risk index for
    /// `risk` without one of its own, else the product's (or the job's) breaks or method over
    /// every valid cell.
    func classify(_ values: [Float], product: JobSpec.Census.Product, context: RunContext) throws
        -> ([UInt8], (scheme: String, method: String?, breaks: [Double])) {
        let c = product.classify ?? plan.job.classify
        var thresholds = c.breaks
        if product.classify == nil && product.index == "risk", let applied = context.classification {
            thresholds = applied.breaks
        } else if let method = c.method {
            var histogram = Histogram()
            var sum = 0.0, squares = 0.0, valid = 0
            for v in values where RiskKernel.isIndex(v) {
                histogram.add(v)
                sum += Double(v); squares += Double(v) * Double(v); valid += 1
            }
            thresholds = try breaks(method, histogram: histogram, sum: sum, sumSquares: squares, valid: valid,
                                    classes: c.scheme.classCount, scenario: " (outputs.census product \(product.code), index \(product.index))").thresholds
        }
        let t = thresholds.map(Float.init)
        let classes = values.map { v -> UInt8 in
            guard RiskKernel.isIndex(v) else { return 0 }
            var c: UInt8 = 1
            for threshold in t where v >= threshold { c += 1 }
            return c
        }
        return (classes, (c.scheme.id, c.method?.rawValue, thresholds))
    }

    /// A Byte raster of the grid (nodata 0) in the grid CRS.
    @discardableResult
    func writeClasses(_ classes: [UInt8], to path: String, driver: String, options: [String], keepOpen: Bool = false) throws -> Dataset? {
        do {
            let ds = try writeGridRaster(classes, type: .byte, to: path, driver: driver, options: options, nodata: 0)
            if keepOpen { return ds }
            try ds.close()
            return nil
        } catch let error as RunError { throw error } catch {
            throw RunError(.ioError, "\(path): cannot write the census product: \((error as? GDALError)?.message ?? "\(error)")")
        }
    }

    /// The classes as polygons (4-connected, cells of class 0 left out) with an integer `class`.
    func writeShapefile(_ classes: [UInt8], to path: String, work: String) throws {
        let raster = try writeClasses(classes, to: work.appendingComponent("census-\(path.fileName.removingExtension).tif"),
                                      driver: "GTiff", options: [], keepOpen: true)!
        do {
            let out = try Dataset.createVector(driver: "ESRI Shapefile", path: path)
            let layer = try out.createLayer(path.fileName.removingExtension, srs: try SpatialReference(definition: plan.job.grid.crs),
                                            geometry: .polygon, options: ["ENCODING=UTF-8", "DBF_DATE_LAST_UPDATE=2000-01-01"])
            try layer.createField("class", kind: .integer)
            let band = try raster.band(1)
            try band.polygonize(into: layer, mask: band, field: 0, eightConnected: false)
            try out.close()
            try raster.close()
        } catch {
            throw RunError(.ioError, "\(path): cannot write the census shapefile: \((error as? GDALError)?.message ?? "\(error)")")
        }
    }
}

extension RunScoped {
    /// A one-band raster of the grid, in the grid CRS, with `values` row-major; left open.
    func writeGridRaster<T: GDALPixel>(_ values: [T], type: PixelType, to path: String, driver: String = "GTiff",
                                       options: [String], nodata: Double?) throws -> Dataset {
        let g = plan.grid
        let ds = try Dataset.create(driver: driver, path: path, width: g.width, height: g.height, bands: 1, type: type, options: options)
        try ds.setGeoTransform(g.geoTransform)
        try ds.setSpatialReference(try SpatialReference(definition: plan.job.grid.crs))
        let band = try ds.band(1)
        if let nodata { try band.setNoDataValue(nodata) }
        try values.withUnsafeBufferPointer { try band.write(PixelWindow(x: 0, y: 0, width: g.width, height: g.height), from: $0) }
        return ds
    }
}
