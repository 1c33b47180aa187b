import Foundation
import FilePaths
import GDALKit
import Testing
@testable import Zoning

/// A small census standard grid (14 × 12 cells of 30″ from 108°E, 40°N, EPSG:4490): county
/// 150625 an ellipse of two townships (150625101 west, 150625102 east), county 150626 east of it,
/// 0 (nodata) elsewhere; and deliverables cut to county 150625, each breaking one rule.
struct CensusGrid {
    static let x0 = 108.0, y0 = 40.0, cell = 1.0 / 120
    let project: Project
    let width: Int, height: Int
    /// The codes, row-major.
    let codes: [Int32]
    var path: String { project.path("layers/standard-grid.tif") }

    /// `edgeCodes`: the county's first cell holds 150625000 and its last 150625999, and the two
    /// cells east of its last hold 150624999 and 150626000 (codes a Float32 read gets wrong).
    init(project: Project, width: Int = 14, height: Int = 12, edgeCodes: Bool = false) throws {
        self.project = project
        self.width = width
        self.height = height
        var codes = [Int32](repeating: 0, count: width * height)
        for r in 0..<height {
            for c in 0..<width {
                let dx = Double(c) - 5.5 * Double(width) / 14, dy = Double(r) - 5.5 * Double(height) / 12
                let (a, b) = (20 * Double(width * width) / 196, 22 * Double(height * height) / 144)
                if dx * dx / a + dy * dy / b < 1 {
                    codes[r * width + c] = c < 5 * width / 14 ? 150_625_101 : 150_625_102
                } else if c >= 10 * width / 14 {
                    codes[r * width + c] = 150_626_001
                }
            }
        }
        if edgeCodes, let first = codes.firstIndex(where: { $0 / 1000 == 150_625 }),
           let last = codes.lastIndex(where: { $0 / 1000 == 150_625 }) {
            codes[first] = 150_625_000
            codes[last] = 150_625_999
            codes[last + 1] = 150_624_999
            codes[last + 2] = 150_626_000
        }
        self.codes = codes
        try writeRaster(project.path("layers/standard-grid.tif"), type: .int32, width: width, height: height,
                        geoTransform: [CensusGrid.x0, CensusGrid.cell, 0, CensusGrid.y0, 0, -CensusGrid.cell], nodata: 0, values: codes)
    }

    /// County 150625's cells: (column, row) envelope and count, by brute force over the codes.
    var county: (c0: Int, r0: Int, c1: Int, r1: Int, count: Int) {
        var c0 = Int.max, r0 = Int.max, c1 = -1, r1 = -1, n = 0
        for (i, code) in codes.enumerated() where code / 1000 == 150_625 {
            let c = i % width, r = i / width
            c0 = min(c0, c); c1 = max(c1, c); r0 = min(r0, r); r1 = max(r1, r); n += 1
        }
        return (c0, r0, c1, r1, n)
    }

    /// The county's envelope in degrees.
    var bounds: (minX: Double, minY: Double, maxX: Double, maxY: Double) {
        let k = county
        return (CensusGrid.x0 + Double(k.c0) / 120, CensusGrid.y0 - Double(k.r1 + 1) / 120,
                CensusGrid.x0 + Double(k.c1 + 1) / 120, CensusGrid.y0 - Double(k.r0) / 120)
    }

