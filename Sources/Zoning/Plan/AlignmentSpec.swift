import GDALKit
import RasterKernel

// How a source reaches the grid, as typed values. The command lines `plan` prints, and the
// argument lists given to GDAL's utilities, are derived from these; nothing reads them back.

/// A raster warped onto a grid: `gdalwarp -t_srs … -te … -tr … -r … -ot … -dstnodata … -et …
/// [-srcnodata …]`.
public struct WarpSpec: Sendable, Equatable {
    /// The target CRS as the job writes it (`grid.crs`).
    public var targetCRS: String
    /// The target grid: its extent (`-te`) and pixel size (`-tr`).
    public var grid: GridGeometry
    public var resampling: Resampling
    /// The type of the warped pixels (`-ot`).
    public var outputType: PixelType
    /// Written where the source has no data (`-dstnodata`).
    public var destinationNoData: Double = .nan
    /// gdalwarp's `-et`, in pixels (0 = every pixel transformed exactly).
    public var errorThreshold: Double
    /// The layer definition's `nodata:`, overriding the source's (`-srcnodata`).
    public var sourceNoData: Double?

    /// The arguments of the equivalent `gdalwarp` call, without source and destination.
    public var gdalwarpArguments: [String] {
        var args = ["-t_srs", targetCRS] + grid.extentArguments
            + ["-r", resampling.gdalName, "-ot", outputType.rawValue, "-dstnodata", destinationNoData.warpArgument,
               "-et", "\(errorThreshold)"]
        if let sourceNoData { args += ["-srcnodata", sourceNoData.warpArgument] }
        return args
    }
}

/// Vector features burnt onto a grid: `gdal_rasterize (-burn … | -a …) -l … -te … -tr … -ot …
/// -init … [-a_nodata …] [-at]`, after `ogr2ogr -t_srs …` for features in another CRS.
public struct RasterizeSpec: Sendable, Equatable {
    /// What a pixel a feature covers receives.
    public enum Value: Sendable, Equatable {
        /// A fixed value (`-burn`): the mask, proximity features.
        case burn(Double)
        /// The value of a numeric attribute (`-a`).
        case attribute(String)
    }
    public var value: Value
    /// The vector layer (`-l`).
    public var layerName: String
    /// The target grid: its extent (`-te`) and pixel size (`-tr`).
    public var grid: GridGeometry
    /// The type of the raster (`-ot`).
    public var outputType: PixelType
    /// Where no feature lies (`-init`).
    public var initialValue: Double
    /// The raster's nodata (`-a_nodata`), nil for none.
    public var noData: Double?
    /// Every pixel a feature touches, not only those whose centre it covers (`-at`).
    public var allTouched: Bool
    /// Features in another CRS are first reprojected to this one (the job's `grid.crs`):
    /// `gdal_rasterize` itself only reprojects into an existing raster.
    public var reprojectTo: String?

    /// The arguments of the equivalent `gdal_rasterize` call, without source and destination.
    /// `-at` stands where the plan has always put it: right after a burn value, last after an attribute.
    public var gdalRasterizeArguments: [String] {
        var args: [String]
        switch value {
        case .burn(let v): args = ["-burn", v.rasterizeArgument] + (allTouched ? ["-at"] : [])
        case .attribute(let name): args = ["-a", name]
        }
        args += ["-l", layerName] + grid.extentArguments + ["-ot", outputType.rawValue, "-init", initialValue.rasterizeArgument]
        if let noData { args += ["-a_nodata", noData.rasterizeArgument] }
        if case .attribute = value, allTouched { args.append("-at") }
        return args
    }

    /// The arguments of the `ogr2ogr` call reprojecting the features first, without destination,
    /// source and layer; nil when the features are in the grid CRS.
    public var ogr2ogrArguments: [String]? {
        reprojectTo.map { ["-t_srs", $0] }
    }
}

extension GridGeometry {
    /// `-te minX minY maxX maxY -tr pixelWidth pixelHeight`, numbers as Swift prints a Double.
    var extentArguments: [String] {
        ["-te", "\(minX)", "\(minY)", "\(maxX)", "\(maxY)", "-tr", "\(pixelWidth)", "\(pixelHeight)"]
    }
}

private extension Double {
    /// A nodata value for gdalwarp: `nan`, or as Swift prints a Double (`-9999.0`).
    var warpArgument: String { isNaN ? "nan" : "\(self)" }

    /// A burn, initial or nodata value for gdal_rasterize: `nan`, a whole number without a
    /// fraction (`1`, `0`), anything else as Swift prints a Double.
    var rasterizeArgument: String {
        if isNaN { return "nan" }
        if rounded() == self && Swift.abs(self) < 1e15 { return String(Int64(self)) }
        return "\(self)"
    }
}
