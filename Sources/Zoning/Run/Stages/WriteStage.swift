import Foundation
import GDALKit
import Logging
import RasterKernel

/// Writing products: Cloud-Optimized GeoTIFFs and small files.
extension Runner {
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
}
