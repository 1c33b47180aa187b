import Foundation
import GDALKit
import RasterKernel

/// The township statistics stage: per township the area per class, the mean and maximum index,
/// the dominant class and the township level, from the class, index and township rasters.
struct TownshipStatisticsStage: Stage {
    let env: RunEnvironment
    init(_ env: RunEnvironment) { self.env = env }

    var name: String { "township statistics" }
    var reads: [RunProduct] { [.classRaster, .indexRaster, .townshipGrid, .classification] }
    var produces: [RunProduct] { [.townshipRows] }

    func run(_ context: RunContext) throws {
        guard let spec = plan.job.townshipSource else { return }
        let grid = context.required(context.townshipGrid, .townshipGrid, by: name)
        let classification = context.required(context.classification, .classification, by: name)
        context.townshipRows = try townshipStatistics(classPath: context.files.classRaster, indexPath: context.files.indexForReading,
                                                      townships: grid, level: spec.level, thresholds: classification.breaks)
            .map { var row = $0; row.levelRule = spec.level.rule; return row }
    }
}

extension TownshipStatisticsStage {
    /// Statistics per township from the class, index and township rasters, block by block.
    func townshipStatistics(classPath: String, indexPath: String, townships grid: TownshipGrid,
                            level: JobSpec.TownshipLevel, thresholds: [Double]) throws -> [TownshipStatistics] {
        let scheme = plan.job.classify.scheme
        let k = scheme.classCount
        let townships = grid.townships
        let n = townships.names.count
        var counts = [[Int]](repeating: [Int](repeating: 0, count: k + 1), count: n + 1)
        var sums = [Double](repeating: 0, count: n + 1)
        var maxima = [Float](repeating: -.infinity, count: n + 1)
        var areas = AreaTally(plan.cellAreas, buckets: (n + 1) * (k + 1))   // bucket t·(k+1)+c
        let classBand = try Dataset(open: classPath, flags: [.raster]).band(1)
        let indexBand = try Dataset(open: indexPath, flags: [.raster]).band(1)
        let townBand = try Dataset(open: grid.raster, flags: [.raster]).band(1)
        let blocks = plan.grid.blocks(width: plan.blockSize, height: plan.blockSize)
        for (i, block) in blocks.enumerated() {
            let w = block.window
            let window = PixelWindow(x: w.x, y: w.y, width: w.width, height: w.height)
            let classes: [UInt8] = try classBand.read(window)
            let index: [Float] = try indexBand.read(window)
            let town: [Int32] = try townBand.read(window)
            for p in 0..<w.count {
                let t = Int(town[p])
                guard t > 0 && t <= n else { continue }
                let c = Int(classes[p])
                counts[t][c] += 1
                areas.add(t * (k + 1) + c, row: w.y + p / w.width)
                if c > 0 {
                    sums[t] += Double(index[p])
                    maxima[t] = max(maxima[t], index[p])
                }
            }
            report("statistics", i + 1, blocks.count)
        }
        return (1...max(n, 1)).prefix(n).map { t in
            let valid = counts[t][1...].reduce(0, +)
            let classes = scheme.classes.map { info -> TownshipStatistics.ClassArea in
                let px = counts[t][Int(info.value)]
                return .init(value: Int(info.value), name: "\(info.name) \(info.english)", pixels: px, areaHa: areas.hectares(t * (k + 1) + Int(info.value), count: px),
                             percent: valid > 0 ? 100 * Double(px) / Double(valid) : 0)
            }
            let mean = valid > 0 ? sums[t] / Double(valid) : nil
            let dominant = valid > 0 ? classes.max { $0.pixels < $1.pixels || ($0.pixels == $1.pixels && $0.value > $1.value) }?.value : nil
            let levelValue = TownshipStatisticsStage.townshipLevel(level, counts: counts[t], sum: sums[t], valid: valid, thresholds: thresholds)
            let name: (Int?) -> String? = { v in v.flatMap { v in scheme.classes.first { Int($0.value) == v }.map { "\($0.name) \($0.english)" } } }
            return TownshipStatistics(id: t, code: townships.code(t), name: townships.names[t - 1], english: townships.englishName(t),
                                      validPixels: valid, validAreaHa: validHectares(areas, t: t, k: k, valid: valid),
                                      meanIndex: mean, maxIndex: valid > 0 ? Double(maxima[t]) : nil,
                                      dominantClass: dominant, dominantClassName: name(dominant),
                                      level: levelValue, levelName: name(levelValue), classes: classes)
        }
    }

    /// The valid (classified) area of township `t`: valid × pixel area on a projected grid (today's
    /// numbers), the sum of its classes' cell areas on a lat/long grid.
    func validHectares(_ areas: AreaTally, t: Int, k: Int, valid: Int) -> Double {
        if let c = areas.areas.constant { return Double(valid) * (c / 10_000) }
        var sum = 0.0
        for c in 1...k { sum += areas.sums[t * (k + 1) + c] }
        return sum / 10_000
    }

    /// A township's level from its class counts (index = class, 0 = nodata) and index sum.
    static func townshipLevel(_ rule: JobSpec.TownshipLevel, counts: [Int], sum: Double, valid: Int, thresholds: [Double]) -> Int? {
        guard valid > 0 else { return nil }
        switch rule {
        case .meanIndex:
            let mean = sum / Double(valid)
            return 1 + thresholds.filter { mean >= $0 }.count
        case .highShare(let share):
            var cumulative = 0
            for c in stride(from: counts.count - 1, through: 1, by: -1) {
                cumulative += counts[c]
                if Double(cumulative) >= share * Double(valid) { return c }
            }
            return 1
        }
    }
}
