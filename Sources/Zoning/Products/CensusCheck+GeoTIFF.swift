import Foundation
import GDALKit

extension CensusCheck {
    /// A GeoTIFF: integer type, no rotation, 30″ cells, nodata declared, every valid value a class
    /// in 1…`maxClass`, and the valid cells exactly the county's standard-grid cells.
    func checkGeoTIFF(_ path: String, county: CountyCells?, maxClass: Int) -> [Finding] {
        let ds: Dataset
        do { ds = try Dataset(open: path, flags: [.raster]) } catch {
            return [Self.fail("open", "无法打开栅格文件", "cannot open the raster: \((error as? GDALError)?.message ?? "\(error)")")]
        }
        var findings: [Finding] = []
        guard ds.driverName == "GTiff", ds.bandCount >= 1, let band = try? ds.band(1), let gt = ds.geoTransform else {
            return [Self.fail("format", "不是带地理参考的 GeoTIFF", "not a georeferenced GeoTIFF (driver \(ds.driverName))")]
        }
        let integer: Set<PixelType> = [.byte, .uint16, .int16, .uint32, .int32]
        findings.append(integer.contains(band.pixelType)
            ? Self.pass("integer-type", "像元类型为整型 \(band.pixelType.rawValue)", "integer pixel type \(band.pixelType.rawValue)")
            : Self.fail("integer-type", "像元类型应为整型(Byte/UInt16/Int16/UInt32/Int32),实际为 \(band.pixelType.rawValue)",
                        "pixel type \(band.pixelType.rawValue): expected an integer type (Byte, UInt16, Int16, UInt32, Int32)"))
        findings.append(gt[2] == 0 && gt[4] == 0
            ? Self.pass("rotation", "无旋转", "no rotation")
            : Self.fail("rotation", "栅格有旋转参数", "the geotransform is rotated (\(gt[2]), \(gt[4]))"))
        let sizeOK = abs(gt[1] - Self.cellSize) <= Self.tolerance && abs(-gt[5] - Self.cellSize) <= Self.tolerance
        findings.append(sizeOK
            ? Self.pass("cell-size", "像元大小 30″", "cell size 30″ (1/120°)")
            : Self.fail("cell-size", "像元大小应为 30″(1/120°),实际 \(gt[1]) × \(-gt[5])",
                        "cell size \(gt[1]) × \(-gt[5]): expected 30″ = 1/120° within 1e-6°"))
        guard let nodata = band.noDataValue else {
            findings.append(Self.fail("nodata", "未声明无效值(nodata)", "no nodata value declared"))
            return findings
        }
        findings.append(Self.pass("nodata", "无效值为 \(formatNumber(nodata))", "nodata \(formatNumber(nodata))"))
        let values: [Double]
        do { values = try band.read(PixelWindow(x: 0, y: 0, width: ds.width, height: ds.height), as: Double.self) } catch {
            findings.append(Self.fail("read", "无法读取像元", "cannot read the pixels: \((error as? GDALError)?.message ?? "\(error)")"))
            return findings
        }
        findings.append(checkValues(values, nodata: nodata, width: ds.width, maxClass: maxClass))
        if let county { findings += checkCells(values, nodata: nodata, width: ds.width, gt: gt, county: county) }
        return findings
    }

    /// Every valid value an integer class in 1…`maxClass`.
    func checkValues(_ values: [Double], nodata: Double, width: Int, maxClass: Int) -> Finding {
        var bad = 0, first: (Double, Int)?
        for (i, v) in values.enumerated() where v != nodata && !(v >= 1 && v <= Double(maxClass) && v == v.rounded()) {
            bad += 1
            if first == nil { first = (v, i) }
        }
        guard let first else {
            return Self.pass("values", "有效值均在 1–\(maxClass) 之间", "every valid value in 1–\(maxClass)")
        }
        let at = "column \(first.1 % width), row \(first.1 / width)"
        return Self.fail("values", "\(bad) 个像元的值超出 1–\(maxClass)(如 \(formatNumber(first.0)),第 \(first.1 / width) 行第 \(first.1 % width) 列)",
                         "\(bad) valid cell(s) outside 1–\(maxClass) (e.g. \(formatNumber(first.0)) at \(at))")
    }