    /// A class raster cut to the county's envelope: `value(column, row)` at the county's cells, 0 elsewhere.
    func product<T: GDALPixel & Numeric>(_ name: String, type: PixelType, as _: T.Type, shift: Int = 0, nodata: Double? = 0,
                                         rotation: Double = 0, cellSize: Double = CensusGrid.cell,
                                         value: (Int, Int) -> T = { c, r in T(exactly: (c + r) % 4 + 1)! }) throws -> String {
        let k = county
        let w = k.c1 - k.c0 + 1, h = k.r1 - k.r0 + 1
        var values = [T](repeating: 0, count: w * h)
        for r in 0..<h {
            for c in 0..<w where codes[(k.r0 + r) * width + k.c0 + c] / 1000 == 150_625 { values[r * w + c] = value(c, r) }
        }
        let path = project.path("out/\(name)")
        try FileManager.default.createDirectory(atPath: path.parentPath, withIntermediateDirectories: true)
        try writeRaster(path, type: type, width: w, height: h,
                        geoTransform: [bounds.minX + Double(shift) / 120, cellSize, rotation, bounds.maxY, 0, -cellSize],
                        nodata: nodata, values: values)
        return path
    }

    /// A shapefile of one polygon, the county's envelope, with `class` (nil: unset) and a `.prj` of `crs`.
    func shapefile(_ name: String, classValue: Int?, crs: String = "EPSG:4490", shrink: Double = 0) throws -> String {
        var b = bounds
        b.maxX -= shrink
        let ring = "[[\(b.minX),\(b.minY)],[\(b.maxX),\(b.minY)],[\(b.maxX),\(b.maxY)],[\(b.minX),\(b.maxY)],[\(b.minX),\(b.minY)]]"
        let half = (b.minX + b.maxX) / 2
        let ring2 = "[[\(b.minX),\(b.minY)],[\(half),\(b.minY)],[\(half),\(b.maxY)],[\(b.minX),\(b.maxY)],[\(b.minX),\(b.minY)]]"
        let geojson = """
            {"type":"FeatureCollection","features":[
            {"type":"Feature","properties":{"class":2},"geometry":{"type":"Polygon","coordinates":[\(ring2)]}},
            {"type":"Feature","properties":{"class":\(classValue.map(String.init) ?? "null")},"geometry":{"type":"Polygon","coordinates":[\(ring)]}}]}
            """
        let src = try project.write("out/\(name).geojson", geojson)
        let path = project.path("out/\(name)")
        try shell("/usr/bin/ogr2ogr", ["-f", "ESRI Shapefile", "-a_srs", crs, path, src])
        return path
    }
}

func writeRaster<T: GDALPixel>(_ path: String, type: PixelType, width: Int, height: Int, geoTransform: [Double], nodata: Double?,
                               values: [T], crs: String = "EPSG:4490") throws {
    let ds = try Dataset.create(driver: "GTiff", path: path, width: width, height: height, bands: 1, type: type)
    try ds.setGeoTransform(geoTransform)
    try ds.setSpatialReference(try SpatialReference(definition: crs))
    let band = try ds.band(1)
    if let nodata { try band.setNoDataValue(nodata) }
    try values.withUnsafeBufferPointer { try band.write(PixelWindow(x: 0, y: 0, width: width, height: height), from: $0) }
    try ds.close()
}

/// One test per rule of the census checker: a file breaking only that rule fails with its reason,
/// in Chinese and English; the rules it does not break pass.
@Suite struct CensusCheckTests {
    func check(_ grid: CensusGrid, _ path: String) -> CensusCheck.FileReport {
        var checker = CensusCheck(standardGrid: grid.path)
        return checker.check(path)
    }

    func failed(_ report: CensusCheck.FileReport) -> [String] { report.checks.filter { !$0.passed }.map(\.rule) }

    @Test func aGoodGeoTIFFAndShapefilePass() throws {
        let grid = try CensusGrid(project: try Project())
        let tif = check(grid, try grid.product("BY_P_01_150625_01.tif", type: .byte, as: UInt8.self))
        #expect(tif.passed, "\(tif.line)")
        #expect(tif.line == "PASS BY_P_01_150625_01.tif")
        let cells = tif.checks.first { $0.rule == "cell-count" }!
        #expect(cells.en.hasPrefix("\(grid.county.count) valid cells"))
        let shp = check(grid, try grid.shapefile("BY_P_10_150625_01.shp", classValue: 4))
        #expect(shp.passed, "\(shp.line)")
    }

