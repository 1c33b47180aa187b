import CGDAL
import Foundation
import FilePaths

/// What a warped VRT (`gdalwarp -of VRT`) hands its warper: the `GDALWarpOptions` GDAL builds
/// the `GDALWarpOperation` from when the VRT is opened, read from the file as GDAL reads it.
/// A reader that resamples by itself checks here that the warper would do nothing it does not
/// follow (an unknown option, a cutline, an alpha band).
public struct WarpedVRTDescription: Sendable {
    public struct BandMapping: Sendable, Equatable {
        public let source: Int
        public let destination: Int
        /// `SrcNoDataReal` / `DstNoDataReal` (NaN when the VRT says `nan`).
        public let sourceNoData: Double?
        public let destinationNoData: Double?
    }

    public let width: Int, height: Int
    /// The VRT's block size: the warper warps one block (a chunk) at a time.
    public let blockWidth: Int, blockHeight: Int
    /// `ResampleAlg` as written (`Bilinear`, `NearestNeighbour`, …).
    public let resampling: String
    /// `WorkingDataType` as written (`Float64`, `Float32`, …).
    public let workingType: String
    /// The `<Option name=…>` entries.
    public let options: [String: String]
    /// The source dataset, resolved against the VRT's folder when it is relative.
    public let sourcePath: String
    public let bands: [BandMapping]
    /// Elements of `GDALWarpOptions` besides the ones read above (e.g. `Cutline`, `SrcAlphaBand`).
    public let otherElements: [String]
    /// The transformer (`<Transformer>`'s child) serialised, for `CoordinateTransformer`.
    public let transformer: String
    /// The source → destination transformer includes a reprojection (`ReprojectionTransformer`).
    public let reprojects: Bool
    /// `SrcGeoTransform` and `DstGeoTransform` of the `GenImgProjTransformer` (nil when absent).
    public let sourceGeoTransform: [Double]?
    public let destinationGeoTransform: [Double]?

