import Foundation
import FilePaths
import GDALKit

extension ChangeReport {
    /// The exposure totals of the changes between runs of two jobs (`hazard-zoning changes`): the
    /// target job's `zoning.totals` (else the previous job's), each layer warped onto the change
    /// grid as the totals stage does (`sum` for counts, `average` for densities times the cell
    /// area; Float64, NaN where the source has no data), summed per township and transition over
    /// the pixels where both runs have a class. Empty when neither job sums totals.
    static func crossJobTotals(from: RunFolder, to: RunFolder, grid: ChangeGrid, townships: RasterBand?, townshipCount: Int,
                               k: Int, work: String) throws -> [TotalTransitions] {
        let spec = (to.spec?.zoning?.totals.isEmpty == false ? to.spec : from.spec)
        let totals = spec?.zoning?.totals ?? []
        guard !totals.isEmpty else { return [] }
        let gt = grid.geoTransform
        let areas = grid.geographicCellAreas
        let pixelArea = abs(gt[1] * gt[5] - gt[2] * gt[4])
        var result: [TotalTransitions] = []
        for total in totals {
            let band = try warpTotal(total, job: spec?.name ?? "", grid: grid, work: work)
            var sums = [[[Double]]](repeating: [[Double]](repeating: [Double](repeating: 0, count: k + 1), count: k + 1),
                                    count: townshipCount + 1)
            let previousBand = try grid.previous.band(1), currentBand = try grid.current.band(1)
            var y = 0
            while y < grid.height {
                let h = min(256, grid.height - y)
                let window = PixelWindow(x: 0, y: y, width: grid.width, height: h)
                let p: [UInt8] = try previousBand.read(window), c: [UInt8] = try currentBand.read(window)
                let t: [UInt16] = try townships.map { try readUInt16($0, window) } ?? []
                let v: [Double] = try band.read(window)
                for i in 0..<window.count {
                    let a = Int(p[i]), b = Int(c[i])
                    guard a > 0, b > 0, a <= k, b <= k, v[i].isFinite else { continue }
                    let q = v[i] * total.factor(pixelAreaSquareMetres: areas?.area(row: y + i / grid.width) ?? pixelArea)
                    sums[0][a][b] += q
                    if !t.isEmpty, Int(t[i]) > 0, Int(t[i]) <= townshipCount { sums[Int(t[i])][a][b] += q }
                }
                y += h
            }
            result.append(TotalTransitions(name: total.name, byTransition: sums))
        }
        return result
    }

    /// One total's layer warped onto the change grid as a VRT in `work`, band 1 open.
    static func warpTotal(_ total: JobSpec.Total, job: String, grid: ChangeGrid, work: String) throws -> RasterBand {
        let def = total.definition
        let gt = grid.geoTransform
        let (minX, maxY) = (gt[0], gt[3]), maxX = gt[0] + gt[1] * Double(grid.width), minY = gt[3] + gt[5] * Double(grid.height)
        let path = work.appendingComponent("total-\(total.name).vrt")
        do {
            var source = try Dataset(open: def.source, flags: [.raster])
            if def.band != 1 {
                source = try Utilities.translate(source, to: work.appendingComponent("total-\(total.name)-band.vrt"), arguments: ["-of", "VRT", "-b", "\(def.band)"])
                try source.flush()
            }
            var arguments = ["-of", "VRT", "-t_srs", grid.srs.wkt, "-te", "\(minX)", "\(minY)", "\(maxX)", "\(maxY)",
                             "-tr", "\(gt[1])", "\(abs(gt[5]))", "-r", total.resampling.rawValue, "-ot", "Float64",
                             "-dstnodata", "nan", "-et", "0.125"]
            if let nodata = def.nodata { arguments += ["-srcnodata", "\(nodata)"] }
            let vrt = try Utilities.warp([source], to: path, arguments: arguments)
            try vrt.close()
            return try Dataset(open: path, flags: [.raster]).band(1)
        } catch {
            throw RunError(.noInput, "\(def.source): zoning.totals.\(total.name) (layer \(def.name)) of job \(job): cannot be aligned onto the change grid for the changes' totals: \((error as? GDALError)?.message ?? "\(error)")")
        }
    }
}
