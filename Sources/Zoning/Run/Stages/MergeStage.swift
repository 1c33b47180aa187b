import COGWriter
import Foundation
import FilePaths
import GDALKit
import RasterKernel

/// The merge stage of a sharded run: the shards' results (`Shards.swift`) stand for the
/// statistics passes and the main pass — their rasters streamed into the run's COG writers,
/// their counts and sums added as one process adds them.
struct MergeStage: Stage {
    let env: RunEnvironment
    init(_ env: RunEnvironment) { self.env = env }

    var name: String { "merge" }
    var reads: [RunProduct] { [.shards] }
    var produces: [RunProduct] { [.model, .mainPass, .indexRaster, .classRaster] }

    func run(_ context: RunContext) throws {
        let shards = context.required(context.shards, .shards, by: name)
        context.modelInfo = shards.model
        let stats = try mergeShards(shards, files: context.files)
        for (l, t) in stats.sourceCounts.sorted(by: { $0.key < $1.key }) where l < plan.sources.count {
            context.inputs[l].statistics = t.statistics
            if t.valid == 0 { throw noValidPixels(plan.sources[l], t) }
        }
        context.stats = stats
    }
}

extension MergeStage {
    /// A VRT of the grid whose pixels are the shards' `file` (each written over its own band of
    /// units): one source per row of units of each shard, at the same place on the grid.
    func shardMosaic(_ shards: ShardSet, units: [Block], file: String, type: String) -> String {
        func escape(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        }
        var sources = ""
        for record in shards.records {
            let path = escape(shards.shardFolder(record).appendingComponent(file))
            var rows: [Int: (x0: Int, x1: Int, height: Int)] = [:]
            for u in record.unitRange {
                let w = units[u].window
                let r = rows[w.y] ?? (w.x, w.x + w.width, w.height)
                rows[w.y] = (min(r.x0, w.x), max(r.x1, w.x + w.width), max(r.height, w.height))
            }
            for (y, r) in rows.sorted(by: { $0.key < $1.key }) {
                let rect = "xOff=\"\(r.x0)\" yOff=\"\(y)\" xSize=\"\(r.x1 - r.x0)\" ySize=\"\(r.height)\""
                sources += "    <SimpleSource><SourceFilename relativeToVRT=\"0\">\(path)</SourceFilename><SourceBand>1</SourceBand>"
                    + "<SrcRect \(rect)/><DstRect \(rect)/></SimpleSource>\n"
            }
        }
        return "<VRTDataset rasterXSize=\"\(plan.grid.width)\" rasterYSize=\"\(plan.grid.height)\">\n"
            + "  <VRTRasterBand dataType=\"\(type)\" band=\"1\">\n\(sources)  </VRTRasterBand>\n</VRTDataset>\n"
    }

    /// The main pass's results from the shards: their index and class rasters streamed into the
    /// products' writers (through `shardMosaic`), and the counts and sums added as one process
    /// adds them (per-unit sums in unit order).
    func mergeShards(_ shards: ShardSet, files: RunFiles) throws -> StreamStats {
        let work = files.work
        let first = shards.records[0]
        let units = plan.grid.blocks(width: first.unit[0], height: first.unit[1])
        // The bands' pixels into the same writers the main pass of one process uses, on the run's
        // workers (`streamBlocks`, the merging process's own memory plan: the COGs' bytes depend
        // on the pixels only, not on the windows or their order). The shards' rasters are read
        // through one VRT per product that places each shard's units where they lie on the grid.
        let (indexWriter, indexRaw, classWriter, _) = try mainPassWriters(files: files, shardRasters: nil)
        let withIndex = indexWriter != nil || indexRaw != nil
        var rasters: [(layer: AlignedLayer, name: String)] = []
        do {
            for (wanted, file, type) in [(withIndex, "risk_index.tif", "Float32"), (classWriter != nil, "risk_class.tif", "Byte")] where wanted {
                let vrt = work.appendingComponent("shards-\(file.removingExtension).vrt")
                try shardMosaic(shards, units: units, file: file, type: type).write(toFile: vrt, atomically: true, encoding: .utf8)
                rasters.append((.file(vrt), "\(shards.path) (the shards' \(file))"))
            }
        } catch {
            throw RunError(.ioError, "\(work): cannot write the shards' mosaic: \(error)")
        }
        var merged = 0
        try streamBlocks(rasters: rasters, mask: nil, state: {}) { _, block, buffers, _ in
            if withIndex {
                let values = Array(buffers[0])
                try indexWriter?.write(block, values)
                try indexRaw?.write(block, values)
            }
            if let classWriter {
                // Class values 0…255 read as Float32 are exact.
                try classWriter.write(block, buffers[withIndex ? 1 : 0].map { UInt8($0) })
            }
        } consume: { _, _ in
            merged += 1
            if merged % 64 == 0 { report("merge", merged, units.count) }
        }
        if let indexWriter { try finishCOG(indexWriter) }
        if let classWriter { try finishCOG(classWriter) }

        let classCount = plan.job.classify.scheme.classCount
        var stats = StreamStats(histogram: plan.job.classify.method == nil ? nil : Histogram(),
                                layerValid: [Int](repeating: 0, count: plan.sources.count),
                                classCounts: [Int](repeating: 0, count: classCount + 1), indexSum: 0,
                                indexMin: .infinity, indexMax: -.infinity)
        var sums = [Double](repeating: 0, count: units.count), squares = sums
        for record in shards.records {
            guard record.classCounts.count == stats.classCounts.count, record.layerValid.count == stats.layerValid.count,
                  record.unitSums.count == record.unitRange.count, record.unitSquares.count == record.unitRange.count else {
                throw RunError(.dataError, "\(shards.shardFolder(record))/shard.json: counts of another job shape; run the shards again")
            }
            for c in stats.classCounts.indices { stats.classCounts[c] += record.classCounts[c] }
            for l in stats.layerValid.indices { stats.layerValid[l] += record.layerValid[l] }
            if stats.histogram != nil {
                guard let resolution = record.histogramResolution, let bins = record.histogram,
                      let h = Histogram(resolution: resolution, binCounts: bins), h.resolution == stats.histogram!.resolution else {
                    throw RunError(.dataError, "\(shards.shardFolder(record))/shard.json: no histogram of the job's resolution; run the shards again")
                }
                stats.histogram!.merge(h)
            }
            var counters = ModelKernel.Counters()
            counters.nonFinite = record.nonFinite
            counters.outOfRange = record.outOfRange
            counters.minimum = Float(bitPattern: record.kernelMinimum)
            counters.maximum = Float(bitPattern: record.kernelMaximum)
            stats.counters.merge(counters)
            stats.indexMin = min(stats.indexMin, Float(bitPattern: record.indexMinimum))
            stats.indexMax = max(stats.indexMax, Float(bitPattern: record.indexMaximum))
            for (k, u) in record.unitRange.enumerated() {
                sums[u] = Double(bitPattern: record.unitSums[k])
                squares[u] = Double(bitPattern: record.unitSquares[k])
            }
        }
        // Window-read layers: their source counts, band by band.
        for record in shards.records {
            for (l, c) in (record.sourceCounts ?? []).enumerated() where c.count == 4 {
                stats.sourceCounts[l, default: .init()].add(.init(valid: c[0], nodata: c[1], nan: c[2], infinite: c[3]))
            }
        }
        // In unit order, as `stream` adds them in one process.
        stats.indexSum = sums.reduce(0, +)
        stats.indexSumSquares = squares.reduce(0, +)
        stats.unitSums = sums
        stats.unitSquares = squares
        return stats
    }
}