    /// Reads the warped VRT at `path`.
    public init(path: String) throws {
        GDAL.ensureRegistered()
        let root = try gdalCall("CPLParseXMLFile(\(path))") { CPLParseXMLFile(path) }
        defer { CPLDestroyXMLNode(root) }
        guard let vrt = CPLGetXMLNode(root, "=VRTDataset"),
              String(cString: CPLGetXMLValue(vrt, "subClass", "")) == "VRTWarpedDataset",
              let wo = CPLGetXMLNode(vrt, "GDALWarpOptions") else {
            throw GDALError.invalidArgument("\(path): not a warped VRT (no VRTDataset subClass=\"VRTWarpedDataset\" with GDALWarpOptions)")
        }
        func value(_ node: UnsafeMutablePointer<CPLXMLNode>?, _ key: String) -> String? {
            guard let v = CPLGetXMLValue(node, key, nil) else { return nil }
            return String(cString: v)
        }
        func number(_ text: String?) -> Double? {
            guard let text = text?.trimmingCharacters(in: .whitespacesAndNewlines) else { return nil }
            return text.lowercased() == "nan" ? .nan : Double(text)
        }
        width = Int(value(vrt, "rasterXSize") ?? "") ?? 0
        height = Int(value(vrt, "rasterYSize") ?? "") ?? 0
        blockWidth = Int(value(vrt, "BlockXSize")?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
        blockHeight = Int(value(vrt, "BlockYSize")?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
        resampling = value(wo, "ResampleAlg") ?? "NearestNeighbour"
        workingType = value(wo, "WorkingDataType") ?? ""
        var options: [String: String] = [:], bands: [BandMapping] = [], other: [String] = []
        var source = "", transformerXML = ""
        var child = wo.pointee.psChild
        while let node = child {
            defer { child = node.pointee.psNext }
            guard node.pointee.eType == CXT_Element else { continue }
            let name = String(cString: node.pointee.pszValue)
            switch name {
            case "WarpMemoryLimit", "ResampleAlg", "WorkingDataType":
                break
            case "Option":
                if let key = value(node, "name") { options[key] = value(node, "") ?? "" }
            case "SourceDataset":
                let text = value(node, "") ?? ""
                let relative = value(node, "relativeToVRT") == "1"
                if relative, !text.hasPrefix("/") {
                    source = path.parentPath.appendingComponent(text)
                } else {
                    source = text
                }
            case "Transformer":
                var t = node.pointee.psChild
                while let n = t, n.pointee.eType != CXT_Element { t = n.pointee.psNext }
                if let t, let text = CPLSerializeXMLTree(t) {
                    transformerXML = String(cString: text)
                    VSIFree(text)
                }
            case "BandList":
                var m = node.pointee.psChild
                while let mapping = m {
                    defer { m = mapping.pointee.psNext }
                    guard mapping.pointee.eType == CXT_Element, String(cString: mapping.pointee.pszValue) == "BandMapping" else { continue }
                    bands.append(BandMapping(source: Int(value(mapping, "src") ?? "") ?? 0, destination: Int(value(mapping, "dst") ?? "") ?? 0,
                                             sourceNoData: number(value(mapping, "SrcNoDataReal")),
                                             destinationNoData: number(value(mapping, "DstNoDataReal"))))
                }
            default:
                other.append(name)
            }
        }
        guard !transformerXML.isEmpty, !source.isEmpty else {
            throw GDALError.invalidArgument("\(path): the warped VRT names no source dataset or transformer")
        }
        self.options = options
        self.bands = bands
        otherElements = other
        sourcePath = source
        transformer = transformerXML
        reprojects = transformerXML.contains("<ReprojectionTransformer>")
        func geoTransform(_ key: String) -> [Double]? {
            guard let start = transformerXML.range(of: "<\(key)>"), let end = transformerXML.range(of: "</\(key)>", range: start.upperBound..<transformerXML.endIndex) else { return nil }
            let values = transformerXML[start.upperBound..<end.lowerBound].split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            return values.count == 6 ? values : nil
        }
        sourceGeoTransform = geoTransform("SrcGeoTransform")
        destinationGeoTransform = geoTransform("DstGeoTransform")
    }
}

/// A GDAL transformer (`GDALDeserializeTransformer`): the very function and state a warper uses,
/// e.g. the approximate transformer around a `GenImgProjTransformer` of a warped VRT. Not
/// thread-safe (PROJ state): one per thread.
public final class CoordinateTransformer {
    private let function: GDALTransformerFunc
    private let argument: UnsafeMutableRawPointer

    /// `serialized`: a transformer element as `WarpedVRTDescription.transformer` holds it.
    public init(serialized: String) throws {
        GDAL.ensureRegistered()
        let tree = try gdalCall("CPLParseXMLString") { CPLParseXMLString(serialized) }
        defer { CPLDestroyXMLNode(tree) }
        var function: GDALTransformerFunc?
        var argument: UnsafeMutableRawPointer?
        try gdalCheck("GDALDeserializeTransformer") { GDALDeserializeTransformer(tree, &function, &argument) }
        guard let function, let argument else { throw GDALError.nullPointer(function: "GDALDeserializeTransformer") }
        self.function = function
        self.argument = argument
    }

    deinit { GDALDestroyTransformer(argument) }

    /// Transforms `count` points in place (`dstToSrc`: destination pixel/line → source pixel/line),
    /// exactly as the warp kernel calls it; `success[i]` is nonzero where point i transformed.
    @inline(__always)
    public func transform(dstToSrc: Bool, count: Int, x: UnsafeMutablePointer<Double>, y: UnsafeMutablePointer<Double>,
                          z: UnsafeMutablePointer<Double>, success: UnsafeMutablePointer<Int32>) {
        _ = function(argument, dstToSrc ? 1 : 0, Int32(count), x, y, z, success)
    }
}
