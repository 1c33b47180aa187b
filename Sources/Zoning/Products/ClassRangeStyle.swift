import FilePaths
import Foundation

extension RunScoped {
    /// `class_range.tif` (10 × lowest + highest class over the weight scenarios) gets its colour
    /// table, attribute table and QGIS style like the class rasters: one row per possible range,
    /// lowest first, named in the job's level words ("低 → 中高", "始终 中 always medium"), coloured
    /// by how many levels the range spans (grey: none … red: three or more).
    func finishClassRange(in folder: String) throws {
        let path = folder.appendingComponent("class_range.tif")
        guard FileManager.default.fileExists(atPath: path) else { return }
        try finishClassRaster(at: path, classes: Self.classRangeClasses(plan.job.classify.scheme))
    }

    static func classRangeClasses(_ scheme: ClassScheme) -> [RasterProduct.Class] {
        let spanColours: [(UInt8, UInt8, UInt8)] = [(210, 210, 210), (254, 224, 139), (253, 174, 97), (215, 48, 39)]
        var classes: [RasterProduct.Class] = []
        for low in scheme.classes {
            for high in scheme.classes where high.value >= low.value {
                let span = Int(high.value - low.value)
                let same = span == 0
                classes.append(RasterProduct.Class(
                    value: 10 * Int(low.value) + Int(high.value),
                    name: same ? "始终\(low.name)" : "\(low.name) → \(high.name)",
                    english: same ? "always \(low.english)" : "\(low.english) → \(high.english)",
                    rgb: spanColours[min(span, spanColours.count - 1)]))
            }
        }
        return classes
    }
}
