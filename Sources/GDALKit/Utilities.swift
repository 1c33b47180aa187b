import CGDAL

/// The GDAL command-line programs as library calls (gdal_utils.h). Arguments are the same strings
/// the programs take, so a result can be reproduced with the CLI and the same options.
public enum Utilities {
    /// `gdalwarp ARGS sources dest` (the corresponding C function is `GDALWarp`).
    public static func warp(_ sources: [Dataset], to destination: String, arguments: [String]) throws -> Dataset {
        let argv = CStringList(arguments)
        let options = try argv.withUnsafePointer { p in
            try gdalCall("GDALWarpAppOptionsNew") { GDALWarpAppOptionsNew(p, nil) }
        }
        defer { GDALWarpAppOptionsFree(options) }
        var handles: [GDALDatasetH?] = try sources.map { try $0.live() }
        var usageError: Int32 = 0
        let out = try withExtendedLifetime(sources) {
            try gdalCall("GDALWarp") {
                handles.withUnsafeMutableBufferPointer {
                    GDALWarp(destination, nil, Int32($0.count), $0.baseAddress, options, &usageError)
                }
            }
        }
        return Dataset(takingOwnershipOf: out, path: destination)
    }

    /// `gdal_rasterize ARGS source dest` (the corresponding C function is `GDALRasterize`).
    public static func rasterize(_ source: Dataset, to destination: String, arguments: [String]) throws -> Dataset {
        let argv = CStringList(arguments)
        // The option list must outlive GDALRasterizeOptionsNew (a freed list there segfaults).
        let options = try argv.withUnsafePointer { p in
            try gdalCall("GDALRasterizeOptionsNew") { GDALRasterizeOptionsNew(p, nil) }
        }
        defer { GDALRasterizeOptionsFree(options) }
        let src = try source.live()
        var usageError: Int32 = 0
        let out = try withExtendedLifetime(source) {
            try gdalCall("GDALRasterize") { GDALRasterize(destination, nil, src, options, &usageError) }
        }
        return Dataset(takingOwnershipOf: out, path: destination)
    }

    /// `gdal_translate ARGS source dest` (the corresponding C function is `GDALTranslate`).
    public static func translate(_ source: Dataset, to destination: String, arguments: [String]) throws -> Dataset {
        let argv = CStringList(arguments)
        let options = try argv.withUnsafePointer { p in
            try gdalCall("GDALTranslateOptionsNew") { GDALTranslateOptionsNew(p, nil) }
        }
        defer { GDALTranslateOptionsFree(options) }
        let src = try source.live()
        var usageError: Int32 = 0
        let out = try withExtendedLifetime(source) {
            try gdalCall("GDALTranslate") { GDALTranslate(destination, src, options, &usageError) }
        }
        return Dataset(takingOwnershipOf: out, path: destination)
    }

    /// `ogr2ogr ARGS dest source` (the corresponding C function is `GDALVectorTranslate`).
    public static func vectorTranslate(_ source: Dataset, to destination: String, arguments: [String]) throws -> Dataset {
        let argv = CStringList(arguments)
        let options = try argv.withUnsafePointer { p in
            try gdalCall("GDALVectorTranslateOptionsNew") { GDALVectorTranslateOptionsNew(p, nil) }
        }
        defer { GDALVectorTranslateOptionsFree(options) }
        var handles: [GDALDatasetH?] = [try source.live()]
        var usageError: Int32 = 0
        let out = try withExtendedLifetime(source) {
            try gdalCall("GDALVectorTranslate") {
                handles.withUnsafeMutableBufferPointer {
                    GDALVectorTranslate(destination, nil, 1, $0.baseAddress, options, &usageError)
                }
            }
        }
        return Dataset(takingOwnershipOf: out, path: destination)
    }
}