    @Test func aProductShiftedOneCellFailsOnItsEnvelopeAndCells() throws {
        let grid = try CensusGrid(project: try Project())
        let report = check(grid, try grid.product("BY_P_01_150625_01.tif", type: .byte, as: UInt8.self, shift: 1))
        #expect(!report.passed)
        #expect(Set(failed(report)) == ["envelope", "cells-in-county", "county-covered"])
        let b = grid.bounds
        let shifted = String(format: "[%.6f, %.6f, %.6f, %.6f]", b.minX + 1.0 / 120, b.minY, b.maxX + 1.0 / 120, b.maxY)
        #expect(report.line.contains("envelope of the valid cells \(shifted) differs"))
        #expect(report.line.contains("有效像元范围"))
    }

    @Test func aFloat32ProductFailsOnlyOnItsType() throws {
        let grid = try CensusGrid(project: try Project())
        let report = check(grid, try grid.product("BY_P_02_150625_01.tif", type: .float32, as: Float.self))
        #expect(failed(report) == ["integer-type"])
        #expect(report.line.contains("pixel type Float32: expected an integer type"))
        #expect(report.line.contains("像元类型应为整型"))
    }

    @Test func aValue5FailsInTheHazardProductOnlyAndPassesInARiskProduct() throws {
        let grid = try CensusGrid(project: try Project())
        let k = grid.county
        // The centre cell of the county's window is the county's (an ellipse).
        let (cc, cr) = ((k.c1 - k.c0) / 2, (k.r1 - k.r0) / 2)
        let five: (Int, Int) -> UInt8 = { c, r in c == cc && r == cr ? 5 : 1 }
        let hazard = check(grid, try grid.product("BY_P_01_150625_01.tif", type: .byte, as: UInt8.self, value: five))
        #expect(failed(hazard) == ["values"])
        #expect(hazard.line.contains("1 valid cell(s) outside 1–4 (e.g. 5 at column \(cc), row \(cr))"))
        let risk = check(grid, try grid.product("BY_P_02_150625_01.tif", type: .byte, as: UInt8.self, value: five))
        #expect(risk.passed, "\(risk.line)")
    }

    @Test func aFourPartNameFails() throws {
        let grid = try CensusGrid(project: try Project())
        let report = check(grid, try grid.product("BY_P_150625_01.tif", type: .byte, as: UInt8.self))
        #expect(failed(report) == ["name"])
        #expect(report.line.contains("got 4 part(s)"))
        #expect(report.line.contains("文件名应为"))
        let unknown = check(grid, try grid.product("QQ_P_01_150625_01.tif", type: .byte, as: UInt8.self))
        #expect(failed(unknown) == ["hazard-code"])
    }

    @Test func aFeatureWithoutClassFails() throws {
        let grid = try CensusGrid(project: try Project())
        let report = check(grid, try grid.shapefile("BY_P_02_150625_01.shp", classValue: nil))
        #expect(failed(report) == ["class-values"])
        #expect(report.line.contains("1 feature(s) without a class (e.g. feature 1)"))
        #expect(report.line.contains("没有 class 值"))
        // The hazard product of a shapefile (BY: 10) takes 1–4 only.
        let five = check(grid, try grid.shapefile("BY_P_10_150625_01.shp", classValue: 5))
        #expect(failed(five) == ["class-values"])
        #expect(check(grid, try grid.shapefile("BY_P_02_150625_02.shp", classValue: 5)).passed)
    }

    @Test func aProjectedPrjFails() throws {
        let grid = try CensusGrid(project: try Project())
        let report = check(grid, try grid.shapefile("BY_P_10_150625_01.shp", classValue: 3, crs: "EPSG:4545"))
        #expect(failed(report) == ["prj"])
        #expect(report.line.contains("(projected): expected CGCS2000 geographic, EPSG:4490"))
    }

