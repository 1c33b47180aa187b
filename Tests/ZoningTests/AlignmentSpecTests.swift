import Foundation
import GDALKit
import RasterKernel
import Testing
@testable import Zoning

/// The typed alignment specs give exactly the command lines the plan gave when it stored them.
@Suite(.serialized) struct AlignmentSpecTests {
    /// The fixture plus a vector in the grid CRS burnt all-touched, a raster with a nodata from its
    /// definition (average, default -et), and a proximity layer.
    func plan() throws -> (Fixture, Plan) {
        let fx = try Fixture(blockSize: 64)
        try fx.project.vector("layers/lines.gpkg", layer: "lines", crs: "EPSG:4545", geojson: """
            {"type":"FeatureCollection","features":[
            {"type":"Feature","properties":{"v":2.5},"geometry":{"type":"LineString","coordinates":[[495123.4,4401000.7],[503111.1,4407001.3],[504000.2,4404100.9]]}},
            {"type":"Feature","properties":{"v":7},"geometry":{"type":"Point","coordinates":[497777.7,4403333.3]}}]}
            """)
        try fx.project.write("layers/lines.yaml", "source: lines.gpkg\nlayer: lines\nattribute: v\n")
        try fx.project.write("layers/flood-nd.yaml", "source: flood.tif\nnodata: -9999\n")
        var job = try String(contentsOfFile: fx.jobPath, encoding: .utf8)
        job = job.replacingOccurrences(of: "combine:", with: """
              lines:
                layer: lines
                all-touched: true
                normalize: { linear: [0, 10] }
              floodnd:
                layer: flood-nd
                resampling: average
                normalize: { linear: [0, 5] }
              near:
                layer: lines
                normalize: { proximity: { linear: [0, 300] } }
            combine:
            """)
        job = job.replacingOccurrences(of: "seismic: 0.30 }", with: "seismic: 0.15, lines: 0.05, floodnd: 0.05, near: 0.05 }")
        try job.write(toFile: fx.jobPath, atomically: true, encoding: .utf8)
        return (fx, try fx.plan())
    }

