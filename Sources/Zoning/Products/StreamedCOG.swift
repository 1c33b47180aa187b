import COGWriter
import Foundation
import FilePaths
import GDALKit
import RasterKernel

/// The risk index and risk class COGs, written by the streamed writer (Sources/COGWriter) while
/// the main pass (or the classify pass) produces blocks, instead of a temporary GeoTIFF and
/// GDAL's COG driver afterwards.
/// What a streamed product is: its pixel type, nodata, overview resampling and band metadata.
enum StreamedProduct {
    case index
    case classes

    var file: String { self == .index ? "risk_index.tif" : "risk_class.tif" }
}

/// Writing products: small files and Cloud-Optimized GeoTIFFs.
extension RunScoped {
    func write(_ data: Data, to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: data) else {
            throw RunError(.ioError, "\(path): cannot write")
        }
    }

    /// The COG tile edge: the block size up to 1024 px. GDAL's COG driver builds overviews in
    /// chunks of a tile row, so 4096-px tiles alone take ~300 MiB for an 8192-px-wide Float32
    /// raster (measured by scripts/bench-memory), above the memory budget; tiles past 1024 px
    /// also serve no COG reader better.
    var cogTileSize: Int { min(plan.blockSize, 1024) }

    func writeCOG(from source: String, to destination: String, resampling: String, predictor: String?) throws {
        let src = try Dataset(open: source, flags: [.raster])
        try describeBand(of: src, for: destination)
        let cogThreads = MemoryPlan.cogThreads(blockSize: cogTileSize, bytesPerPixel: (try src.band(1)).pixelType == .byte ? 1 : 4,
                                               threads: options.threads, budget: options.maxMemory, cacheBytes: options.cacheBytes)
        var args = ["-of", "COG", "-co", "COMPRESS=DEFLATE", "-co", "BLOCKSIZE=\(cogTileSize)",
                    "-co", "OVERVIEW_RESAMPLING=\(resampling)", "-co", "NUM_THREADS=\(cogThreads)"]
            + tiffTagArguments(for: destination)
        if let predictor { args += ["-co", "PREDICTOR=\(predictor)"] }
        do {
            let out = try Utilities.translate(src, to: destination, arguments: args)
            try out.close()
        } catch {
            throw RunError(.ioError, "\(destination): cannot write the Cloud-Optimized GeoTIFF: \((error as? GDALError)?.message ?? "\(error)")")
        }
    }

    /// Where the main pass writes a raster: the staging folder when the run publishes it, else
    /// the work folder (zoning, prevention, totals and sensitivity still read it).
    func streamedPath(_ product: StreamedProduct, staging: String, work: String) -> String {
        let published = plan.job.outputs.products.contains(product == .index ? .riskIndex : .riskClass)
        return ((published ? staging : work)).appendingComponent(product.file)
    }

    /// The files of a run staged in `staging`: the index and class rasters where the main pass
    /// writes them, the temporaries in `staging/.work`.
    func stagedFiles(in staging: String) -> RunFiles {
        let work = staging.appendingComponent(".work")
        let indexCOG = plan.job.outputs.products.contains(.riskIndex) ? streamedPath(.index, staging: staging, work: work) : nil
        return RunFiles(staging: staging, work: work, indexCOG: indexCOG, indexTemporary: indexTemporary(work: work),
                        classRaster: streamedPath(.classes, staging: staging, work: work))
    }

    /// The descriptive TIFF tags of a product exactly as GDAL's COG driver writes them today: a
    /// 1 × 1 raster with the product's georeferencing, nodata, colour table, band description,
    /// units and TIFF tags, through the same `gdal_translate -of COG` arguments as `writeCOG`.
    func cogTemplate(_ product: StreamedProduct) throws -> TIFFTemplate {
        try cogTemplate(file: product.file, type: product == .index ? .float32 : .byte, predictor: product == .index) { band in
            switch product {
            case .index:
                try band.setNoDataValue(Double(RiskKernel.indexNoData))
            case .classes:
                try band.setNoDataValue(0)
                try band.setColorTable(plan.job.classify.scheme.colorTable)
            }
        }
    }

    /// The same for any raster product `file` (`configure` sets its band's nodata, colour table,
    /// description as the GeoTIFF `writeCOG` converts would carry them).
    func cogTemplate(file: String, type: PixelType, predictor: Bool, configure: (RasterBand) throws -> Void) throws -> TIFFTemplate {
        let id = UUID().uuidString
        let source = "/vsimem/hz-template-\(id).tif", target = "/vsimem/hz-template-\(id)-cog.tif"
        defer { VSI.unlink(source); VSI.unlink(target) }
        do {
            let ds = try Dataset.create(driver: "GTiff", path: source, width: 1, height: 1, bands: 1, type: type)
            try ds.setGeoTransform(plan.grid.geoTransform)
            try ds.setSpatialReference(try SpatialReference(definition: plan.crsWKT))
            try configure(try ds.band(1))
            try describeBand(of: ds, for: file)
            var args = ["-of", "COG", "-co", "COMPRESS=DEFLATE", "-co", "BLOCKSIZE=\(cogTileSize)"] + tiffTagArguments(for: file)
            if predictor { args += ["-co", "PREDICTOR=YES"] }
            let out = try Utilities.translate(ds, to: target, arguments: args)
            try out.close()
            try ds.close()
            return try TIFFTemplate(tiff: try VSI.read(target))
        } catch let error as GDALError {
            throw RunError(.software, "\(file): cannot make the TIFF tags of the COG: \(error.message)")
        } catch let error as COGError {
            throw RunError(.software, "\(file): cannot make the TIFF tags of the COG: \(error)")
        }
    }

    /// The temporary index the later stages read (the township statistics, the classify pass of
    /// data-driven breaks): an uncompressed tiled GeoTIFF in `work`, nil when none reads it.
    /// Reading the index COG instead costs ≈ 10× more (GDAL decodes DEFLATE and the
    /// floating-point predictor at ~10 Mpx/s: 1.7 s against 0.1 s for 4096², measured), more
    /// than writing the temporary; the class COG decodes as fast as raw bytes, so it is read as is.
    func indexTemporary(work: String) -> String? {
        let statistics = plan.job.outputs.products.contains(.statistics) && plan.job.townshipSource != nil
        guard plan.job.classify.method != nil || statistics else { return nil }
        return work.appendingComponent("risk_index.raw.tif")
    }

    /// A streamed COG writer for a product at `path`; its compressed tiles wait in `work`.
    func cogWriter<S: COGSample>(_ product: StreamedProduct, path: String, work: String, as: S.Type,
                                 template: TIFFTemplate? = nil) throws -> COGWriter<S> {
        try cogWriter(path: path, work: work, nodata: product == .index ? Double(RiskKernel.indexNoData) : 0,
                      resampling: product == .index ? .average : .nearest, template: try template ?? cogTemplate(product))
    }

    /// A streamed COG writer of the grid at `path` (nodata, overview resampling, tags).
    func cogWriter<S: COGSample>(path: String, work: String, nodata: Double, resampling: OverviewResampling,
                                 template: TIFFTemplate) throws -> COGWriter<S> {
        let options = COGWriter<S>.Options(width: plan.grid.width, height: plan.grid.height, tileSize: cogTileSize,
                                           nodata: nodata, resampling: resampling, template: template)
        let spill = work.appendingComponent(".\(path.fileName).tiles")
        do {
            return try COGWriter<S>(path: path, spillPath: spill, options: options)
        } catch {
            throw RunError(.ioError, "\(path): cannot write the Cloud-Optimized GeoTIFF: \(error)")
        }
    }

    /// Finishes a streamed COG (layout and tiles), naming the file in a failure.
    func finishCOG<S>(_ writer: COGWriter<S>) throws {
        do {
            try writer.finish()
        } catch {
            throw RunError(.ioError, "\(writer.path): cannot write the Cloud-Optimized GeoTIFF: \(error)")
        }
    }
}

extension TiledTIFFWriter {
    /// Hands a block's pixels to the temporary raster (from a worker), naming the file in a failure.
    func write(_ block: Block, _ values: [S]) throws {
        let w = block.window
        do {
            try values.withUnsafeBufferPointer { try write(x: w.x, y: w.y, width: w.width, height: w.height, $0) }
        } catch {
            throw RunError(.ioError, "\(path): cannot write the temporary index: \(error)")
        }
    }
}

extension COGWriter {
    /// Hands a block's pixels to the writer (from a worker), naming the file in a failure.
    func write(_ block: Block, _ values: [S]) throws {
        let w = block.window
        do {
            try values.withUnsafeBufferPointer { try write(x: w.x, y: w.y, width: w.width, height: w.height, $0) }
        } catch {
            throw RunError(.ioError, "\(path): cannot write the Cloud-Optimized GeoTIFF: \(error)")
        }
    }
}
