import Foundation
import FilePaths
import GDALKit
import RasterKernel

extension Manifest {
    /// What the prevention zoning produced.
    public struct PreventionInfo: Codable, Sendable, Equatable {
        public struct Category: Codable, Sendable, Equatable {
            public var value: Int
            public var name: String
            public var english: String?
            public var colour: [Int]
            /// Matrix cells mapped to it.
            public var cells: Int
            public var pixels: Int
            public var areaHa: Double
            /// The job's recommendation for the category (`prevention.categories[].advice`).
            public var advice: String? = nil
            /// Each exposure total (`zoning.totals`) in the category's pixels, by name.
            public var totals: [String: Double]? = nil
        }
        public struct Factor: Codable, Sendable, Equatable {
            public var name: String
            public var layer: String
            public var kind: String
            public var breaks: [Double]
            /// Pixels per level 1…n where the risk class is valid.
            public var levelPixels: [Int]
            /// Pixels with a valid risk class where this factor is nodata.
            public var nodataPixels: Int
            /// Proximity: the margin the grid was grown by (grid CRS units).
            public var margin: Double?
        }
        public var riskLevels: Int
        public var rules: Int
        public var categories: [Category]
        public var factors: [Factor]
        public var validPixels: Int
        public var nodataPixels: Int
        public var majority: Int?
        public var minAreaHa: Double?
        public var sieveThresholdPixels: Int?
        /// The GeoPackage and layer holding the polygons, and how many.
        public var zonesFile: String
        public var zonesLayer: String
        public var zoneFeatures: Int
    }
}