    /// The argument lists and command lines the plan built as literal lists before the specs were
    /// typed (captured from that code on this job).
    @Test func derivedArgumentsEqualTheFormerLiteralLists() throws {
        let (fx, plan) = try plan()
        let root = fx.project.root.path
        let sources = Dictionary(uniqueKeysWithValues: (plan.sources + [plan.mask!]).map { ($0.key, $0) })
        let te = ["-te", "495000.0", "4400010.0", "504300.0", "4407360.0", "-tr", "30.0", "30.0"]
        let expected: [String: (SourcePlan.Kind, [String], [String]?, String)] = [
            // A raster in the grid CRS, and one in another CRS: gdalwarp.
            "flood": (.raster, ["-t_srs", "EPSG:4545"] + te + ["-r", "bilinear", "-ot", "Float32", "-dstnodata", "nan", "-et", "0.0"], nil,
                      "gdalwarp -t_srs EPSG:4545 -te 495000.0 4400010.0 504300.0 4407360.0 -tr 30.0 30.0 -r bilinear -ot Float32 -dstnodata nan -et 0.0 <root>/layers/flood.tif '<out>.tif'"),
            "fire": (.raster, ["-t_srs", "EPSG:4545"] + te + ["-r", "bilinear", "-ot", "Float32", "-dstnodata", "nan", "-et", "0.0"], nil,
                     "gdalwarp -t_srs EPSG:4545 -te 495000.0 4400010.0 504300.0 4407360.0 -tr 30.0 30.0 -r bilinear -ot Float32 -dstnodata nan -et 0.0 <root>/layers/fire.tif '<out>.tif'"),
            // A raster with the definition's nodata, average, the default -et.
            "floodnd": (.raster, ["-t_srs", "EPSG:4545"] + te + ["-r", "average", "-ot", "Float32", "-dstnodata", "nan", "-et", "0.125", "-srcnodata", "-9999.0"], nil,
                        "gdalwarp -t_srs EPSG:4545 -te 495000.0 4400010.0 504300.0 4407360.0 -tr 30.0 30.0 -r average -ot Float32 -dstnodata nan -et 0.125 -srcnodata -9999.0 <root>/layers/flood.tif '<out>.tif'"),
            // A vector in another CRS: ogr2ogr, then gdal_rasterize by attribute.
            "seismic": (.vector, ["-a", "pga_g", "-l", "pga"] + te + ["-ot", "Float32", "-init", "nan", "-a_nodata", "nan"], ["-t_srs", "EPSG:4545"],
                        "ogr2ogr -t_srs EPSG:4545 '<reprojected>.gpkg' <root>/layers/seismic.gpkg pga && gdal_rasterize -a pga_g -l pga -te 495000.0 4400010.0 504300.0 4407360.0 -tr 30.0 30.0 -ot Float32 -init nan -a_nodata nan '<reprojected>.gpkg' '<out>.tif'"),
            // A vector in the grid CRS, all-touched.
            "lines": (.vector, ["-a", "v", "-l", "lines"] + te + ["-ot", "Float32", "-init", "nan", "-a_nodata", "nan", "-at"], nil,
                      "gdal_rasterize -a v -l lines -te 495000.0 4400010.0 504300.0 4407360.0 -tr 30.0 30.0 -ot Float32 -init nan -a_nodata nan -at <root>/layers/lines.gpkg '<out>.tif'"),
            // Proximity: burnt all-touched on the expanded grid.
            "near": (.proximity, ["-burn", "1", "-at", "-l", "lines", "-te", "494700.0", "4399710.0", "504600.0", "4407660.0", "-tr", "30.0", "30.0", "-ot", "Byte", "-init", "0"], nil,
                     "gdal_rasterize -burn 1 -at -l lines -te 494700.0 4399710.0 504600.0 4407660.0 -tr 30.0 30.0 -ot Byte -init 0 <root>/layers/lines.gpkg '<features>.tif' && gdal_proximity.py '<features>.tif' '<distance>.tif' -distunits GEO -ot Float32 -nodata 17850.0 && gdal_translate -of VRT -srcwin 10 10 310 245 '<distance>.tif' '<out>.vrt'"),
            // The mask: burn 1.
            "mask": (.vector, ["-burn", "1", "-l", "area"] + te + ["-ot", "Byte", "-init", "0"], nil,
                     "gdal_rasterize -burn 1 -l area -te 495000.0 4400010.0 504300.0 4407360.0 -tr 30.0 30.0 -ot Byte -init 0 <root>/layers/area.gpkg '<out>.tif'"),
        ]
        #expect(Set(sources.keys) == Set(expected.keys))
        for (key, (kind, arguments, reproject, command)) in expected {
            let source = try #require(sources[key])
            #expect(source.kind == kind, "\(key)")
            #expect(source.arguments == arguments, "\(key)")
            #expect(source.reprojectArguments == reproject, "\(key)")
            #expect(source.commandLine.replacingOccurrences(of: root, with: "<root>") == command, "\(key)")
            switch source.operation {
            case .warp(let warp): #expect(kind == .raster && warp.gdalwarpArguments == arguments, "\(key)")
            case .rasterize(let r):
                #expect(kind != .raster && r.gdalRasterizeArguments == arguments && r.ogr2ogrArguments == reproject, "\(key)")
            }
        }
        #expect(sources["floodnd"]?.warp?.resampling == .average && sources["lines"]?.rasterize?.allTouched == true)
    }

    /// A total's warp (Float64, `sum` or `average`) as `planTotals` wrote it.
    @Test func totalsWarpArguments() {
        let grid = GridGeometry(width: 310, height: 245, originX: 495_000, originY: 4_407_360, pixelWidth: 30, pixelHeight: 30)
        let warp = WarpSpec(targetCRS: "EPSG:4545", grid: grid, resampling: .sum, outputType: .float64, errorThreshold: 0.125,
                            sourceNoData: .nan)
        #expect(warp.gdalwarpArguments == ["-t_srs", "EPSG:4545", "-te", "495000.0", "4400010.0", "504300.0", "4407360.0", "-tr", "30.0", "30.0", "-r", "sum", "-ot", "Float64",
                                           "-dstnodata", "nan", "-et", "0.125", "-srcnodata", "nan"])
    }

    /// Job names of resampling methods: `nearest` is `near`, the manifest's strings are gdalwarp's.
    @Test func resamplingNames() {
        #expect(Resampling(jobName: "nearest") == .nearest && Resampling(jobName: "near") == .nearest)
        #expect(Resampling.nearest.rawValue == "near" && Resampling.cubicspline.gdalName == "cubicspline")
        #expect(Set(Resampling.jobNames.compactMap(Resampling.init(jobName:))) == Set(Resampling.allCases))
        #expect(Resampling(jobName: "bicubic") == nil)
        #expect(Resampling.nearest.overviewResampling?.rawValue == "NEAREST" && Resampling.average.overviewResampling?.rawValue == "AVERAGE")
        #expect(Resampling.bilinear.overviewResampling == nil)
    }
}