    @Test func aMissingCountyCellIsNamedWithItsPlace() throws {
        let grid = try CensusGrid(project: try Project())
        let k = grid.county
        let (cc, cr) = ((k.c1 - k.c0) / 2, (k.r1 - k.r0) / 2)
        let report = check(grid, try grid.product("BY_P_02_150625_01.tif", type: .byte, as: UInt8.self) { c, r in
            c == cc && r == cr ? 0 : 3
        })
        #expect(Set(failed(report)) == ["cell-count", "county-covered"])
        let x = CensusGrid.x0 + (Double(k.c0 + cc) + 0.5) / 120, y = CensusGrid.y0 - (Double(k.r0 + cr) + 0.5) / 120
        #expect(report.line.contains(String(format: "1 cell(s) of county 150625 have no data (centres %.6f, %.6f)", x, y)))
        #expect(report.line.contains("\(k.count - 1) valid cells; county 150625 has \(k.count) standard-grid cells"))
    }

    @Test func aRotationACellSizeNoNodataAndAShapefileEnvelopeEachFail() throws {
        let grid = try CensusGrid(project: try Project())
        let rotated = check(grid, try grid.product("BY_P_02_150625_01.tif", type: .byte, as: UInt8.self, rotation: 1e-9))
        #expect(failed(rotated) == ["rotation"])
        #expect(rotated.line.contains("栅格有旋转参数 / the geotransform is rotated"))
        let size = 1.0 / 120 + 2e-6
        let coarse = check(grid, try grid.product("BY_P_03_150625_01.tif", type: .byte, as: UInt8.self, cellSize: size))
        // Cells 2e-6° too wide also move the far corners of the envelope (by width × 2e-6°).
        #expect(failed(coarse) == ["cell-size", "envelope"])
        #expect(coarse.line.contains("cell size \(size) × \(size): expected 30″ = 1/120° within 1e-6°"))
        let noNodata = check(grid, try grid.product("BY_P_04_150625_01.tif", type: .byte, as: UInt8.self, nodata: nil))
        #expect(failed(noNodata) == ["nodata"])
        #expect(noNodata.line.contains("未声明无效值(nodata) / no nodata value declared"))
        let small = check(grid, try grid.shapefile("BY_P_10_150625_01.shp", classValue: 1, shrink: 1.0 / 120))
        #expect(failed(small) == ["envelope"])
        #expect(small.line.contains(String(format: "envelope [%.6f, %.6f, %.6f, %.6f] differs", grid.bounds.minX, grid.bounds.minY,
                                           grid.bounds.maxX - 1.0 / 120, grid.bounds.maxY)))
    }

    @Test func theCommandPrintsALinePerFileAndFailsIfOneFails() throws {
        let grid = try CensusGrid(project: try Project())
        let good = try grid.product("BY_P_01_150625_01.tif", type: .byte, as: UInt8.self)
        let bad = try grid.product("BY_P_02_150625_01.tif", type: .float32, as: Float.self)
        let (status, out, _) = try runProcess(BadInputTests.executable, ["census-check", "--standard-grid", grid.path, good, bad])
        #expect(status == 65)
        let lines = out.split(separator: "\n").map(String.init)
        #expect(lines.count == 2)
        #expect(lines.first == "PASS BY_P_01_150625_01.tif")
        #expect(lines.last?.hasPrefix("FAIL BY_P_02_150625_01.tif: 像元类型应为整型") == true)
        let (ok, _, _) = try runProcess(BadInputTests.executable, ["census-check", "--standard-grid", grid.path, good])
        #expect(ok == 0)
        let (missing, _, err) = try runProcess(BadInputTests.executable, ["census-check", "--standard-grid", grid.project.path("none.tif"), good])
        #expect(missing == 66)
        #expect(err.contains("none.tif: --standard-grid: file does not exist"))
    }
}