    /// The valid cells against the county's: the same count, the same envelope, every valid cell's
    /// centre on a county cell, every county cell with data.
    func checkCells(_ values: [Double], nodata: Double, width: Int, gt: [Double], county: CountyCells) -> [Finding] {
        var count = 0, outside = 0
        var minC = Int.max, maxC = -1, minR = Int.max, maxR = -1
        var firstOutside: (Double, Double)?
        for (i, v) in values.enumerated() where v != nodata {
            let c = i % width, r = i / width
            count += 1
            minC = min(minC, c); maxC = max(maxC, c); minR = min(minR, r); maxR = max(maxR, r)
            let x = gt[0] + (Double(c) + 0.5) * gt[1], y = gt[3] + (Double(r) + 0.5) * gt[5]
            if !county.contains(x: x, y: y) {
                outside += 1
                if firstOutside == nil { firstOutside = (x, y) }
            }
        }
        var findings: [Finding] = []
        let code = county.adminCode
        findings.append(count == county.count
            ? Self.pass("cell-count", "有效像元数 \(count) 与县 \(code) 标准格网一致", "\(count) valid cells, as many as county \(code) has")
            : Self.fail("cell-count", "有效像元数 \(count),县 \(code) 标准格网为 \(county.count)",
                        "\(count) valid cells; county \(code) has \(county.count) standard-grid cells"))
        let envelope = count == 0 ? Bounds(minX: 0, minY: 0, maxX: 0, maxY: 0)
            : Bounds(minX: gt[0] + Double(minC) * gt[1], minY: gt[3] + Double(maxR + 1) * gt[5],
                     maxX: gt[0] + Double(maxC + 1) * gt[1], maxY: gt[3] + Double(minR) * gt[5])
        findings.append(Self.near(envelope, county.bounds)
            ? Self.pass("envelope", "有效范围与县标准格网一致", "envelope of the valid cells equals the county's")
            : Self.fail("envelope", "有效像元范围 \(Self.describe(envelope)) 与县标准格网范围 \(Self.describe(county.bounds)) 不一致",
                        "envelope of the valid cells \(Self.describe(envelope)) differs from the county's \(Self.describe(county.bounds)) by more than 1e-6°"))
        if let p = firstOutside {
            let at = String(format: "%.6f, %.6f", p.0, p.1)
            findings.append(Self.fail("cells-in-county", "\(outside) 个有效像元中心不在县 \(code) 的标准格网上(如 \(at))",
                                      "\(outside) valid cell centre(s) not on a standard-grid cell of county \(code) (e.g. at \(at))"))
        } else {
            findings.append(Self.pass("cells-in-county", "有效像元均在县标准格网上", "every valid cell on a cell of the county"))
        }
        findings.append(checkCovered(values, nodata: nodata, width: width, gt: gt, county: county))
        return findings
    }

    /// Every county cell has data in the file: a missing one is named (how many, and where).
    func checkCovered(_ values: [Double], nodata: Double, width: Int, gt: [Double], county: CountyCells) -> Finding {
        let height = width == 0 ? 0 : values.count / width
        var missing = 0
        var examples: [String] = []
        for row in 0..<county.window.height {
            for column in 0..<county.window.width where county.inside[row * county.window.width + column] {
                let (x, y) = county.centre(column: column, row: row)
                let c = Int(((x - gt[0]) / gt[1]).rounded(.down)), r = Int(((y - gt[3]) / gt[5]).rounded(.down))
                if c >= 0 && r >= 0 && c < width && r < height && values[r * width + c] != nodata { continue }
                missing += 1
                if examples.count < 3 { examples.append(String(format: "%.6f, %.6f", x, y)) }
            }
        }
        guard missing > 0 else { return Self.pass("county-covered", "县标准格网像元均有值", "every county cell has a value") }
        let at = examples.joined(separator: "; ") + (missing > examples.count ? "; …" : "")
        return Self.fail("county-covered", "县 \(county.adminCode) 有 \(missing) 个标准格网像元无值(中心 \(at))",
                         "\(missing) cell(s) of county \(county.adminCode) have no data (centres \(at))")
    }
}
